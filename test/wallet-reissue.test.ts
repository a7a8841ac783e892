import { describe, expect, it } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import { testServer } from './helpers/http.js';
import type { DecisionResponse } from '../src/index.js';
import { BACKENDS, createTestEngine, type TestEngine } from './helpers/backends.js';

// Regression tests for issue 10, item 5: every decide used to issue again (60 decides → 120
// wallet entries), reserving budget, global cap and daily liability on each page view.

const DAY = 86_400_000;
const products = [
  { sku: 'SHIRT', category: 'apparel', price: 4000, unitCost: 1500, fulfilmentCost: 200 },
  { sku: 'MUG', category: 'home', price: 1500, unitCost: 500, fulfilmentCost: 100 },
];
const cart = { lines: [{ sku: 'SHIRT', quantity: 2, unitPrice: 4000 }, { sku: 'MUG', quantity: 1, unitPrice: 1500 }], shipping: 499 };
const pct = { id: 'ofr_pct', status: 'live', name: '10% off', type: 'percent_off', value: 10, expectedLift: 1, expiresAfter: '7d', caps: { global: 1000 }, budget: { total: 1_000_000, dailyLiability: 500_000 } };
const ship = { id: 'ofr_ship', status: 'live', name: 'Free shipping', type: 'free_shipping', expectedLift: 1, caps: { global: 1000 }, budget: { total: 1_000_000 } };

async function setup(backend: (typeof BACKENDS)[number], offers: unknown[], campaign: Record<string, unknown> = {}): Promise<TestEngine> {
  const t = await createTestEngine(backend);
  await importCatalog(t.engine.catalog, {
    products,
    offers,
    campaigns: [{ id: 'cmp_web', status: 'live', name: 'Web', placements: ['cart'], offers: (offers as Array<{ id: string }>).map((o) => o.id), policy: { type: 'static' }, holdoutPct: 0, maxOffers: 2, ...campaign }],
  });
  return t;
}

const counterKeys = (id: string, day: string) => [`g:${id}`, `b:${id}`, `d:${id}:${day}`];
const DAY_OF = '2026-11-23';

async function counters(t: TestEngine, id: string): Promise<number[]> {
  const c = await t.store.readCounters(counterKeys(id, DAY_OF));
  return counterKeys(id, DAY_OF).map((k) => c.get(k) ?? 0);
}

