import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { inHoldout } from '../src/core/holdout.js';
import { confidenceSequence, csvReport, difference, formatIncrementality, readCsv, sampleSize, srm, UnitSums } from '../src/measure/index.js';
import { seededRandom } from '../src/core/runtime.js';
import { createTestDb, createTestEngine, BACKENDS } from './helpers/backends.js';
import { importCatalog } from '../src/catalog/import.js';
import { createApiHarness, DEMO_CATALOG, expectError, json } from './helpers/http.js';
import { buildShop, inProcessClient, loadScenario, parseScenario, ResponseModel, scenarioOffers, sessions, simulate, type Scenario } from '../src/sim/index.js';

const HILLSTROM = fileURLToPath(new URL('../examples/hillstrom/hillstrom.csv.gz', import.meta.url));

/** Equal to `ref` in its first `digits` significant digits (the reference's own rounding). */
const sigEqual = (x: number, ref: number, digits = 4) => {
  const scale = 10 ** (Math.floor(Math.log10(Math.abs(ref))) - digits + 1);
  expect(Math.abs(x - ref), `${x} vs ${ref}`).toBeLessThanOrEqual(scale / 2 + 1e-12);
};

describe('Hillstrom e-mail experiment (examples/hillstrom, reference figures in its SOURCE.md)', () => {
  const rows = readCsv(HILLSTROM);
  const report = (treatment: string[], control: string[]) => csvReport(rows, { arm: 'segment', treatment, control, outcomes: ['visit', 'conversion', 'spend'], expectedTreatmentShare: treatment.length / (treatment.length + control.length) });
  const MENS = ['Mens E-Mail'];
  const WOMENS = ['Womens E-Mail'];
  const NONE = ['No E-Mail'];

  it('reads all 64,000 customers; per-arm sizes, conversion and spend per customer match', () => {
    expect(rows).toHaveLength(64_000);
    const mens = report(MENS, NONE);
    const womens = report(WOMENS, NONE);
    expect([mens.treatment.units, womens.treatment.units, mens.control.units]).toEqual([21_307, 21_387, 21_306]);
    const by = (r: ReturnType<typeof report>, o: string) => r.outcomes.find((x) => x.outcome === o)!;
    sigEqual(by(mens, 'visit').treatment.mean, 0.18276, 5);
    sigEqual(by(mens, 'conversion').treatment.mean, 0.012531, 5);
    sigEqual(by(mens, 'spend').treatment.mean, 1.422617, 7);
    sigEqual(by(womens, 'visit').treatment.mean, 0.1514, 4);
    sigEqual(by(womens, 'conversion').treatment.mean, 0.008837, 4);
    sigEqual(by(womens, 'spend').treatment.mean, 1.077202, 7);
    sigEqual(by(mens, 'visit').control.mean, 0.10617, 5);
    sigEqual(by(mens, 'conversion').control.mean, 0.005726, 4);
    sigEqual(by(mens, 'spend').control.mean, 0.652789, 6);
  });

  it('differences and 95% intervals of every contrast match to at least 4 significant digits', () => {
    // [treatment, control, outcome, estimate, lower, upper] from SOURCE.md.
    const ref: Array<[string[], string[], string, number, number, number]> = [
      [MENS, NONE, 'visit', 0.07659, 0.06995, 0.08323],
      [MENS, NONE, 'conversion', 0.006805, 0.005, 0.00861],
      [MENS, NONE, 'spend', 0.76983, 0.48515, 1.05451],
      [WOMENS, NONE, 'visit', 0.04523, 0.03889, 0.05157],
      [WOMENS, NONE, 'conversion', 0.003111, 0.0015, 0.00472],
      [WOMENS, NONE, 'spend', 0.42441, 0.16896, 0.67986],
      [MENS, WOMENS, 'visit', 0.03136, 0.02428, 0.03843],
      [MENS, WOMENS, 'conversion', 0.003694, 0.00174, 0.00564],
      [MENS, WOMENS, 'spend', 0.34541, 0.03257, 0.65826],
      [[...MENS, ...WOMENS], NONE, 'visit', 0.06088, 0.05544, 0.06633],
      // SOURCE.md prints 0.004951; its own counts give 456/42,694 − 122/21,306 = 0.0049546 (checked below).
      [[...MENS, ...WOMENS], NONE, 'conversion', 0.00495, 0.00355, 0.00636],
      [[...MENS, ...WOMENS], NONE, 'spend', 0.5968, 0.37619, 0.8174],
    ];
    for (const [t, c, outcome, est, lo, hi] of ref) {
      const d = report(t, c).outcomes.find((x) => x.outcome === outcome)!.difference;
      // The reference prints 4–5 significant digits (3 for a few bounds such as 0.00500): compare at its precision, never below 3.
      const digits = (x: number) => Math.max(3, x.toPrecision(6).replace(/^-?0\.0*/, '').replace(/\.|0+$/g, '').length);
      sigEqual(d.estimate, est, Math.min(5, digits(est)));
      sigEqual(d.lower, lo, Math.min(5, digits(lo)));
      sigEqual(d.upper, hi, Math.min(5, digits(hi)));
    }
    const any = report([...MENS, ...WOMENS], NONE).outcomes.find((x) => x.outcome === 'conversion')!;
    expect(any.difference.estimate).toBeCloseTo((267 + 189) / (21_307 + 21_387) - 122 / 21_306, 15);
    // The spend z statistics the reference reports.
    expect(report(MENS, NONE).outcomes.find((x) => x.outcome === 'spend')!.z!.toFixed(2)).toBe('5.30');
    expect(report(WOMENS, NONE).outcomes.find((x) => x.outcome === 'spend')!.z!.toFixed(2)).toBe('3.26');
  });

  it('a bad column or arm value is a 4xx-style error naming it', () => {
    expect(() => csvReport(rows, { arm: 'segmnt', treatment: MENS, control: NONE, outcomes: ['spend'] })).toThrow(/segmnt/);
    expect(() => csvReport(rows, { arm: 'segment', treatment: ['Mens'], control: NONE, outcomes: ['spend'] })).toThrow(/--treatment/);
    expect(() => csvReport(rows, { arm: 'segment', treatment: MENS, control: NONE, outcomes: ['zip_code'] })).toThrow(/column zip_code: "\w+" is not a number/);
  });
});

