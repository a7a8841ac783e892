import { describe, expect, it } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import { createEngine, openStore, type OfferpilotError } from '../src/index.js';
import {
  buildShop,
  httpClient,
  inProcessClient,
  loadScenario,
  parseScenario,
  ResponseModel,
  scenarioOffers,
  sessions,
  simulate,
  type ShopClient,
  SHIPPED_SCENARIOS,
  type Scenario,
  type SessionRecord,
  type SimReport,
  type SimSession,
} from '../src/sim/index.js';
import { createTestDb } from './helpers/backends.js';
import { startServerProcess } from './helpers/server-process.js';

const START = Date.parse('2026-11-01T00:00:00Z');

/**
 * One in-process run. These tests are about the simulator's mechanics and the engine's
 * economics, so they run the static policy unless the scenario or the test names one (it does not train between
 * flushes, which keeps the file fast); the learning policies have their own tests.
 */
async function run(scenario: Scenario, n: number, seed = 1, opts: { window?: number; policy?: Record<string, unknown>; onSession?: (r: SessionRecord) => void } = {}): Promise<SimReport> {
  const client = await inProcessClient({ start: START, seed, scenario });
  try {
    const named = (scenario.campaign as { policy?: unknown }).policy !== undefined;
    return await simulate(scenario, client, { sessions: n, seed, ...(named ? {} : { policy: { type: 'static' } }), ...opts });
  } finally {
    await client.close();
  }
}
const policy = (r: SimReport, id: string) => r.policies.find((p) => p.id === id)!;

describe('simulator: the true response model', () => {
  const s = loadScenario('apparel');
  const shop = buildShop(s, 3);
  const model = new ResponseModel(s, shop.products);
  const offers = scenarioOffers(s);
  const pct = offers.get('ofr_pct')!;
  const all = [...sessions(s, shop, 3000, 3)].filter((x) => x.hasCart);
  const bySegment = (seg: string) => all.filter((x) => x.customer.segment === seg).slice(0, 50);

  it('sure things and lost causes buy the same with or without an offer; the offer is pure cost', () => {
    for (const seg of ['sure_thing', 'lost_cause']) {
      const xs = bySegment(seg);
      expect(xs.length).toBeGreaterThan(10);
      for (const x of xs) {
        const none = model.truth(x, []);
        const off = model.truth(x, [{ offer: pct, value: 20 }]);
        expect(off.p).toBe(none.p);
        expect(off.order.cm).toBe(none.order.cm - off.order.offerCost);
        expect(off.ecm).toBeLessThan(none.ecm);
      }
    }
  });

  it('persuadables buy more the more the offer is worth; sleeping dogs buy less when shown any offer', () => {
    for (const x of bySegment('persuadable')) {
      const ts = [null, 10, 15, 20].map((v) => model.truth(x, v === null ? [] : [{ offer: pct, value: v }]));
      // More value, more conversion (equal once the 30.00 maximum discount caps two rungs alike).
      for (let i = 1; i < ts.length; i++) {
        if (ts[i]!.order.discount > ts[i - 1]!.order.discount) expect(ts[i]!.p).toBeGreaterThan(ts[i - 1]!.p);
        else expect(ts[i]!.p).toBe(ts[i - 1]!.p);
      }
    }
    const dogs = bySegment('sleeping_dog');
    expect(dogs.length).toBeGreaterThan(5);
    for (const x of dogs) expect(model.truth(x, [{ offer: pct, value: 10 }]).p).toBeCloseTo(x.customer.baseConversion * (1 - 0.4), 12);
  });

  it('contribution margin of an order: revenue − COGS − fulfilment − carrier − discount − points (worked example)', () => {
    const tops = shop.products.find((p) => p.category === 'tops')!;
    const session: SimSession = { ...all[0]!, lines: [{ sku: tops.sku, quantity: 2, unitPrice: tops.price }] };
    const none = model.order(session, []);
    // Revenue: goods + shipping fee; costs: unit cost and fulfilment per unit, the carrier per order.
    expect(none.revenue).toBe(2 * tops.price + 599);
    expect(none.cm).toBe(2 * tops.price + 599 - 2 * (tops.unitCost + 150) - 700);
    // 15% off (capped at 30.00) comes off the goods; the shopper still pays shipping.
    const discount = Math.min(Math.round(2 * tops.price * 0.15), 3000);
    const off = model.order(session, [{ offer: pct, value: 15 }]);
    expect(off.discount).toBe(discount);
    expect(off.cm).toBe(none.cm - discount);
    // Free shipping: the shop loses the fee and still pays the carrier.
    const ship = model.order(session, [{ offer: offers.get('ofr_ship')!, value: null }]);
    expect(ship.cm).toBe(none.cm - 599);
    // 500 points at 1 (minor unit) each are a liability: CM falls by 500.
    const pts = model.order(session, [{ offer: offers.get('ofr_pts')!, value: 500 }]);
    expect(pts.points).toBe(500);
    expect(pts.cm).toBe(none.cm - 500);
    // An offer the basket does not qualify for (minimum 75.00) does not apply and costs nothing.
    const small = { ...session, lines: [{ sku: tops.sku, quantity: 1, unitPrice: Math.min(tops.price, 7000) }] };
    expect(model.order(small, [{ offer: offers.get('ofr_10off')!, value: 1000 }]).applied).toBe(small.lines[0]!.unitPrice >= 7500);
  });

  it('a bad scenario is refused with the field named', () => {
    const raw = { ...structuredClone(s), cohorts: { ...s.cohorts, lapsed: { ...s.cohorts.lapsed, share: 0.5 } } };
    let err: OfferpilotError | null = null;
    try {
      parseScenario(raw);
    } catch (e) {
      err = e as OfferpilotError;
    }
    expect(err?.code).toBe('VALIDATION_FAILED');
    expect(err?.message).toContain('cohorts: cohort shares must sum to 1');
    expect(() => parseScenario({ ...structuredClone(s), offers: [{ id: 'ofr_x', name: 'x', type: 'percent_off', value: 150 }] })).toThrow(/offers\.0\.value/);
  });
});

