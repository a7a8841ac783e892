import { afterEach, describe, expect, it, vi } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import { CampaignCreateSchema, OfferCreateSchema, type Campaign, type Offer } from '../src/core/catalog.js';
import { decide, type DecideDefaults, type SubjectState } from '../src/core/decide.js';
import { staticPolicy, type Policy, type RankItem } from '../src/core/policy.js';
import type { PolicyResolver } from '../src/core/policies.js';
import { DecideRequestSchema } from '../src/core/request.js';
import { seededRandom } from '../src/core/runtime.js';
import { buildSnapshot } from '../src/core/snapshot.js';
import type { StoredPolicyState } from '../src/learning/port.js';
import { PolicyStateSource } from '../src/learning/state.js';
import type { StatsHook } from '../src/learning/stats.js';
import { createEngine, fixedClock, openStore, sequentialIds, type Engine, type Store } from '../src/index.js';
import type { EventWrite } from '../src/events/port.js';
import { BACKENDS, createTestDb, type Backend, type TestDb } from './helpers/backends.js';

const NOW = '2026-11-23T12:00:00Z';
const content = (id: string) => ({ id, status: 'live', name: id, type: 'content' });

/**
 * A test-only contextual policy: its scores come from the campaign's policy state (a weight per
 * offer, a bonus per order the customer made, a bonus for a context segment), so which offer it
 * ranks first depends on the state version and on the request.
 */
const contextual: Policy = {
  id: 'test:contextual',
  readsState: true,
  readsFeatures: true,
  score(s) {
    const st = (s.context.state?.state ?? {}) as { weights?: Record<string, number>; perOrder?: Record<string, number>; segment?: Record<string, number> };
    const input = s.context.input();
    const orders = Number(input.customer.features.orders ?? 0);
    const vip = input.context.segment === 'vip';
    return (st.weights?.[s.offer.id] ?? 0) + orders * (st.perOrder?.[s.offer.id] ?? 0) + (vip ? (st.segment?.[s.offer.id] ?? 0) : 0);
  },
  rank(items) {
    return { ranked: items.sort((a, b) => b.score - a.score || (a.offerId < b.offerId ? -1 : 1)), probability: 1 };
  },
  worthShowing: () => true,
};
const resolver: PolicyResolver = (c) => (c.id === 'cmp_learn' ? contextual : undefined);

const catalog = {
  products: [{ sku: 'TOP-1', category: 'tops', price: 10000, unitCost: 4000, fulfilmentCost: 500 }],
  offers: [content('ofr_a'), content('ofr_b')],
  campaigns: [{ id: 'cmp_learn', status: 'live', name: 'Learn', placements: ['home_hero'], offers: ['ofr_a', 'ofr_b'], policy: { type: 'static' }, holdoutPct: 0 }],
};

async function engineOn(backend: Backend, extra: { policies?: PolicyResolver; statsFor?: StatsHook } = {}, spy?: (s: Store) => void) {
  const db = await createTestDb(backend);
  const store = openStore(db.url);
  await store.migrate();
  spy?.(store);
  const engine = await createEngine({
    store,
    clock: fixedClock(NOW),
    random: seededRandom(1),
    ids: sequentialIds(),
    config: { logLevel: 'silent', catalogRefreshMs: 0, counterRefreshMs: 0, tokenKeys: 'test:test-secret' },
    ...extra,
  });
  return { db, store, engine };
}

const opened: Array<{ engine: Engine; db: TestDb }> = [];
afterEach(async () => {
  for (const o of opened.splice(0)) {
    await o.engine.close();
    await o.db.drop();
  }
});

