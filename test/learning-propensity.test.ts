/**
 * The logged propensity is the truth: for every policy, the probability a decision logs equals
 * the frequency with which the policy takes that action from the same state (pure `decide`, the
 * same request, many seeds), the probabilities over all actions sum to 1 and keep the exploration
 * floor, and `weightsOf(trace, state)` — what offline evaluation replays — gives back the logged
 * number exactly. Learning never breaks a guardrail.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import { decide, type Decision, type DecideInput } from '../src/core/decide.js';
import { NONE } from '../src/core/learn/actions.js';
import type { LinearState, ThompsonState } from '../src/core/learn/state.js';
import { policyFor } from '../src/core/policies.js';
import { segmentOf } from '../src/core/learn/policies.js';
import type { LearningTrace, PolicyState } from '../src/core/policy.js';
import { counterKeys } from '../src/core/counter-keys.js';
import { seededRandom, utcDay } from '../src/core/runtime.js';
import { createTestEngine } from './helpers/backends.js';
import { actionOf, catalogBody, CMP, DEFAULTS, ELIGIBLE_ACTIONS, NOW_MS, policyConfig, request, snapshotFor, subject } from './helpers/learning-fixture.js';

type Input = Omit<DecideInput, 'random' | 'snapshot'>;
const baseInput = (extra: Partial<Input> = {}): Input => ({ request: request(), subject: subject(), counters: { get: () => 0 }, now: NOW_MS, defaults: DEFAULTS, ...extra });
const statesOf = (state: PolicyState | undefined) => (state ? { get: (id: string) => (id === CMP ? state : undefined) } : undefined);

/** The trace of the standard request (its tokens and eligible actions), from one decision without state. */
const probe = decide({ ...baseInput(), snapshot: snapshotFor({ type: 'ab' }), random: seededRandom(1) }).trace as LearningTrace;
const TOKENS = probe.k;
const ACTS = probe.acts.map((a) => a[0]);

/** A hand-made linear state over the request's own tokens: purchase probabilities by action, a diagonal posterior. */
function linearState(kind: LinearState['kind'], p: Record<string, number>, sd: number, trials: number): LinearState {
  const vocab = ['b', ...TOKENS.filter((t) => t !== 'b').slice(0, 4)];
  const d = vocab.length;
  const cov = (s: number) => Array.from({ length: d * d }, (_, i) => (i % (d + 1) === 0 ? (s * s) / d : 0));
  const actions: LinearState['actions'] = {};
  for (const [key, prob] of Object.entries(p)) {
    // The probability sits on the intercept and one segment token, so the dot product is not trivial.
    const mean = new Array<number>(d).fill(0);
    mean[0] = prob * 0.7;
    mean[2] = prob * 0.3;
    actions[key] = { p: { mean, cov: cov(sd) }, v: { mean: [key === NONE ? 0 : -50] }, n: 100 };
  }
  return { kind, vocab, vvocab: ['b'], actions, trials, shadow: {}, trainedAt: NOW_MS };
}

/** The segment the policy reads the standard request's weights from (cohort × placement, the default). */
const SEGMENT = segmentOf(TOKENS, ['cohort', 'placement']);
const thompsonState = (weights: Record<string, number>, shadow: Record<string, number> = {}, trials = 1000): ThompsonState => ({
  kind: 'thompson',
  weights: { [SEGMENT]: weights },
  arms: {},
  trials,
  shadow,
  trainedAt: NOW_MS,
});

interface Run {
  counts: Map<string, number>;
  logged: Map<string, Set<number>>;
  decisions: Decision[];
}

/** n decisions of the same request from the same state, one seed each. */
function run(policy: unknown, state: PolicyState | undefined, n: number, input: Input = baseInput()): Run {
  const snapshot = snapshotFor(policy);
  const counts = new Map<string, number>();
  const logged = new Map<string, Set<number>>();
  const decisions: Decision[] = [];
  for (let i = 0; i < n; i++) {
    const d = decide({ ...input, snapshot, random: seededRandom(1_000_003 * i + 17), policies: statesOf(state) });
    const a = actionOf(d);
    counts.set(a, (counts.get(a) ?? 0) + 1);
    (logged.get(a) ?? logged.set(a, new Set()).get(a)!).add(d.probability);
    if (i < 200) decisions.push(d);
  }
  return { counts, logged, decisions };
}

