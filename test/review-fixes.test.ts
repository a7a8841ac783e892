import { describe, expect, it } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import { createEngine, fixedClock, openStore, OfferpilotError, sequentialIds } from '../src/index.js';
import { BACKENDS, createTestEngine } from './helpers/backends.js';

const cart = { lines: [{ sku: 'P', quantity: 1, unitPrice: 10000 }] };
const base = {
  products: [{ sku: 'P', price: 10000, unitCost: 4000, fulfilmentCost: 500 }],
  campaigns: [{ id: 'cmp_x', status: 'live', name: 'X', placements: ['cart'], offers: ['ofr_x'], policy: { type: 'static' }, holdoutPct: 0 }],
};

async function code(p: Promise<unknown>): Promise<string | null> {
  try {
    await p;
    return null;
  } catch (e) {
    return (e as OfferpilotError).code ?? String(e);
  }
}

for (const backend of BACKENDS) {
  describe(`catalog changes and guardrail edges [${backend}]`, () => {
    it('an offer paused by another process is never issued, even from a stale catalog cache', async () => {
      const t = await createTestEngine(backend);
      // A second engine on the same database, as a second server process, with a long cache.
      const storeB = openStore(t.db.url);
      const b = await createEngine({ store: storeB, clock: t.clock, ids: sequentialIds(1_000_000), config: { logLevel: 'silent', catalogRefreshMs: 3_600_000, tokenKeys: 'test:test-secret' } });
      try {
        await importCatalog(t.engine.catalog, { ...base, offers: [{ id: 'ofr_x', status: 'live', name: 'X', type: 'content' }] });
        expect((await b.decide({ customerId: 'c1', placement: 'cart', channel: 'web', cart })).offers.map((o) => [o.offerId, o.version])).toEqual([['ofr_x', 1]]);
        // An edit elsewhere: the commit notices the version moved, reloads and issues the new version.
        await t.engine.catalog.updateOffer('ofr_x', { name: 'X v2', type: 'content' });
        expect((await b.decide({ customerId: 'c2', placement: 'cart', channel: 'web', cart })).offers.map((o) => [o.offerId, o.version])).toEqual([['ofr_x', 2]]);
        // A pause elsewhere: never issued again.
        await t.engine.catalog.transitionOffer('ofr_x', 'paused');
        const d = await b.decide({ customerId: 'c3', placement: 'cart', channel: 'web', cart });
        expect(d.offers).toEqual([]);
        expect(d.candidates[0]!.reasons.map((r) => r.code)).toEqual(['NOT_LIVE']);
        expect((await t.store.readCounters(['g:ofr_x'])).get('g:ofr_x')).toBe(2);
      } finally {
        await b.close();
        await t.close();
      }
    });

    it('a reserve that rounds below one minor unit still counts against the budget', async () => {
      const t = await createTestEngine(backend);
      try {
        await importCatalog(t.engine.catalog, {
          ...base,
          offers: [{ id: 'ofr_x', status: 'live', name: 'Points', type: 'loyalty_points', value: 2, pointValue: 1, expectedLift: 0.5, budget: { total: 1 } }],
          campaigns: [{ ...base.campaigns[0], model: { redemptionRate: 0.2 } }],
        });
        const first = await t.engine.decide({ customerId: 'c1', placement: 'cart', channel: 'web', cart });
        expect(first.offers.map((o) => o.offerId)).toEqual(['ofr_x']);
        const second = await t.engine.decide({ customerId: 'c2', placement: 'cart', channel: 'web', cart });
        expect(second.offers).toEqual([]);
        expect(second.candidates[0]!.reasons[0]!.code).toBe('BUDGET_EXHAUSTED');
      } finally {
        await t.close();
      }
    });

    it('losing a budget race falls back to a cheaper rung that still fits', async () => {
      const t = await createTestEngine(backend, { config: { counterRefreshMs: 60_000 } });
      try {
        await importCatalog(t.engine.catalog, {
          ...base,
          offers: [{ id: 'ofr_x', status: 'live', name: 'Ladder', type: 'amount_off', valueLadder: [500, 1500], expectedLift: [0.4, 0.9], budget: { total: 2000 } }],
        });
        const ds = await Promise.all(Array.from({ length: 20 }, (_, i) => t.engine.decide({ customerId: `c${i}`, placement: 'cart', channel: 'web', cart })));
        const values = ds.flatMap((d) => d.offers.map((o) => o.value)).sort((a, b) => (a ?? 0) - (b ?? 0));
        expect(values).toEqual([500, 1500]);
        expect((await t.store.readCounters(['b:ofr_x'])).get('b:ofr_x')).toBe(2000);
      } finally {
        await t.close();
      }
    });

    it('concurrent edits: one wins, the other gets CONFLICT; an archive is never undone by an edit', async () => {
      const t = await createTestEngine(backend);
      try {
        await importCatalog(t.engine.catalog, { ...base, offers: [{ id: 'ofr_x', status: 'live', name: 'X', type: 'content' }] });
        // Two editors who both started from version 1.
        const v1 = await t.engine.catalog.getOffer('ofr_x');
        const results = await Promise.all([1, 2].map((i) => code(t.store.putVersion('offer', { ...v1, version: 2, name: `edit ${i}` }))));
        expect(results.sort()).toEqual(['CONFLICT', null].sort());
        expect((await t.engine.catalog.offerVersions('ofr_x')).map((o) => o.version)).toEqual([1, 2]);
        const stale = await t.engine.catalog.getOffer('ofr_x');
        await t.engine.catalog.transitionOffer('ofr_x', 'archived');
        expect(await code(t.store.putVersion('offer', { ...stale, version: stale.version + 1, name: 'late edit' }))).toBe('CONFLICT');
        expect((await t.engine.catalog.getOffer('ofr_x')).status).toBe('archived');
      } finally {
        await t.close();
      }
    });

    it('idempotency keys are per customer', async () => {
      const t = await createTestEngine(backend);
      try {
        await importCatalog(t.engine.catalog, { ...base, offers: [{ id: 'ofr_x', status: 'live', name: 'X', type: 'content' }] });
        const a = await t.engine.decide({ customerId: 'alice', placement: 'cart', channel: 'web', requestId: 'r-1' });
        const b = await t.engine.decide({ customerId: 'bob', placement: 'cart', channel: 'web', requestId: 'r-1' });
        expect(b.decisionId).not.toBe(a.decisionId);
        expect((await t.engine.decide({ customerId: 'alice', placement: 'cart', channel: 'web', requestId: 'r-1' })).decisionId).toBe(a.decisionId);
      } finally {
        await t.close();
      }
    });

    it('editing a campaign keeps its holdout salt, so nobody changes arm', async () => {
      const t = await createTestEngine(backend);
      try {
        const catalog = { ...base, offers: [{ id: 'ofr_x', status: 'live', name: 'X', type: 'content' }], campaigns: [{ ...base.campaigns[0], holdoutPct: 50 }] };
        await importCatalog(t.engine.catalog, catalog);
        const ids = Array.from({ length: 40 }, (_, i) => `cust_${i}`);
        const arms = async () => Promise.all(ids.map(async (id) => (await t.engine.preview({ customerId: id, placement: 'cart', channel: 'web' })).holdout));
        const before = await arms();
        await t.engine.catalog.updateCampaign('cmp_x', { name: 'X renamed', placements: ['cart'], offers: ['ofr_x'], policy: { type: 'static' }, holdoutPct: 50 });
        expect(await arms()).toEqual(before);
        // Re-importing the original file is a no-op, not a new version each time.
        await importCatalog(t.engine.catalog, { ...catalog, campaigns: [{ ...catalog.campaigns[0], name: 'X renamed' }] });
        const again = await importCatalog(t.engine.catalog, { ...catalog, campaigns: [{ ...catalog.campaigns[0], name: 'X renamed' }] });
        expect(again.campaigns).toEqual({ created: 0, updated: 0, unchanged: 1 });
      } finally {
        await t.close();
      }
    });
  });
}