describe('simulator: policies on the shipped scenarios', () => {
  for (const name of SHIPPED_SCENARIOS) {
    it(`${name}: the oracle policy beats every constant policy, and the engine's decisions match the model's discounts`, async () => {
      const r = await run(loadScenario(name), 2500);
      const oracle = policy(r, 'oracle');
      const constants = r.policies.filter((p) => p.kind === 'constant' || p.kind === 'baseline');
      expect(constants.length).toBeGreaterThan(3);
      for (const c of constants) expect(oracle.all.cmPerSession, `oracle vs ${c.label}`).toBeGreaterThan(c.all.cmPerSession);
      // The observable oracle: no better than the true one (a bucket's action is one of each session's
      // choices), no worse than any blanket (one action for every bucket) — over every slice of sessions.
      const observable = policy(r, 'oracle:observable');
      const eps = 1e-9;
      for (const slice of ['all', 'window', 'treated', 'treatedWindow'] as const) {
        expect(observable[slice].incrementalCmPerSession, slice).toBeLessThanOrEqual(oracle[slice].incrementalCmPerSession + eps);
        for (const c of constants) expect(observable[slice].incrementalCmPerSession, `${slice}: observable oracle vs ${c.label}`).toBeGreaterThanOrEqual(c[slice].incrementalCmPerSession - eps);
      }
      expect(observable.ofOracle.observable.all).toBeCloseTo(1, 12);
      expect(oracle.ofOracle.true.window).toBeCloseTo(1, 12);
      expect(r.observableOracle.buckets).toBeGreaterThan(10);
      expect(Object.values(r.observableOracle.actions).reduce((a, b) => a + b.sessions, 0)).toBe(2500);
      // Each bucket lists every action's value there; the oracle's is the largest, "none" is 0.
      for (const [key, b] of Object.entries(r.observableOracle.actions)) {
        expect(b.byAction.none, key).toBe(0);
        expect(b.byAction[b.action], key).toBe(Math.round(b.oracleIncremental));
        expect(Math.max(...Object.values(b.byAction)), key).toBe(b.byAction[b.action]);
      }
      // The engine's redemptions priced every basket exactly as the model did.
      expect(r.engine.decisions).toBe(2500);
      expect(r.engine.redemptions).toBeGreaterThan(0);
      expect(r.engine.discountMismatches).toBe(0);
    });
  }

  it('grocery: 20% off for everyone loses margin against the holdout, measured through the engine and in truth', async () => {
    const base = loadScenario('grocery');
    // The marketer forces the 20% rung on everyone: priority mode shows it whatever the expected value.
    const blanket = parseScenario({
      ...structuredClone(base),
      offers: [{ id: 'ofr_20', name: '20% off everything', type: 'percent_off', value: 20, expectedLift: 0.35 }],
      campaign: { ...(base.campaign as object), policy: { mode: 'priority' } },
    });
    const r = await run(blanket, 3000);
    expect(policy(r, 'all:ofr_20@20').all.incrementalCmPerSession).toBeLessThan(0);
    const m = policy(r, 'engine').measured!;
    expect(r.engine.offerRate).toBeGreaterThan(0.75);
    expect(m.trueIncrementalCmPerSession).toBeLessThan(0);
    // Treated − holdout, with its whole 95% interval below zero.
    expect(m.incrementalCmPerSession + m.ci95).toBeLessThan(0);
  });

  it("the engine's measured lift against its holdout estimates the true incremental value the model exposes", async () => {
    const r = await run(loadScenario('apparel'), 8000, 11);
    const m = policy(r, 'engine').measured!;
    expect(m.treated.sessions + m.holdout.sessions).toBe(8000);
    expect(m.holdout.sessions / 8000).toBeGreaterThan(0.17);
    expect(m.holdout.sessions / 8000).toBeLessThan(0.23);
    expect(m.trueIncrementalCmPerSession).toBeGreaterThan(0);
    expect(Math.abs(m.incrementalCmPerSession - m.trueIncrementalCmPerSession)).toBeLessThan(m.ci95);
  });

  it('is reproducible: the same seed gives the same report', async () => {
    const s = loadScenario('blanket-trap');
    const strip = (r: SimReport) => ({ ...r, elapsedMs: 0, sessionsPerSec: 0 });
    const [a, b] = [await run(s, 600, 5), await run(s, 600, 5)];
    expect(strip(a)).toEqual(strip(b));
    const c = await run(s, 600, 6);
    expect(strip(c)).not.toEqual(strip(a));
  });
});

