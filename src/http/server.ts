import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, jsonSchemaTransform, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { z } from 'zod';
import { allows, SCOPES, type Scope } from '../auth/index.js';
import { importCatalog } from '../catalog/import.js';
import { CampaignCreateSchema, CampaignSpecSchema, OfferCreateSchema, OfferSpecSchema, ProductSchema } from '../core/catalog.js';
import { DecideRequestSchema } from '../core/request.js';
import { EventBatchSchema, MAX_BATCH } from '../events/index.js';
import { RedemptionRequestSchema, WALLET_PAGE_DEFAULT, WALLET_PAGE_MAX } from '../wallet/service.js';
import { ERRORS, isOfferpilotError, OfferpilotError, type ErrorCode, type ErrorDetail } from '../core/errors.js';
import { issueDetails } from '../core/validate.js';
import { storeErrorCode } from '../store/errors.js';
import type { Engine } from '../app.js';
import { compileRule } from '../core/rules.js';
import { customerSubject } from '../core/subject.js';
import { sampleSize } from '../measure/index.js';
import { registerLookupLimits } from './rate-limits.js';
import type { CustomerRecord } from '../store/ports.js';
import { IsoDay, IsoInstant, orderedWindow } from './query.js';
import { DecisionResponseSchema, ErrorBody, IdParams, Passthrough, StatusBody, StatusQuery, VersionQuery } from './schemas.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    scope?: Scope;
  }
}

export interface ServerOptions {
  /** Fastify's own two-line request logging, with its serializers (off by default: the decide path is hot). */
  logRequests?: boolean;
  /** One access-log line per request at info (default: the engine's `accessLog` setting). */
  accessLog?: boolean;
}

// Query parameters whose values may be credentials are not written to the log.
const SECRET_PARAM = /token|code|key|secret|pass|auth|sig/i;

/** The request path with its query, credential-like values replaced. */
export function loggableUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  for (const k of new Set(params.keys())) if (SECRET_PARAM.test(k)) params.set(k, '[redacted]');
  const rest = params.toString();
  return rest ? `${url.slice(0, q)}?${rest}` : url.slice(0, q);
}

// Seconds a client should wait before retrying a 503: a lock clears fast; a full or read-only
// disk needs an operator, so retries should not hammer it.
const RETRY_AFTER: Partial<Record<ErrorCode, string>> = { INGEST_OVERLOADED: '1', STORE_BUSY: '1', STORE_UNAVAILABLE: '5', STORE_FULL: '30', STORE_READ_ONLY: '30' };

function send(reply: FastifyReply, e: OfferpilotError): FastifyReply {
  const retry = RETRY_AFTER[e.code];
  if (retry) reply.header('retry-after', retry);
  return reply.code(e.status).send(e.toJSON());
}

// Where a failing part of the request lives: body fields by their own path, the rest under it.
const PART: Record<string, string> = { body: '', querystring: 'query', params: 'params', headers: 'headers' };

/** Error details for fastify-type-provider-zod validation items (zod issues in ajv's shape). */
function validationDetails(items: ReadonlyArray<{ instancePath: string; keyword: string; message?: string; params?: Record<string, unknown> }>, context: string | undefined): ErrorDetail[] {
  const part = PART[context ?? 'body'] ?? context ?? '';
  // A whole-body problem is at "(body)", a whole-query one at "query".
  return issueDetails(
    items.map((v) => ({
      path: v.instancePath.split('/').filter(Boolean),
      message: v.message ?? 'invalid',
      code: v.keyword,
      keys: Array.isArray(v.params?.keys) ? (v.params.keys as string[]) : undefined,
    })),
    part ? [part] : [],
  );
}

