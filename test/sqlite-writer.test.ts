import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import { createEngine, fixedClock, openStore, seededRandom, sequentialIds } from '../src/index.js';
import { createTestDb } from './helpers/backends.js';

// SQLite's hot-path writes run on a worker thread by default (or on the request thread when
// `writerThread: false`). Either way: acknowledged means committed, the same workload stores the
// same thing, close waits for queued writes, and a failed write is an error, not a hang.

const catalog = {
  products: [{ sku: 'SHIRT', category: 'apparel', price: 4000, unitCost: 1500, fulfilmentCost: 200 }],
  offers: [
    { id: 'ofr_p10', status: 'live', name: '10% off', type: 'percent_off', value: 10, expectedLift: 1, caps: { redemptions: 30 }, budget: { total: 1_000_000 } },
  ],
  campaigns: [{ id: 'cmp_web', status: 'live', name: 'Web', placements: ['cart'], offers: ['ofr_p10'], holdoutPct: 20 }],
};
const cart = { lines: [{ sku: 'SHIRT', quantity: 2, unitPrice: 4000 }], shipping: 499 };

/** Runs one fixed workload (concurrent decides, events with duplicates, redemptions, a rollback) and returns what was stored. */
async function workload(writerThread: boolean) {
  const db = await createTestDb('sqlite');
  const store = openStore(db.url, { writerThread });
  await store.migrate();
  const clock = fixedClock('2026-11-23T12:00:00Z');
  const engine = await createEngine({
    store,
    clock,
    random: seededRandom(7),
    ids: sequentialIds(),
    config: { logLevel: 'silent', catalogRefreshMs: 0, counterRefreshMs: 0, tokenKeys: 'test:test-secret' },
  });
  try {
    await importCatalog(engine.catalog, catalog);
    const decisions = await Promise.all(Array.from({ length: 60 }, (_, i) => engine.decide({ customerId: `c${i}`, placement: 'cart', channel: 'web', cart })));
    const at = (ms: number) => new Date(clock.now() + ms).toISOString();
    const events = decisions.flatMap((d, i) => [
      { id: `imp-${i}`, type: 'impression', customerId: `c${i}`, occurredAt: at(1000), decisionId: d.decisionId },
      { id: `ord-${i}`, type: 'order', customerId: `c${i}`, occurredAt: at(2000 + i), orderId: `o${i}`, lines: cart.lines, shipping: 499, discount: 0 },
    ]);
    const first = await Promise.all([engine.events.ingest({ events: events.slice(0, 70) }), engine.events.ingest({ events: events.slice(50) })]);
    const offered = decisions.flatMap((d, i) => (d.offers.length > 0 ? [{ customerId: `c${i}`, token: d.offers[0]!.token }] : []));
    const redeemed = await Promise.all(
      offered.map((d, i) =>
        engine.wallet
          .redeem({ orderId: `r${i}`, customerId: d.customerId, channel: 'web', tokens: [d.token], cart })
          .then((r) => r.redemptionId)
          .catch((e: { code?: string }) => e.code ?? 'error'),
      ),
    );
    const applied = redeemed.filter((r) => r.startsWith('red_'));
    await engine.wallet.rollback(applied[0]!);

    // Everything acknowledged is visible to a connection that is not the store's.
    const raw = new Database(db.url, { readonly: true });
    const count = (sql: string) => (raw.prepare(sql).get() as { n: number }).n;
    const stored = {
      ingest: first,
      offered: offered.length,
      redeemed: redeemed.map((r) => (r.startsWith('red_') ? 'applied' : r)),
      decisions: count('SELECT count(*) AS n FROM decisions'),
      holdout: count('SELECT count(*) AS n FROM decisions WHERE holdout = 1'),
      events: count('SELECT count(*) AS n FROM events'),
      attributed: count('SELECT count(*) AS n FROM events WHERE decision_id IS NOT NULL'),
      orders: count('SELECT count(*) AS n FROM orders'),
      featureOrders: count('SELECT sum(orders) AS n FROM customer_features'),
      redemptions: count(`SELECT count(*) AS n FROM redemptions WHERE status = 'applied'`),
      counters: raw.prepare('SELECT key, used FROM guard_counters ORDER BY key').all(),
    };
    raw.close();
    return stored;
  } finally {
    await engine.close();
    await db.drop();
  }
}

describe('SQLite writer', () => {
  it('stores exactly the same on the writer thread as on the request thread, and every acknowledged write is committed', async () => {
    const threaded = await workload(true);
    const inline = await workload(false);
    expect(threaded).toEqual(inline);
    expect(threaded.decisions).toBe(60);
    expect(threaded.events).toBe(120);
    expect(threaded.ingest.map((r) => r.accepted + r.duplicates)).toEqual([70, 70]);
    expect(threaded.ingest[0]!.accepted + threaded.ingest[1]!.accepted).toBe(120);
    expect(threaded.orders).toBe(60);
    expect(threaded.featureOrders).toBe(60);
    expect(threaded.redeemed.filter((r) => r === 'applied').length).toBe(Math.min(30, threaded.offered));
    expect(threaded.redemptions).toBe(Math.min(30, threaded.offered) - 1);
  });

  it('close waits for writes still queued; none is lost', async () => {
    const db = await createTestDb('sqlite');
    try {
      const store = openStore(db.url);
      await store.migrate();
      const engine = await createEngine({ store, config: { logLevel: 'silent', tokenKeys: 'test:test-secret' } });
      await importCatalog(engine.catalog, catalog);
      const pending = Array.from({ length: 200 }, (_, i) =>
        engine.events.ingest({ events: [{ id: `e${i}`, type: 'session_start', customerId: `c${i}`, occurredAt: new Date().toISOString(), placement: 'cart', channel: 'web' }] }),
      );
      // Let the batches reach the writer, then close at once.
      await new Promise((r) => setImmediate(r));
      const closed = engine.close();
      const results = await Promise.allSettled(pending);
      await closed;
      const acked = results.filter((r) => r.status === 'fulfilled').length;
      const raw = new Database(db.url, { readonly: true });
      const n = (raw.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
      raw.close();
      expect(n).toBe(acked);
      expect(acked).toBe(200);
    } finally {
      await db.drop();
    }
  });

  it('a write that fails is a rejected promise with its SQLite code, and the writer recovers', async () => {
    const db = await createTestDb('sqlite');
    try {
      const store = openStore(db.url);
      const row = {
        id: 'e1', type: 'session_start', subjectId: 'c:x', customerId: 'x', sessionId: null, occurredAt: 1, receivedAt: 1, orderId: null,
        offerId: null, decisionId: null, campaignId: null, holdout: null, attribution: null, amount: null, body: '{}',
      };
      // No tables yet: the writer cannot prepare its statements.
      await expect(store.writeEvents([{ event: row }])).rejects.toThrow(/no such table/);
      await store.migrate();
      await expect(store.writeEvents([{ event: row }])).resolves.toEqual({ inserted: 1, duplicates: 0, outcomes: ['accepted'] });
      await expect(store.writeEvents([{ event: row }])).resolves.toEqual({ inserted: 0, duplicates: 1, outcomes: ['duplicate'] });
      await store.close();
    } finally {
      await db.drop();
    }
  });
});