describe('simulator: windows, oracle shares, policy override, learning hook', () => {
  it('reports every policy over all sessions, the last N, and the engine\'s treated sessions, with shares of each oracle on like sessions', async () => {
    const s = loadScenario('apparel');
    const n = 1500;
    const N = 400;
    const r = await run(s, n, 4, { window: N, policy: { type: 'static' } });
    expect(r.policy).toBe('static');
    expect(r.window).toEqual({ sessions: N, firstIndex: n - N });
    const engine = policy(r, 'engine');
    expect(engine.label).toBe('engine (static policy)');
    const m = engine.measured!;
    for (const p of r.policies) {
      expect(p.all.sessions).toBe(n);
      expect(p.window.sessions).toBe(N);
      expect(p.treated.sessions).toBe(m.treated.sessions);
      expect(p.treatedWindow.sessions).toBeLessThanOrEqual(N);
    }
    // Blankets over the last N, recomputed here from the model on the same session stream.
    const shop = buildShop(s, 4);
    const model = new ResponseModel(s, shop.products);
    const ship = { offer: scenarioOffers(s).get('ofr_ship')!, value: null };
    let inc = 0;
    for (const x of sessions(s, shop, n, 4)) if (x.index >= n - N) inc += model.truth(x, [ship]).ecm - model.truth(x, []).ecm;
    expect(policy(r, 'all:ofr_ship').window.incrementalCmPerSession).toBeCloseTo(inc / N, 6);
    // Shares: a blanket against the oracles on all sessions, the engine on its treated sessions.
    const obs = policy(r, 'oracle:observable');
    const tru = policy(r, 'oracle');
    const blanket = policy(r, 'all:ofr_ship');
    expect(blanket.ofOracle.observable.all).toBeCloseTo(blanket.all.incrementalCmPerSession / obs.all.incrementalCmPerSession, 10);
    expect(blanket.ofOracle.true.window).toBeCloseTo(blanket.window.incrementalCmPerSession / tru.window.incrementalCmPerSession, 10);
    expect(engine.ofOracle.observable.all).toBeCloseTo(engine.treated.incrementalCmPerSession / obs.treated.incrementalCmPerSession, 10);
    expect(engine.ofOracle.true.window).toBeCloseTo(engine.treatedWindow.incrementalCmPerSession / tru.treatedWindow.incrementalCmPerSession, 10);
    expect(m.trueIncrementalCmPerSession).toBe(engine.treated.incrementalCmPerSession);
    // Holdout sessions get no offer: over all sessions the engine earns its treated total.
    expect(engine.all.incrementalCmPerSession * n).toBeCloseTo(engine.treated.incrementalCmPerSession * m.treated.sessions, 6);
  });

  it('a policy override the engine does not accept is refused with the field named', async () => {
    const s = loadScenario('apparel');
    for (const [bad, field] of [
      [{ type: 'no-such-policy' }, 'campaigns.0.policy.type'],
      [{ type: 'static', mode: 'sideways' }, 'campaigns.0.policy.mode'],
    ] as const) {
      let err: OfferpilotError | null = null;
      try {
        await run(s, 20, 1, { policy: bad });
      } catch (e) {
        err = e as OfferpilotError;
      }
      expect(err?.code).toBe('VALIDATION_FAILED');
      expect(err?.message).toContain(field);
    }
  });

  it('calls the client\'s learning hook after each flush of events, and once at the end', async () => {
    const s = loadScenario('grocery');
    const inner = await inProcessClient({ start: START, seed: 2, scenario: s });
    let sent = 0;
    const seenAtLearn: number[] = [];
    const client: ShopClient = {
      ...inner,
      kind: inner.kind,
      events: async (e) => {
        sent += e.length;
        await inner.events(e);
      },
      learn: async () => {
        seenAtLearn.push(sent);
      },
    };
    try {
      await simulate(s, client, { sessions: 600, seed: 2 });
    } finally {
      await inner.close();
    }
    expect(seenAtLearn.length).toBeGreaterThan(1);
    // Each call comes after new events, and the last after every event of the run.
    for (let i = 1; i < seenAtLearn.length; i++) expect(seenAtLearn[i]!).toBeGreaterThan(seenAtLearn[i - 1]!);
    expect(seenAtLearn[seenAtLearn.length - 1]).toBe(sent);
  });

  it('never runs two sessions of one shopper at once, so a held token is redeemed once', async () => {
    // 40 shoppers and chunks of 16: without the rule nearly every chunk would hold a repeat.
    const s = { ...loadScenario('apparel'), customers: 40 };
    const inner = await inProcessClient({ start: START, seed: 5, scenario: s });
    const open = new Set<string>();
    let overlaps = 0;
    let redeems = 0;
    const client: ShopClient = {
      ...inner,
      kind: inner.kind,
      decide: async (req) => {
        const id = String(req.customerId);
        if (open.has(id)) overlaps++;
        open.add(id);
        return inner.decide(req);
      },
      redeem: async (req) => {
        redeems++;
        return inner.redeem(req);
      },
    };
    let r: SimReport;
    try {
      // A session ends when its chunk ends: every shopper's session is closed before the next chunk.
      r = await simulate(s, { ...client, advanceTo: (t) => (open.clear(), inner.advanceTo(t)) }, { sessions: 600, seed: 5, policy: { type: 'static' } });
    } finally {
      await inner.close();
    }
    expect(overlaps).toBe(0);
    expect(redeems).toBeGreaterThan(20);
    expect(r.engine.redemptionFailures).toEqual({});
  });
});

