import { z } from 'zod';
import { REASONS } from '../core/reasons.js';
import { CHANNELS, LIFECYCLE, OFFER_TYPES } from '../core/catalog.js';

/** The error body every route answers with (OpenAPI, and reply validation in the test suite). */
export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().describe('Stable error code, e.g. VALIDATION_FAILED, OFFER_NOT_FOUND'),
      message: z.string(),
      details: z.array(z.object({ path: z.string().describe('Dotted path of the offending field'), message: z.string() })),
    }),
  })
  .meta({ id: 'Error' });

/** Every error status a route may answer with; all share the error body. */
export const errorReplies = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody, 415: ErrorBody, 422: ErrorBody, 429: ErrorBody, 500: ErrorBody, 503: ErrorBody };

export { DecisionResponseSchema, ReasonSchema } from '../core/response.js';

export const StatusBody = z.object({ status: z.enum(LIFECYCLE) }).strict();
export const ChannelEnum = z.enum(CHANNELS);
export const IdParams = z.object({ id: z.string().min(1).max(200) });
export const VersionQuery = z.object({ version: z.coerce.number().int().min(1).max(2_147_483_647).optional() }).strict();
export const StatusQuery = z.object({ status: z.enum(LIFECYCLE).optional() }).strict();
export const Passthrough = z.record(z.string(), z.unknown());
