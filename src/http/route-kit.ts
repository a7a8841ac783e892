import type { FastifyRequest } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Principal, Scope } from '../auth/principal.js';
import { OfferpilotError } from '../core/errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a route needs; a route without one is public. */
    scope?: Scope;
  }
  interface FastifyRequest {
    /** Who the request acts for, set by the auth hook on every scoped route (null on public ones). */
    principal: Principal | null;
  }
}

/** Epoch milliseconds as the ISO 8601 string every reply gives (the store keeps milliseconds). */
export const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * Route options for bodies validated once, by the service (which names the failing index and
 * field): the declared zod schema still documents the body in OpenAPI. Only the body is left to
 * the service: query strings are still checked (unknown keys refused).
 */
export const docsOnly = {
  validatorCompiler: (c: { httpPart?: string }) => (c.httpPart === 'body' ? (data: unknown) => ({ value: data }) : validatorCompiler(c as never)),
};

/** An empty reply (204). */
export const NoContent = z.null().describe('No content');

/** The principal the auth hook attached; every scoped route has one. */
export function principalOf(req: FastifyRequest): Principal {
  const p = req.principal;
  // Only a route registered without a scope can get here: a programming error, not a client's.
  if (!p) throw new OfferpilotError('INTERNAL', `Route ${req.routeOptions.url} has no principal (declare its scope)`);
  return p;
}
