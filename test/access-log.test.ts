import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import { loadConfig } from '../src/config/index.js';
import { loggableUrl } from '../src/http/server.js';
import { createEngine, openStore } from '../src/index.js';
import { createTestDb } from './helpers/backends.js';
import { DEMO_CATALOG, testServer } from './helpers/http.js';
import { startServerProcess } from './helpers/server-process.js';

/** An engine whose logger writes JSON lines into an array. */
async function loggedServer(accessLog: boolean | undefined, config: Record<string, unknown> = {}) {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const db = await createTestDb('sqlite');
  const store = openStore(db.url);
  await store.migrate();
  const engine = await createEngine({ store, logger: pino({ level: 'info' }, sink), config: { tokenKeys: 'test:test-secret', expirySweepMs: 0, stopLossCheckMs: 0, ...config } });
  const app = await testServer(engine, accessLog === undefined ? {} : { accessLog });
  await app.ready();
  const key = (await engine.keys.create(['admin'])).key;
  return {
    lines,
    app,
    key,
    close: async () => {
      await app.close();
      await engine.close();
      await db.drop();
    },
  };
}

describe('access log', () => {
  it('one line per request at info: method, path, status, ms, request id; never the Authorization header, API key or a token in the query', async () => {
    const s = await loggedServer(undefined);
    try {
      const auth = { authorization: `Bearer ${s.key}` };
      await s.app.inject({ method: 'POST', url: '/v1/catalog/import', headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify(DEMO_CATALOG) });
      const d = await s.app.inject({ method: 'POST', url: '/v1/decide', headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify({ customerId: 'c1', placement: 'cart', channel: 'web', cart: { lines: [{ sku: 'HOOD-001', quantity: 1, unitPrice: 6000 }] } }) });
      const token = JSON.parse(d.body).offers[0].token as string;
      await s.app.inject({ method: 'GET', url: `/v1/reports/liabilities?from=2026-01-01&token=${encodeURIComponent(token)}`, headers: auth });
      await s.app.inject({ method: 'GET', url: '/health' });
      const access = s.lines.filter((l) => l.msg === 'request');
      expect(access.map((l) => [l.method, String(l.url).split('?')[0], l.status])).toEqual([
        ['POST', '/v1/catalog/import', 200],
        ['POST', '/v1/decide', 200],
        ['GET', '/v1/reports/liabilities', 400],
        ['GET', '/health', 200],
      ]);
      for (const l of access) {
        expect(l.level).toBe(30);
        expect(typeof l.ms).toBe('number');
        expect(typeof l.reqId).toBe('string');
      }
      expect(access[2]!.url).toBe('/v1/reports/liabilities?from=2026-01-01&token=%5Bredacted%5D');
      const all = JSON.stringify(s.lines);
      expect(all).not.toContain(s.key);
      expect(all).not.toContain(token);
      expect(all.toLowerCase()).not.toContain('bearer');
      expect(all).not.toContain('HOOD-001'); // no bodies
    } finally {
      await s.close();
    }
  });

  it('off with accessLog false (OFFERPILOT_ACCESS_LOG=false), which is validated', async () => {
    for (const off of [await loggedServer(false), await loggedServer(undefined, { accessLog: false })]) {
      try {
        await off.app.inject({ method: 'GET', url: '/health' });
        expect(off.lines.filter((l) => l.msg === 'request')).toEqual([]);
      } finally {
        await off.close();
      }
    }
    expect(loadConfig({}, { OFFERPILOT_ACCESS_LOG: 'false' }).accessLog).toBe(false);
    expect(loadConfig({}, {}).accessLog).toBe(true);
    expect(() => loadConfig({}, { OFFERPILOT_ACCESS_LOG: 'maybe' })).toThrow(/accessLog \(OFFERPILOT_ACCESS_LOG\)/);
    expect(loggableUrl('/v1/x?code=ABC&limit=5&apiKey=k')).toBe('/v1/x?code=%5Bredacted%5D&limit=5&apiKey=%5Bredacted%5D');
  });

  it('`serve` logs requests by default and not with --no-access-log', async () => {
    const db = await createTestDb('sqlite');
    const [on, off] = await Promise.all([startServerProcess(['--db', db.url, '--log-level', 'info']), startServerProcess(['--db', db.url, '--log-level', 'info', '--no-access-log'])]);
    try {
      for (const s of [on, off]) expect((await fetch(`${s.url}/health`)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 200));
      expect(on.stdout).toMatch(/"method":"GET","url":"\/health","status":200/);
      expect(off.stdout).not.toMatch(/"url":"\/health"/);
    } finally {
      await Promise.all([on.stop(), off.stop()]);
      await db.drop();
    }
  });
});