describe('statistics', () => {
  it('with one session per customer the clustered interval is the Welch interval; with several it is wider than the naive one', () => {
    const r = seededRandom(3);
    const a = new UnitSums();
    const b = new UnitSums();
    const xa: number[] = [];
    const xb: number[] = [];
    for (let i = 0; i < 500; i++) {
      const x = r() * 10;
      const y = r() * 12;
      a.add(1, x);
      b.add(1, y);
      xa.push(x);
      xb.push(y);
    }
    const welchVar = (xs: number[]) => {
      const m = xs.reduce((s, x) => s + x, 0) / xs.length;
      return xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1) / xs.length;
    };
    expect(difference(a, b)!.se).toBeCloseTo(Math.sqrt(welchVar(xa) + welchVar(xb)), 12);
    // Customers whose sessions share an outcome level: the customer is the unit, not the session.
    const c = new UnitSums();
    const naive = new UnitSums();
    for (let i = 0; i < 400; i++) {
      const level = r() < 0.2 ? 100 : 0;
      const n = 1 + Math.floor(r() * 6);
      c.add(n, level * n);
      for (let k = 0; k < n; k++) naive.add(1, level);
    }
    expect(c.ratio).toBeCloseTo(naive.ratio, 12);
    expect(Math.sqrt(c.ratioVariance!)).toBeGreaterThan(1.5 * Math.sqrt(naive.ratioVariance!));
  });

  it('the sample-ratio check fires when the holdout share is skewed by 2 points, and not when it is not', () => {
    const N = 20_000;
    const r = seededRandom(9);
    const count = (p: number) => {
      let h = 0;
      for (let i = 0; i < N; i++) if (r() < p) h++;
      return [N - h, h];
    };
    expect(srm(count(0.2), [0.8, 0.2]).mismatch).toBe(false);
    expect(srm(count(0.22), [0.8, 0.2]).mismatch).toBe(true);
    expect(srm(count(0.18), [0.8, 0.2]).mismatch).toBe(true);
  });

  it('sample size and minimum detectable effect are each other’s inverse', () => {
    const n = sampleSize({ sd: 2500, holdoutShare: 0.1, mde: 50 }).units;
    // 95% two-sided, 80% power: (1.95996 + 0.84162)² × 2500² / (0.1 × 0.9 × 50²) ≈ 217,996.
    expect(n).toBeGreaterThan(217_000);
    expect(n).toBeLessThan(219_000);
    expect(sampleSize({ sd: 2500, holdoutShare: 0.1, units: n }).mde).toBeCloseTo(50, 1);
  });
});

