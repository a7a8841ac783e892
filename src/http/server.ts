import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, jsonSchemaTransform, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { allows, SCOPES, type Scope } from '../auth/index.js';
import { importCatalog } from '../catalog/import.js';
import { CampaignCreateSchema, CampaignSpecSchema, OfferCreateSchema, OfferSpecSchema, ProductSchema } from '../catalog/schemas.js';
import { DecideRequestSchema } from '../decide/request.js';
import { EventBatchSchema, MAX_BATCH } from '../events/index.js';
import { RedemptionRequestSchema, WALLET_PAGE_DEFAULT, WALLET_PAGE_MAX } from '../wallet/service.js';
import { ERRORS, isOfferpilotError, OfferpilotError } from '../errors/index.js';
import { unpackLog, type Engine } from '../engine/index.js';
import { compileRule } from '../rules/index.js';
import { sampleSize } from '../measure/index.js';
import { DecisionResponseSchema, ErrorBody, IdParams, Passthrough, StatusBody, StatusQuery, VersionQuery } from './schemas.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    scope?: Scope;
  }
}

export interface ServerOptions {
  /** Log every request (off by default: the decide path is hot). */
  logRequests?: boolean;
}

function send(reply: FastifyReply, e: OfferpilotError): FastifyReply {
  if (e.code === 'INGEST_OVERLOADED') reply.header('retry-after', '1');
  return reply.code(e.status).send(e.toJSON());
}

