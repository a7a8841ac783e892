import { describe, expect, it } from 'vitest';
import {
  assignFolds,
  constantPolicy,
  crossFitRewards,
  evaluatePolicy,
  meanInterval,
  normalQuantile,
  opeVerdict,
  uniformPolicy,
  type CandidatePolicy,
  type LoggedRow,
  type OpeEstimator,
} from '../src/core/index.js';
import { seededRandom, type Random } from '../src/core/runtime.js';

const ACTIONS = ['a', 'b', 'c'] as const;
type Action = (typeof ACTIONS)[number];

/**
 * A small world with exact answers: a segment s ∈ {0,1,2,3} with known shares and u ~ U(0,1);
 * reward = 10 · Bernoulli(p(a, s, u)) with p linear in u, so every expectation is a closed form.
 * The logging policy depends on s and on u > ½; the evaluated policy too, differently.
 */
const SEG_SHARE = [0.4, 0.3, 0.2, 0.1];
const BASE: Record<Action, number[]> = { a: [0.1, 0.3, 0.2, 0.05], b: [0.25, 0.1, 0.15, 0.3], c: [0.15, 0.2, 0.35, 0.1] };
const SLOPE: Record<Action, number> = { a: 0.2, b: -0.1, c: 0.05 };
const VALUE = 10;
const p = (a: Action, s: number, u: number) => BASE[a][s]! + SLOPE[a] * u;
/** Logging probabilities (all ≥ 0.1): a softmax-like table over s and the half u falls in. */
const logging = (s: number, hi: boolean): Record<Action, number> =>
  [
    { a: 0.6, b: 0.3, c: 0.1 },
    { a: 0.2, b: 0.5, c: 0.3 },
    { a: 0.1, b: 0.3, c: 0.6 },
    { a: 0.34, b: 0.33, c: 0.33 },
  ][(s + (hi ? 1 : 0)) % 4]!;
/** The evaluated policy: stochastic in some cells, deterministic in others. */
const target = (s: number, hi: boolean): Record<Action, number> =>
  [
    { a: 0, b: 1, c: 0 },
    { a: 0.5, b: 0, c: 0.5 },
    { a: 0, b: 0, c: 1 },
    { a: 0.2, b: 0.6, c: 0.2 },
  ][(s + (hi ? 0 : 2)) % 4]!;
/** V(π) = Σ_s share_s Σ_half ½ Σ_a π(a|s,half) · 10 · p(a, s, E[u | half]) — exact because p is linear in u. */
const TRUE_VALUE = SEG_SHARE.reduce(
  (v, share, s) => v + share * [false, true].reduce((h, hi) => h + 0.5 * ACTIONS.reduce((t, a) => t + target(s, hi)[a] * VALUE * p(a, s, hi ? 0.75 : 0.25), 0), 0),
  0,
);

function pick<T extends string>(probs: Record<T, number>, rnd: Random): T {
  let x = rnd();
  const keys = Object.keys(probs) as T[];
  for (const k of keys) {
    x -= probs[k];
    if (x < 0) return k;
  }
  return keys[keys.length - 1]!;
}

/** The evaluated policy's distributions, one per (segment, half), built once. */
const TARGET_MAPS = [0, 1, 2, 3].map((s) => [false, true].map((hi) => new Map(Object.entries(target(s, hi)))));
const LOGGING = [0, 1, 2, 3].map((s) => [false, true].map((hi) => logging(s, hi)));

function simulate(n: number, seed: number): { rows: LoggedRow[]; candidate: CandidatePolicy } {
  const rnd = seededRandom(seed);
  const rows: LoggedRow[] = [];
  const cells: Array<Map<string, number>> = [];
  for (let i = 0; i < n; i++) {
    let x = rnd();
    let s = 0;
    while (s < 3 && x >= SEG_SHARE[s]!) x -= SEG_SHARE[s++]!;
    const u = rnd();
    const hi = u > 0.5 ? 1 : 0;
    const mu = LOGGING[s]![hi]!;
    const a = pick(mu, rnd);
    const reward = rnd() < p(a, s, u) ? VALUE : 0;
    rows.push({ action: a, reward, propensity: mu[a], x: { idx: [s, 4], val: [1, u] } });
    cells.push(TARGET_MAPS[s]![hi]!);
  }
  return { rows, candidate: (i) => cells[i]! };
}

