import { createHash } from 'node:crypto';
import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/index.js';
import { isOfferpilotError, OfferpilotError } from '../core/errors.js';

/** Lookup errors that mean "no such code or token for you": what guessing produces. */
const GUESS_CODES = ['TOKEN_INVALID', 'TOKEN_NOT_FOR_CUSTOMER'];

type Limiter = ReturnType<FastifyInstance['createRateLimit']>;

/** Guards for the routes that look up coupon codes and offer tokens (redemption and quote). */
export interface LookupLimits {
  /** preHandler: refuses with 429 RATE_LIMITED and Retry-After once a budget is spent. */
  check(req: FastifyRequest, reply: FastifyReply): Promise<void>;
  /** Counts the failed lookups of a refused request against the customer's and the key's budgets. */
  recordFailure(req: FastifyRequest, err: unknown): Promise<void>;
}

const customerOf = (req: FastifyRequest): { key: string; path: string } | null => {
  const b = req.body as { customerId?: unknown; anonymousId?: unknown } | null;
  if (!b || typeof b !== 'object') return null;
  if (typeof b.customerId === 'string') return { key: `c:${b.customerId}`, path: 'customerId' };
  if (typeof b.anonymousId === 'string') return { key: `a:${b.anonymousId}`, path: 'anonymousId' };
  return null;
};


/**
 * Rate limits per API key and per customer on code and token lookups, with
 * @fastify/rate-limit's in-memory store: limits hold per process. Failed lookups (unknown
 * code, someone else's token) have their own, much smaller budget, since brute-force guessing
 * is the threat and a shopper who checks out fails rarely. A limit of 0 is off.
 */
export async function registerLookupLimits(app: FastifyInstance, config: Config, bearer: (req: FastifyRequest) => string | undefined): Promise<LookupLimits> {
  // A digest of the API key, so the limiter's memory holds no usable credential.
  const apiKeyOf = (req: FastifyRequest) => createHash('sha256').update(bearer(req) ?? '').digest('base64url');
  await app.register(fastifyRateLimit, { global: false });
  const timeWindow = config.rateLimitWindowMs;
  // LRU of counters per limiter: large enough that flooding it with fresh ids does not evict a
  // customer's count before the per-key budget stops the flood.
  const cache = 100_000;
  const make = (max: number, scope: 'customer' | 'key'): Limiter | null =>
    max === 0
      ? null
      : app.createRateLimit({
          max,
          timeWindow,
          keyGenerator: (req) => (scope === 'key' ? apiKeyOf(req) : (customerOf(req)?.key ?? '')),
          // A body without a customer is refused by validation; there is nothing to count it against.
          allowList: (_req, key) => key === '',
          ...({ cache } as object),
        });
  const limits = {
    failedCustomer: make(config.rateLimitFailedLookupsPerCustomer, 'customer'),
    failedKey: make(config.rateLimitFailedLookupsPerKey, 'key'),
    customer: make(config.rateLimitRedeemPerCustomer, 'customer'),
    key: make(config.rateLimitRedeemPerKey, 'key'),
  };

  const refuse = (reply: FastifyReply, what: string, path: string, ttlInSeconds: number): never => {
    const after = Math.max(1, ttlInSeconds);
    reply.header('retry-after', String(after));
    throw new OfferpilotError('RATE_LIMITED', `${what}; retry after ${after} s`, [{ path, message: what }]);
  };

  return {
    async check(req, reply) {
      const who = customerOf(req)?.path ?? 'customerId';
      // Failure budgets are read, not spent: a request only spends them by failing.
      for (const [lim, what, path] of [
        [limits.failedCustomer, 'Too many failed code or token lookups for this customer', who],
        [limits.failedKey, 'Too many failed code or token lookups for this API key', 'authorization'],
      ] as const) {
        const r = lim && (await lim(req, { increment: false }));
        if (r && !r.isAllowed && r.remaining === 0) refuse(reply, what, path, r.ttlInSeconds);
      }
      for (const [lim, what, path] of [
        [limits.customer, 'Too many redemption requests for this customer', who],
        [limits.key, 'Too many redemption requests for this API key', 'authorization'],
      ] as const) {
        const r = lim && (await lim(req));
        if (r && !r.isAllowed && r.isExceeded) refuse(reply, what, path, r.ttlInSeconds);
      }
    },
    async recordFailure(req, err) {
      if (!isOfferpilotError(err)) return;
      // Each token of a request is one guess (a request carries up to 10).
      const guesses = err.details.filter((d) => GUESS_CODES.some((c) => d.message.startsWith(`${c}:`))).length || (GUESS_CODES.includes(err.code) ? 1 : 0);
      for (let i = 0; i < guesses; i++) {
        if (limits.failedCustomer) await limits.failedCustomer(req);
        if (limits.failedKey) await limits.failedKey(req);
      }
    },
  };
}