for (const backend of BACKENDS) {
  describe(`policy state at decide time [${backend}]`, () => {
    it('a state-reading policy changes its ranking when a new state version is written, without a catalog change, and logs the version', async () => {
      const t = await engineOn(backend, { policies: resolver });
      opened.push(t);
      const { engine } = t;
      await importCatalog(engine.catalog, catalog);
      await engine.putCustomer('cust_1', { traits: {}, consent: { personalization: true } });
      await engine.putCustomer('cust_2', { traits: {}, consent: { personalization: false } });
      const ask = (customerId: string, context?: Record<string, unknown>) => engine.decide({ customerId, placement: 'home_hero', channel: 'web', ...(context ? { context } : {}) });

      // No state yet: the policy decides without one, and says so.
      const d0 = await ask('cust_1');
      expect(d0.policy).toBe('test:contextual');
      expect(d0.policyVersion).toBeNull();
      expect(d0.offers.map((o) => o.offerId)).toEqual(['ofr_a']);
      const catalogVersion = d0.catalogVersion;

      expect(await engine.policyStates.write('cmp_learn', { weights: { ofr_a: 1, ofr_b: 2 } }, Date.parse(NOW))).toBe(1);
      const d1 = await ask('cust_1');
      expect(d1.offers.map((o) => o.offerId)).toEqual(['ofr_b']);
      expect(d1.policyVersion).toBe(1);
      expect(d1.catalogVersion).toBe(catalogVersion);
      const logged = await engine.getDecision(d1.decisionId);
      expect(logged.policyVersion).toBe(1);

      // Version 2 rewards customers with orders (features, consented customers only) and a context segment.
      expect(await engine.policyStates.write('cmp_learn', { weights: { ofr_a: 1, ofr_b: 2 }, perOrder: { ofr_a: 5 }, segment: { ofr_a: 5 } }, Date.parse(NOW))).toBe(2);
      const order = (id: string, customerId: string) => ({ id, type: 'order', customerId, occurredAt: '2026-11-23T11:00:00Z', orderId: `o_${id}`, lines: [{ sku: 'TOP-1', quantity: 1, unitPrice: 10000 }] });
      await engine.events.ingest({ events: [order('e1', 'cust_1'), order('e2', 'cust_2')] });
      const d2 = await ask('cust_1');
      expect(d2.offers.map((o) => o.offerId)).toEqual(['ofr_a']);
      expect(d2.policyVersion).toBe(2);
      // The same order history without personalization consent: the policy sees no features.
      const d3 = await ask('cust_2');
      expect(d3.offers.map((o) => o.offerId)).toEqual(['ofr_b']);
      // Context is not personal data: it counts without consent.
      const d4 = await ask('cust_2', { segment: 'vip' });
      expect(d4.offers.map((o) => o.offerId)).toEqual(['ofr_a']);
      expect((await engine.getDecision(d4.decisionId)).policyVersion).toBe(2);
      for (const d of [d2, d3, d4]) expect(d.catalogVersion).toBe(catalogVersion);
    });

    it('another process sees a written state on its next refresh; a static catalog reads no policy state at all', async () => {
      let reads = 0;
      const t = await engineOn(backend, { policies: resolver }, (s) => {
        const read = s.readPolicyStateVersions.bind(s);
        vi.spyOn(s, 'readPolicyStateVersions').mockImplementation(() => {
          reads++;
          return read();
        });
      });
      opened.push(t);
      await importCatalog(t.engine.catalog, { ...catalog, campaigns: [{ ...catalog.campaigns[0], id: 'cmp_static' }] });
      for (let i = 0; i < 3; i++) expect((await t.engine.decide({ anonymousId: `v${i}`, placement: 'home_hero', channel: 'web' })).policyVersion).toBeNull();
      expect(reads).toBe(0);

      // A second engine (another process) on the same database, writing for the learning campaign.
      await importCatalog(t.engine.catalog, catalog);
      const other = await createEngine({ store: openStore(t.db.url), clock: fixedClock(NOW), config: { logLevel: 'silent', catalogRefreshMs: 0, tokenKeys: 'test:test-secret' }, policies: resolver });
      try {
        await other.policyStates.write('cmp_learn', { weights: { ofr_b: 3 } }, Date.parse(NOW));
      } finally {
        await other.close();
      }
      const d = await t.engine.decide({ anonymousId: 'v9', placement: 'home_hero', channel: 'web', campaignId: 'cmp_learn' });
      expect(d.policyVersion).toBe(1);
      expect(d.offers.map((o) => o.offerId)).toEqual(['ofr_b']);
      expect(reads).toBeGreaterThan(0);
    });
  });
}