describe('always-valid intervals', () => {
  it('looking every day: with no true effect the confidence sequence ever excludes zero in at most ~5% of experiments; the fixed interval in far more', () => {
    const r = seededRandom(21);
    const gauss = () => Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
    let everFixed = 0;
    let everSequential = 0;
    const experiments = 200;
    for (let e = 0; e < experiments; e++) {
      const t = new UnitSums();
      const h = new UnitSums();
      let fixedHit = false;
      let seqHit = false;
      for (let day = 0; day < 30; day++) {
        // 100 customers a day, 20% held out; a skewed outcome (most customers buy nothing).
        for (let k = 0; k < 100; k++) {
          const y = r() < 0.1 ? 3000 + 1000 * gauss() : 0;
          (r() < 0.2 ? h : t).add(1, y);
        }
        if (t.units < 20 || h.units < 20) continue;
        const d = difference(t, h)!;
        if (d.lower > 0 || d.upper < 0) fixedHit = true;
        const cs = confidenceSequence(d.estimate, d.se, t.units + h.units, 0.95, 3000)!;
        if (cs.lower > 0 || cs.upper < 0) seqHit = true;
      }
      if (fixedHit) everFixed++;
      if (seqHit) everSequential++;
    }
    expect(everSequential / experiments).toBeLessThanOrEqual(0.06);
    expect(everFixed / experiments).toBeGreaterThan(0.12);
  });
});

describe('calibration on simulated campaigns with known true lift', () => {
  it('across 200 seeded campaigns the 95% interval of CM per session covers the truth in 93–97% of them', () => {
    const scenario = loadScenario('apparel');
    // Campaigns of 8,000 sessions from 2,000 customers (about 1,600 holdout sessions and 150
    // holdout orders each): large enough for the normal approximation the interval relies on.
    const shop = buildShop({ ...scenario, customers: 2000 }, 1);
    const model = new ResponseModel(scenario, shop.products);
    const offer = { offer: scenarioOffers(scenario).get('ofr_pct')!, value: 15 };
    const s2000 = { ...scenario, customers: 2000 } as Scenario;
    // Campaigns draw their sessions from a pool of 40,000 whose economics under both actions are
    // computed once (the checkout arithmetic is most of the cost), with a fresh purchase draw per
    // session: the truth — the pool's mean of E[CM | offer] − E[CM | none] — is then exact, and
    // each campaign is still 8,000 sessions of customers randomized by the engine's own hash.
    const pool = [...sessions(s2000, shop, 40_000, 999_999)].map((x) => {
      const treated = model.truth(x, [offer]);
      const none = model.truth(x, []);
      return { customer: x.customer.id, treated: { p: treated.p, cm: treated.order.cm }, none: { p: none.p, cm: none.order.cm }, diff: treated.ecm - none.ecm };
    });
    const truth = pool.reduce((a, x) => a + x.diff, 0) / pool.length;
    let covered = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const r = seededRandom(seed);
      const perCustomer = new Map<string, { holdout: boolean; n: number; cm: number }>();
      for (let i = 0; i < 8000; i++) {
        const x = pool[Math.floor(r() * pool.length)]!;
        let u = perCustomer.get(x.customer);
        if (!u) perCustomer.set(x.customer, (u = { holdout: inHoldout(`campaign-${seed}`, x.customer, 20), n: 0, cm: 0 }));
        const t = u.holdout ? x.none : x.treated;
        u.n++;
        if (r() < t.p) u.cm += t.cm;
      }
      const t = new UnitSums();
      const h = new UnitSums();
      for (const u of perCustomer.values()) (u.holdout ? h : t).add(u.n, u.cm);
      const d = difference(t, h)!;
      if (d.lower <= truth && truth <= d.upper) covered++;
    }
    expect(truth).toBeGreaterThan(0);
    expect(covered / 200).toBeGreaterThanOrEqual(0.93);
    expect(covered / 200).toBeLessThanOrEqual(0.97);
  });
});