/** Maps any error to the API's error body; client mistakes are 4xx with the field named, never a 500. */
function handleError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (isOfferpilotError(err)) return send(reply, err);
  if (hasZodFastifySchemaValidationErrors(err)) {
    const details = validationDetails(err.validation, err.validationContext);
    return send(reply, new OfferpilotError('VALIDATION_FAILED', `Invalid ${details[0]?.path ?? 'request'}: ${details[0]?.message ?? ''}`, details));
  }
  const code = err.code ?? '';
  if (code === 'FST_ERR_CTP_INVALID_JSON_BODY' || code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err instanceof SyntaxError) {
    return send(reply, new OfferpilotError('INVALID_JSON', `The request body is not valid JSON: ${err.message}`, [{ path: '(body)', message: err.message }]));
  }
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return send(reply, new OfferpilotError('PAYLOAD_TOO_LARGE'));
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return send(reply, new OfferpilotError('UNSUPPORTED_MEDIA_TYPE', `Unsupported Content-Type: ${req.headers['content-type'] ?? '(none)'}`));
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return reply.code(err.statusCode).send({ error: { code: 'VALIDATION_FAILED', message: err.message, details: [] } });
  }
  // The engine's store already answers with codes; this catches a driver error raised elsewhere.
  const stored = storeErrorCode(err);
  req.log.error({ err }, 'request failed');
  return send(reply, new OfferpilotError(stored ?? 'INTERNAL', stored ? undefined : `Internal error (request ${req.id})`));
}

// NUL (PostgreSQL cannot store it) or a lone UTF-16 surrogate (not valid Unicode: JSON and
// databases would silently replace or refuse it, and a signed token would no longer match).
const badText = (s: string) => s.includes('\u0000') || !s.isWellFormed();

function findNul(v: unknown, path: string): string | null {
  if (typeof v === 'string') return badText(v) ? path : null;
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      const sub = path ? `${path}.${k}` : k;
      if (badText(k)) return sub;
      const found = findNul(x, sub);
      if (found !== null) return found;
    }
  }
  return null;
}

/**
 * The prototype-poisoning guard refuses `__proto__` (and `constructor.prototype`) keys, but the body
 * is valid JSON: a VALIDATION_FAILED naming the key, instead of calling the body malformed.
 */
function forbiddenKeyError(err: Error & { code?: string }, body: string): OfferpilotError | null {
  if (err.code !== 'FST_ERR_CTP_INVALID_JSON_BODY') return null;
  // The guard's reason is lost in fastify's generic error: if plain JSON.parse accepts the body, the
  // guard refused a key. JSON.parse makes `__proto__` an own property (it never sets a prototype),
  // so the result is safe to walk.
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return null;
  }
  const find = (v: unknown, path: string[]): string[] | null => {
    if (!v || typeof v !== 'object') return null;
    for (const [k, x] of Object.entries(v)) {
      if (k === '__proto__') return [...path, k];
      if (k === 'constructor' && x && typeof x === 'object' && Object.hasOwn(x, 'prototype')) return [...path, k, 'prototype'];
      const found = find(x, [...path, k]);
      if (found) return found;
    }
    return null;
  };
  const at = find(parsed, []);
  if (!at) return null;
  const path = at.join('.');
  const msg = `the key "${at[at.length - 1]}" is not allowed (it could alter object prototypes)`;
  return new OfferpilotError('VALIDATION_FAILED', `Invalid ${path}: ${msg}`, [{ path, message: msg }]);
}

