import Database from 'better-sqlite3';
import { existsSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { BACKENDS, type Backend } from './helpers/backends.js';
import { createApiHarness, json } from './helpers/http.js';

const catalog = {
  products: [{ sku: 'TEE', category: 'tops', price: 3000, unitCost: 1000, fulfilmentCost: 200 }],
  offers: [{ id: 'ofr_tee', status: 'live', name: '$5 off', type: 'amount_off', value: 500, expectedLift: 2, channels: ['web', 'email'] }],
  campaigns: [{ id: 'cmp_tee', status: 'live', name: 'Tee', placements: ['cart', 'newsletter'], offers: ['ofr_tee'], holdoutPct: 0 }],
};
const cart = { lines: [{ sku: 'TEE', quantity: 2, unitPrice: 3000 }], shipping: 450 };
const CUSTOMER = 'cust-QZ7KWMARK';
const EMAIL = 'qz7k.marker@example.com';
const DEVICE = 'dev-QZ7KDEVMARK';
const REQUEST = 'req-QZ7KREQMARK';

/** Every live row of every table, as text (what a query, a dump or a replica would show). */
async function liveRows(backend: Backend, url: string): Promise<string> {
  if (backend === 'sqlite') {
    const db = new Database(url, { readonly: true });
    try {
      const tables = db.prepare<[], { name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table'`).all();
      return tables.map((t) => JSON.stringify(db.prepare(`SELECT * FROM "${t.name}"`).all())).join('\n');
    } finally {
      db.close();
    }
  }
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const tables = await c.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`);
    const out: string[] = [];
    for (const t of tables.rows) out.push(JSON.stringify((await c.query(`SELECT t::text AS row FROM "${t.table_name}" t`)).rows));
    return out.join('\n');
  } finally {
    await c.end();
  }
}

/** The raw bytes of the SQLite file and its log: what anyone who can read the files sees. */
function rawFile(path: string): string {
  return [path, `${path}-wal`].filter(existsSync).map((p) => readFileSync(p).toString('latin1')).join('');
}

for (const backend of BACKENDS) {
  describe(`erasure leaves no personal data behind [${backend}] (issue 10, item 13)`, () => {
    it('after DELETE /v1/customers/{id}, no row, and on SQLite no byte of the file, holds the customer’s markers', async () => {
      const h = await createApiHarness(backend);
      let closed = false;
      try {
        expect((await h.req('POST', '/v1/catalog/import', catalog)).statusCode).toBe(200);
        expect((await h.req('PUT', `/v1/customers/${CUSTOMER}`, { traits: { email: EMAIL, name: 'Quinn' }, consent: { personalization: true, email: true } })).statusCode).toBe(200);
        const d = json(
          await h.req('POST', '/v1/decide', { customerId: CUSTOMER, anonymousId: DEVICE, requestId: REQUEST, placement: 'newsletter', channel: 'email', context: { device: 'mobile', session: { deviceId: DEVICE } }, cart }),
        );
        const code = d.offers[0].code as string;
        expect(code).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
        const at = new Date(h.t.clock.now()).toISOString();
        const ev = await h.req('POST', '/v1/events', {
          events: [
            { id: 'ev-imp-1', type: 'impression', anonymousId: DEVICE, occurredAt: at, decisionId: d.decisionId, offerId: 'ofr_tee' },
            { id: 'ev-ord-1', type: 'order', customerId: CUSTOMER, occurredAt: at, orderId: 'ord-1', lines: cart.lines, shipping: 450, discount: 500, tokens: [code] },
          ],
        });
        expect(ev.statusCode, ev.body).toBe(200);
        const red = await h.req('POST', '/v1/redemptions', { orderId: 'ord-1', customerId: CUSTOMER, channel: 'email', tokens: [code], cart });
        expect(red.statusCode).toBe(201);
        const markers = [CUSTOMER, EMAIL, DEVICE, REQUEST, code];

        // The test can fail: every marker is stored before the erasure.
        const before = await liveRows(backend, h.t.db.url);
        for (const m of markers) expect(before, m).toContain(m);
        if (backend === 'sqlite') for (const m of markers) expect(rawFile(h.t.db.url), m).toContain(m);

        expect(json(await h.req('DELETE', `/v1/customers/${CUSTOMER}`))).toEqual({ customerId: CUSTOMER, erased: true });

        const after = await liveRows(backend, h.t.db.url);
        for (const m of markers) expect(after, `live rows still hold ${m}`).not.toContain(m);
        // Aggregates stay: the order, the redemption and the issuance, anonymised.
        expect(after).toContain('ord-1');
        if (backend === 'sqlite') {
          // While the server still runs: the erasure's checkpoint leaves no copy in the log either.
          const running = rawFile(h.t.db.url);
          for (const m of markers) expect(running, `the running file still holds ${m}`).not.toContain(m);
          await h.app.close();
          await h.t.engine.close();
          closed = true;
          const raw = rawFile(h.t.db.url);
          for (const m of markers) expect(raw, `the closed file still holds ${m}`).not.toContain(m);
        }
      } finally {
        if (closed) await h.t.db.drop();
        else await h.close();
      }
    });
  });
}
