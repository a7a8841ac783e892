import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import { inHoldout } from '../src/core/holdout.js';
import { DEFAULT_MEASURE_SETTINGS, formatIncrementality, incrementalityReport, type IncrementalityReport } from '../src/measure/index.js';
import type { CustomerSessions, MeasurePort, MomentRow, UnitRow } from '../src/measure/port.js';
import { BACKENDS, createTestEngine, type Backend } from './helpers/backends.js';
import { createApiHarness, json } from './helpers/http.js';

/** Every number anywhere in `x` is finite (null is allowed: it is how a report says "no figure"). */
function nonFinitePaths(x: unknown, path = '$', out: string[] = []): string[] {
  if (typeof x === 'number') {
    if (!Number.isFinite(x)) out.push(`${path} = ${x}`);
  } else if (typeof x === 'string') {
    if (/NaN|Infinity/.test(x)) out.push(`${path} = ${JSON.stringify(x)}`);
  } else if (Array.isArray(x)) x.forEach((v, i) => nonFinitePaths(v, `${path}[${i}]`, out));
  else if (typeof x === 'object' && x !== null) for (const [k, v] of Object.entries(x)) nonFinitePaths(v, `${path}.${k}`, out);
  return out;
}

const expectClean = (r: IncrementalityReport) => {
  expect(nonFinitePaths(r)).toEqual([]);
  const text = formatIncrementality(r);
  expect(text).not.toMatch(/NaN|Infinity/);
  return text;
};

const CMP = 'cmp_small';
const catalog = (holdoutPct: number) => ({
  products: [{ sku: 'A', price: 1000, unitCost: 400 }],
  offers: [{ id: 'ofr_small', status: 'live', name: 'Small', type: 'content' }],
  campaigns: [{ id: CMP, status: 'live', name: 'Small', placements: ['home_hero'], offers: ['ofr_small'], holdoutPct }],
});
/** The first `n` customer ids that fall in (or out of) the campaign's holdout. */
const customers = (holdoutPct: number, holdout: boolean, n: number) => {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (inHoldout(CMP, `c${i}`, holdoutPct) === holdout) out.push(`c${i}`);
  return out;
};

// Thresholds of 1 customer and 0 days, so the sample check alone cannot hide a missing interval.
const config = { measureMinCustomersPerArm: 1, measureMinDays: 0, stopLossCheckMs: 0 };

