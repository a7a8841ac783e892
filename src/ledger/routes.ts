import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { IsoDay, orderedWindow } from '../http/query.js';
import { errorReplies } from '../http/schemas.js';
import type { Assert, Same } from '../http/type-check.js';
import type { LiabilityReport } from './report.js';
import type { LedgerService } from './service.js';

const Money = z.number().int();
const LiabilityDaySchema = z.object({
  day: z.string(),
  issued: z.object({ count: z.number().int(), liability: Money }),
  redeemed: z.object({ count: z.number().int(), liabilityReleased: Money, cost: Money }),
  rolledBack: z.object({ count: z.number().int(), liabilityRestored: Money, cost: Money }),
  expired: z.object({ count: z.number().int(), breakage: Money }),
  pointsAwarded: z.number().int(),
  outstanding: Money.describe('Issued-but-unredeemed liability at the end of the day'),
  pointsOutstanding: z.number().int(),
  pointsLiability: Money,
});

export const LiabilityReportSchema = z
  .object({
    asOf: z.string(),
    from: z.string().nullable(),
    to: z.string().nullable(),
    offers: z.array(
      z.object({ offerId: z.string(), days: z.array(LiabilityDaySchema), outstanding: Money, pointsOutstanding: z.number().int(), pointsLiability: Money, breakage: Money, redeemedCost: Money }),
    ),
    totals: z.object({
      outstanding: Money,
      pointsOutstanding: z.number().int(),
      pointsLiability: Money,
      breakage: Money,
      redeemedCost: Money,
      issued: z.number().int(),
      redeemed: z.number().int(),
      expired: z.number().int(),
    }),
  })
  .meta({ id: 'LiabilityReport' });
export type _LiabilityReportAgrees = Assert<Same<z.infer<typeof LiabilityReportSchema>, LiabilityReport>>;

/** Offer liabilities. */
export const ledgerRoutes: FastifyPluginAsyncZod<{ ledger: LedgerService }> = async (app, { ledger }) => {
  app.get(
    '/v1/reports/liabilities',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['reports'],
        summary: 'Offer liabilities per offer and UTC day: issued, redeemed, rolled back, expired (breakage), outstanding, loyalty points',
        querystring: z
          .object({
            from: IsoDay.optional().describe('First UTC day (a timestamp selects its UTC day)'),
            to: IsoDay.optional().describe('Last UTC day, inclusive'),
            offerId: z.string().max(200).optional(),
          })
          .strict()
          .superRefine((q, ctx) => orderedWindow(q, ctx, false)),
        response: { 200: LiabilityReportSchema, ...errorReplies },
      },
    },
    async (req) => ledger.liabilities(req.query),
  );
};