describe('PolicyStateSource', () => {
  const port = (rows: StoredPolicyState[]) => {
    const p = {
      reads: 0,
      readPolicyStateVersions: async () => {
        p.reads++;
        return rows.map((r) => ({ campaignId: r.campaignId, version: r.version }));
      },
      readPolicyState: async (campaignId: string) => {
        const r = rows.find((x) => x.campaignId === campaignId);
        return r ? { ...r } : null;
      },
      writePolicyState: async (campaignId: string, state: unknown, at: number) => {
        const prev = rows.find((r) => r.campaignId === campaignId);
        if (prev) Object.assign(prev, { version: prev.version + 1, state, updatedAt: at });
        else rows.push({ campaignId, version: 1, state, updatedAt: at });
        return prev?.version ?? 1;
      },
    };
    return p;
  };

  it('serves the cached states within the staleness bound (no read per decision); a write by this process is seen at once', async () => {
    const p = port([{ campaignId: 'cmp_x', version: 3, state: { w: 1 }, updatedAt: 0 }]);
    const src = new PolicyStateSource(p, 60_000);
    const first = await src.current();
    for (let i = 0; i < 100; i++) expect((await src.current()).get('cmp_x')).toEqual({ version: 3, state: { w: 1 } });
    expect(p.reads).toBe(1);
    expect(await src.write('cmp_x', { w: 2 }, 1)).toBe(4);
    expect((await src.current()).get('cmp_x')).toEqual({ version: 4, state: { w: 2 } });
    expect(p.reads).toBe(2);
    expect(first.get('cmp_y')).toBeUndefined(); // a campaign without state gets none
  });

  it('re-reads past the bound, shares one read between concurrent requests, and never goes back to an older version', async () => {
    const rows: StoredPolicyState[] = [{ campaignId: 'cmp_x', version: 2, state: 'two', updatedAt: 0 }];
    const p = port(rows);
    const src = new PolicyStateSource(p, 0);
    const all = await Promise.all([src.current(), src.current(), src.current()]);
    expect(p.reads).toBe(1);
    expect(all[0]!.get('cmp_x')!.version).toBe(2);
    const kept = (await src.current()).get('cmp_x');
    // An unchanged version keeps its object (a learner may cache what it derived from it).
    expect((await src.current()).get('cmp_x')).toBe(kept);
    rows[0] = { campaignId: 'cmp_x', version: 1, state: 'one', updatedAt: 0 };
    expect((await src.current()).get('cmp_x')).toEqual({ version: 2, state: 'two' });
  });
});

