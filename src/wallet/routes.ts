import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { LookupLimits } from '../http/rate-limits.js';
import { docsOnly } from '../http/route-kit.js';
import { errorReplies, IdParams } from '../http/schemas.js';
import { RedemptionRequestSchema, WALLET_PAGE_DEFAULT, WALLET_PAGE_MAX, type Wallet } from './service.js';
import { QuoteSchema, RedemptionSchema, WalletPageSchema } from './views.js';

/** The wallet, redemptions, quotes and rollbacks; code and token lookups go through the rate limits. */
export const walletRoutes: FastifyPluginAsyncZod<{ wallet: Wallet; lookupLimits: LookupLimits }> = async (app, { wallet, lookupLimits }) => {
  app.get(
    '/v1/customers/:id/wallet',
    {
      config: { scope: 'decide' },
      schema: {
        tags: ['wallet'],
        summary: `Issued, unexpired, unredeemed offers across sessions, devices and channels; newest first, at most ${WALLET_PAGE_MAX} a page (pass nextCursor as cursor for the next)`,
        params: IdParams,
        querystring: z
          .object({ limit: z.coerce.number().int().min(1).max(WALLET_PAGE_MAX).default(WALLET_PAGE_DEFAULT), cursor: z.string().min(1).max(500).optional() })
          .strict(),
        response: { 200: WalletPageSchema, ...errorReplies },
      },
    },
    async (req) => wallet.list(req.params.id, { limit: req.query.limit, ...(req.query.cursor !== undefined ? { cursor: req.query.cursor } : {}) }),
  );
  app.post(
    '/v1/redemptions',
    {
      ...docsOnly,
      config: { scope: 'decide' },
      preHandler: lookupLimits.check,
      schema: {
        tags: ['wallet'],
        summary: 'Redeem offer tokens or coupon codes on an order (all or nothing; idempotent per orderId); 429 RATE_LIMITED with Retry-After past the per-customer or per-key limits',
        body: RedemptionRequestSchema,
        response: { 200: RedemptionSchema.describe('A replay: the stored answer for this order'), 201: RedemptionSchema, ...errorReplies },
      },
    },
    async (req, reply) => {
      try {
        const r = await wallet.redeem(req.body);
        reply.code(r.replayed ? 200 : 201);
        return r;
      } catch (e) {
        await lookupLimits.recordFailure(req, e);
        throw e;
      }
    },
  );
  app.post(
    '/v1/redemptions/quote',
    {
      ...docsOnly,
      config: { scope: 'decide' },
      preHandler: lookupLimits.check,
      schema: {
        tags: ['wallet'],
        summary: 'Validate tokens against a cart and compute the discount without redeeming; rate-limited like redemptions',
        body: RedemptionRequestSchema,
        response: { 200: QuoteSchema, ...errorReplies },
      },
    },
    async (req) => {
      try {
        return await wallet.quote(req.body);
      } catch (e) {
        await lookupLimits.recordFailure(req, e);
        throw e;
      }
    },
  );
  app.get('/v1/redemptions/:id', { config: { scope: 'read' }, schema: { tags: ['wallet'], params: IdParams, response: { 200: RedemptionSchema, ...errorReplies } } }, async (req) => wallet.get(req.params.id));
  app.post(
    '/v1/redemptions/:id/rollback',
    {
      config: { scope: 'decide' },
      schema: { tags: ['wallet'], summary: 'Cancelled order: offers return to the wallet, caps and budget are restored (idempotent)', params: IdParams, response: { 200: RedemptionSchema, ...errorReplies } },
    },
    async (req) => wallet.rollback(req.params.id),
  );
};
