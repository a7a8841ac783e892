import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import { createEngine, openStore, type Engine } from '../src/index.js';
import { storeErrorCode } from '../src/store/errors.js';
import { BACKENDS, createTestDb, PG_ADMIN_URL, type TestDb } from './helpers/backends.js';
import type { LightMyRequestResponse } from 'fastify';
import { json, testServer } from './helpers/http.js';

const catalog = {
  products: [{ sku: 'SKU-1', category: 'tops', price: 10000, unitCost: 4000, fulfilmentCost: 500 }],
  offers: [{ id: 'ofr_a', status: 'live', name: '$5 off', type: 'amount_off', value: 500, expectedLift: 0.3 }],
  campaigns: [{ id: 'cmp_cart', status: 'live', name: 'Cart', placements: ['cart'], offers: ['ofr_a'], policy: { type: 'static' }, holdoutPct: 0 }],
};
const cart = { lines: [{ sku: 'SKU-1', quantity: 1, unitPrice: 10000 }] };
const decideBody = (i: number | string) => ({ customerId: `c_${i}`, placement: 'cart', channel: 'web', cart });
const events = (n: number, tag: string) => ({
  events: Array.from({ length: n }, (_, i) => ({ id: `evt_${tag}_${i}`, type: 'impression', customerId: `c_${i}`, occurredAt: '2026-11-23T12:00:00.000Z', properties: { pad: 'x'.repeat(200) } })),
});
const config = { logLevel: 'silent' as const, catalogRefreshMs: 0, counterRefreshMs: 0, tokenKeys: 'test:test-secret', expirySweepMs: 0, stopLossCheckMs: 0 };

/** A database with a catalog, an admin key, a known customer and one issued token. */
async function seeded(backend: 'sqlite' | 'postgres') {
  const db = await createTestDb(backend);
  const store = openStore(db.url);
  await store.migrate();
  const engine = await createEngine({ store, config });
  await importCatalog(engine.catalog, catalog);
  const key = (await engine.keys.create(['admin'])).key;
  await engine.putCustomer('c_known', { traits: { tier: 'gold' } });
  const token = (await engine.decide(decideBody('tok'))).offers[0]!.token;
  await engine.close();
  return { db, key, token };
}

async function serve(engine: Engine, key: string) {
  const app = await testServer(engine);
  await app.ready();
  const req = (method: 'GET' | 'POST' | 'PUT', url: string, body?: unknown) =>
    app.inject({ method, url, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) });
  return { app, req };
}

function expect503(res: LightMyRequestResponse, code: string, retryAfter: string) {
  expect(res.statusCode, res.body).toBe(503);
  expect(json(res).error.code).toBe(code);
  expect(res.headers['retry-after']).toBe(retryAfter);
}

describe('storage errors are classified (driver codes, as thrown and as revived from the SQLite writer thread)', () => {
  it('maps SQLite result codes, PostgreSQL SQLSTATEs and dropped connections; leaves other errors alone', () => {
    const e = (code: string, message = 'x') => Object.assign(new Error(message), { code });
    expect(storeErrorCode(e('SQLITE_FULL'))).toBe('STORE_FULL');
    expect(storeErrorCode(e('SQLITE_READONLY_DBMOVED'))).toBe('STORE_READ_ONLY');
    expect(storeErrorCode(e('SQLITE_BUSY_SNAPSHOT'))).toBe('STORE_BUSY');
    expect(storeErrorCode(e('SQLITE_LOCKED'))).toBe('STORE_BUSY');
    expect(storeErrorCode(e('SQLITE_WRITER_DOWN'))).toBe('STORE_UNAVAILABLE');
    expect(storeErrorCode(e('53100'))).toBe('STORE_FULL');
    expect(storeErrorCode(e('25006'))).toBe('STORE_READ_ONLY');
    expect(storeErrorCode(e('55P03'))).toBe('STORE_BUSY');
    expect(storeErrorCode(e('40P01'))).toBe('STORE_BUSY');
    expect(storeErrorCode(e('08006'))).toBe('STORE_UNAVAILABLE');
    expect(storeErrorCode(e('ECONNREFUSED'))).toBe('STORE_UNAVAILABLE');
    expect(storeErrorCode(new Error('Connection terminated unexpectedly'))).toBe('STORE_UNAVAILABLE');
    expect(storeErrorCode(e('SQLITE_CONSTRAINT_UNIQUE'))).toBeNull();
    expect(storeErrorCode(e('23505'))).toBeNull();
    expect(storeErrorCode(new TypeError('x is undefined'))).toBeNull();
  });
});

