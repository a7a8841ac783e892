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
  SHIPPED_SCENARIOS,
  type Scenario,
  type SimReport,
  type SimSession,
} from '../src/sim/index.js';
import { createTestDb } from './helpers/backends.js';
import { startServerProcess } from './helpers/server-process.js';

const START = Date.parse('2026-11-01T00:00:00Z');

async function run(scenario: Scenario, n: number, seed = 1): Promise<SimReport> {
  const client = await inProcessClient({ start: START, seed, scenario });
  try {
    return await simulate(scenario, client, { sessions: n, seed });
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