// Simulating a shop through the engine (thousands of decides and events on PostgreSQL) takes 15–25 s
// when the machine is quiet; the headroom is for a busy one.
for (const backend of BACKENDS) describe(`incrementality reports and stop-loss on the engine, driven by the simulator [${backend}]`, { timeout: 180_000 }, () => {
  const START = Date.parse('2026-11-01T00:00:00Z');
  const config = { measureMinCustomersPerArm: 300, measureMinDays: 7, stopLossCheckMs: 0 };
  async function simulated(scenario: Scenario, n: number) {
    const db = await createTestDb(backend);
    const client = await inProcessClient({ start: START, seed: 4, scenario, config, db: db.url });
    // PostgreSQL: 48 sessions in flight (the default is 16); profiled, half of a run was spent
    // waiting on round trips. SQLite's one writer gains nothing from more.
    const sim = await simulate(scenario, client, { sessions: n, seed: 4, ...(backend === 'postgres' ? { concurrency: 48 } : {}) });
    const close = client.close;
    return { client: { close: async () => { await close(); await db.drop(); } }, engine: client.engine, sim };
  }
  const window = { from: new Date(START - 1).toISOString(), to: new Date(START + 29 * 86_400_000).toISOString() };
  // One apparel run serves every test below that reads it (simulating it is most of their time,
  // on PostgreSQL most of a minute each); the test that edits its campaign runs last.
  let apparelRun: ReturnType<typeof simulated> | null = null;
  const apparel = () => (apparelRun ??= simulated(loadScenario('apparel'), 4000));
  afterAll(async () => {
    if (apparelRun) await (await apparelRun).client.close();
  });

  it('counts every simulated session and order in its arm, and breaks the campaign down by cohort, placement, channel and offer', async () => {
    const { engine, sim } = await apparel();
    {
      const r = await engine.measure.incrementality({ campaignId: 'cmp_sim', ...window });
      const m = sim.policies.find((p) => p.id === 'engine')!.measured!;
      expect(r.arms.treatment.sessions).toBe(m.treated.sessions);
      expect(r.arms.holdout.sessions).toBe(m.holdout.sessions);
      expect(r.arms.treatment.orders).toBe(m.treated.orders);
      expect(r.arms.holdout.orders).toBe(m.holdout.orders);
      expect(r.arms.treatment.redemptions).toBe(sim.engine.redemptions);
      expect(r.srm.mismatch).toBe(false);
      expect(r.sample.met).toBe(true);
      const cohorts = r.breakdowns!.cohort.map((b) => b.key).sort();
      expect(cohorts).toEqual(['engaged_30', 'engaged_90', 'first_time', 'lapsed']);
      expect(r.breakdowns!.cohort.reduce((a, b) => a + b.treatment.sessions + b.holdout.sessions, 0)).toBe(4000);
      expect(r.breakdowns!.placement.map((b) => b.key).sort()).toEqual(['cart', 'home_hero', 'product_page']);
      expect(r.breakdowns!.channel.map((b) => b.key).sort()).toEqual(['app', 'web']);
      // Holdout sessions are compared per offer by what treatment would have shown: each offer's
      // share of the holdout is its share of treatment, up to sampling noise. (How much of the
      // traffic goes to ofr_pct is the learner's to decide, and on PostgreSQL, with 48 sessions in
      // flight, it varies between runs — from a third to two thirds of sessions.)
      const pct = r.breakdowns!.offer.find((b) => b.key === 'ofr_pct')!;
      expect(pct.treatment.sessions).toBeGreaterThan(200);
      const share = (b: { sessions: number }, arm: { sessions: number }) => b.sessions / arm.sessions;
      expect(Math.abs(share(pct.holdout, r.arms.holdout) - share(pct.treatment, r.arms.treatment))).toBeLessThan(0.1);
      const pnl = r.offers!.find((o) => o.offer === 'ofr_pct')!;
      expect(pnl.issued).toBeGreaterThan(pnl.redeemed);
      expect(pnl.discountCost).toBeGreaterThan(0);
      expect(r.offers!.reduce((a, o) => a + o.redeemed, 0)).toBe(sim.engine.redemptions);
      // The headline is the same whether or not breakdowns are asked for (they share outcome rows).
      const bare = await engine.measure.incrementality({ campaignId: 'cmp_sim', ...window, breakdowns: false });
      expect(bare.metrics.cmPerSession.difference!.se).toBeCloseTo(r.metrics.cmPerSession.difference!.se, 9);
      expect(bare.incrementalCm!.estimate).toBeCloseTo(r.incrementalCm!.estimate, 6);
      expect(bare.metrics.aov.difference!.se).toBeCloseTo(r.metrics.aov.difference!.se, 9);
      // By offer, a customer who saw several values of one offer is one customer.
      const byValue = r.breakdowns!.offerValue.filter((b) => b.key.startsWith('ofr_pct@'));
      expect(byValue.length).toBeGreaterThan(1);
      expect(pct.treatment.customers).toBeLessThan(byValue.reduce((a, b) => a + b.treatment.customers, 0));
      expect(pct.treatment.sessions).toBe(byValue.reduce((a, b) => a + b.treatment.sessions, 0));
      expect(pct.treatment.customers).toBeLessThanOrEqual(r.arms.treatment.customers);
      // The program-level report is the same campaign here.
      const all = await engine.measure.incrementality(window);
      expect(all.arms.treatment.sessions).toBe(r.arms.treatment.sessions);
    }
  });

  it('stop-loss pauses the money-losing campaign (grocery, 20% off for everyone) with its evidence, and not the margin-rich one', async () => {
    const base = loadScenario('grocery');
    const blanket = parseScenario({
      ...structuredClone(base),
      offers: [{ id: 'ofr_20', name: '20% off everything', type: 'percent_off', value: 20, expectedLift: 0.35 }],
      campaign: { ...(base.campaign as object), policy: { mode: 'priority' } },
    });
    // 2,000 sessions (3,000 before) still meet the 300 customers per arm, and the loss stays decisive:
    // measured, the interval's upper end is about 11 standard errors below zero.
    const losing = await simulated(blanket, 2000);
    try {
      const results = await losing.engine.measure.stopLoss();
      expect(results).toEqual([expect.objectContaining({ campaignId: 'cmp_sim', action: 'paused', verdict: 'loses' })]);
      expect((await losing.engine.catalog.getCampaign('cmp_sim')).status).toBe('paused');
      // A second check (another process, the next hour) finds nothing live and logs nothing more.
      expect(await losing.engine.measure.stopLoss()).toEqual([]);
      const log = await losing.engine.measure.guardLog('cmp_sim');
      expect(log).toHaveLength(1);
      expect(log[0]!.action).toBe('paused_by_stop_loss');
      const evidence = log[0]!.evidence as { incrementalCm: { upper: number }; sample: { met: boolean } };
      expect(evidence.incrementalCm.upper).toBeLessThan(0);
      expect(evidence.sample.met).toBe(true);
      // Paused: the next session gets no offer.
      const d = await losing.engine.decide({ customerId: 'sim-000001', placement: 'cart', channel: 'web', cart: { lines: [{ sku: 'PANTRY-001', quantity: 1, unitPrice: 500 }] } });
      expect(d.offers).toEqual([]);
    } finally {
      await losing.client.close();
    }
    const rich = await apparel();
    const results = await rich.engine.measure.stopLoss();
    expect(results.map((r) => r.action)).toEqual(['none']);
    expect((await rich.engine.catalog.getCampaign('cmp_sim')).status).toBe('live');
  });

  it('a report whose holdout no longer matches the design says so loudly', async () => {
    const { engine } = await apparel();
    {
      // The campaign was run with a 20% holdout; its definition now says 17%.
      const c = await engine.catalog.getCampaign('cmp_sim');
      const { id: _i, status: _s, version: _v, createdAt: _c, updatedAt: _u, ...spec } = c;
      await engine.catalog.updateCampaign('cmp_sim', { ...spec, holdoutPct: 17 });
      const r = await engine.measure.incrementality({ campaignId: 'cmp_sim', ...window });
      expect(r.srm.mismatch).toBe(true);
      expect(r.verdict).toBe('sample_ratio_mismatch');
      expect(r.warnings[0]).toMatch(/^SAMPLE RATIO MISMATCH in cmp_sim/);
    }
  });
});