for (const backend of BACKENDS) {
  describe(`an offer in the wallet is presented again, not issued again [${backend}]`, () => {
    it('60 decides for one customer: one wallet entry per offer, counters and liability reserved once', async () => {
      const t = await setup(backend, [pct, ship]);
      try {
        const e = t.engine;
        const first = await e.decide({ customerId: 'alice', placement: 'cart', channel: 'web', cart });
        expect(first.offers.map((o) => o.offerId).sort()).toEqual(['ofr_pct', 'ofr_ship']);
        expect(first.offers.every((o) => !o.fromWallet)).toBe(true);
        const once = { pct: await counters(t, 'ofr_pct'), ship: await counters(t, 'ofr_ship') };
        expect(once.pct[0]).toBe(1);
        const liability = (await e.liabilities({})).totals.outstanding;
        expect(liability).toBeGreaterThan(0);

        const later: DecisionResponse[] = [];
        for (let i = 0; i < 59; i++) {
          t.clock.advance(60_000);
          later.push(await e.decide({ customerId: 'alice', placement: 'cart', channel: 'web', cart }));
        }
        for (const d of later) {
          expect(d.offers).toHaveLength(2);
          for (const o of d.offers) {
            const orig = first.offers.find((x) => x.offerId === o.offerId)!;
            // The same issuance, token, code, value and expiry as first issued.
            expect(o).toMatchObject({ issuanceId: orig.issuanceId, token: orig.token, code: orig.code, value: orig.value, expiresAt: orig.expiresAt, version: orig.version, fromWallet: true });
          }
        }
        const wallet = await e.wallet.list('alice');
        expect(wallet.entries.map((w) => w.offerId).sort()).toEqual(['ofr_pct', 'ofr_ship']);
        expect(await counters(t, 'ofr_pct')).toEqual(once.pct);
        expect(await counters(t, 'ofr_ship')).toEqual(once.ship);
        expect((await e.liabilities({})).totals.outstanding).toBe(liability);
        expect((await e.liabilities({})).totals.issued).toBe(2);

        // Every decision is still logged, with its probability and the re-presentation marked.
        const last = await e.getDecision(later[58]!.decisionId);
        expect(last.probability).toBe(1);
        expect(last.offers.map((o) => o.fromWallet)).toEqual([true, true]);
        expect((last.log as { fromWallet: string[] }).fromWallet.sort()).toEqual(first.offers.map((o) => o.issuanceId).sort());
        expect(last.candidates.find((c) => c.offerId === 'ofr_pct')!.reasons.map((r) => r.code)).toEqual(['IN_WALLET', 'ELIGIBLE', 'SELECTED']);
        expect(await t.store.listDecisions({ subjectId: 'c:alice', limit: 100 })).toHaveLength(60);
      } finally {
        await t.close();
      }
    });

    it('after redemption or expiry the offer is issued again', async () => {
      const t = await setup(backend, [pct]);
      try {
        const e = t.engine;
        const a = (await e.decide({ customerId: 'bob', placement: 'cart', channel: 'web', cart })).offers[0]!;
        await e.wallet.redeem({ orderId: 'o-1', customerId: 'bob', channel: 'web', tokens: [a.token!], cart });
        const b = (await e.decide({ customerId: 'bob', placement: 'cart', channel: 'web', cart })).offers[0]!;
        expect(b.fromWallet).toBe(false);
        expect(b.issuanceId).not.toBe(a.issuanceId);
        expect((await counters(t, 'ofr_pct'))[0]).toBe(2);
        // Presented again while open...
        expect((await e.decide({ customerId: 'bob', placement: 'cart', channel: 'web', cart })).offers[0]!.issuanceId).toBe(b.issuanceId);
        // ...and issued anew once it has expired (7 days), swept or not.
        t.clock.advance(7 * DAY + 1);
        const c = (await e.decide({ customerId: 'bob', placement: 'cart', channel: 'web', cart })).offers[0]!;
        expect(c.fromWallet).toBe(false);
        expect(c.issuanceId).not.toBe(b.issuanceId);
        expect((await counters(t, 'ofr_pct'))[0]).toBe(3);
      } finally {
        await t.close();
      }
    });

    it('concurrent decides for one customer issue once; the others present that entry', async () => {
      const t = await setup(backend, [pct]);
      try {
        const ds = await Promise.all(Array.from({ length: 12 }, () => t.engine.decide({ customerId: 'carol', placement: 'cart', channel: 'web', cart })));
        const ids = new Set(ds.map((d) => d.offers[0]!.issuanceId));
        expect(ids.size).toBe(1);
        expect(ds.filter((d) => !d.offers[0]!.fromWallet)).toHaveLength(1);
        expect((await t.engine.wallet.list('carol')).entries).toHaveLength(1);
        expect((await counters(t, 'ofr_pct'))[0]).toBe(1);
      } finally {
        await t.close();
      }
    });

    it('a held rung is presented as held even when the policy would now pick a higher one', async () => {
      const ladder = { id: 'ofr_ladder', status: 'live', name: 'Ladder', type: 'percent_off', valueLadder: [10, 15], budget: { total: 1_000_000 } };
      const t = await setup(backend, [ladder], { marginFloorPct: 51, model: { baseConversion: 0.05, elasticity: 4 } });
      try {
        const e = t.engine;
        // A thin-margin cart only clears the floor at 10%; the rich one would take 15%.
        const thin = { lines: [{ sku: 'SHIRT', quantity: 1, unitPrice: 4000 }] };
        const rich = { lines: [{ sku: 'SHIRT', quantity: 1, unitPrice: 5000 }] };
        const fresh = await e.preview({ customerId: 'nobody', placement: 'cart', channel: 'web', cart: rich });
        expect(fresh.chosen[0]!.value).toBe(15);
        const a = (await e.decide({ customerId: 'dan', placement: 'cart', channel: 'web', cart: thin })).offers[0]!;
        expect(a.value).toBe(10);
        const b = (await e.decide({ customerId: 'dan', placement: 'cart', channel: 'web', cart: rich })).offers[0]!;
        expect(b).toMatchObject({ issuanceId: a.issuanceId, value: 10, token: a.token, fromWallet: true });
        expect((await e.wallet.list('dan')).entries).toHaveLength(1);
      } finally {
        await t.close();
      }
    });

    it('anonymous visitors, holdout and request-id replays', async () => {
      const t = await setup(backend, [pct]);
      try {
        const e = t.engine;
        const a = await e.decide({ anonymousId: 'dev-1', placement: 'cart', channel: 'web', cart, requestId: 'r1' });
        const b = await e.decide({ anonymousId: 'dev-1', placement: 'cart', channel: 'web', cart, requestId: 'r2' });
        expect(b.offers[0]).toMatchObject({ issuanceId: a.offers[0]!.issuanceId, token: a.offers[0]!.token, fromWallet: true });
        // A replay answers with the logged response (a new issue, as first answered), reserving nothing.
        expect(await e.decide({ anonymousId: 'dev-1', placement: 'cart', channel: 'web', cart, requestId: 'r1' })).toEqual(a);
        expect((await counters(t, 'ofr_pct'))[0]).toBe(1);
      } finally {
        await t.close();
      }
      // Holdout customers still get nothing, whatever they held.
      const h = await setup(backend, [pct], { holdoutPct: 100 });
      try {
        const d = await h.engine.decide({ customerId: 'erin', placement: 'cart', channel: 'web', cart });
        expect(d.holdout).toBe(true);
        expect(d.offers).toEqual([]);
      } finally {
        await h.close();
      }
    });

    it('GET /v1/customers/{id}/wallet pages through every entry exactly once', async () => {
      const n = 7;
      const offers = Array.from({ length: n }, (_, i) => ({ id: `ofr_w${i}`, status: 'live', name: `W${i}`, type: 'amount_off', value: 100 + i, expectedLift: 1, placements: [`slot${i}`] }));
      const t = await createTestEngine(backend);
      const app = await testServer(t.engine);
      try {
        await importCatalog(t.engine.catalog, {
          products,
          offers,
          campaigns: offers.map((o, i) => ({ id: `cmp_w${i}`, status: 'live', name: `W${i}`, placements: [`slot${i}`], offers: [o.id], policy: { type: 'static' }, holdoutPct: 0 })),
        });
        for (let i = 0; i < n; i++) {
          // Several entries share one issue time: the order must still be total.
          if (i % 3 === 0) t.clock.advance(1000);
          await t.engine.decide({ customerId: 'fay', placement: `slot${i}`, channel: 'web', cart });
        }
        const { key } = await t.engine.keys.create(['decide']);
        const auth = { authorization: `Bearer ${key}` };
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const url: string = `/v1/customers/fay/wallet?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
          const r = await app.inject({ method: 'GET', url, headers: auth });
          expect(r.statusCode, r.body).toBe(200);
          const body = r.json() as { entries: Array<{ issuanceId: string; issuedAt: string }>; nextCursor: string | null };
          expect(body.entries.length).toBeLessThanOrEqual(3);
          seen.push(...body.entries.map((x) => x.issuanceId));
          cursor = body.nextCursor;
          pages++;
        } while (cursor !== null && pages < 10);
        expect(pages).toBe(3);
        expect(seen).toHaveLength(n);
        expect(new Set(seen).size).toBe(n);
        const all = (await t.engine.wallet.list('fay', { limit: 100 })).entries.map((x) => x.issuanceId);
        expect(seen).toEqual(all);
        const bad = await app.inject({ method: 'GET', url: '/v1/customers/fay/wallet?limit=101', headers: auth });
        expect(bad.statusCode).toBe(400);
        expect(bad.json().error.details[0].path).toContain('limit');
        const badCursor = await app.inject({ method: 'GET', url: '/v1/customers/fay/wallet?cursor=nonsense', headers: auth });
        expect(badCursor.statusCode).toBe(400);
        expect(badCursor.json().error.details[0].path).toBe('query.cursor');
      } finally {
        await app.close();
        await t.close();
      }
    });
  });
}
