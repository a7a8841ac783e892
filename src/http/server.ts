import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, jsonSchemaTransform, jsonSchemaTransformObject, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { z } from 'zod';
import { allows, SCOPES } from '../auth/index.js';
import { keyRoutes } from '../auth/routes.js';
import { catalogRoutes } from '../catalog/routes.js';
import { customerRoutes } from '../customers/routes.js';
import { decisionRoutes } from '../decisions/routes.js';
import { eventRoutes } from '../events/routes.js';
import { ledgerRoutes } from '../ledger/routes.js';
import { learningRoutes } from '../learning/routes.js';
import { measureRoutes } from '../measure/routes.js';
import { walletRoutes } from '../wallet/routes.js';
import { ERRORS, isOfferpilotError, OfferpilotError, type ErrorCode, type ErrorDetail } from '../core/errors.js';
import { issueDetails } from '../core/validate.js';
import { storeErrorCode } from '../store/errors.js';
import type { Engine } from '../app.js';
import { registerLookupLimits } from './rate-limits.js';
import { ErrorBody } from './schemas.js';
import { replyValidatingSerializer } from './reply-validation.js';

export interface ServerOptions {
  /** Fastify's own two-line request logging, with its serializers (off by default: the decide path is hot). */
  logRequests?: boolean;
  /** One access-log line per request at info (default: the engine's `accessLog` setting). */
  accessLog?: boolean;
  /**
   * Check every reply against its route's declared schema for the status code; a mismatch is a
   * 500 REPLY_SCHEMA_MISMATCH, logged. For tests (default: OFFERPILOT_VALIDATE_REPLIES=1); off,
   * replies are plain JSON.stringify, as the hot path needs.
   */
  validateReplies?: boolean;
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

const bearer = (req: FastifyRequest): string | undefined => {
  const h = req.headers.authorization;
  // The auth scheme name is case-insensitive (RFC 9110).
  if (h && /^bearer /i.test(h)) return h.slice(7).trim();
  const k = req.headers['x-api-key'];
  return typeof k === 'string' ? k : undefined;
};

const EmptyQuery = z.object({}).strict();
// Fastify hands a route `null` when no body was sent.
const NoBody = z.object({}).strict().nullish();

const HealthSchema = z
  .object({
    status: z.enum(['ok', 'degraded']),
    store: z.enum(['sqlite', 'postgres']),
    writes: z.object({ ok: z.boolean(), lastWriteError: z.object({ code: z.string(), message: z.string(), at: z.string() }).nullable(), lastWriteOkAt: z.string().nullable() }),
    catalogVersion: z.number().int(),
    liveCampaigns: z.number().int(),
  })
  .meta({ id: 'Health' });

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
  // Response schemas document the API; replies are plain JSON and are not re-validated on the
  // hot path. The test suite turns validation on, so every reply it sees is checked.
  const validateReplies = opts.validateReplies ?? process.env.OFFERPILOT_VALIDATE_REPLIES === '1';
  app.setSerializerCompiler(validateReplies ? replyValidatingSerializer(engine.logger) : () => (data) => JSON.stringify(data));
  // The principal's slot exists on every request from the start (one object shape).
  app.decorateRequest('principal', null);
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
    // Schemas with a `.meta({ id })` become named components (Offer, Decision, WalletPage…).
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  app.addHook('onRequest', async (req, reply) => {
    if (/%00/i.test(req.url)) return send(reply, new OfferpilotError('VALIDATION_FAILED', 'NUL characters are not allowed in the URL', [{ path: 'url', message: 'contains %00' }]));
    const needed = req.routeOptions.config.scope;
    if (!needed) return;
    const key = bearer(req);
    if (!key) return send(reply, new OfferpilotError('UNAUTHENTICATED'));
    const principal = await engine.keys.principalOf(key);
    if (!principal) return send(reply, new OfferpilotError('UNAUTHENTICATED', 'The API key is unknown or revoked'));
    if (!allows(principal.scopes, needed)) {
      return send(reply, new OfferpilotError('FORBIDDEN_SCOPE', `This endpoint needs the "${needed}" scope; the key has ${principal.scopes.join(', ')}`));
    }
    req.principal = principal;
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  // Registered after the auth hook, so only authenticated requests are counted.
  const lookupLimits = await registerLookupLimits(app as unknown as FastifyInstance, engine.config, bearer);

  app.get(
    '/health',
    {
      schema: {
        tags: ['system'],
        security: [],
        summary: 'Liveness and database check: 503 "degraded" while writes fail (disk full, read-only, locked), until one succeeds',
        // A 503 is "degraded" when writes fail, or the error body when the catalog cannot be read at all.
        response: { 200: HealthSchema, 503: z.union([HealthSchema, ErrorBody]), 500: ErrorBody },
      },
    },
    async (_req, reply) => {
      const s = await engine.snapshot();
      const w = engine.storeHealth();
      if (w.degraded) reply.code(503).header('retry-after', RETRY_AFTER[w.lastWriteError!.code] ?? '5');
      return {
        status: w.degraded ? ('degraded' as const) : ('ok' as const),
        store: engine.dialect,
        writes: { ok: !w.degraded, lastWriteError: w.lastWriteError, lastWriteOkAt: w.lastWriteOkAt },
        catalogVersion: s.version,
        liveCampaigns: s.campaigns.length,
      };
    },
  );

  // Every /v1 route lives with its feature; each plugin gets only the services it needs.
  await app.register(decisionRoutes, { decisions: engine.decisions });
  await app.register(customerRoutes, { customers: engine.customers });
  await app.register(walletRoutes, { wallet: engine.wallet, lookupLimits });
  await app.register(eventRoutes, { events: engine.events, bodyLimit: engine.config.bodyLimit });
  await app.register(ledgerRoutes, { ledger: engine.ledger });
  await app.register(measureRoutes, { measure: engine.measure });
  await app.register(learningRoutes, { learning: engine.learningOps });
  await app.register(catalogRoutes, { catalog: engine.catalog });
  await app.register(keyRoutes, { keys: engine.keys });

  return app as unknown as FastifyInstance;
}