describe('off-policy evaluation', () => {
  it('normalQuantile matches known quantiles', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963985, 8);
    expect(normalQuantile(0.995)).toBeCloseTo(2.575829304, 8);
    expect(normalQuantile(0.5)).toBeCloseTo(0, 12);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232306, 7);
  });

  it('matches hand-computed IPS, SNIPS and DR (means model) on four rows', () => {
    // Rows: (action, reward, μ). Candidate: always b.
    const rows: LoggedRow[] = [
      { action: 'a', reward: 1, propensity: 0.5 },
      { action: 'b', reward: 2, propensity: 0.5 },
      { action: 'b', reward: 0, propensity: 0.25 },
      { action: 'a', reward: 3, propensity: 0.75 },
    ];
    // Folds: rows 0,1 in fold 0 and rows 2,3 in fold 1, so q̂ for fold 0 comes from rows 2,3 and vice versa.
    const r = evaluatePolicy(rows, constantPolicy('b'), { folds: [0, 0, 1, 1], clip: Infinity });
    const by = (e: OpeEstimator) => r.estimates.find((x) => x.estimator === e)!;
    // IPS: weights 0, 2, 4, 0 → terms 0, 4, 0, 0 → 1.
    expect(by('ips').value.estimate).toBeCloseTo(1, 12);
    // se of terms (0,4,0,0): sample sd = 2 → se = 1.
    expect(by('ips').value.se).toBeCloseTo(1, 12);
    // SNIPS: (2·2 + 4·0) / (2 + 4) = 2/3.
    expect(by('snips').value.estimate).toBeCloseTo(2 / 3, 12);
    // Delta method: terms V + w(r − V)/w̄, w̄ = 1.5 → 2/3, 2/3 + 2(4/3)/1.5, 2/3 + 4(−2/3)/1.5, 2/3.
    const snipsTerms = [2 / 3, 2 / 3 + (2 * (4 / 3)) / 1.5, 2 / 3 - (4 * (2 / 3)) / 1.5, 2 / 3];
    expect(by('snips').value.se).toBeCloseTo(meanInterval(snipsTerms).se, 12);
    // DR with per-action means from the other fold: fold 0 sees q̂(b) = 0 (row 2), q̂(a) = 3 (row 3);
    // fold 1 sees q̂(b) = 2 (row 1), q̂(a) = 1 (row 0).
    // Terms: row0 0 + 0; row1 0 + 2(2 − 0) = 4; row2 2 + 4(0 − 2) = −6; row3 2 + 0 = 2 → mean 0.
    expect(r.rewardModel).toEqual({ kind: 'means', folds: 2 });
    expect(by('dr').value.estimate).toBeCloseTo(0, 12);
    expect(by('dr').value.se).toBeCloseTo(meanInterval([0, 4, -6, 2]).se, 12);
    // Logging: mean reward 1.5; Δ logging under IPS = mean(0−1, 4−2, 0−0, 0−3) = −0.5.
    expect(r.logging.estimate).toBeCloseTo(1.5, 12);
    expect(by('ips').vsLogging.estimate).toBeCloseTo(-0.5, 12);
    // Constant a under IPS: weights 2, 0, 0, 4/3 → terms 2, 0, 0, 4 → 1.5; b's own value is 1, so a is the best constant.
    expect(by('ips').constants.a!.estimate).toBeCloseTo(1.5, 12);
    expect(by('ips').bestConstant).toBe('a');
    expect(by('ips').vsBestConstant.estimate).toBeCloseTo(-0.5, 12);
    expect(by('ips').vsBestConstant.se).toBeCloseTo(meanInterval([0 - 2, 4 - 0, 0 - 0, 0 - 4]).se, 12);
    // ESS of weights 0, 2, 4, 0: 36 / 20.
    expect(r.ess).toBeCloseTo(1.8, 12);
    expect(r.clip).toEqual({ cap: Infinity, clippedRows: 0, maxWeight: 4 });
  });

  it('clips weights at the cap and reports it', () => {
    const rows: LoggedRow[] = [
      { action: 'a', reward: 1, propensity: 0.01 },
      { action: 'b', reward: 0, propensity: 0.99 },
    ];
    const r = evaluatePolicy(rows, constantPolicy('a'), { clip: 10, folds: [0, 1] });
    expect(r.clip).toEqual({ cap: 10, clippedRows: 1, maxWeight: 100 });
    // IPS with w = min(100, 10): (10·1 + 0) / 2.
    expect(r.estimates[0]!.value.estimate).toBeCloseTo(5, 12);
  });

  it('verdicts never claim what the interval does not support', () => {
    expect(opeVerdict({ estimate: 1, se: 0.4, lower: 0.2, upper: 1.8 })).toBe('better');
    expect(opeVerdict({ estimate: 1, se: 0.6, lower: -0.2, upper: 2.2 })).toBe('inconclusive');
    expect(opeVerdict({ estimate: -1, se: 0.4, lower: -1.8, upper: -0.2 })).toBe('worse');
    expect(opeVerdict({ estimate: 0, se: 0, lower: 0, upper: 0 })).toBe('inconclusive');
  });

  it('refuses bad input naming the field', () => {
    const ok: LoggedRow = { action: 'a', reward: 1, propensity: 0.5 };
    expect(() => evaluatePolicy([ok, { ...ok, propensity: 0 }], constantPolicy('a'))).toThrow(/Row 1: the propensity 0/);
    expect(() => evaluatePolicy([ok, { ...ok, reward: Number.NaN }], constantPolicy('a'))).toThrow(/Row 1: the reward/);
    expect(() => evaluatePolicy([ok, ok], () => new Map([['a', 0.7]]))).toThrow(/sum to 0.7/);
    expect(() => evaluatePolicy([ok, ok], () => new Map([['a', 1.5], ['b', -0.5]]))).toThrow(/gives b probability -0.5/);
    expect(() => evaluatePolicy([ok, ok], constantPolicy('a'), { lambda: 0 })).toThrow(/lambda must be a number > 0/);
    expect(() => evaluatePolicy([ok, ok], constantPolicy('a'), { folds: 1 })).toThrow(/at least 2 folds/);
    try {
      evaluatePolicy([ok, { ...ok, propensity: 1.5 }], constantPolicy('a'));
      expect.unreachable();
    } catch (e) {
      expect((e as { code: string; details: unknown }).code).toBe('VALIDATION_FAILED');
      expect((e as { details: unknown }).details).toEqual([{ path: 'rows.1.propensity', message: 'in (0, 1]' }]);
    }
  });

  it('folds are balanced and seeded; the ridge reward model predicts the held-out fold', () => {
    const f = assignFolds(103, 5, 7);
    const sizes = [0, 1, 2, 3, 4].map((k) => f.filter((x) => x === k).length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    expect(assignFolds(103, 5, 7)).toEqual(f);
    expect(assignFolds(103, 5, 8)).not.toEqual(f);
    // Noise-free linear rewards: the cross-fitted ridge recovers them on rows it never saw.
    const rows: LoggedRow[] = Array.from({ length: 400 }, (_, i) => {
      const u = (i * 37) % 101 / 100;
      const action = i % 2 ? 'a' : 'b';
      return { action, reward: action === 'a' ? 2 + 3 * u : 1 - u, propensity: 0.5, x: { idx: [0], val: [u] } };
    });
    const q = crossFitRewards(rows, { folds: 4, lambda: 1e-6 });
    expect(q.kind).toBe('ridge');
    for (const i of [0, 1, 50, 399]) {
      const u = rows[i]!.x!.val[0]!;
      expect(q.predict(i, q.actions.indexOf('a'))).toBeCloseTo(2 + 3 * u, 4);
      expect(q.predict(i, q.actions.indexOf('b'))).toBeCloseTo(1 - u, 4);
    }
  });

  it('the uniform policy on a uniformly logged set is the on-policy mean under SNIPS, exactly', () => {
    const rnd = seededRandom(3);
    const rows: LoggedRow[] = Array.from({ length: 300 }, () => ({ action: ACTIONS[Math.floor(rnd() * 3)]!, reward: rnd() * 5, propensity: 1 / 3 }));
    const r = evaluatePolicy(rows, uniformPolicy(['a', 'b', 'c']));
    expect(r.estimates.find((e) => e.estimator === 'snips')!.value.estimate).toBeCloseTo(r.logging.estimate, 12);
    expect(r.estimates.find((e) => e.estimator === 'ips')!.vsLogging.estimate).toBeCloseTo(0, 12);
    expect(r.ess).toBeCloseTo(300, 9);
  });

  it('95% intervals cover the true value in 93–97% of 1,000 seeded runs, for IPS, SNIPS and DR', () => {
    const RUNS = 1000;
    const covered: Record<OpeEstimator, number> = { ips: 0, snips: 0, dr: 0 };
    const bias: Record<OpeEstimator, number> = { ips: 0, snips: 0, dr: 0 };
    const started = Date.now();
    for (let run = 0; run < RUNS; run++) {
      const { rows, candidate } = simulate(2000, 1000 + run);
      const r = evaluatePolicy(rows, candidate, { seed: run });
      expect(r.rewardModel.kind).toBe('ridge');
      for (const e of r.estimates) {
        if (e.value.lower <= TRUE_VALUE && TRUE_VALUE <= e.value.upper) covered[e.estimator]++;
        bias[e.estimator] += (e.value.estimate - TRUE_VALUE) / RUNS;
      }
    }
    const share = Object.fromEntries(Object.entries(covered).map(([k, v]) => [k, v / RUNS]));
    console.log(`OPE coverage over ${RUNS} runs of 2,000 rows (true value ${TRUE_VALUE.toFixed(4)}):`, share, 'mean error', bias, `${Date.now() - started} ms`);
    for (const e of ['ips', 'snips', 'dr'] as const) {
      expect(share[e]).toBeGreaterThanOrEqual(0.93);
      expect(share[e]).toBeLessThanOrEqual(0.97);
      // Unbiased (IPS, DR) or nearly (SNIPS): the mean error is within ~3 standard errors of the mean over runs (se ≈ 0.1/√1000).
      expect(Math.abs(bias[e])).toBeLessThan(0.012);
    }
  });
});