for (const backend of BACKENDS) {
  describe(`a failing database answers 503 with a code and Retry-After, and /health says so [${backend}]`, () => {
    if (backend === 'sqlite') {
      it('disk full (the file capped at its size): decide and events are 503 STORE_FULL; /health degraded; ok again after a write succeeds', async () => {
        const { db, key } = await seeded(backend);
        // Capped at its current size, as a full disk would: writes needing a new page fail with SQLITE_FULL.
        const engine = await createEngine({ store: openStore(db.url, { pragmas: ['max_page_count = 1'] }), config });
        const { app, req } = await serve(engine, key);
        try {
          expect(json(await req('GET', '/health')).status).toBe('ok');
          let full: Awaited<ReturnType<typeof req>> | null = null;
          for (let i = 0; i < 300 && !full; i++) {
            const r = await req('POST', '/v1/decide', decideBody(i));
            if (r.statusCode !== 200) full = r;
          }
          expect(full, 'decides never filled the capped file').not.toBeNull();
          expect503(full!, 'STORE_FULL', '30');
          expect503(await req('POST', '/v1/events', events(300, 'full')), 'STORE_FULL', '30');
          const health = await req('GET', '/health');
          expect(health.statusCode).toBe(503);
          expect(json(health)).toMatchObject({ status: 'degraded', writes: { ok: false, lastWriteError: { code: 'STORE_FULL', at: expect.any(String) } } });
          // A write that fits in the pages already there (same traits again) succeeds: writes work.
          expect((await req('PUT', '/v1/customers/c_known', { traits: { tier: 'gold' } })).statusCode).toBe(200);
          const after = await req('GET', '/health');
          expect(after.statusCode).toBe(200);
          expect(json(after)).toMatchObject({ status: 'ok', writes: { ok: true, lastWriteError: { code: 'STORE_FULL' } } });
        } finally {
          await app.close();
          await engine.close();
          await db.drop();
        }
      });
    }

    it('read-only database: decide, events and redemptions are 503 STORE_READ_ONLY; /health degraded' + (backend === 'postgres' ? '; ok again once writable' : ''), async () => {
      const { db, key, token } = await seeded(backend);
      const dbName = backend === 'postgres' ? new URL(db.url).pathname.slice(1) : '';
      const admin = backend === 'postgres' ? new pg.Client({ connectionString: PG_ADMIN_URL }) : null;
      await admin?.connect();
      // PostgreSQL: new sessions start read-only (as on a standby); SQLite: every connection is query-only.
      await admin?.query(`ALTER DATABASE ${dbName} SET default_transaction_read_only = on`);
      const engine = await createEngine({ store: openStore(db.url, { pragmas: backend === 'sqlite' ? ['query_only = ON'] : [] }), config });
      const { app, req } = await serve(engine, key);
      try {
        expect503(await req('POST', '/v1/decide', decideBody(1)), 'STORE_READ_ONLY', '30');
        expect503(await req('POST', '/v1/events', events(3, 'ro')), 'STORE_READ_ONLY', '30');
        expect503(await req('POST', '/v1/redemptions', { orderId: 'ord_1', customerId: 'c_tok', channel: 'web', tokens: [token], cart }), 'STORE_READ_ONLY', '30');
        // Reads still work.
        expect((await req('GET', '/v1/customers/c_known')).statusCode).toBe(200);
        const health = await req('GET', '/health');
        expect(health.statusCode).toBe(503);
        expect(health.headers['retry-after']).toBe('30');
        expect(json(health)).toMatchObject({ status: 'degraded', writes: { ok: false, lastWriteError: { code: 'STORE_READ_ONLY' } } });
        if (admin) {
          await admin.query(`ALTER DATABASE ${dbName} RESET default_transaction_read_only`);
          // Sessions keep the setting they started with: end them, the pool opens writable ones.
          await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [dbName]);
          let status = 0;
          for (let i = 0; i < 5 && status !== 200; i++) status = (await req('POST', '/v1/decide', decideBody(100 + i))).statusCode;
          expect(status).toBe(200);
          const after = await req('GET', '/health');
          expect(after.statusCode).toBe(200);
          expect(json(after).status).toBe('ok');
        }
      } finally {
        await app.close();
        await engine.close();
        await admin?.query(`ALTER DATABASE ${dbName} RESET default_transaction_read_only`).catch(() => undefined);
        await admin?.end();
        await db.drop();
      }
    });
  });
}
