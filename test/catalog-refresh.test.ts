import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import { createEngine, openStore, type DecisionResponse, type Engine, type Store } from '../src/index.js';
import { BACKENDS, createTestDb, type TestDb } from './helpers/backends.js';

// Short enough to keep the test fast; the bound works the same at the default 1 s.
const REFRESH_MS = 200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Version 1's budget covers one issue: once spent, a stale snapshot excludes the offer
// (BUDGET_EXHAUSTED) without any commit-time version check to catch it.
const offer = { name: '$5 off', type: 'amount_off', value: 500, expectedLift: 0.3, budget: { total: 500 } };
const catalog = {
  products: [{ sku: 'SKU-1', category: 'tops', price: 10000, unitCost: 4000, fulfilmentCost: 500 }],
  offers: [{ id: 'ofr_a', status: 'live', ...offer }],
  campaigns: [{ id: 'cmp_cart', status: 'live', name: 'Cart', placements: ['cart'], offers: ['ofr_a'], policy: { type: 'static' }, holdoutPct: 0 }],
};
const request = (i: number, placement = 'cart') => ({ customerId: `c_${i}`, placement, channel: 'web', cart: { lines: [{ sku: 'SKU-1', quantity: 1, unitPrice: 10000 }] } });

/**
 * A database whose catalog read takes a while (a busy server, a large catalog): requests keep
 * arriving while the other process reloads, which is when a stale snapshot used to be served.
 */
function slowCatalog(store: Store, ms: number): Store {
  return { ...store, loadCatalog: async () => (await sleep(ms), store.loadCatalog()) };
}

/** 600 decides arriving a few at a time (not all in one tick), as page views do. */
async function trickle(engine: Engine, from: number, placement?: string): Promise<DecisionResponse[]> {
  const out: Array<Promise<DecisionResponse>> = [];
  for (let i = 0; i < 600; i++) {
    out.push(engine.decide(request(from + i, placement)));
    if (i % 20 === 19) await sleep(1);
  }
  return Promise.all(out);
}

for (const backend of BACKENDS) {
  describe(`catalog edits reach another process within OFFERPILOT_CATALOG_REFRESH_MS [${backend}]`, () => {
    let db: TestDb;
    let a: Engine;
    let b: Engine;

    beforeEach(async () => {
      db = await createTestDb(backend);
      const sa = openStore(db.url);
      await sa.migrate();
      const sb = openStore(db.url);
      const config = { logLevel: 'silent' as const, catalogRefreshMs: REFRESH_MS, counterRefreshMs: REFRESH_MS, tokenKeys: 'test:test-secret', expirySweepMs: 0, stopLossCheckMs: 0 };
      a = await createEngine({ store: sa, config });
      b = await createEngine({ store: slowCatalog(sb, 40), config });
      await importCatalog(a.catalog, catalog);
    });
    afterEach(async () => {
      await a.close();
      await b.close();
      await db.drop();
    });

    it('just over the interval after an edit, every one of 600 decides on the other process uses the new version', async () => {
      expect((await b.decide(request(-1))).offers[0]!.version).toBe(1);
      expect((await b.decide(request(-2))).offers).toEqual([]);
      await a.catalog.updateOffer('ofr_a', { ...offer, value: 700, budget: {} });
      await sleep(REFRESH_MS + 20);
      const after = await trickle(b, 0);
      expect(after.filter((d) => d.offers[0]?.version !== 2 || d.offers[0]?.discount !== 700).length).toBe(0);
    });

    it('after an idle period, a new campaign is served within the interval, not NO_CAMPAIGN', async () => {
      expect((await b.decide(request(-1, 'home'))).campaignId).toBeNull();
      await sleep(3 * REFRESH_MS);
      await a.catalog.createCampaign({ id: 'cmp_home', status: 'live', name: 'Home', placements: ['home'], offers: ['ofr_a'], policy: { type: 'static' }, holdoutPct: 0 });
      await sleep(REFRESH_MS + 20);
      const after = await trickle(b, 0, 'home');
      expect(after.filter((d) => d.campaignId !== 'cmp_home').length).toBe(0);
    });
  });
}