/** Checks weights, logged probabilities and frequencies; returns the weights by action. */
function checkPropensities(policy: unknown, state: PolicyState | undefined, opts: { n?: number; floor?: number; input?: Input } = {}): Map<string, number> {
  const n = opts.n ?? 12_000;
  const p = policyFor({ policy: policyConfig(policy) });
  const r = run(policy, state, n, opts.input);
  const first = r.decisions[0]!;
  const trace = first.trace as LearningTrace;
  expect(trace.acts.map((a) => a[0])).toEqual(ACTS);
  const { weights } = p.weightsOf!(trace, state);
  const keys = [...ACTS, NONE];
  expect(weights).toHaveLength(keys.length);
  expect(Math.abs(weights.reduce((s, w) => s + w, 0) - 1)).toBeLessThan(1e-12);
  if (opts.floor !== undefined) for (const w of weights) expect(w).toBeGreaterThanOrEqual(Math.min(opts.floor, 1 / keys.length) - 1e-15);
  const byAction = new Map(keys.map((k, j) => [k, weights[j]!]));
  for (const [a, count] of r.counts) expect(byAction.has(a), `unexpected action ${a}`).toBe(true);
  for (const [a, w] of byAction) {
    const count = r.counts.get(a) ?? 0;
    // Every decision that took `a` logged exactly its weight.
    if (count > 0) expect([...r.logged.get(a)!], a).toEqual([w]);
    const se = Math.sqrt((w * (1 - w)) / n);
    expect(Math.abs(count / n - w), `${a}: ${count}/${n} vs ${w}`).toBeLessThanOrEqual(4 * se + 1e-12);
  }
  // Replay on the logged trace (as stored: JSON) reproduces each decision's probability exactly.
  for (const d of r.decisions) {
    const t = JSON.parse(JSON.stringify(d.trace)) as LearningTrace;
    const replay = p.weightsOf!(t, state && (JSON.parse(JSON.stringify(state)) as PolicyState)).weights;
    const j = t.a === NONE ? t.acts.length : t.acts.findIndex((x) => x[0] === t.a);
    expect(t.a).toBe(actionOf(d));
    expect(replay[j]).toBe(d.probability);
    expect(d.policyVersion).toBe(state?.version ?? null);
  }
  return byAction;
}