describe('stochastic policies report the probability of the chosen action', () => {
  // Chooses one offer or none at random with fixed weights; reports the probability of its choice.
  const WEIGHTS: Record<string, number> = { ofr_a: 0.5, ofr_b: 0.3, none: 0.2 };
  const sampling: Policy = {
    id: 'test:sampling',
    score: () => 1,
    rank<T extends RankItem>(items: T[], random: () => number) {
      if (items.length === 0) return { ranked: items, probability: 1 };
      const options = [...items.map((i) => i.offerId), 'none'];
      const total = options.reduce((s, o) => s + WEIGHTS[o]!, 0);
      let u = random() * total;
      for (const o of options) {
        u -= WEIGHTS[o]!;
        if (u < 0 || o === 'none') return { ranked: items.filter((i) => i.offerId === o), probability: WEIGHTS[o]! / total };
      }
      throw new Error('unreachable');
    },
    worthShowing: () => true,
  };

  const iso = new Date(Date.parse(NOW)).toISOString();
  const offers = catalog.offers.map((o) => ({ ...OfferCreateSchema.parse(o), id: o.id, status: 'live', version: 1, createdAt: iso, updatedAt: iso }) as Offer);
  const campaign = { ...CampaignCreateSchema.parse(catalog.campaigns[0]), id: 'cmp_learn', status: 'live', version: 1, createdAt: iso, updatedAt: iso } as Campaign;
  const defaults: DecideDefaults = { marginFloorPct: 0, shippingCost: 0, pointValue: 1, pointsPerMajorUnit: 1, merchantFeeBpsPerMonth: 0 };
  const request = DecideRequestSchema.parse({ anonymousId: 'v1', placement: 'home_hero', channel: 'web' });
  const subject: SubjectState = { subjectId: 'a:v1', customerId: null, anonymousId: 'v1', traits: {}, consent: {}, features: {}, issuances: [] };

  it('logged probabilities match the sampled frequencies over 20,000 decisions (within 4 binomial standard errors)', () => {
    const snapshot = buildSnapshot({ version: 1, offers, campaigns: [campaign], products: [] }, new Map(), (c) => (c.id === 'cmp_learn' ? sampling : undefined));
    const random = seededRandom(42);
    const n = 20_000;
    const seen = new Map<string, { count: number; probabilities: Set<number> }>();
    for (let i = 0; i < n; i++) {
      const d = decide({ request, snapshot, subject, counters: { get: () => 0 }, now: Date.parse(NOW), random, defaults });
      const action = d.chosen[0]?.offerId ?? 'none';
      const s = seen.get(action) ?? { count: 0, probabilities: new Set<number>() };
      s.count++;
      s.probabilities.add(d.probability);
      seen.set(action, s);
    }
    expect([...seen.keys()].sort()).toEqual(['none', 'ofr_a', 'ofr_b']);
    for (const [action, s] of seen) {
      // Each action is always logged with the one probability the policy chose it with, "no offer" included.
      expect([...s.probabilities], action).toEqual([WEIGHTS[action]]);
      const p = WEIGHTS[action]!;
      const se = Math.sqrt((p * (1 - p)) / n);
      expect(Math.abs(s.count / n - p), `${action}: ${s.count}/${n} vs ${p}`).toBeLessThan(4 * se);
    }
  });

  it('the static policy reports 1, reads no state and decides the same whatever state is supplied', () => {
    expect(staticPolicy({ type: 'static', mode: 'expected_value' }).readsState).toBeUndefined();
    const snapshot = buildSnapshot({ version: 1, offers, campaigns: [campaign], products: [] });
    expect(snapshot.readsPolicyState).toBe(false);
    const input = { request, snapshot, subject, counters: { get: () => 0 }, now: Date.parse(NOW), random: seededRandom(1), defaults };
    const plain = decide(input);
    const withState = decide({ ...input, random: seededRandom(1), policies: { get: () => ({ version: 7, state: { anything: true } }) } });
    expect(withState).toEqual(plain);
    expect(plain.policyVersion).toBeNull();
    expect(plain.probability).toBe(1);
  });
});

