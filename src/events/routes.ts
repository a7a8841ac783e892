import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Assert, Same } from '../http/type-check.js';
import { docsOnly } from '../http/route-kit.js';
import { errorReplies } from '../http/schemas.js';
import type { IngestResult, Ingestor } from './ingest.js';
import { EventBatchSchema, MAX_BATCH } from './schema.js';

/** The answer to an event batch. */
export const IngestResultSchema = z
  .object({
    accepted: z.number().int().describe('Events stored by this request'),
    duplicates: z.number().int().describe('Events already stored (same id)'),
    rejected: z.number().int().describe('Events refused by the checks against stored orders'),
    quarantined: z.number().int().describe('Refunds and returns held back because their order is not known yet'),
    attributed: z.number().int().describe('Events credited to a decision'),
    results: z
      .array(
        z.object({
          index: z.number().int(),
          id: z.string(),
          status: z.enum(['duplicate', 'rejected', 'quarantined']),
          code: z.enum(['EVENT_ORDER_CONFLICT', 'REFUND_ORDER_UNKNOWN', 'REFUND_CUSTOMER_MISMATCH', 'REFUND_EXCEEDS_ORDER', 'ORDER_DISCOUNT_MISMATCH', 'ORDER_TOKEN_MISMATCH']).optional(),
          field: z.string().optional().describe('The field at fault, as events.<index>.<field>'),
          message: z.string().optional(),
        }),
      )
      .describe('Every event not accepted, in batch order'),
  })
  .meta({ id: 'IngestResult' });
export type _IngestResultAgrees = Assert<Same<z.infer<typeof IngestResultSchema>, IngestResult>>;

/** Outcome event ingest. */
export const eventRoutes: FastifyPluginAsyncZod<{ events: Ingestor; bodyLimit: number }> = async (app, { events, bodyLimit }) => {
  app.post(
    '/v1/events',
    {
      // Validated once, by the ingestor, which names the failing index and field.
      ...docsOnly,
      bodyLimit: Math.max(bodyLimit, 8 * 1_048_576),
      config: { scope: 'decide' },
      schema: {
        tags: ['events'],
        summary: `Ingest up to ${MAX_BATCH} outcome events; idempotent by event id; 200 means every accepted event is durable (results lists duplicates, rejections and quarantines, each with a code), 503 (Retry-After) means none was stored`,
        body: EventBatchSchema,
        response: { 200: IngestResultSchema, ...errorReplies },
      },
    },
    async (req) => events.ingest(req.body),
  );
};