describe('logged propensities equal the sampling frequencies (pure decide, same state, many seeds)', () => {
  it('static: one action, probability 1, whatever the seed', () => {
    const r = run({ type: 'static' }, undefined, 300);
    expect(r.counts.size).toBe(1);
    expect([...r.logged.values()].map((s) => [...s])).toEqual([[1]]);
    expect(r.decisions[0]!.trace).toBeNull();
  });

  it('ab without weights: uniform over every eligible action and "no offer"', () => {
    const w = checkPropensities({ type: 'ab' }, undefined);
    for (const x of w.values()) expect(x).toBeCloseTo(1 / 8, 12);
  });

  it('ab with weights: an offer-level weight covers its rungs, unlisted actions get none', () => {
    const w = checkPropensities({ type: 'ab', weights: { ofr_pct: 2, 'ofr_amt@500': 1, none: 1, 'ofr_pct@20': 50 } }, undefined);
    // ofr_pct@20 breaks the margin floor: its weight is never used.
    expect(w.get('ofr_pct@5')).toBeCloseTo(2 / 6, 12);
    expect(w.get('ofr_pct@10')).toBeCloseTo(2 / 6, 12);
    expect(w.get('ofr_amt@500')).toBeCloseTo(1 / 6, 12);
    expect(w.get('ofr_msg')).toBe(0);
    expect(w.get(NONE)).toBeCloseTo(1 / 6, 12);
  });

  it('thompson before burn-in: uniform', () => {
    const w = checkPropensities({ type: 'thompson', burnIn: 2000 }, { version: 3, state: thompsonState({ ofr_msg: 1 }) }, { floor: 0.01 });
    for (const x of w.values()) expect(x).toBeCloseTo(1 / 8, 12);
  });

  it('thompson after burn-in: the segment’s weights, a new action filled with the best known weight, the floor, pacing', () => {
    const st = thompsonState({ 'ofr_pct@5': 0.5, 'ofr_pct@10': 0.05, ofr_msg: 0, 'ofr_amt@500': 0.3, none: 0.15 }, { ofr_day: 3 });
    const w = checkPropensities({ type: 'thompson', burnIn: 10, minExploration: 0.02 }, { version: 4, state: st }, { floor: 0.02 });
    // Raw: known 0.5, 0.05, 0, 0.3, 0.15; unknown cap and one get 0.5; day 0.5·exp(−3·200/5500).
    const raw = [0.5, 0.05, 0.3, 0, 0.5, 0.5 * Math.exp((-3 * 200) / 5500), 0.5, 0.15];
    const total = raw.reduce((s, x) => s + x, 0);
    raw.forEach((x, j) => expect(w.get([...ACTS, NONE][j]!)).toBeCloseTo((1 - 0.02 * 8) * (x / total) + 0.02, 12));
  });

  it('thompson segments as configured: by placement, device and cart (segmentOf on real request tokens)', () => {
    expect(segmentOf(TOKENS, ['cohort', 'placement'])).toBe('co:vip|pl:home_hero');
    const noCart = decide({ ...baseInput({ request: request({ cart: undefined }) }), snapshot: snapshotFor({ type: 'ab' }), random: seededRandom(1) }).trace as LearningTrace;
    expect(segmentOf(TOKENS, ['placement', 'channel', 'device', 'cart'])).toBe('pl:home_hero|ch:web|x:device=mobile|cart:some');
    expect(segmentOf(noCart.k, ['cart'])).toBe('cart:none');
  });

  it('thompson in a segment the state has never seen: every action alike, floored', () => {
    const st = thompsonState({});
    st.weights = { 'co:other|pl:home_hero': { ofr_msg: 1 }, 'co:other|': { ofr_msg: 1 } };
    const w = checkPropensities({ type: 'thompson', burnIn: 0 }, { version: 1, state: st }, { floor: 0.01, n: 4000 });
    for (const x of w.values()) expect(x).toBeCloseTo(1 / 8, 12);
  });

  const probs = { 'ofr_pct@5': 0.09, 'ofr_pct@10': 0.1, 'ofr_amt@500': 0.085, ofr_msg: 0.06, 'ofr_cap@300': 0.07, none: 0.075 };
  it('contextual during burn-in: uniform', () => {
    const w = checkPropensities({ type: 'contextual', burnIn: 500 }, { version: 2, state: linearState('contextual', probs, 0.02, 499) }, { floor: 0.01 });
    for (const x of w.values()) expect(x).toBeCloseTo(1 / 8, 12);
  });

  it('contextual during burn-in with a priced budget: uniform, the priced offer damped, exact', () => {
    const st = { ...linearState('contextual', probs, 0.02, 10), shadow: { ofr_amt: 3 } };
    const w = checkPropensities({ type: 'contextual', burnIn: 500 }, { version: 3, state: st }, { floor: 0.01 });
    // The budget that would bind is paced from the first round: its rung gets less than the rest, which stay alike.
    expect(w.get('ofr_amt@500')!).toBeLessThan(w.get(NONE)! * 0.9);
    expect(w.get('ofr_msg')!).toBeCloseTo(w.get(NONE)!, 12);
  });

  it('contextual after burn-in: probability of best under the posterior, floored; unseen actions explored', () => {
    const w = checkPropensities({ type: 'contextual', burnIn: 500, minExploration: 0.03 }, { version: 5, state: linearState('contextual', probs, 0.02, 500) }, { floor: 0.03 });
    // The weights are not uniform: the state moves them (and the highest-CM action gets the most).
    const max = Math.max(...w.values());
    expect(max).toBeGreaterThan(0.2);
    expect(Math.min(...w.values())).toBeLessThan(0.1);
  });

  // Noon (half the day left) with 700 of the 1000 daily liability used: 30% of the budget for 50%
  // of the day, a schedule of 0.6 — ofr_day's weight is damped by 0.6⁴, the rest renormalised.
  const behind = baseInput({ counters: { get: (k) => (k === counterKeys.daily('ofr_day', utcDay(NOW_MS)) ? 700 : 0) } });
  const paceCases: Array<[string, Record<string, unknown>, PolicyState]> = [
    ['thompson', { type: 'thompson', burnIn: 0 }, { version: 2, state: thompsonState({ 'ofr_day@200': 0.4, 'ofr_pct@5': 0.2, none: 0.1 }) }],
    ['contextual', { type: 'contextual', burnIn: 0 }, { version: 2, state: linearState('contextual', probs, 0.02, 500) }],
    ['contextual in burn-in', { type: 'contextual', burnIn: 1000 }, { version: 2, state: linearState('contextual', probs, 0.02, 10) }],
    ['uplift', { type: 'uplift', exploration: 0.3 }, { version: 2, state: linearState('uplift', { ...probs, 'ofr_day@200': 0.2 }, 0.02, 0) }],
  ];
  for (const [name, config, state] of paceCases) {
    it(`${name}: a daily budget spending ahead of schedule is damped at decision time, logged and replayed exactly`, () => {
      const plain = checkPropensities(config, state, { n: 4000 });
      const paced = checkPropensities(config, state, { n: 12_000, input: behind });
      const d = run(config, state, 1, behind).decisions[0]!;
      const day = (d.trace as LearningTrace).acts.find((a) => a[0] === 'ofr_day@200')!;
      expect(day[3]).toBeCloseTo(0.6, 6);
      const ratio = (w: Map<string, number>) => w.get('ofr_day@200')! / w.get(NONE)!;
      expect(ratio(paced) / ratio(plain)).toBeCloseTo(0.6 ** 4, 6);
      expect(paced.get('ofr_pct@5')! / paced.get(NONE)!).toBeCloseTo(plain.get('ofr_pct@5')! / plain.get(NONE)!, 9);
      // Pacing off: the schedule is still in the trace, and the weights ignore it.
      const off = checkPropensities({ ...config, pacing: false }, state, { n: 4000, input: behind });
      for (const [a, w] of plain) expect(off.get(a)!, a).toBeCloseTo(w, 12);
    });
  }
  it('a budget on or ahead of schedule leaves the trace and the weights as they were', () => {
    const early = baseInput({ counters: { get: (k) => (k === counterKeys.daily('ofr_day', utcDay(NOW_MS)) ? 400 : 0) } });
    const d = run({ type: 'contextual', burnIn: 0 }, { version: 2, state: linearState('contextual', probs, 0.02, 500) }, 1, early).decisions[0]!;
    for (const a of (d.trace as LearningTrace).acts) expect(a).toHaveLength(3);
  });

  it('contextual with a state of the wrong kind decides uniformly', () => {
    const w = checkPropensities({ type: 'contextual', burnIn: 0 }, { version: 1, state: linearState('uplift', probs, 0.02, 500) }, { n: 4000 });
    for (const x of w.values()) expect(x).toBeCloseTo(1 / 8, 12);
  });

  it('uplift: the best predicted action gets 1 − ε + ε/K, every other ε/K', () => {
    const w = checkPropensities({ type: 'uplift', exploration: 0.2 }, { version: 7, state: linearState('uplift', probs, 0.02, 0) }, { floor: 0.2 / 8 });
    const sorted = [...w.values()].sort((a, b) => b - a);
    expect(sorted[0]).toBeCloseTo(0.8 + 0.2 / 8, 12);
    for (const x of sorted.slice(1)) expect(x).toBeCloseTo(0.2 / 8, 12);
  });

  it('uplift without a model: "no offer" with 1 − ε, exploration spread', () => {
    const w = checkPropensities({ type: 'uplift', exploration: 0.1 }, undefined, { n: 4000 });
    expect(w.get(NONE)).toBeCloseTo(0.9 + 0.1 / 8, 12);
  });

  it('contextual on a trainer-made state (real SQLite engine: decisions, orders, a training round)', async () => {
    const t = await createTestEngine('sqlite', { now: NOW_MS });
    try {
      await importCatalog(t.engine.catalog, catalogBody({ type: 'contextual', burnIn: 0 }));
      await t.engine.putCustomer('cust_1', { traits: {}, consent: { personalization: true } });
      for (let i = 0; i < 120; i++) {
        const d = await t.engine.decide({ anonymousId: `v${i}`, placement: 'home_hero', channel: 'web', cart: { lines: [{ sku: 'TOP-1', quantity: 1, unitPrice: 10000 }] } });
        // Content converts for every third visitor, the rest rarely.
        const buys = d.offers[0]?.offerId === 'ofr_msg' ? i % 3 === 0 : i % 11 === 0;
        if (buys) await t.engine.events.ingest({ events: [{ id: `o${i}`, type: 'order', anonymousId: `v${i}`, occurredAt: new Date(t.clock.now()).toISOString(), orderId: `ord_${i}`, decisionId: d.decisionId, lines: [{ sku: 'TOP-1', quantity: 1, unitPrice: 10000 }] }] });
        t.clock.set(t.clock.now() + 1000);
      }
      const [round] = await t.engine.learning.train();
      expect(round!.written).toBe(true);
      const state = (await t.engine.policyStates.current()).get(CMP)!;
      expect(state.version).toBe(round!.version);
      expect((state.state as LinearState).kind).toBe('contextual');
      checkPropensities({ type: 'contextual', burnIn: 0 }, state, { floor: 0.005, n: 6000 });
      // The state says how much of each prediction's uncertainty is still the prior's; spreading
      // young actions more changes the weights, and they stay exact.
      expect((state.state as LinearState).groups).toHaveLength((state.state as LinearState).vocab.length);
      checkPropensities({ type: 'contextual', burnIn: 0, youngSpread: 1 }, state, { floor: 0.005, n: 6000 });
    } finally {
      await t.close();
    }
  });
});