for (const backend of BACKENDS) {
  describe(`statistic ops with event ingestion [${backend}]`, () => {
    // Counts each event by campaign and type, and order revenue by campaign.
    const stats: StatsHook = (e, a) => {
      const ops = [{ key: `stat:${a?.campaignId ?? 'none'}:${e.type}`, amount: 1 }];
      if (e.type === 'order') ops.push({ key: `stat:${a?.campaignId ?? 'none'}:revenue`, amount: e.lines.reduce((s, l) => s + l.unitPrice * l.quantity, 0) });
      return ops;
    };
    const keys = ['stat:cmp_learn:impression', 'stat:cmp_learn:order', 'stat:cmp_learn:revenue', 'stat:none:order', 'stat:none:revenue', 'stat:none:refund', 'stat:cmp_learn:refund'];
    const read = async (store: Store) => Object.fromEntries([...(await store.readCounters(keys))].filter(([, v]) => v !== 0));
    // At the decision's time: the attribution window credits the order to it.
    const at = NOW;
    const order = (id: string, customerId: string, orderId: string, extra: Record<string, unknown> = {}) => ({ id, type: 'order', customerId, occurredAt: at, orderId, lines: [{ sku: 'TOP-1', quantity: 1, unitPrice: 10000 }], ...extra });

    it('applies each new event’s ops once; duplicates, resent orders, rejected and quarantined events apply none', async () => {
      const t = await engineOn(backend, { statsFor: stats });
      opened.push(t);
      const { engine, store } = t;
      await importCatalog(engine.catalog, catalog);
      const d = await engine.decide({ customerId: 'cust_1', placement: 'home_hero', channel: 'web' });
      const batch = { events: [{ id: 'i1', type: 'impression', customerId: 'cust_1', occurredAt: at, decisionId: d.decisionId }, order('o1', 'cust_1', 'ord_1')] };
      const r1 = await engine.events.ingest(batch);
      expect(r1.accepted).toBe(2);
      const after = { 'stat:cmp_learn:impression': 1, 'stat:cmp_learn:order': 1, 'stat:cmp_learn:revenue': 10000 };
      expect(await read(store)).toEqual(after);
      // The same batch again: duplicates, nothing applied.
      expect((await engine.events.ingest(batch)).duplicates).toBe(2);
      // The same order under a new event id (counted once), another customer's order id (rejected),
      // a refund of an order not known yet (quarantined), a refund above what is left (rejected).
      const r3 = await engine.events.ingest({
        events: [
          order('o1b', 'cust_1', 'ord_1'),
          order('o2', 'cust_2', 'ord_1'),
          { id: 'f1', type: 'refund', customerId: 'cust_1', occurredAt: at, orderId: 'ord_later', amount: 100 },
          { id: 'f2', type: 'refund', customerId: 'cust_1', occurredAt: at, orderId: 'ord_1', amount: 999_999 },
        ],
      });
      expect(r3.results.map((x) => x.status)).toEqual(['rejected', 'quarantined', 'rejected']);
      expect(await read(store)).toEqual(after);
      // A new refund that fits is new: its ops apply.
      await engine.events.ingest({ events: [{ id: 'f3', type: 'refund', customerId: 'cust_1', occurredAt: at, orderId: 'ord_1', amount: 100 }] });
      expect(await read(store)).toEqual({ ...after, 'stat:cmp_learn:refund': 1 });
    });

    it('a hook op that is not a statistic (guardrail key, fraction) is refused before anything is written', async () => {
      const t = await engineOn(backend, { statsFor: (e) => [{ key: e.id === 'x2' ? 'issued:ofr_a' : 'stat:none:impression', amount: 1 }] });
      opened.push(t);
      await importCatalog(t.engine.catalog, catalog);
      await expect(t.engine.events.ingest({ events: [{ id: 'x1', type: 'impression', customerId: 'c', occurredAt: at }, { id: 'x2', type: 'impression', customerId: 'c', occurredAt: at }] })).rejects.toThrow(/statistic op/);
      expect(await t.store.readCounters(['stat:none:impression', 'issued:ofr_a'])).toEqual(new Map());
      expect(await t.store.eventCounts('c:c')).toEqual({});
    });

    it('batch atomicity: when the write fails, no event of the batch and none of its ops are stored', async () => {
      const t = await engineOn(backend);
      opened.push(t);
      const row = (id: string): EventWrite['event'] => ({
        id, type: 'impression', subjectId: 'c:c1', customerId: 'c1', sessionId: null, occurredAt: Date.parse(at), receivedAt: Date.parse(at),
        orderId: null, offerId: null, decisionId: null, campaignId: null, holdout: null, attribution: null, amount: null, body: '{}',
      });
      // The second item's op cannot be stored (NaN is no integer): the whole transaction rolls back.
      const items: EventWrite[] = [{ event: row('y1'), stats: [{ key: 'stat:y', amount: 5 }] }, { event: row('y2'), stats: [{ key: 'stat:z', amount: Number.NaN }] }];
      await expect(t.store.writeEvents(items)).rejects.toThrow();
      expect(await t.store.readCounters(['stat:y', 'stat:z'])).toEqual(new Map());
      expect(await t.store.eventCounts('c:c1')).toEqual({});
      // The good item alone is stored with its op, once.
      expect((await t.store.writeEvents([items[0]!])).inserted).toBe(1);
      expect((await t.store.writeEvents([items[0]!])).duplicates).toBe(1);
      expect(await t.store.readCounters(['stat:y'])).toEqual(new Map([['stat:y', 5]]));
    });
  });
}