/** Answers HTTP-level failures (before any route runs) in the API's error body, with a stable code. */
function clientErrorHandler(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const e =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new OfferpilotError('HEADERS_TOO_LARGE')
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new OfferpilotError('REQUEST_TIMEOUT')
        : new OfferpilotError('MALFORMED_REQUEST', undefined, [{ path: 'request', message: err.code ?? err.message }]);
  this.log.trace({ err }, 'client error');
  if (socket.writable) {
    const body = JSON.stringify(e.toJSON());
    socket.write(`HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}

/** A route path (`/v1/offers/:id`) as a regular expression over concrete paths. */
function routeMatcher(url: string): RegExp {
  const src = url
    .split('/')
    .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg === '*' ? '.*' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${src}$`);
}

// Replies give every timestamp as an ISO 8601 string; the store keeps epoch milliseconds.
const iso = (ms: number) => new Date(ms).toISOString();
const customerReply = (c: CustomerRecord) => ({ ...c, createdAt: iso(c.createdAt), updatedAt: iso(c.updatedAt) });

const bearer = (req: FastifyRequest): string | undefined => {
  const h = req.headers.authorization;
  // The auth scheme name is case-insensitive (RFC 9110).
  if (h && /^bearer /i.test(h)) return h.slice(7).trim();
  const k = req.headers['x-api-key'];
  return typeof k === 'string' ? k : undefined;
};

// Planning inputs beyond these are not real shops and would overflow the answer's figures.
const MAX_PLAN_AMOUNT = 1e12;
const MAX_PLAN_CUSTOMERS = 1e10;

const EmptyQuery = z.object({}).strict();
// Fastify hands a route `null` when no body was sent.
const NoBody = z.object({}).strict().nullish();

const errorResponses = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

/** Builds the HTTP API over an engine: decide, catalog, customers, keys, OpenAPI and docs. */
export async function buildServer(engine: Engine, opts: ServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: engine.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: !opts.logRequests }),
    bodyLimit: engine.config.bodyLimit,
    genReqId: () => Math.random().toString(36).slice(2, 12),
    // Ids may be up to 200 characters (see IdParams); the router's default limit is 100.
    routerOptions: { maxParamLength: 256 },
    clientErrorHandler,
    frameworkErrors: (err, _req, reply) => {
      send(reply, new OfferpilotError('VALIDATION_FAILED', `Malformed URL: ${err.message}`, [{ path: 'url', message: err.message }]));
    },
  }).withTypeProvider<ZodTypeProvider>();
  // Only JSON is accepted; a text/plain body is a 415, not a confusing validation error.
  app.removeContentTypeParser('text/plain');
  // PostgreSQL cannot store NUL in text; reject it at the edge, naming where it is.
  const jsonParser = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    jsonParser(req, body as string, (err: Error | null, parsed?: unknown) => {
      if (err) return done(forbiddenKeyError(err, body as string) ?? err, undefined);
      if (/\\u0000|\\u[dD][89a-fA-F]/.test(body as string) || !(body as string).isWellFormed()) {
        const at = findNul(parsed, '');
        if (at !== null) {
          const msg = 'contains a NUL character or a lone UTF-16 surrogate';
          return done(new OfferpilotError('VALIDATION_FAILED', `Invalid ${at || '(body)'}: ${msg}`, [{ path: at || '(body)', message: msg }]), undefined);
        }
      }
      done(null, parsed);
    });
  });
  app.setValidatorCompiler(validatorCompiler);
  // Response schemas document the API; replies are plain JSON and are not re-validated on the hot path.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  app.setErrorHandler(handleError);
  // Every route's methods, so a known path asked with another method is a 405 with Allow, not a 404.
  const routes: Array<{ match: RegExp; methods: Set<string> }> = [];
  app.addHook('onRoute', (r) => {
    const methods = [r.method].flat().map((m) => m.toUpperCase());
    const match = routeMatcher(r.url);
    const known = routes.find((x) => x.match.source === match.source);
    if (known) methods.forEach((m) => known.methods.add(m));
    else routes.push({ match, methods: new Set(methods) });
    if (!r.url.startsWith('/v1/') && r.url !== '/health') return;
    // Unknown query keys (and a body on a route that takes none) are refused like unknown body fields.
    const schema = (r.schema ??= {});
    schema.querystring ??= EmptyQuery;
    if (['POST', 'PUT', 'PATCH'].some((m) => methods.includes(m))) schema.body ??= NoBody;
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    const allowed = new Set(routes.filter((x) => x.match.test(path)).flatMap((x) => [...x.methods]));
    if (allowed.size > 0) {
      const allow = [...allowed].sort().join(', ');
      reply.header('allow', allow);
      return send(reply, new OfferpilotError('METHOD_NOT_ALLOWED', `${req.method} is not supported on ${path}; use ${allow}`, [{ path: 'method', message: `allowed: ${allow}` }]));
    }
    return send(reply, new OfferpilotError('NOT_FOUND', `No route ${req.method} ${path}`));
  });
  if (opts.accessLog ?? engine.config.accessLog) {
    const log = engine.logger;
    // One line when the response is sent; nothing is computed when info is not enabled. Headers
    // (Authorization, X-Api-Key) and bodies are never logged.
    app.addHook('onResponse', (req, reply, done) => {
      if (log.isLevelEnabled('info')) {
        log.info({ reqId: req.id, method: req.method, url: loggableUrl(req.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, 'request');
      }
      done();
    });
  }

  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'Offerpilot API',
        version: '1',
        description:
          'Decide which offer to show (or none), within guardrails, for incremental contribution margin. ' +
          `Authenticate with "Authorization: Bearer <api key>". Scopes: ${SCOPES.join(', ')} (admin implies all). ` +
          `Error codes: ${Object.keys(ERRORS).join(', ')}.`,
      },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiKey: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  app.addHook('onRequest', async (req, reply) => {
    if (/%00/i.test(req.url)) return send(reply, new OfferpilotError('VALIDATION_FAILED', 'NUL characters are not allowed in the URL', [{ path: 'url', message: 'contains %00' }]));
    const needed = req.routeOptions.config.scope;
    if (!needed) return;
    const key = bearer(req);
    if (!key) return send(reply, new OfferpilotError('UNAUTHENTICATED'));
    const scopes = await engine.keys.scopesOf(key);
    if (!scopes) return send(reply, new OfferpilotError('UNAUTHENTICATED', 'The API key is unknown or revoked'));
    if (!allows(scopes, needed)) {
      return send(reply, new OfferpilotError('FORBIDDEN_SCOPE', `This endpoint needs the "${needed}" scope; the key has ${scopes.join(', ')}`));
    }
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  // Registered after the auth hook, so only authenticated requests are counted.
  const lookupLimits = await registerLookupLimits(app as unknown as FastifyInstance, engine.config, bearer);

  app.get(
    '/health',
    { schema: { tags: ['system'], security: [], summary: 'Liveness and database check: 503 "degraded" while writes fail (disk full, read-only, locked), until one succeeds' } },
    async (_req, reply) => {
      const s = await engine.snapshot();
      const w = engine.storeHealth();
      if (w.degraded) reply.code(503).header('retry-after', RETRY_AFTER[w.lastWriteError!.code] ?? '5');
      return {
        status: w.degraded ? 'degraded' : 'ok',
        store: engine.dialect,
        writes: { ok: !w.degraded, lastWriteError: w.lastWriteError, lastWriteOkAt: w.lastWriteOkAt },
        catalogVersion: s.version,
        liveCampaigns: s.campaigns.length,
      };
    },
  );

  app.post(
    '/v1/decide',
    {
      config: { scope: 'decide' },
      schema: { tags: ['decide'], summary: 'Decide which offer to show (or none), and reserve it', body: DecideRequestSchema, response: { 200: DecisionResponseSchema, ...errorResponses } },
    },
    async (req) => engine.decide(req.body),
  );

  // A preview needs only the read scope: a held wallet entry is shown as held, never with its
  // coupon code or token (bearer credentials the wallet gives only to the decide scope).
  const previewOffer = <T extends { guard: unknown; held: unknown; expiresAt: number }>({ guard: _g, held, ...c }: T) => ({
    ...c,
    fromWallet: held !== null && held !== undefined,
    expiresAt: new Date(c.expiresAt).toISOString(),
  });
  app.post(
    '/v1/decide/preview',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['decide'],
        summary: 'Dry run: the decision the engine would make now, with every candidate explained; nothing is reserved, issued or logged',
        body: DecideRequestSchema,
      },
    },
    async (req) => {
      const d = await engine.preview(req.body);
      return { ...d, decidedAt: new Date(d.decidedAt).toISOString(), chosen: d.chosen.map(previewOffer), counterfactual: d.counterfactual.map(previewOffer) };
    },
  );

  app.get('/v1/decisions/:id', { config: { scope: 'read' }, schema: { tags: ['decide'], summary: 'A logged decision with its context', params: IdParams } }, async (req) =>
    engine.getDecision(req.params.id),
  );

  app.get(
    '/v1/decisions',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['decide'],
        summary: 'Recent logged decisions, newest first',
        querystring: z.object({ customerId: z.string().optional(), campaignId: z.string().optional(), limit: z.coerce.number().int().min(1).max(1000).default(50) }).strict(),
      },
    },
    async (req) => {
      const decisions = await engine.decisions.list({
        limit: req.query.limit,
        ...(req.query.customerId ? { subjectId: customerSubject(req.query.customerId) } : {}),
        ...(req.query.campaignId ? { campaignId: req.query.campaignId } : {}),
      });
      return { decisions };
    },
  );

  app.put(
    '/v1/customers/:id',
    {
      config: { scope: 'decide' },
      schema: {
        tags: ['customers'],
        summary: 'Store a customer’s traits and consent (replaces both)',
        params: IdParams,
        body: z.object({ traits: z.record(z.string(), z.unknown()).optional(), consent: z.object({ personalization: z.boolean().optional(), email: z.boolean().optional(), sms: z.boolean().optional(), push: z.boolean().optional() }).strict().optional() }).strict(),
      },
    },
    async (req) => customerReply(await engine.putCustomer(req.params.id, req.body)),
  );
  app.get('/v1/customers/:id', { config: { scope: 'read' }, schema: { tags: ['customers'], params: IdParams } }, async (req) => customerReply(await engine.getCustomer(req.params.id)));

  app.get('/v1/customers/:id/features', { config: { scope: 'read' }, schema: { tags: ['customers'], summary: 'Features computed from events (RFM, cohort, coupon affinity…); rules read them as customer.features', params: IdParams } }, async (req) =>
    engine.features(req.params.id),
  );
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
      },
    },
    async (req) => engine.wallet.list(req.params.id, { limit: req.query.limit, ...(req.query.cursor !== undefined ? { cursor: req.query.cursor } : {}) }),
  );
  app.delete('/v1/customers/:id', { config: { scope: 'admin' }, schema: { tags: ['customers'], summary: 'Erase a customer: profile, features and personal data; aggregate outcomes stay, anonymised', params: IdParams } }, async (req) => {
    const r = await engine.eraseCustomer(req.params.id);
    if (!r.erased) throw new OfferpilotError('CUSTOMER_NOT_FOUND', `Nothing stored for customer ${req.params.id}`);
    return { customerId: req.params.id, erased: true };
  });

  // Bodies below are validated once, by the service (which names the failing index and field);
  // the zod schemas here document them in OpenAPI.
  const docsOnly = {
    // Only the body is left to the service: query strings are still checked (unknown keys refused).
    validatorCompiler: (c: { httpPart?: string }) => (c.httpPart === 'body' ? (data: unknown) => ({ value: data }) : validatorCompiler(c as never)),
  };
  app.post(
    '/v1/events',
    {
      ...docsOnly,
      bodyLimit: Math.max(engine.config.bodyLimit, 8 * 1_048_576),
      config: { scope: 'decide' },
      schema: {
        tags: ['events'],
        summary: `Ingest up to ${MAX_BATCH} outcome events; idempotent by event id; 200 means every accepted event is durable (results lists duplicates, rejections and quarantines, each with a code), 503 (Retry-After) means none was stored`,
        body: EventBatchSchema,
      },
    },
    async (req) => engine.events.ingest(req.body),
  );
  app.post(
    '/v1/redemptions',
    {
      ...docsOnly,
      config: { scope: 'decide' },
      preHandler: lookupLimits.check,
      schema: { tags: ['wallet'], summary: 'Redeem offer tokens or coupon codes on an order (all or nothing; idempotent per orderId); 429 RATE_LIMITED with Retry-After past the per-customer or per-key limits', body: RedemptionRequestSchema },
    },
    async (req, reply) => {
      try {
        const r = await engine.wallet.redeem(req.body);
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
      schema: { tags: ['wallet'], summary: 'Validate tokens against a cart and compute the discount without redeeming; rate-limited like redemptions', body: RedemptionRequestSchema },
    },
    async (req) => {
      try {
        return await engine.wallet.quote(req.body);
      } catch (e) {
        await lookupLimits.recordFailure(req, e);
        throw e;
      }
    },
  );
  app.get('/v1/redemptions/:id', { config: { scope: 'read' }, schema: { tags: ['wallet'], params: IdParams } }, async (req) => engine.wallet.get(req.params.id));
  app.post(
    '/v1/redemptions/:id/rollback',
    { config: { scope: 'decide' }, schema: { tags: ['wallet'], summary: 'Cancelled order: offers return to the wallet, caps and budget are restored (idempotent)', params: IdParams } },
    async (req) => engine.wallet.rollback(req.params.id),
  );
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
      },
    },
    async (req) => engine.liabilities(req.query),
  );

  const Flag = z.enum(['true', 'false']).transform((v) => v === 'true');
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
      },
    },
    async (req) => engine.measure.incrementality(req.query),
  );
  app.get(
    '/v1/reports/readout',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['reports'],
        summary: 'The verdict rule: CM-per-session lift at or above the threshold (default 8%) in each of the last two 30-day windows',
        querystring: z.object({ campaignId: z.string().regex(/^cmp_/).optional(), to: IsoInstant.optional(), level: z.coerce.number().gt(0.5).lt(1).optional() }).strict(),
      },
    },
    async (req) => engine.measure.readout(req.query),
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
    { config: { scope: 'admin' }, schema: { tags: ['campaigns'], summary: 'Run the stop-loss now: pause every live campaign whose incremental CM is surely below zero (it also runs periodically)' } },
    async () => ({ results: await engine.measure.stopLoss() }),
  );
  app.get(
    '/v1/campaigns/:id/guard-log',
    { config: { scope: 'read' }, schema: { tags: ['campaigns'], summary: 'Automatic actions on a campaign (stop-loss pauses) with their evidence', params: IdParams } },
    async (req) => ({ entries: await engine.measure.guardLog(req.params.id) }),
  );

  // Catalog: offers and campaigns share one shape of routes.
  const versioned = [
    { path: 'offers', create: OfferCreateSchema, spec: OfferSpecSchema, svc: { create: (b: unknown) => engine.catalog.createOffer(b), update: (id: string, b: unknown) => engine.catalog.updateOffer(id, b), get: (id: string, v?: number) => engine.catalog.getOffer(id, v), list: (s?: never) => engine.catalog.listOffers(s), versions: (id: string) => engine.catalog.offerVersions(id), transition: (id: string, s: never) => engine.catalog.transitionOffer(id, s) } },
    { path: 'campaigns', create: CampaignCreateSchema, spec: CampaignSpecSchema, svc: { create: (b: unknown) => engine.catalog.createCampaign(b), update: (id: string, b: unknown) => engine.catalog.updateCampaign(id, b), get: (id: string, v?: number) => engine.catalog.getCampaign(id, v), list: (s?: never) => engine.catalog.listCampaigns(s), versions: (id: string) => engine.catalog.campaignVersions(id), transition: (id: string, s: never) => engine.catalog.transitionCampaign(id, s) } },
  ] as const;
  for (const v of versioned) {
    const tags = [v.path];
    // Bodies are validated by the catalog service (which also compiles rules), so one set of paths names every error.
    app.post(`/v1/${v.path}`, { config: { scope: 'admin' }, schema: { tags, summary: `Create (version 1, draft unless status: live)`, body: Passthrough.describe(`See the ${v.path} schema`) } }, async (req, reply) => {
      reply.code(201);
      return v.svc.create(req.body);
    });
    app.get(`/v1/${v.path}`, { config: { scope: 'read' }, schema: { tags, querystring: StatusQuery } }, async (req) => ({ [v.path]: await v.svc.list(req.query.status as never) }));
    app.get(`/v1/${v.path}/:id`, { config: { scope: 'read' }, schema: { tags, params: IdParams, querystring: VersionQuery } }, async (req) => v.svc.get(req.params.id, req.query.version));
    app.put(`/v1/${v.path}/:id`, { config: { scope: 'admin' }, schema: { tags, summary: 'Replace the definition: creates a new immutable version', params: IdParams, body: Passthrough } }, async (req) =>
      v.svc.update(req.params.id, req.body),
    );
    app.get(`/v1/${v.path}/:id/versions`, { config: { scope: 'read' }, schema: { tags, params: IdParams } }, async (req) => ({ versions: await v.svc.versions(req.params.id) }));
    app.post(`/v1/${v.path}/:id/status`, { config: { scope: 'admin' }, schema: { tags, summary: 'Lifecycle: draft → live ⇄ paused → archived', params: IdParams, body: StatusBody } }, async (req) =>
      v.svc.transition(req.params.id, req.body.status as never),
    );
  }

  app.post(
    '/v1/rules/check',
    { config: { scope: 'read' }, schema: { tags: ['offers'], summary: 'Check an eligibility expression without saving it', body: z.object({ expression: z.string().min(1).max(4000) }).strict() } },
    async (req) => {
      const r = compileRule(req.body.expression, 'expression');
      return { valid: true, personalized: r.personalized };
    },
  );

  app.post('/v1/catalog/import', { config: { scope: 'admin' }, schema: { tags: ['catalog'], summary: 'Import products, offers and campaigns idempotently', body: Passthrough } }, async (req) =>
    importCatalog(engine.catalog, req.body),
  );

  app.put('/v1/products', { config: { scope: 'admin' }, schema: { tags: ['products'], summary: 'Bulk upsert of up to 10,000 products', body: z.array(ProductSchema).min(1).max(10_000) } }, async (req) =>
    engine.catalog.upsertProducts(req.body),
  );
  app.get(
    '/v1/products',
    { config: { scope: 'read' }, schema: { tags: ['products'], querystring: z.object({ after: z.string().optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) }).strict() } },
    async (req) => ({ products: await engine.catalog.listProducts(req.query.after, req.query.limit) }),
  );
  app.get('/v1/products/:sku', { config: { scope: 'read' }, schema: { tags: ['products'], params: z.object({ sku: z.string() }) } }, async (req) => engine.catalog.getProduct(req.params.sku));

  app.post(
    '/v1/keys',
    { config: { scope: 'admin' }, schema: { tags: ['keys'], summary: 'Create an API key (the key is shown once)', body: z.object({ scopes: z.array(z.enum(SCOPES)).min(1), name: z.string().max(100).optional() }).strict() } },
    async (req, reply) => {
      reply.code(201);
      return engine.keys.create(req.body.scopes, req.body.name);
    },
  );
  app.get('/v1/keys', { config: { scope: 'admin' }, schema: { tags: ['keys'] } }, async () => ({
    keys: (await engine.keys.list()).map((k) => ({ ...k, createdAt: iso(k.createdAt), revokedAt: k.revokedAt === null ? null : iso(k.revokedAt) })),
  }));
  app.delete('/v1/keys/:id', { config: { scope: 'admin' }, schema: { tags: ['keys'], params: IdParams } }, async (req, reply) => {
    if (!(await engine.keys.revoke(req.params.id))) throw new OfferpilotError('NOT_FOUND', `No live key ${req.params.id}`);
    reply.code(204);
    return null;
  });

  return app as unknown as FastifyInstance;
}