describe('reports over HTTP', () => {
  it('incrementality, readout, sample size, stop-loss and guard log: scopes, validation that names the field, and answers', async () => {
    const h = await createApiHarness('sqlite', { config: { stopLossCheckMs: 0 } });
    try {
      await h.req('POST', '/v1/catalog/import', DEMO_CATALOG);
      const read = await h.key(['read']);
      const decideOnly = await h.key(['decide']);
      for (let i = 0; i < 40; i++) {
        const r = await h.req('POST', '/v1/decide', { customerId: `c${i}`, placement: 'cart', channel: 'web', consent: { personalization: true }, cart: { lines: [{ sku: 'HOOD-001', quantity: 1, unitPrice: 6000 }] } });
        expect(r.statusCode).toBe(200);
      }
      const from = new Date(h.t.clock.now() - 86_400_000).toISOString();
      const to = new Date(h.t.clock.now() + 1000).toISOString();
      const rep = await h.req('GET', `/v1/reports/incrementality?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&sequential=true`, undefined, read);
      expect(rep.statusCode).toBe(200);
      const body = json(rep);
      expect(body.arms.treatment.sessions + body.arms.holdout.sessions).toBe(40);
      expect(body.verdict).toBe('insufficient_data');
      expect(body.metrics.cmPerSession.sequential).toBeDefined();
      expect(body.breakdowns.placement[0].key).toBe('cart');
      expect((await h.req('GET', '/v1/reports/incrementality', undefined, decideOnly)).statusCode).toBe(403);
      expectError(await h.req('GET', '/v1/reports/incrementality?from=yesterday', undefined, read), 400, 'VALIDATION_FAILED', 'query.from');
      expectError(await h.req('GET', '/v1/reports/incrementality?campaignId=cmp_nope', undefined, read), 404, 'CAMPAIGN_NOT_FOUND');
      expectError(await h.req('GET', '/v1/reports/incrementality?level=2', undefined, read), 400, 'VALIDATION_FAILED', 'query.level');
      const ro = json(await h.req('GET', '/v1/reports/readout', undefined, read));
      expect(ro.verdict).toBe('insufficient_data');
      expect(ro.windows).toHaveLength(2);
      const plan = json(await h.req('GET', '/v1/reports/sample-size?sd=2500&holdoutPct=10&mde=50', undefined, read));
      expect(plan.customers).toBeGreaterThan(217_000);
      expectError(await h.req('GET', '/v1/reports/sample-size?sd=2500&holdoutPct=10', undefined, read), 400, 'VALIDATION_FAILED', 'query.customers');
      expect((await h.req('POST', '/v1/campaigns/stop-loss', undefined, read)).statusCode).toBe(403);
      const sl = json(await h.req('POST', '/v1/campaigns/stop-loss'));
      expect(sl.results.every((r: { action: string }) => r.action === 'none')).toBe(true);
      const cid = sl.results[0].campaignId;
      expect(json(await h.req('GET', `/v1/campaigns/${cid}/guard-log`, undefined, read))).toEqual({ entries: [] });
    } finally {
      await h.close();
    }
  });
});