describe('property: for arbitrary states and requests, weights are a floored distribution and replay is exact', () => {
  const actionKeys = [...ELIGIBLE_ACTIONS, NONE];
  const weightRecord = fc.dictionary(fc.constantFrom(...actionKeys, 'ofr_pct', 'ofr_amt'), fc.double({ min: 0, max: 100, noNaN: true }), { maxKeys: 8 });
  const requestArb = fc.record({
    qty: fc.integer({ min: 1, max: 6 }),
    price: fc.integer({ min: 2000, max: 40000 }),
    device: fc.constantFrom('mobile', 'desktop', 'tablet'),
    cohort: fc.constantFrom('vip', 'new', 'lapsed'),
    consent: fc.boolean(),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  });
  const policyArb = fc.oneof(
    fc.record({ kind: fc.constant('ab' as const), weights: fc.option(weightRecord, { nil: undefined }) }),
    fc.record({ kind: fc.constant('thompson' as const), weights: weightRecord, floor: fc.double({ min: 0, max: 0.5, noNaN: true }), shadow: fc.double({ min: 0, max: 10, noNaN: true }), burnIn: fc.integer({ min: 0, max: 2000 }) }),
    fc.record({ kind: fc.constant('contextual' as const), probs: fc.dictionary(fc.constantFrom(...actionKeys), fc.double({ min: 0, max: 0.6, noNaN: true }), { minKeys: 1 }), sd: fc.double({ min: 0, max: 0.2, noNaN: true }), floor: fc.double({ min: 0, max: 0.5, noNaN: true }), burnIn: fc.integer({ min: 0, max: 2000 }) }),
    fc.record({ kind: fc.constant('uplift' as const), probs: fc.dictionary(fc.constantFrom(...actionKeys), fc.double({ min: 0, max: 0.6, noNaN: true }), { minKeys: 1 }), eps: fc.double({ min: 0, max: 0.5, noNaN: true }) }),
  );

  it('sum to 1, each ≥ the floor, the chosen action’s weight is the logged probability', () => {
    fc.assert(
      fc.property(policyArb, requestArb, (pa, ra) => {
        const input = baseInput({
          request: request({ cart: { lines: [{ sku: 'TOP-1', quantity: ra.qty, unitPrice: ra.price }] }, context: { device: ra.device } }),
          subject: subject({ consent: { personalization: ra.consent }, features: { cohort: ra.cohort } }),
        });
        // The request's own segment, as the policy computes it (cohort is anonymous without consent).
        const tokens = (decide({ ...input, snapshot: snapshotFor({ type: 'ab' }), random: seededRandom(0) }).trace as LearningTrace).k;
        let config: Record<string, unknown>;
        let state: PolicyState | undefined;
        let floor = 0;
        if (pa.kind === 'ab') config = { type: 'ab', ...(pa.weights ? { weights: pa.weights } : {}) };
        else if (pa.kind === 'thompson') {
          config = { type: 'thompson', minExploration: pa.floor, burnIn: pa.burnIn };
          state = { version: 1, state: { ...thompsonState({}, { ofr_amt: pa.shadow }), weights: { [segmentOf(tokens, ['cohort', 'placement'])]: pa.weights } } };
          floor = pa.floor;
        } else if (pa.kind === 'contextual') {
          config = { type: 'contextual', minExploration: pa.floor, burnIn: pa.burnIn };
          state = { version: 2, state: linearState('contextual', pa.probs, pa.sd, 1000) };
          floor = pa.floor;
        } else {
          config = { type: 'uplift', exploration: pa.eps };
          state = { version: 3, state: linearState('uplift', pa.probs, 0.01, 0) };
        }
        const d = decide({ ...input, snapshot: snapshotFor(config), random: seededRandom(ra.seed), policies: statesOf(state) });
        const t = d.trace as LearningTrace;
        const { weights } = policyFor({ policy: policyConfig(config) }).weightsOf!(JSON.parse(JSON.stringify(t)) as LearningTrace, state);
        const k = t.acts.length + 1;
        expect(weights).toHaveLength(k);
        expect(Math.abs(weights.reduce((s, w) => s + w, 0) - 1)).toBeLessThan(1e-9);
        for (const w of weights) {
          expect(Number.isFinite(w)).toBe(true);
          expect(w).toBeGreaterThanOrEqual(0);
          if (pa.kind === 'uplift') expect(w).toBeGreaterThanOrEqual(pa.eps / k - 1e-15);
          else expect(w).toBeGreaterThanOrEqual(Math.min(floor, 1 / k) - 1e-12);
        }
        const j = t.a === NONE ? t.acts.length : t.acts.findIndex((x) => x[0] === t.a);
        expect(j).toBeGreaterThanOrEqual(0);
        expect(weights[j]).toBe(d.probability);
        expect(d.probability).toBeGreaterThan(0);
        expect(t.a).toBe(actionOf(d));
      }),
      { numRuns: 300, seed: 12 },
    );
  });
});

