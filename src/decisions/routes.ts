import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DecideRequestSchema } from '../core/request.js';
import { DecisionResponseSchema } from '../core/response.js';
import { customerSubject } from '../core/subject.js';
import { errorReplies, IdParams } from '../http/schemas.js';
import { DecisionPreviewSchema } from './preview.js';
import type { DecisionService } from './service.js';

/** A logged decision: the response as given, with what was logged beside it. */
export const LoggedDecisionSchema = DecisionResponseSchema.extend({ log: z.unknown().describe('What was logged beside the response (request context, policy inputs)') }).meta({ id: 'LoggedDecision' });
export const DecisionListSchema = z.object({ decisions: z.array(DecisionResponseSchema) }).meta({ id: 'DecisionList' });

/** Decide, preview and the decision log. */
export const decisionRoutes: FastifyPluginAsyncZod<{ decisions: DecisionService }> = async (app, { decisions }) => {
  app.post(
    '/v1/decide',
    {
      config: { scope: 'decide' },
      schema: { tags: ['decide'], summary: 'Decide which offer to show (or none), and reserve it', body: DecideRequestSchema, response: { 200: DecisionResponseSchema, ...errorReplies } },
    },
    async (req) => decisions.decide(req.body),
  );

  app.post(
    '/v1/decide/preview',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['decide'],
        summary: 'Dry run: the decision the engine would make now, with every candidate explained; nothing is reserved, issued or logged',
        body: DecideRequestSchema,
        response: { 200: DecisionPreviewSchema, ...errorReplies },
      },
    },
    async (req) => decisions.previewView(req.body),
  );

  app.get(
    '/v1/decisions/:id',
    { config: { scope: 'read' }, schema: { tags: ['decide'], summary: 'A logged decision with its context', params: IdParams, response: { 200: LoggedDecisionSchema, ...errorReplies } } },
    async (req) => decisions.get(req.params.id),
  );

  app.get(
    '/v1/decisions',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['decide'],
        summary: 'Recent logged decisions, newest first',
        querystring: z.object({ customerId: z.string().optional(), campaignId: z.string().optional(), limit: z.coerce.number().int().min(1).max(1000).default(50) }).strict(),
        response: { 200: DecisionListSchema, ...errorReplies },
      },
    },
    async (req) => {
      const list = await decisions.list({
        limit: req.query.limit,
        ...(req.query.customerId ? { subjectId: customerSubject(req.query.customerId) } : {}),
        ...(req.query.campaignId ? { campaignId: req.query.campaignId } : {}),
      });
      return { decisions: list };
    },
  );
};