for (const backend of BACKENDS) describe(`reports on arms too small for statistics [${backend}]`, () => {
  async function reportFor(holdoutPct: number, perArm: { treatment: number; holdout: number }) {
    const t = await createTestEngine(backend as Backend, { config });
    try {
      await importCatalog(t.engine.catalog, catalog(holdoutPct));
      const ids = [...customers(holdoutPct, false, perArm.treatment), ...customers(holdoutPct, true, perArm.holdout)];
      for (const id of ids) await t.engine.decide({ customerId: id, placement: 'home_hero', channel: 'web' });
      const window = { from: new Date(t.clock.now() - 86_400_000).toISOString(), to: new Date(t.clock.now() + 1000).toISOString() };
      const r = await t.engine.measure.incrementality({ campaignId: CMP, ...window, sequential: true });
      const stop = await t.engine.measure.stopLoss();
      return { r, stop };
    } finally {
      await t.close();
    }
  }

  it('an empty holdout is insufficient data: no interval, no p-value, no lift, no MDE, and the reason says so', async () => {
    const { r, stop } = await reportFor(0, { treatment: 3, holdout: 0 });
    const text = expectClean(r);
    expect(r.arms.treatment.customers).toBe(3);
    expect(r.arms.holdout).toMatchObject({ customers: 0, status: 'insufficient_data', reason: 'empty_arm', cmPerSession: null, conversionRate: null, aov: null });
    expect(r.metrics.cmPerSession).toMatchObject({ status: 'insufficient_data', reason: 'empty_arm', holdout: null, difference: null, relativeLift: null, pValue: null, sequential: null });
    expect(r.incrementalCm).toBeNull();
    expect(r.minimumDetectableEffect).toBeNull();
    expect(r.reason).toBe('empty_arm');
    expect(r.verdict).toBe('insufficient_data');
    expect(r.breakdowns!.placement[0]).toMatchObject({ key: 'home_hero', incrementalCm: null, reason: 'empty_arm' });
    expect(r.offers!.find((o) => o.offer === 'ofr_small')).toMatchObject({ incrementalCm: null, incrementalOrders: null, reason: 'empty_arm' });
    expect(text).toMatch(/insufficient data/);
    expect(stop).toEqual([]);
  });

  it('an empty treatment is insufficient data', async () => {
    const { r } = await reportFor(100, { treatment: 0, holdout: 3 });
    expectClean(r);
    expect(r.arms.treatment).toMatchObject({ customers: 0, status: 'insufficient_data', reason: 'empty_arm' });
    expect(r.metrics.cmPerSession).toMatchObject({ status: 'insufficient_data', reason: 'empty_arm', treatment: null, difference: null, pValue: null });
    expect(r.verdict).toBe('insufficient_data');
  });

  it('one customer per arm has no variance: insufficient data even when the sample thresholds are met', async () => {
    const { r, stop } = await reportFor(50, { treatment: 1, holdout: 1 });
    const text = expectClean(r);
    expect(r.sample.met).toBe(true);
    expect(r.metrics.cmPerSession).toMatchObject({ status: 'insufficient_data', reason: 'too_few_units', treatment: 0, holdout: 0, difference: null, pValue: null });
    expect(r.incrementalCm).toBeNull();
    expect(r.verdict).toBe('insufficient_data');
    expect(r.warnings.join('\n')).toMatch(/No interval for CM per session: an arm has a single customer/);
    expect(text).toMatch(/Incremental contribution margin: insufficient data · verdict: insufficient_data · detectable CM\/session difference \(80% power\): insufficient data/);
    expect(stop).toEqual([expect.objectContaining({ campaignId: CMP, action: 'none', verdict: 'insufficient_data', incrementalCm: null })]);
  });

  it('zero variance (nobody bought in either arm): an interval of width 0 but no p-value and no MDE', async () => {
    const { r } = await reportFor(50, { treatment: 3, holdout: 3 });
    expectClean(r);
    expect(r.metrics.cmPerSession.difference).toEqual({ estimate: 0, lower: 0, upper: 0, se: 0 });
    expect(r.metrics.cmPerSession).toMatchObject({ status: 'insufficient_data', reason: 'zero_variance', pValue: null, relativeLift: null });
    expect(r.metrics.aov).toMatchObject({ status: 'insufficient_data', reason: 'no_sessions', treatment: null, holdout: null, difference: null });
    expect(r.minimumDetectableEffect).toBeNull();
    expect(r.reason).toBe('zero_variance');
  });

  it('over HTTP an empty holdout answers explicit nulls with reasons, not NaN turned into null', async () => {
    const h = await createApiHarness(backend as Backend, { config });
    try {
      expect((await h.req('POST', '/v1/catalog/import', catalog(0))).statusCode).toBe(200);
      for (const id of customers(0, false, 3)) expect((await h.req('POST', '/v1/decide', { customerId: id, placement: 'home_hero', channel: 'web' })).statusCode).toBe(200);
      const from = new Date(h.t.clock.now() - 86_400_000).toISOString();
      const to = new Date(h.t.clock.now() + 1000).toISOString();
      const res = await h.req('GET', `/v1/reports/incrementality?campaignId=${CMP}&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&sequential=true`);
      expect(res.statusCode).toBe(200);
      expect(res.body).not.toMatch(/NaN|Infinity/);
      const body = json(res);
      expect(body.verdict).toBe('insufficient_data');
      expect(body.reason).toBe('empty_arm');
      expect(body.arms.holdout).toMatchObject({ status: 'insufficient_data', reason: 'empty_arm', cmPerSession: null });
      for (const m of ['conversionRate', 'aov', 'revenuePerSession', 'cmPerSession']) {
        expect(body.metrics[m], m).toMatchObject({ status: 'insufficient_data', reason: expect.any(String), difference: null, pValue: null });
      }
      expect(body.incrementalCm).toBeNull();
      expect(body.minimumDetectableEffect).toBeNull();
    } finally {
      await h.close();
    }
  });
});