describe('learning policies never break a guardrail', () => {
  const day = utcDay(NOW_MS);
  // Budget 1000 with 600 spent (a 500 reserve does not fit), the global cap reached, 900 of 1000
  // daily liability used (a 200 reserve does not fit), the per-customer cap used by a past issue.
  const used = new Map([
    [counterKeys.spent('ofr_amt'), 600],
    [counterKeys.issued('ofr_cap'), 5],
    [counterKeys.daily('ofr_day', day), 900],
  ]);
  const input = baseInput({ counters: { get: (k) => used.get(k) ?? 0 }, subject: subject({ issuances: [{ offerId: 'ofr_one', issuedAt: NOW_MS - 86_400_000 }] }) });
  // States that favour exactly the offers that fail.
  const greedy = { 'ofr_amt@500': 0.9, 'ofr_cap@300': 0.9, 'ofr_day@200': 0.9, 'ofr_one@100': 0.9, 'ofr_pct@20': 0.9, 'ofr_pct@5': 0.01, none: 0.01 };
  const cases: Array<[string, unknown, PolicyState | undefined]> = [
    ['ab', { type: 'ab', weights: { ofr_amt: 100, ofr_cap: 100, ofr_day: 100, ofr_one: 100, 'ofr_pct@20': 100, ofr_msg: 1, none: 1 } }, undefined],
    ['thompson', { type: 'thompson', burnIn: 0 }, { version: 1, state: thompsonState(greedy) }],
    ['contextual', { type: 'contextual', burnIn: 0 }, { version: 1, state: linearState('contextual', greedy, 0.01, 10) }],
    ['uplift', { type: 'uplift' }, { version: 1, state: linearState('uplift', greedy, 0.01, 0) }],
  ];
  for (const [name, config, state] of cases) {
    it(`${name}: capped, budgeted and margin-floored offers are never chosen, nor offered to the policy`, () => {
      const r = run(config, state, 3000, input);
      expect(new Set(r.counts.keys()).size).toBeGreaterThan(1);
      for (const a of r.counts.keys()) expect(['ofr_pct@5', 'ofr_pct@10', 'ofr_msg', NONE]).toContain(a);
      const d = r.decisions[0]!;
      expect((d.trace as LearningTrace).acts.map((x) => x[0])).toEqual(['ofr_pct@5', 'ofr_pct@10', 'ofr_msg']);
      const codes = Object.fromEntries(d.candidates.map((c) => [c.offerId, c.reasons.map((x) => x.code)]));
      expect(codes.ofr_amt).toContain('BUDGET_EXHAUSTED');
      expect(codes.ofr_cap).toContain('GLOBAL_CAP');
      expect(codes.ofr_day).toContain('DAILY_LIABILITY');
      expect(codes.ofr_one).toContain('CUSTOMER_CAP');
      for (const x of r.decisions) for (const c of x.chosen) if (c.offerId === 'ofr_pct') expect(c.value).not.toBe(20);
    });
  }
});