const pathOf = (instancePath: string, context: string | undefined) => {
  const p = instancePath.replace(/^\//, '').split('/').filter(Boolean).join('.');
  const prefix = context && context !== 'body' ? `${context === 'querystring' ? 'query' : context}.` : '';
  return prefix + (p || (context === 'body' || !context ? '(body)' : context));
};

/** Maps any error to the API's error body; client mistakes are 4xx with the field named, never a 500. */
function handleError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (isOfferpilotError(err)) return send(reply, err);
  if (hasZodFastifySchemaValidationErrors(err)) {
    const details = err.validation.map((v) => ({ path: pathOf(v.instancePath, err.validationContext), message: v.message ?? 'invalid' }));
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
  const dbDown = /ECONNREFUSED|SQLITE_BUSY|Connection terminated|timeout exceeded when trying to connect/i.test(`${code} ${err.message}`);
  req.log.error({ err }, 'request failed');
  return send(reply, new OfferpilotError(dbDown ? 'STORE_UNAVAILABLE' : 'INTERNAL', dbDown ? undefined : `Internal error (request ${req.id})`));
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

const bearer = (req: FastifyRequest): string | undefined => {
  const h = req.headers.authorization;
  // The auth scheme name is case-insensitive (RFC 9110).
  if (h && /^bearer /i.test(h)) return h.slice(7).trim();
  const k = req.headers['x-api-key'];
  return typeof k === 'string' ? k : undefined;
};

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
      if (err) return done(err, undefined);
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
  app.setNotFoundHandler((req, reply) => send(reply, new OfferpilotError('NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]}`)));

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

  app.get('/health', { schema: { tags: ['system'], security: [], summary: 'Liveness and database check' } }, async () => {
    const s = await engine.snapshot();
    return { status: 'ok', store: engine.store.dialect, catalogVersion: s.version, liveCampaigns: s.campaigns.length };
  });

  app.post(
    '/v1/decide',
    {
      config: { scope: 'decide' },
      schema: { tags: ['decide'], summary: 'Decide which offer to show (or none), and reserve it', body: DecideRequestSchema, response: { 200: DecisionResponseSchema, ...errorResponses } },
    },
    async (req) => engine.decide(req.body),
  );

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
      return { ...d, decidedAt: new Date(d.decidedAt).toISOString(), chosen: d.chosen.map(({ guard: _g, ...c }) => ({ ...c, expiresAt: new Date(c.expiresAt).toISOString() })), counterfactual: d.counterfactual.map(({ guard: _g, ...c }) => ({ ...c, expiresAt: new Date(c.expiresAt).toISOString() })) };
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
      const rows = await engine.store.listDecisions({
        limit: req.query.limit,
        ...(req.query.customerId ? { subjectId: `c:${req.query.customerId}` } : {}),
        ...(req.query.campaignId ? { campaignId: req.query.campaignId } : {}),
      });
      return { decisions: rows.map((r) => unpackLog(r.body).response) };
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
    async (req) => engine.putCustomer(req.params.id, req.body),
  );
  app.get('/v1/customers/:id', { config: { scope: 'read' }, schema: { tags: ['customers'], params: IdParams } }, async (req) => engine.getCustomer(req.params.id));

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
  const docsOnly = { validatorCompiler: () => (data: unknown) => ({ value: data }) };
  app.post(
    '/v1/events',
    {
      ...docsOnly,
      bodyLimit: Math.max(engine.config.bodyLimit, 8 * 1_048_576),
      config: { scope: 'decide' },
      schema: {
        tags: ['events'],
        summary: `Ingest up to ${MAX_BATCH} outcome events; idempotent by event id; 200 means every event is durable, 503 (Retry-After) means none was stored`,
        body: EventBatchSchema,
      },
    },
    async (req) => engine.events.ingest(req.body),
  );
  app.post(
    '/v1/redemptions',
    { ...docsOnly, config: { scope: 'decide' }, schema: { tags: ['wallet'], summary: 'Redeem offer tokens or coupon codes on an order (all or nothing; idempotent per orderId)', body: RedemptionRequestSchema } },
    async (req, reply) => {
      const r = await engine.wallet.redeem(req.body);
      reply.code(r.replayed ? 200 : 201);
      return r;
    },
  );
  app.post(
    '/v1/redemptions/quote',
    { ...docsOnly, config: { scope: 'decide' }, schema: { tags: ['wallet'], summary: 'Validate tokens against a cart and compute the discount without redeeming', body: RedemptionRequestSchema } },
    async (req) => engine.wallet.quote(req.body),
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
            from: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'YYYY-MM-DD').optional(),
            to: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'YYYY-MM-DD').optional(),
            offerId: z.string().max(200).optional(),
          })
          .strict(),
      },
    },
    async (req) => engine.liabilities(req.query),
  );

  const IsoTime = z.iso.datetime({ offset: true });
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
            from: IsoTime.optional().describe('Default: 30 days before `to`'),
            to: IsoTime.optional().describe('Default: now'),
            level: z.coerce.number().gt(0.5).lt(1).optional().describe('Confidence level, default 0.95'),
            sequential: Flag.optional().describe('Also give always-valid intervals (safe to look every day)'),
            breakdowns: Flag.optional().describe('Default true'),
          })
          .strict(),
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
        querystring: z.object({ campaignId: z.string().regex(/^cmp_/).optional(), to: IsoTime.optional(), level: z.coerce.number().gt(0.5).lt(1).optional() }).strict(),
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
            sd: z.coerce.number().positive().describe('Standard deviation of the per-customer outcome (e.g. CM per customer), minor units'),
            holdoutPct: z.coerce.number().gt(0).lt(100),
            customers: z.coerce.number().int().positive().optional(),
            mde: z.coerce.number().positive().optional().describe('Smallest difference worth detecting, same unit as sd'),
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
    keys: (await engine.store.listKeys()).map(({ hash: _h, ...k }) => k),
  }));
  app.delete('/v1/keys/:id', { config: { scope: 'admin' }, schema: { tags: ['keys'], params: IdParams } }, async (req, reply) => {
    if (!(await engine.keys.revoke(req.params.id))) throw new OfferpilotError('NOT_FOUND', `No live key ${req.params.id}`);
    reply.code(204);
    return null;
  });

  return app as unknown as FastifyInstance;
}