for (const backend of BACKENDS) {
  describe(`program-level holdout [${backend}]`, () => {
    it('holds the same customers out of every campaign, and reports against them; campaign reports leave them out', async () => {
      const t = await createTestEngine(backend, { config: { globalHoldoutPct: 10, stopLossCheckMs: 0 } });
      try {
        await importCatalog(t.engine.catalog, {
          products: [{ sku: 'TEE', category: 'tops', price: 3000, unitCost: 1000 }],
          offers: [{ id: 'ofr_a', status: 'live', name: '10% off', type: 'percent_off', value: 10, expectedLift: 1 }],
          campaigns: [
            { id: 'cmp_cart', status: 'live', name: 'Cart', placements: ['cart'], offers: ['ofr_a'], policy: { type: 'static' }, holdoutPct: 20 },
            { id: 'cmp_home', status: 'live', name: 'Home', placements: ['home'], offers: ['ofr_a'], policy: { type: 'static' }, holdoutPct: 20 },
          ],
        });
        const N = 2000;
        const cart = { lines: [{ sku: 'TEE', quantity: 1, unitPrice: 3000 }] };
        const globalOut = new Set<string>();
        // 200 customers at a time (was 50): the holdout is a hash of the customer id, so the
        // assignments checked do not depend on the order decisions run in.
        for (let i = 0; i < N; i += 200) {
          const batch = await Promise.all(
            Array.from({ length: 200 }, async (_, j) => {
              const id = `g${i + j}`;
              const a = await t.engine.decide({ customerId: id, placement: 'cart', channel: 'web', cart });
              const b = await t.engine.decide({ customerId: id, placement: 'home', channel: 'web', cart });
              return { id, a, b };
            }),
          );
          for (const { id, a, b } of batch) {
            // One assignment for every campaign.
            expect(a.globalHoldout).toBe(b.globalHoldout);
            if (a.globalHoldout) {
              globalOut.add(id);
              expect(a.holdout && b.holdout).toBe(true);
              expect(a.offers).toEqual([]);
              expect(a.reasons.map((r) => r.detail)).toContain('program-level 10%');
            }
          }
        }
        expect(globalOut.size / N).toBeGreaterThan(0.08);
        expect(globalOut.size / N).toBeLessThan(0.12);
        const window = { from: new Date(t.clock.now() - 1000).toISOString(), to: new Date(t.clock.now() + 1000).toISOString() };
        const g = await t.engine.measure.incrementality({ ...window, arm: 'global', breakdowns: false });
        // The program-level unit is the customer across both campaigns.
        expect(g.arms.holdout.customers).toBe(globalOut.size);
        expect(g.arms.treatment.customers).toBe(N - globalOut.size);
        expect(g.arms.holdout.sessions).toBe(2 * globalOut.size);
        expect(g.srm.checks[0]!.holdoutShareDesigned).toBe(0.1);
        expect(g.srm.mismatch).toBe(false);
        const c = await t.engine.measure.incrementality({ ...window, campaignId: 'cmp_cart', breakdowns: false });
        expect(c.arms.treatment.customers + c.arms.holdout.customers).toBe(N - globalOut.size);
        expect(c.srm.mismatch).toBe(false);
        expect(c.arms.holdout.customers / (N - globalOut.size)).toBeGreaterThan(0.16);
        expect(c.arms.holdout.customers / (N - globalOut.size)).toBeLessThan(0.24);
      } finally {
        await t.close();
      }
    });
  });
}

