import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import { createEngine, openStore, type DecisionResponse, type Store } from '../src/index.js';
import { BACKENDS, createTestDb, createTestEngine, type TestDb } from './helpers/backends.js';
import { startServerProcess, type ServerProcess } from './helpers/server-process.js';

const PARALLEL = 500;
const CAP = 50;

/** One offer capped at 50 issues in total, with a budget and daily liability that also bind. */
const catalog = {
  products: [{ sku: 'SKU-1', category: 'tops', price: 10000, unitCost: 4000, fulfilmentCost: 500 }],
  offers: [
    {
      id: 'ofr_capped',
      status: 'live',
      name: '$5 off, first 50 only',
      type: 'amount_off',
      value: 500,
      expectedLift: 0.5,
      caps: { global: CAP },
      budget: { total: 100 * 500, dailyLiability: 100 * 500 },
    },
    { id: 'ofr_tight_budget', status: 'live', name: 'Free shipping, budget for 30', type: 'free_shipping', shippingCost: 400, expectedLift: 0.3, budget: { total: 30 * 400 }, stackingGroup: 'ship' },
  ],
  campaigns: [{ id: 'cmp_race', status: 'live', name: 'Race', placements: ['cart'], offers: ['ofr_capped', 'ofr_tight_budget'], policy: { type: 'static' }, holdoutPct: 0, maxOffers: 2 }],
};

const request = (i: number) => ({
  customerId: `racer_${i}`,
  placement: 'cart',
  channel: 'web',
  cart: { lines: [{ sku: 'SKU-1', quantity: 1, unitPrice: 10000 }] },
});

async function issuedCounts(store: Store): Promise<Record<string, number>> {
  const c = await store.readCounters(['g:ofr_capped', 'g:ofr_tight_budget', 'b:ofr_tight_budget']);
  return { capped: c.get('g:ofr_capped') ?? 0, budgeted: c.get('g:ofr_tight_budget') ?? 0, spent: c.get('b:ofr_tight_budget') ?? 0 };
}

function tally(decisions: DecisionResponse[]) {
  const count = (id: string) => decisions.filter((d) => d.offers.some((o) => o.offerId === id)).length;
  return { capped: count('ofr_capped'), budgeted: count('ofr_tight_budget') };
}

for (const backend of BACKENDS) {
  describe(`global cap under ${PARALLEL} parallel decides [${backend}]`, () => {
    it('in one process: exactly 50 issued, budget never exceeded, losers told why', async () => {
      const t = await createTestEngine(backend, { config: { counterRefreshMs: 60_000 } });
      try {
        await importCatalog(t.engine.catalog, catalog);
        const decisions = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => t.engine.decide(request(i))));
        expect(tally(decisions)).toEqual({ capped: CAP, budgeted: 30 });
        expect(await issuedCounts(t.store)).toEqual({ capped: CAP, budgeted: 30, spent: 30 * 400 });
        const losers = decisions.filter((d) => !d.offers.some((o) => o.offerId === 'ofr_capped'));
        expect(losers).toHaveLength(PARALLEL - CAP);
        for (const d of losers) expect(d.candidates.find((c) => c.offerId === 'ofr_capped')!.reasons[0]!.code).toBe('GLOBAL_CAP');
      } finally {
        await t.close();
      }
    });

    describe('two server processes sharing one database', () => {
      let db: TestDb;
      let servers: ServerProcess[] = [];
      let key = '';
      let store: Store;

      beforeAll(async () => {
        db = await createTestDb(backend);
        store = openStore(db.url);
        await store.migrate();
        const engine = await createEngine({ store, config: { logLevel: 'silent' } });
        await importCatalog(engine.catalog, catalog);
        key = (await engine.keys.create(['decide'])).key;
        servers = await Promise.all([0, 1].map(() => startServerProcess(['--db', db.url])));
      });

      afterAll(async () => {
        await Promise.all(servers.map((s) => s.stop()));
        await store?.close();
        await db?.drop();
      });

      it('exactly 50 issued across both, budget never exceeded', async () => {
        const responses = await Promise.all(
          Array.from({ length: PARALLEL }, async (_, i) => {
            const r = await fetch(`${servers[i % 2]!.url}/v1/decide`, {
              method: 'POST',
              headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
              body: JSON.stringify(request(i)),
            });
            expect(r.status).toBe(200);
            return (await r.json()) as DecisionResponse;
          }),
        );
        expect(tally(responses)).toEqual({ capped: CAP, budgeted: 30 });
        expect(await issuedCounts(store)).toEqual({ capped: CAP, budgeted: 30, spent: 30 * 400 });
        // Both processes really served half the traffic (which one wins each of the 50 units is a race).
        const byServer = [0, 1].map((s) => responses.filter((d, i) => i % 2 === s && d.decisionId.startsWith('dec_')).length);
        expect(byServer).toEqual([PARALLEL / 2, PARALLEL / 2]);
      });
    });
  });
}