describe('simulator: a binding daily budget', () => {
  it('the engine never spends above the daily cap, the report says when it bound, and FCFS of the same cap is scored on the same sessions', async () => {
    const s = loadScenario('budget');
    expect(s.sessionsPerDay).toBe(1000);
    const n = 3000;
    const client = await inProcessClient({ start: START, seed: 3, scenario: s });
    let r: SimReport;
    let ledger: Awaited<ReturnType<typeof client.engine.ledger.liabilities>>;
    try {
      r = await simulate(s, client, { sessions: n, seed: 3, policy: { type: 'static' } });
      ledger = await client.engine.ledger.liabilities({ offerId: 'ofr_save' });
    } finally {
      await client.close();
    }
    expect(r.budgets).toHaveLength(1);
    const b = r.budgets[0]!;
    const cap = 150_000;
    expect(b.dailyCap).toBe(cap);
    // Three UTC days of traffic (a chunk of sessions in flight at midnight decides on the earlier day).
    expect(b.days.map((d) => d.day)).toEqual(['2026-11-01', '2026-11-02', '2026-11-03']);
    expect(b.days.reduce((a, d) => a + d.sessions, 0)).toBe(n);
    for (const d of b.days) expect(d.liability).toBeLessThanOrEqual(cap);
    expect(b.maxShareOfCap).toBeLessThanOrEqual(1);
    // The simulator's account of the liability is the engine's own ledger, day by day.
    const issued = new Map(ledger.offers[0]!.days.map((d) => [d.day, d.issued.liability]));
    for (const d of b.days) expect(d.liability, d.day).toBe(issued.get(d.day) ?? 0);
    // The static policy spends first-come-first-served: the cap binds early every day.
    expect(b.exhaustedAt.daysExhausted).toBe(3);
    expect(b.exhaustedAt.median).toBeLessThan(0.6);
    expect(b.exhaustedAt.min).toBeGreaterThan(0);
    for (const d of b.days) expect(d.exhaustedAt).not.toBeNull();
    expect(r.engine.redemptionFailures).toEqual({});
    // FCFS at the best blanket value: a fixed amount off, so each day it issues floor(cap / value) and then stops.
    const blankets = r.policies.filter((p) => p.id.startsWith('all:ofr_save@'));
    const bestBlanket = blankets.reduce((x, y) => (y.all.incrementalCmPerSession > x.all.incrementalCmPerSession ? y : x));
    expect(`all:ofr_save@${b.fcfs.value}`).toBe(bestBlanket.id);
    expect(b.fcfs.liability).toBe(3 * Math.floor(cap / b.fcfs.value!) * b.fcfs.value!);
    expect(b.fcfs.exhaustedAt.daysExhausted).toBe(3);
    expect(b.fcfs.exhaustedAt.median).toBeLessThan(0.6);
    const row = policy(r, b.fcfs.policyId);
    expect(row.kind).toBe('budget_baseline');
    expect(row.treated.incrementalCmPerSession * row.treated.sessions).toBeCloseTo(b.fcfs.incrementalCm, 6);
    // Holdout sessions get nothing under FCFS either, and capped spending earns less than the same offer unlimited.
    expect(row.all.offerRate).toBeLessThan(bestBlanket.all.offerRate);
    expect(b.fcfs.incrementalCm).toBeGreaterThan(0);
    expect(b.fcfs.incrementalCm).toBeLessThan(bestBlanket.treated.incrementalCmPerSession * bestBlanket.treated.sessions);
    expect(b.engine.incrementalCm).toBeCloseTo(policy(r, 'engine').treated.incrementalCmPerSession * policy(r, 'engine').treated.sessions, 6);
    // The observable oracle within the caps: reported where a cap exists, below the one that
    // ignores the cap here (it binds hard), above spending the cap first-come-first-served.
    const capped = policy(r, 'oracle:capped');
    const observable = policy(r, 'oracle:observable');
    expect(capped.kind).toBe('oracle');
    expect(capped.all.offerRate).toBeLessThanOrEqual(1 - r.engine.holdoutShare + 0.02);
    expect(capped.treated.incrementalCmPerSession * capped.treated.sessions).toBeLessThan(observable.treated.incrementalCmPerSession * observable.treated.sessions);
    expect(capped.treated.incrementalCmPerSession * capped.treated.sessions).toBeGreaterThan(b.fcfs.incrementalCm);
    expect(row.ofOracle.withinCaps!.all).toBeCloseTo(b.fcfs.incrementalCm / (capped.treated.incrementalCmPerSession * capped.treated.sessions), 9);
    expect(policy(r, 'oracle:observable').ofOracle.withinCaps).toBeDefined();
  });
});