describe('every number in a report is finite or null (property over small random arms)', () => {
  /** MeasureReads over a list of customers, each in one arm with sessions and (maybe) an order. */
  function fakeReads(units: Array<{ holdout: boolean; sessions: number; orders: number; cm: number; revenue: number }>): MeasurePort {
    const cmp = CMP;
    const perCustomer: CustomerSessions[] = units.map((u, i) => ({ subject: `c${i}`, holdout: u.holdout, campaignId: cmp, sessions: u.sessions }));
    const moments = (key: string | null, holdoutKey?: string | null): MomentRow[] =>
      [false, true].flatMap((holdout) => {
        const us = units.filter((u) => u.holdout === holdout);
        if (us.length === 0) return [];
        return [{ holdout, campaignId: cmp, key: holdout && holdoutKey !== undefined ? holdoutKey : key, units: us.length, sessions: us.reduce((a, u) => a + u.sessions, 0), sessionsSq: us.reduce((a, u) => a + u.sessions * u.sessions, 0) }];
      });
    const outcomes = (key: string | null): UnitRow[] =>
      units.flatMap((u, i) =>
        u.orders > 0 ? [{ subject: `c${i}`, holdout: u.holdout, campaignId: cmp, key, sessions: u.sessions, orders: u.orders, revenue: u.revenue, cm: u.cm, refunded: 0, discount: u.holdout ? 0 : 100 * u.orders, extraCost: 0, points: 0, redemptions: u.holdout ? 0 : u.orders }] : [],
      );
    return {
      measureMoments: async () => moments(null),
      measureOutcomes: async () => outcomes(null),
      measureOffersShown: async () => ({ treatment: units.filter((u) => !u.holdout).reduce((a, u) => a + u.sessions, 0), holdout: 0 }),
      measureBreakdowns: async () => ({
        moments: { placement: moments('home_hero'), channel: moments('web'), offer_key: moments('ofr_small'), offer: moments('ofr_small') },
        outcomes: { none: outcomes(null), placement: outcomes('home_hero'), channel: outcomes('web'), offer_key: outcomes('ofr_small'), offer: outcomes('ofr_small') },
        perCustomer,
      }),
      measureIssued: async () => [{ offerId: 'ofr_small', issued: units.length, redeemed: 0, expired: 0, breakage: 0, open: units.length, openLiability: 0 }],
      lastOrdersBefore: async () => new Map(),
      logGuardAction: async () => undefined,
      guardLog: async () => [],
    };
  }

  it('for 0–4 customers per arm with any sessions, orders and (negative, zero or constant) outcomes', async () => {
    const unit = fc.record({
      holdout: fc.boolean(),
      sessions: fc.integer({ min: 1, max: 4 }),
      orders: fc.integer({ min: 0, max: 2 }),
      cm: fc.oneof(fc.constant(0), fc.constant(500), fc.integer({ min: -5000, max: 5000 })),
      revenue: fc.oneof(fc.constant(0), fc.constant(2000), fc.integer({ min: 0, max: 10_000 })),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(unit, { maxLength: 8 }), fc.boolean(), fc.constantFrom(0, 10, 50), async (units, breakdowns, holdoutPct) => {
        const now = Date.parse('2026-11-23T12:00:00Z');
        const r = await incrementalityReport(
          { store: fakeReads(units), now, settings: { ...DEFAULT_MEASURE_SETTINGS, minCustomersPerArm: 1, minDays: 0 }, campaign: () => ({ holdoutShare: holdoutPct / 100, createdAt: now - 86_400_000 }) },
          { campaignId: CMP, breakdowns, sequential: true },
        );
        expectClean(r);
        // An absent figure always comes with its reason.
        for (const m of Object.values(r.metrics)) if (m.difference === null || m.pValue === null) expect(m.reason).not.toBeNull();
        if (r.incrementalCm === null) expect(r.verdict).toBe('insufficient_data');
      }),
      { numRuns: 300 },
    );
  });
});
