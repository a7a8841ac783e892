import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { OfferpilotError } from '../core/errors.js';
import { iso, NoContent, principalOf } from '../http/route-kit.js';
import { errorReplies, IdParams } from '../http/schemas.js';
import { SCOPES, type ApiKeys } from './index.js';

const ScopeList = z.array(z.enum(SCOPES));
export const CreatedKeySchema = z.object({ id: z.string(), key: z.string().describe('The key itself: shown this once, never stored'), scopes: ScopeList }).meta({ id: 'CreatedApiKey' });
export const KeyListSchema = z
  .object({ keys: z.array(z.object({ id: z.string(), name: z.string(), scopes: z.array(z.string()), createdAt: z.string(), revokedAt: z.string().nullable() })) })
  .meta({ id: 'ApiKeyList' });

/** API keys: create, list, revoke. */
export const keyRoutes: FastifyPluginAsyncZod<{ keys: ApiKeys }> = async (app, { keys }) => {
  app.post(
    '/v1/keys',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['keys'],
        summary: 'Create an API key (the key is shown once)',
        body: z.object({ scopes: ScopeList.min(1), name: z.string().max(100).optional() }).strict(),
        response: { 201: CreatedKeySchema, ...errorReplies },
      },
    },
    async (req, reply) => {
      reply.code(201);
      return keys.create(req.body.scopes, req.body.name, undefined, principalOf(req));
    },
  );
  app.get('/v1/keys', { config: { scope: 'admin' }, schema: { tags: ['keys'], response: { 200: KeyListSchema, ...errorReplies } } }, async () => ({
    keys: (await keys.list()).map((k) => ({ ...k, createdAt: iso(k.createdAt), revokedAt: k.revokedAt === null ? null : iso(k.revokedAt) })),
  }));
  app.delete('/v1/keys/:id', { config: { scope: 'admin' }, schema: { tags: ['keys'], params: IdParams, response: { 204: NoContent, ...errorReplies } } }, async (req, reply) => {
    if (!(await keys.revoke(req.params.id, undefined, principalOf(req)))) throw new OfferpilotError('NOT_FOUND', `No live key ${req.params.id}`);
    reply.code(204);
    return null;
  });
};