describe('simulator: a learning policy paces a binding daily budget', () => {
  it('contextual never spends above the cap, does not run out before 80% of any day (the first included), and beats FCFS', async () => {
    const s = loadScenario('budget');
    const r = await run(s, 3000, 3, { policy: { type: 'contextual' } });
    const b = r.budgets[0]!;
    expect(b.days).toHaveLength(3);
    expect(b.maxShareOfCap).toBeLessThanOrEqual(1);
    for (const d of b.days) {
      expect(d.liability, d.day).toBeLessThanOrEqual(d.cap);
      // The first day too: before any training round has priced the budget, the schedule holds it back.
      if (d.exhaustedAt !== null) expect(d.exhaustedAt, d.day).toBeGreaterThanOrEqual(0.8);
      // And it is spent, not hoarded.
      expect(d.liability / d.cap, d.day).toBeGreaterThan(0.6);
    }
    expect(b.engine.incrementalCm).toBeGreaterThan(b.fcfs.incrementalCm);
  });
});

describe('simulator over HTTP', () => {
  it('drives a server process through the public HTTP API exactly as in process', async () => {
    const db = await createTestDb('sqlite');
    const store = openStore(db.url);
    await store.migrate();
    const engine = await createEngine({ store, config: { logLevel: 'silent' } });
    await importCatalog(engine.catalog, { products: [], offers: [], campaigns: [] });
    const key = (await engine.keys.create(['admin'], 'simulator')).key;
    await engine.close();
    const server = await startServerProcess(['--db', db.url]);
    try {
      const s = loadScenario('apparel');
      const r = await simulate({ ...s, customers: 300 }, httpClient(server.url, key), { sessions: 400, seed: 2 });
      expect(r.client).toBe('http');
      expect(r.engine.decisions).toBe(400);
      expect(r.engine.offerRate).toBeGreaterThan(0.2);
      expect(r.engine.redemptions).toBeGreaterThan(0);
      expect(r.engine.discountMismatches).toBe(0);
      expect(r.engine.redemptionFailures).toEqual({});
      // What the simulator sent is what the engine stored and attributed.
      const res = await fetch(`${server.url}/v1/customers/${encodeURIComponent('sim-000001')}/features`, { headers: { authorization: `Bearer ${key}` } });
      expect(res.status).toBe(200);
    } finally {
      await server.stop();
      await db.drop();
    }
  });
});

