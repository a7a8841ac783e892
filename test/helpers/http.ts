import { readFileSync } from 'node:fs';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { ERRORS, type ErrorCode } from '../../src/core/errors.js';
import { buildServer, type ServerOptions } from '../../src/http/server.js';
import type { Engine } from '../../src/app.js';
import type { Scope } from '../../src/auth/index.js';
import { createTestEngine, type Backend, type TestEngine } from './backends.js';

/** The demo catalog shipped in examples/, as a shop would import it. */
export const DEMO_CATALOG = JSON.parse(readFileSync(new URL('../../examples/demo-catalog.json', import.meta.url), 'utf8')) as Record<string, unknown>;

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface ErrorJson {
  error: { code: string; message: string; details: Array<{ path: string; message: string }> };
}

/** An engine on a fresh database, its HTTP server, and an admin key. */
export interface ApiHarness {
  t: TestEngine;
  app: FastifyInstance;
  adminKey: string;
  /** Creates a key through the library (not the API). */
  key(scopes: Scope[]): Promise<string>;
  /**
   * Sends a request. `key` defaults to the admin key; pass null for no key. A string body is
   * sent as is (for malformed JSON); anything else is JSON-encoded.
   */
  req(method: Method, url: string, body?: unknown, key?: string | null, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/** The HTTP server as tests build it: every reply is checked against its route's declared schema. */
export function testServer(engine: Engine, opts: ServerOptions = {}): Promise<FastifyInstance> {
  return buildServer(engine, { validateReplies: true, ...opts });
}

export async function createApiHarness(backend: Backend, opts: Parameters<typeof createTestEngine>[1] = {}): Promise<ApiHarness> {
  const t = await createTestEngine(backend, opts);
  const app = await testServer(t.engine);
  await app.ready();
  const adminKey = (await t.engine.keys.create(['admin'], 'test admin')).key;
  return {
    t,
    app,
    adminKey,
    key: async (scopes) => (await t.engine.keys.create(scopes)).key,
    req: (method, url, body, key = adminKey, headers = {}) => {
      const h: Record<string, string> = { ...headers };
      if (key !== null) h.authorization ??= `Bearer ${key}`;
      if (body === undefined) return app.inject({ method, url, headers: h });
      h['content-type'] ??= 'application/json';
      return app.inject({ method, url, headers: h, payload: typeof body === 'string' ? body : JSON.stringify(body) });
    },
    close: async () => {
      await app.close();
      await t.close();
    },
  };
}

/** Parses a response body as JSON, failing the test with the raw body when it is not. */
export function json<T = any>(res: LightMyRequestResponse): T {
  try {
    return JSON.parse(res.body) as T;
  } catch {
    throw new Error(`response ${res.statusCode} is not JSON: ${res.body.slice(0, 500)}`);
  }
}

/**
 * Asserts an error response: status, a registered code matching that status, a non-empty
 * message and (when given) a details entry naming `path`.
 */
export function expectError(res: LightMyRequestResponse, status: number, code: ErrorCode, path?: string): ErrorJson {
  expect(res.statusCode, res.body).toBe(status);
  const body = json<ErrorJson>(res);
  expect(body.error.code, res.body).toBe(code);
  expect(ERRORS[code].status).toBe(status);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(Array.isArray(body.error.details)).toBe(true);
  if (path !== undefined) expect(body.error.details.map((d) => d.path), res.body).toContain(path);
  return body;
}

/**
 * The invariants every non-2xx answer must satisfy; returns a description of the first
 * violation, or null. Used by the property tests (a string is easier to shrink on than a throw).
 */
export function errorBodyProblem(res: LightMyRequestResponse): string | null {
  if (res.statusCode >= 500) return `status ${res.statusCode}: ${res.body.slice(0, 300)}`;
  if (res.statusCode < 300) return null;
  let body: unknown;
  try {
    body = JSON.parse(res.body);
  } catch {
    return `status ${res.statusCode} with a non-JSON body: ${res.body.slice(0, 300)}`;
  }
  const e = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
  if (!e || typeof e !== 'object') return `no error object: ${res.body.slice(0, 300)}`;
  if (typeof e.code !== 'string' || !Object.hasOwn(ERRORS, e.code)) return `unregistered error code ${String(e.code)}`;
  if (ERRORS[e.code as ErrorCode].status !== res.statusCode) return `code ${e.code} sent with status ${res.statusCode}`;
  if (typeof e.message !== 'string' || e.message.trim() === '') return `empty message for ${e.code}`;
  if (!Array.isArray(e.details)) return `details is not an array: ${res.body.slice(0, 300)}`;
  if (e.code === 'VALIDATION_FAILED') {
    const paths = (e.details as Array<{ path?: unknown }>).map((d) => d?.path);
    if (!paths.some((p) => typeof p === 'string' && p.length > 0)) return `VALIDATION_FAILED without a named path: ${res.body.slice(0, 300)}`;
  }
  return null;
}