for (const backend of BACKENDS) {
  describe(`refunds and returns in reports [${backend}]`, () => {
    it('a refund takes its amount off revenue and CM; a return takes it off revenue and its share of the margin off CM', async () => {
      const t = await createTestEngine(backend, { config: { stopLossCheckMs: 0 } });
      try {
        await importCatalog(t.engine.catalog, {
          products: [{ sku: 'TEE', category: 'tops', price: 4000, unitCost: 1000 }],
          offers: [{ id: 'ofr_a', status: 'live', name: '10% off', type: 'percent_off', value: 10, expectedLift: 1 }],
          campaigns: [{ id: 'cmp_r', status: 'live', name: 'R', placements: ['cart'], offers: ['ofr_a'], policy: { type: 'static' }, holdoutPct: 0 }],
        });
        const cart = { lines: [{ sku: 'TEE', quantity: 1, unitPrice: 4000 }] };
        const at = (ms: number) => new Date(t.clock.now() + ms).toISOString();
        const order = (c: string, d: string) => ({ id: `ord-${c}`, type: 'order', customerId: c, occurredAt: at(10), orderId: `o-${c}`, decisionId: d, lines: cart.lines, shipping: 500, discount: 0 });
        const a = await t.engine.decide({ customerId: 'a', placement: 'cart', channel: 'web', cart });
        const b = await t.engine.decide({ customerId: 'b', placement: 'cart', channel: 'web', cart });
        const c = await t.engine.decide({ customerId: 'c', placement: 'cart', channel: 'web', cart });
        await t.engine.events.ingest({ events: [order('a', a.decisionId), order('b', b.decisionId), order('c', c.decisionId)] });
        const window = { campaignId: 'cmp_r', from: at(-1000), to: at(1000), breakdowns: false };
        const before = (await t.engine.measure.incrementality(window)).arms.treatment;
        // Each order: revenue 4000 + 500 shipping, margin 4000 − 1000 = 3000.
        expect(before.revenue).toBe(3 * 4500);
        expect(before.cm).toBe(3 * 3000);
        await t.engine.events.ingest({
          events: [
            { id: 'ref-a', type: 'refund', customerId: 'a', occurredAt: at(20), orderId: 'o-a', amount: 1000 },
            { id: 'ret-b', type: 'return', customerId: 'b', occurredAt: at(20), orderId: 'o-b', amount: 2000 },
          ],
        });
        const after = (await t.engine.measure.incrementality(window)).arms.treatment;
        expect(after.refunded).toBe(3000);
        expect(after.revenue).toBe(3 * 4500 - 3000);
        // Refund: the whole 1000. Return of half the goods: half the margin, 1500.
        expect(after.cm).toBe(3 * 3000 - 1000 - 1500);
      } finally {
        await t.close();
      }
    });
  });
}

