import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildServer } from '../src/http/server.js';
import { replyMismatch, replyValidatingSerializer } from '../src/http/reply-validation.js';
import { createTestEngine } from './helpers/backends.js';
import { json, testServer } from './helpers/http.js';

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

describe('HTTP routes live with their features', () => {
  it('server.ts registers no /v1 route itself', () => {
    const src = readFileSync(new URL('../src/http/server.ts', import.meta.url), 'utf8');
    expect(src).not.toMatch(/\.(get|post|put|delete|patch|route)\(\s*[`'"]\/v1/);
    expect(src).not.toMatch(/url:\s*[`'"]\/v1/);
  });

  it('every /v1 route declares a 2xx reply schema and its error replies; bodies and replies are named components', async () => {
    const t = await createTestEngine('sqlite');
    const app = await buildServer(t.engine);
    try {
      const doc = json<{ paths: Record<string, Record<string, { responses?: Record<string, { content?: unknown }>; requestBody?: { content: Record<string, { schema: { $ref?: string } }> } }>>; components: { schemas: Record<string, unknown> } }>(
        await app.inject({ method: 'GET', url: '/openapi.json' }),
      );
      const v1 = Object.entries(doc.paths).filter(([p]) => p.startsWith('/v1/'));
      expect(v1.length).toBeGreaterThan(30);
      const missing: string[] = [];
      for (const [path, ops] of v1) {
        for (const m of METHODS) {
          const op = ops[m];
          if (!op) continue;
          const ok = Object.entries(op.responses ?? {}).filter(([code]) => code.startsWith('2'));
          // 204 has no body; every other success reply has a schema.
          if (ok.length === 0 || ok.some(([code, r]) => code !== '204' && !r.content)) missing.push(`${m.toUpperCase()} ${path}`);
          if (!op.responses?.['400'] || !op.responses?.['401']) missing.push(`${m.toUpperCase()} ${path} (error replies)`);
        }
      }
      expect(missing).toEqual([]);
      for (const id of ['Offer', 'Campaign', 'OfferVersions', 'ProductView', 'Customer', 'CustomerFeatures', 'WalletPage', 'Redemption', 'IngestResult', 'LiabilityReport', 'IncrementalityReport', 'Readout', 'SampleSize', 'StopLossRun', 'GuardLog', 'ApiKeyList', 'DecisionList', 'LoggedDecision', 'DecisionPreview', 'Decision', 'Error']) {
        expect(doc.components.schemas, id).toHaveProperty(id);
      }
      // Catalog bodies are documented with their real schemas, not a pass-through record.
      const body = (p: string, m: 'post' | 'put') => doc.paths[p]![m]!.requestBody!.content['application/json']!.schema.$ref;
      expect(body('/v1/offers', 'post')).toBe('#/components/schemas/OfferCreateInput');
      expect(body('/v1/offers/{id}', 'put')).toBe('#/components/schemas/OfferSpecInput');
      expect(body('/v1/campaigns', 'post')).toBe('#/components/schemas/CampaignCreateInput');
      expect(body('/v1/catalog/import', 'post')).toBe('#/components/schemas/CatalogImportInput');
      expect(doc.components.schemas.OfferCreateInput).toMatchObject({ properties: { valueLadder: {}, caps: {}, eligibility: {} } });
      // Every reference resolves, so a generator gets whole types.
      const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
      expect(refs.length).toBeGreaterThan(50);
      expect([...new Set(refs)].filter((r) => !(r in doc.components.schemas))).toEqual([]);
    } finally {
      await app.close();
      await t.close();
    }
  });
});

describe('reply validation', () => {
  it('finds a wrong type, a missing field and an undeclared field, naming the path', () => {
    const S = z.object({ a: z.string(), items: z.array(z.object({ n: z.number() })), free: z.unknown() });
    expect(replyMismatch(S, { a: 'x', items: [{ n: 1 }], free: { anything: 1 } })).toBeNull();
    expect(replyMismatch(S, { a: 1, items: [], free: null })).toMatchObject({ path: 'a' });
    expect(replyMismatch(S, { a: 'x', free: null })).toMatchObject({ path: 'items' });
    expect(replyMismatch(S, { a: 'x', items: [{ n: 1 }, { n: 2, extra: true }], free: null })).toEqual({ path: 'items.1.extra', message: 'not declared in the response schema' });
  });

  it('a tiny app: a reply of the wrong shape becomes REPLY_SCHEMA_MISMATCH, logged with the route', async () => {
    const logged: Array<Record<string, unknown>> = [];
    const app = Fastify();
    app.setSerializerCompiler(replyValidatingSerializer({ error: (obj) => logged.push(obj as Record<string, unknown>) }));
    app.setErrorHandler((err: Error & { code?: string }, _req, reply) => reply.code(500).send({ code: err.code }));
    app.get('/wrong', { schema: { response: { 200: z.object({ count: z.number() }) } } }, async () => ({ count: 'three' }));
    try {
      const res = await app.inject({ method: 'GET', url: '/wrong' });
      expect(res.statusCode).toBe(500);
      expect(json(res)).toEqual({ code: 'REPLY_SCHEMA_MISMATCH' });
      expect(logged).toEqual([expect.objectContaining({ method: 'GET', url: '/wrong', status: '200', path: 'count' })]);
    } finally {
      await app.close();
    }
  });

  it('the API server: on, a wrong reply is a 500 in the error body naming route and path; off (the default), it is sent as is', async () => {
    const t = await createTestEngine('sqlite');
    const { key } = await t.engine.keys.create(['read']);
    const wrongRoute = (app: Awaited<ReturnType<typeof buildServer>>) =>
      app.get('/v1/test/wrong', { config: { scope: 'read' }, schema: { response: { 200: z.object({ n: z.number() }) } } }, async () => ({ n: 1, secret: 'x' }));
    const checked = await testServer(t.engine);
    const plain = await buildServer(t.engine);
    try {
      wrongRoute(checked);
      wrongRoute(plain);
      const headers = { authorization: `Bearer ${key}` };
      const bad = await checked.inject({ method: 'GET', url: '/v1/test/wrong', headers });
      expect(bad.statusCode).toBe(500);
      const body = json<{ error: { code: string; message: string; details: Array<{ path: string }> } }>(bad);
      expect(body.error.code).toBe('REPLY_SCHEMA_MISMATCH');
      expect(body.error.message).toContain('/v1/test/wrong');
      expect(body.error.details[0]!.path).toBe('secret');
      const sent = await plain.inject({ method: 'GET', url: '/v1/test/wrong', headers });
      expect(sent.statusCode).toBe(200);
      expect(json(sent)).toEqual({ n: 1, secret: 'x' });
    } finally {
      await checked.close();
      await plain.close();
      await t.close();
    }
  });
});