describe('simulator: every yardstick does only what the engine may do', () => {
  it("an offer the engine's rules exclude for a shopper is no option there for the oracles or the blankets", async () => {
    // apparel's percent-off is for every shopper but the engaged-30 ones (its eligibility rule).
    const records: SessionRecord[] = [];
    const n = 800;
    const r = await run(loadScenario('apparel'), n, 4, { onSession: (x) => records.push(x) });
    const cohort = (x: SessionRecord) => x.bucket.split('|')[0]!;
    const targeted = (x: SessionRecord) => cohort(x) !== 'engaged_30';
    expect(records.filter(targeted).length).toBeGreaterThan(50);
    expect(records.filter((x) => !targeted(x)).length).toBeGreaterThan(50);
    for (const x of records) {
      expect('ofr_pct@10' in x.options, `${x.index} ${x.bucket}`).toBe(targeted(x));
      expect('ofr_ship' in x.options, `${x.index} ${x.bucket}`).toBe(true);
    }
    for (const [key, b] of Object.entries(r.observableOracle.actions)) {
      if (key.split('|')[0] === 'engaged_30') expect(b.action.startsWith('ofr_pct'), key).toBe(false);
    }
    // The blanket gives it to everyone it may: its value is the option's summed over the sessions that have it.
    const blanket = policy(r, 'all:ofr_pct@10');
    const sum = records.reduce((a, x) => a + (x.options['ofr_pct@10'] ?? 0), 0);
    expect(blanket.all.incrementalCmPerSession).toBeCloseTo(sum / n, 6);
    expect(blanket.all.offerRate).toBeLessThanOrEqual(records.filter(targeted).length / n);
  });
});