for (const backend of BACKENDS) {
  describe(`offer P&L: what became of the offers issued in the window [${backend}]`, () => {
    it('redeemed, expired (breakage, even before the expiry sweep) and open issues of this campaign only', async () => {
      const t = await createTestEngine(backend, { config: { stopLossCheckMs: 0, expirySweepMs: 0 } });
      try {
        await importCatalog(t.engine.catalog, {
          products: [{ sku: 'TEE', category: 'tops', price: 4000, unitCost: 1000 }],
          offers: [{ id: 'ofr_pts', status: 'live', name: '200 points', type: 'loyalty_points', pointsMode: 'fixed', value: 200, pointValue: 2, expiresAfter: '1d', expectedLift: 1 }],
          campaigns: [
            { id: 'cmp_p', status: 'live', name: 'P', placements: ['cart'], offers: ['ofr_pts'], policy: { type: 'static' }, holdoutPct: 0 },
            { id: 'cmp_other', status: 'live', name: 'Other', placements: ['home'], offers: ['ofr_pts'], policy: { type: 'static' }, holdoutPct: 0 },
          ],
        });
        const cart = { lines: [{ sku: 'TEE', quantity: 1, unitPrice: 4000 }] };
        const start = t.clock.now();
        const e = t.engine;
        const a = await e.decide({ customerId: 'a', placement: 'cart', channel: 'web', cart });
        const b = await e.decide({ customerId: 'b', placement: 'cart', channel: 'web', cart });
        // Another campaign's issue of the same offer is not this campaign's.
        const other = await e.decide({ customerId: 'o', placement: 'home', channel: 'web', cart });
        for (const d of [a, b, other]) expect(d.offers.map((o) => o.offerId)).toEqual(['ofr_pts']);
        const red = await e.wallet.redeem({ orderId: 'o-a', customerId: 'a', channel: 'web', tokens: [a.offers[0]!.token], cart });
        expect(red.status).toBe('applied');
        await e.events.ingest({
          events: [{ id: 'ord-a', type: 'order', customerId: 'a', occurredAt: new Date(start + 10).toISOString(), orderId: 'o-a', decisionId: a.decisionId, lines: cart.lines, shipping: 0, discount: 0 }],
        });
        // b's offer expires unredeemed; c's, issued later, is still open.
        t.clock.set(start + 2 * 86_400_000);
        const c = await e.decide({ customerId: 'c', placement: 'cart', channel: 'web', cart });
        const window = { campaignId: 'cmp_p', from: new Date(start - 1000).toISOString(), to: new Date(t.clock.now() + 1000).toISOString() };
        const report = await e.measure.incrementality(window);
        const row = report.offers!.find((o) => o.offer === 'ofr_pts')!;
        expect(row.issues).toEqual({ issued: 3, redeemed: 1, expired: 1, open: 1 });
        // The terminal report (offerpilot report) shows them on the offer's row.
        const text = formatIncrementality(report);
        const line = text.slice(text.indexOf('Offer P&L')).split('\n').find((l) => l.trimStart().startsWith('ofr_pts '));
        expect(line).toMatch(/ 1 \/ 1 /);
        const points = red.offers.reduce((sum, o) => sum + o.points, 0);
        expect(points).toBe(200);
        // The ledger's own account, after its sweep: every issue of the offer reserved the same
        // cost; b's and the other campaign's became breakage there.
        const ledger = await e.liabilities({});
        const days = ledger.offers.find((o) => o.offerId === 'ofr_pts')!.days;
        const issuedCount = days.reduce((sum, d) => sum + d.issued.count, 0);
        const reserved = days.reduce((sum, d) => sum + d.issued.liability, 0) / issuedCount;
        expect(issuedCount).toBe(4);
        expect(reserved).toBeGreaterThan(0);
        expect(ledger.totals.breakage).toBe(2 * reserved);
        // This campaign's issues: b's reserved cost is breakage (the report does not wait for the
        // sweep); c's is outstanding. a's points were charged at their value when awarded.
        expect(row.breakage).toBe(reserved);
        expect(row.liabilityOutstanding).toBe(reserved);
        expect(row.otherOfferCost).toBe(points * 2);
        // The sweep changes nothing in the report.
        expect((await e.measure.incrementality(window)).offers!.find((o) => o.offer === 'ofr_pts')).toEqual(row);
        // A window that ends before c's decision: a's and b's issues only.
        const early = await e.measure.incrementality({ ...window, to: new Date(start + 1000).toISOString() });
        expect(early.offers!.find((o) => o.offer === 'ofr_pts')!.issues).toEqual({ issued: 2, redeemed: 1, expired: 1, open: 0 });
        // A window that holds only c's decision: one open issue, nothing redeemed or expired.
        const late = await e.measure.incrementality({ ...window, from: new Date(t.clock.now() - 1000).toISOString() });
        expect(late.offers!.find((o) => o.offer === 'ofr_pts')!.issues).toEqual({ issued: 1, redeemed: 0, expired: 0, open: 1 });
      } finally {
        await t.close();
      }
    });
  });
}
