import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { IsoInstant, orderedWindow } from '../http/query.js';
import { principalOf } from '../http/route-kit.js';
import { errorReplies, IdParams } from '../http/schemas.js';
import type { MeasureService } from './service.js';
import { sampleSize } from './stats.js';
import { GuardLogSchema, IncrementalityReportSchema, ReadoutSchema, SampleSizeSchema, StopLossRunSchema } from './views.js';

// Planning inputs beyond these are not real shops and would overflow the answer's figures.
const MAX_PLAN_AMOUNT = 1e12;
const MAX_PLAN_CUSTOMERS = 1e10;

const Flag = z.enum(['true', 'false']).transform((v) => v === 'true');

/** Incrementality, readout, planning, stop-loss and the guard log. */
export const measureRoutes: FastifyPluginAsyncZod<{ measure: MeasureService }> = async (app, { measure }) => {
  app.get(
    '/v1/reports/incrementality',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['reports'],
        summary:
          'Treatment against holdout over a window, per customer: sessions, conversion, AOV, revenue and CM per session, offer costs; differences and lifts with CIs; incremental CM; SRM check; verdict; breakdowns by cohort, placement, channel, offer and value; offer P&L',
        querystring: z
          .object({
            campaignId: z.string().regex(/^cmp_/, 'a campaign id (cmp_…)').optional().describe('Omit for the whole program (every campaign against its own holdout)'),
            arm: z.enum(['campaign', 'global']).optional().describe('global: the program-level holdout (OFFERPILOT_GLOBAL_HOLDOUT_PCT) against everyone else'),
            from: IsoInstant.optional().describe('Default: 30 days before `to`'),
            to: IsoInstant.optional().describe('Default: now'),
            level: z.coerce.number().gt(0.5).lt(1).optional().describe('Confidence level, default 0.95'),
            sequential: Flag.optional().describe('Also give always-valid intervals (safe to look every day)'),
            breakdowns: Flag.optional().describe('Default true'),
          })
          .strict()
          .superRefine((q, ctx) => orderedWindow(q, ctx, true)),
        response: { 200: IncrementalityReportSchema, ...errorReplies },
      },
    },
    async (req) => measure.incrementality(req.query),
  );
  app.get(
    '/v1/reports/readout',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['reports'],
        summary: 'The verdict rule: CM-per-session lift at or above the threshold (default 8%) in each of the last two 30-day windows',
        querystring: z.object({ campaignId: z.string().regex(/^cmp_/).optional(), to: IsoInstant.optional(), level: z.coerce.number().gt(0.5).lt(1).optional() }).strict(),
        response: { 200: ReadoutSchema, ...errorReplies },
      },
    },
    async (req) => measure.readout(req.query),
  );
  app.get(
    '/v1/reports/sample-size',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['reports'],
        summary: 'Planning: the minimum detectable effect for a number of customers, or the customers needed for an effect',
        querystring: z
          .object({
            // Bounded so that every figure in the answer is a finite number (1e308 once gave mde: null).
            sd: z.coerce.number().positive().max(MAX_PLAN_AMOUNT).describe('Standard deviation of the per-customer outcome (e.g. CM per customer), minor units, up to 1e12'),
            holdoutPct: z.coerce.number().min(0.01).max(99.99),
            customers: z.coerce.number().int().positive().max(MAX_PLAN_CUSTOMERS).optional().describe('Up to 1e10'),
            mde: z.coerce.number().min(0.01).max(MAX_PLAN_AMOUNT).optional().describe('Smallest difference worth detecting, same unit as sd, 0.01 to 1e12'),
            level: z.coerce.number().gt(0.5).lt(1).optional(),
            power: z.coerce.number().gt(0.5).lt(1).optional(),
          })
          .strict()
          .refine((q) => (q.customers === undefined) !== (q.mde === undefined), { message: 'give exactly one of customers or mde', path: ['customers'] }),
        response: { 200: SampleSizeSchema, ...errorReplies },
      },
    },
    async (req) => {
      const q = req.query;
      const r = sampleSize({ sd: q.sd, holdoutShare: q.holdoutPct / 100, level: q.level, power: q.power, units: q.customers, mde: q.mde });
      return { customers: r.units, mde: r.mde, level: q.level ?? 0.95, power: q.power ?? 0.8, holdoutPct: q.holdoutPct };
    },
  );
  app.post(
    '/v1/campaigns/stop-loss',
    {
      config: { scope: 'admin' },
      schema: { tags: ['campaigns'], summary: 'Run the stop-loss now: pause every live campaign whose incremental CM is surely below zero (it also runs periodically)', response: { 200: StopLossRunSchema, ...errorReplies } },
    },
    async (req) => ({ results: await measure.stopLoss(principalOf(req)) }),
  );
  app.get(
    '/v1/campaigns/:id/guard-log',
    {
      config: { scope: 'read' },
      schema: { tags: ['campaigns'], summary: 'Automatic actions on a campaign (stop-loss pauses) with their evidence', params: IdParams, response: { 200: GuardLogSchema, ...errorReplies } },
    },
    async (req) => ({ entries: await measure.guardLog(req.params.id) }),
  );
};