describe('input limits that keep the arithmetic exact and the schedule sane', () => {
  it('durations must be positive and at most ten years; percents may have two decimals', async () => {
    const t = await createTestEngine('sqlite', { now: fixedClock('2026-11-23T12:00:00Z').now() });
    try {
      expect(await code(t.engine.catalog.createOffer({ name: 'x', type: 'content', expiresAfter: '0m' }))).toBe('VALIDATION_FAILED');
      expect(await code(t.engine.catalog.createOffer({ name: 'x', type: 'content', expiresAfter: '200000000d' }))).toBe('VALIDATION_FAILED');
      expect(await code(t.engine.catalog.createOffer({ name: 'x', type: 'content', caps: { frequency: { count: 1, window: '0d' } } }))).toBe('VALIDATION_FAILED');
      for (const v of [8.2, 17.85, 33.3, 0.29]) expect(await code(t.engine.catalog.createOffer({ name: 'x', type: 'percent_off', value: v }))).toBeNull();
      expect(await code(t.engine.catalog.createOffer({ name: 'x', type: 'percent_off', value: 10.125 }))).toBe('VALIDATION_FAILED');
      const huge = { customerId: 'c', placement: 'cart', channel: 'web', cart: { lines: [{ sku: 'P', quantity: 100_000, unitPrice: 100_000_000_000 }] } };
      const err = await t.engine.decide(huge).catch((e: OfferpilotError) => e);
      expect((err as OfferpilotError).code).toBe('VALIDATION_FAILED');
      expect((err as OfferpilotError).details.map((d) => d.path)).toContain('cart.lines');
    } finally {
      await t.close();
    }
  });
});