describe('simulator: the per-session record (simulate --dump)', () => {
  it('is one record per session in order, and adds up to the report: holdout sessions get nothing, the engine\'s true incremental CM is the sum of its records', async () => {
    const records: SessionRecord[] = [];
    const n = 600;
    const r = await run(loadScenario('blanket-trap'), n, 2, { onSession: (x) => records.push(x) });
    expect(records.map((x) => x.index)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(new Set(records.map((x) => x.decisionId)).size).toBe(n);
    const treated = records.filter((x) => !x.holdout);
    for (const x of records.filter((y) => y.holdout)) expect([x.action, x.incremental, x.p]).toEqual(['none', 0, x.p0]);
    for (const x of treated) {
      if (x.action === 'none') expect(x.incremental).toBe(0);
      else if (!x.action.includes('+')) expect(x.incremental).toBeCloseTo(x.options[x.action]!, 9);
      expect(['sure_thing', 'persuadable', 'lost_cause', 'sleeping_dog']).toContain(x.segment);
    }
    const engine = policy(r, 'engine');
    expect(engine.treated.sessions).toBe(treated.length);
    expect(treated.reduce((a, x) => a + x.incremental, 0) / treated.length).toBeCloseTo(engine.treated.incrementalCmPerSession, 6);
    expect(records.filter((x) => x.bought).length).toBeGreaterThan(0);
    // `static` states no estimate of its own: nothing to calibrate.
    expect(records.some((x) => x.estimated !== undefined)).toBe(false);
    expect(r.calibration).toBeNull();
  });

  it('calibration: a learning policy\'s estimates of the offers it chose, against their truth, add up from the records', async () => {
    const records: SessionRecord[] = [];
    const n = 2000;
    const r = await run(loadScenario('blanket-trap'), n, 3, { window: 500, policy: { type: 'contextual', burnIn: 50 }, onSession: (x) => records.push(x) });
    const claimed = records.filter((x) => !x.holdout && x.action !== 'none' && x.estimated !== undefined);
    // Burn-in decisions explore without estimates; after it, every offer the policy chose has one.
    expect(claimed.length).toBeGreaterThan(100);
    expect(records.some((x) => x.holdout && x.estimated !== undefined)).toBe(false);
    const c = r.calibration!;
    const mean = (xs: SessionRecord[], f: (x: SessionRecord) => number) => xs.reduce((a, x) => a + f(x), 0) / xs.length;
    expect(c.all.offers).toBe(claimed.length);
    expect(c.all.estimatedPerOffer).toBeCloseTo(mean(claimed, (x) => x.estimated!), 6);
    expect(c.all.truePerOffer).toBeCloseTo(mean(claimed, (x) => x.incremental), 6);
    const late = claimed.filter((x) => x.index >= n - 500);
    expect(c.window.offers).toBe(late.length);
    expect(c.window.truePerOffer).toBeCloseTo(mean(late, (x) => x.incremental), 6);
    expect(Object.values(c.byCohort).reduce((a, x) => a + x.offers, 0)).toBe(c.all.offers);
    expect(Object.values(c.byCohort).reduce((a, x) => a + x.offers * x.truePerOffer, 0) / c.all.offers).toBeCloseTo(c.all.truePerOffer, 6);
  });
});
