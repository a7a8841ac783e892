/**
 * Delayed rewards. Decisions with a known conversion rate and exponential decision→order delays
 * are evaluated at a moment when many are still in flight. Counting every decision as a trial now
 * (naive) is biased low; weighting each decision by F(age), the share of delays up to its age, the
 * way the trainer does (closed decisions count 1, open ones F(age)), is not. The estimator is the
 * trainer's ratio Σy / Σw, with a delta-method standard error.
 */
import { describe, expect, it } from 'vitest';
import { closingHorizon, delayCdf, truncatedDelayCdf } from '../src/core/learn/delay.js';
import { seededRandom } from '../src/core/runtime.js';

const H = 3_600_000;
const WINDOW = 7 * 24 * H;
const P = 0.08;
const MEAN_DELAY = 12 * H;
const RUNS = 250;

interface Row {
  age: number;
  y: number;
  lag: number | null;
}

/** N decisions made uniformly over the last `span` ms; each converts with P after an Exp(MEAN_DELAY) delay. */
function simulate(seed: number, n: number, span: number): Row[] {
  const r = seededRandom(seed);
  const rows: Row[] = [];
  for (let i = 0; i < n; i++) {
    const age = r() * span;
    const converts = r() < P;
    const delay = -Math.log(1 - r()) * MEAN_DELAY;
    const seen = converts && delay <= age && delay <= WINDOW;
    rows.push({ age, y: seen ? 1 : 0, lag: seen ? delay : null });
  }
  return rows;
}

/** Final delays from decisions whose window closed long ago (what the trainer keeps in its statistics). */
function finalLags(seed: number, n: number): number[] {
  const r = seededRandom(seed ^ 0x5bd1e995);
  return Array.from({ length: n }, () => -Math.log(1 - r()) * MEAN_DELAY);
}

/** The trainer's weighting: a decision older than the closing horizon is a whole trial, a younger one F(age). */
function estimate(rows: Row[], F: (age: number) => number, horizon: number): { p: number; se: number } {
  const w = rows.map((x) => (x.age > horizon ? 1 : F(x.age)));
  let sy = 0;
  let sw = 0;
  for (let i = 0; i < rows.length; i++) {
    sy += rows[i]!.y;
    sw += w[i]!;
  }
  const p = sy / sw;
  let v = 0;
  for (let i = 0; i < rows.length; i++) v += (rows[i]!.y - p * w[i]!) ** 2;
  return { p, se: Math.sqrt(v) / sw };
}

interface Summary {
  coverage: number;
  meanError: number;
  seOfMean: number;
}

function summarise(estimates: Array<{ p: number; se: number }>): Summary {
  const errors = estimates.map((e) => e.p - P);
  const meanError = errors.reduce((s, x) => s + x, 0) / errors.length;
  const sd = Math.sqrt(errors.reduce((s, x) => s + (x - meanError) ** 2, 0) / (errors.length - 1));
  const covered = estimates.filter((e) => Math.abs(e.p - P) <= 1.96 * e.se).length;
  return { coverage: covered / estimates.length, meanError, seOfMean: sd / Math.sqrt(errors.length) };
}

/** Runs RUNS seeded worlds and the three estimators on each. */
function experiment(n: number, span: number, storedLags: number) {
  const naive: Array<{ p: number; se: number }> = [];
  const knownF: Array<{ p: number; se: number }> = [];
  const trainerF: Array<{ p: number; se: number }> = [];
  const exact = (a: number) => (a >= WINDOW ? 1 : 1 - Math.exp(-a / MEAN_DELAY));
  let inFlight = 0;
  for (let s = 1; s <= RUNS; s++) {
    const rows = simulate(s, n, span);
    inFlight += rows.reduce((k, x) => k + (x.age < WINDOW ? 1 - exact(x.age) : 0), 0) / rows.length;
    naive.push(estimate(rows, () => 1, 0));
    knownF.push(estimate(rows, exact, Infinity));
    // As the trainer builds F: the stored final delays (whole) plus those of young decisions that
    // already converted (each seen only because it fits within its decision's age).
    const final = finalLags(s, storedLags);
    const lags = [...final, ...rows.flatMap((x) => (x.lag === null ? [] : [x.lag]))].sort((a, b) => a - b);
    const seen = [...final.map((lag) => ({ lag, age: WINDOW })), ...rows.flatMap((x) => (x.lag === null ? [] : [{ lag: x.lag, age: x.age }]))];
    trainerF.push(estimate(rows, truncatedDelayCdf(seen, WINDOW), closingHorizon(lags, WINDOW)));
  }
  const out = { naive: summarise(naive), knownF: summarise(knownF), trainerF: summarise(trainerF), inFlight: inFlight / RUNS };
  if (process.env.LEARNING_DELAY_REPORT) console.log(JSON.stringify({ n, spanH: span / H, storedLags, ...out }));
  return out;
}

describe('delayCdf and closingHorizon', () => {
  it('F is the share of delays up to the age, with a uniform prior worth k0 delays; 0 at 0, 1 from the window on', () => {
    const lags = [1, 2, 3, 4];
    const F = delayCdf(lags, 10);
    expect(F(0)).toBe(0);
    expect(F(-5)).toBe(0);
    expect(F(10)).toBe(1);
    expect(F(1e9)).toBe(1);
    expect(F(2.5)).toBeCloseTo((2 + 5 * 0.25) / 9, 12);
    // A delay equal to the age counts (≤).
    expect(F(2)).toBeCloseTo((2 + 5 * 0.2) / 9, 12);
    expect(delayCdf(lags, 10, 0)(3.5)).toBe(0.75);
    // No delays seen: the prior alone, uniform over the window.
    expect(delayCdf([], 10)(4)).toBeCloseTo(0.4, 12);
    // Monotone in the age.
    const G = delayCdf(finalLags(3, 500).sort((a, b) => a - b), WINDOW);
    let prev = 0;
    for (let a = 0; a <= WINDOW; a += H) {
      expect(G(a)).toBeGreaterThanOrEqual(prev);
      prev = G(a);
    }
  });

  it('the empirical F of many exponential delays approaches 1 − e^(−t/mean)', () => {
    const lags = finalLags(7, 2000).sort((a, b) => a - b);
    const F = delayCdf(lags, WINDOW);
    // Kolmogorov–Smirnov at 99% for n = 2000 is 1.63/√n ≈ 0.036; the weak prior moves F by < 5/2005.
    for (const t of [1, 6, 12, 24, 48].map((h) => h * H)) expect(Math.abs(F(t) - (1 - Math.exp(-t / MEAN_DELAY)))).toBeLessThan(0.036 + 0.003);
  });

  it('closing horizon: the whole window until 30 delays, then 3 × the 99th percentile, at least minMs, at most the window', () => {
    expect(closingHorizon(Array.from({ length: 29 }, () => 1), WINDOW)).toBe(WINDOW);
    const hundred = Array.from({ length: 100 }, (_, i) => (i + 1) * 1000);
    // q99 = the 100th smallest = 100 s: 300 s.
    expect(closingHorizon(hundred, WINDOW)).toBe(300_000);
    expect(closingHorizon(hundred.map((x) => x / 100), WINDOW)).toBe(5000);
    expect(closingHorizon(hundred.map((x) => x / 100), WINDOW, 1000)).toBe(3000);
    expect(closingHorizon(hundred.map((x) => x * 10_000), WINDOW)).toBe(WINDOW);
    // Exponential delays, mean 12 h: q99 ≈ 55 h, horizon ≈ 166 h (< the 7-day window).
    const h = closingHorizon(finalLags(11, 2000).sort((a, b) => a - b), WINDOW);
    expect(h / H).toBeGreaterThan(150);
    expect(h / H).toBeLessThan(168);
  });
});

describe(`delay-weighted vs naive estimates of a conversion rate (${RUNS} seeded runs)`, () => {
  it('three days of decisions, 12 h mean delay: naive is biased low, F-weighted covers the truth 93–97%', () => {
    const r = experiment(2000, 3 * 24 * H, 0);
    // About a sixth of the conversions are still in flight: (12 h / 72 h)(1 − e^−6).
    expect(r.inFlight).toBeCloseTo((12 / 72) * (1 - Math.exp(-6)), 2);
    expect(r.naive.meanError).toBeLessThan(-20 * r.naive.seOfMean);
    expect(r.naive.meanError / P).toBeCloseTo(-r.inFlight, 1);
    expect(r.naive.coverage).toBeLessThan(0.5);
    expect(Math.abs(r.knownF.meanError)).toBeLessThan(3 * r.knownF.seOfMean);
    expect(r.knownF.coverage).toBeGreaterThanOrEqual(0.93);
    expect(r.knownF.coverage).toBeLessThanOrEqual(0.97);
    // F estimated as the trainer does, from the young decisions' delays only (a new campaign): close.
    expect(r.trainerF.coverage).toBeGreaterThanOrEqual(0.9);
    expect(Math.abs(r.trainerF.meanError / P)).toBeLessThan(0.03);
  });

  it('one day of decisions with 2000 final delays in the statistics (steady state): the trainer’s F covers 93–97%', () => {
    const r = experiment(2000, 24 * H, 2000);
    expect(r.naive.meanError).toBeLessThan(-20 * r.naive.seOfMean);
    expect(r.naive.coverage).toBeLessThan(0.05);
    expect(Math.abs(r.knownF.meanError)).toBeLessThan(3 * r.knownF.seOfMean);
    for (const s of [r.knownF, r.trainerF]) {
      expect(s.coverage).toBeGreaterThanOrEqual(0.93);
      expect(s.coverage).toBeLessThanOrEqual(0.97);
    }
    expect(Math.abs(r.trainerF.meanError / P)).toBeLessThan(0.02);
  });

  // A campaign's first day, 12 h mean delay: the plain share of seen delays is biased (right
  // truncation: a young decision shows only a delay shorter than its age; ~21% low). Lynden-Bell's
  // estimator removes that part; what remains is the delays longer than every decision's age,
  // which no data can show yet (F is identified only up to the oldest age: a 24 h campaign cannot
  // see that 13.5% of delays exceed 24 h). It closes as decisions age (the steady-state case above).
  it('a campaign’s first day (no final delays yet): truncation-aware F removes the truncation part of the bias', () => {
    const r = experiment(2000, 24 * H, 0);
    const plain: number[] = [];
    for (let s = 1; s <= RUNS; s++) {
      const rows = simulate(s, 2000, 24 * H);
      const lags = rows.flatMap((x) => (x.lag === null ? [] : [x.lag])).sort((a, b) => a - b);
      plain.push(estimate(rows, delayCdf(lags, WINDOW), closingHorizon(lags, WINDOW)).p - P);
    }
    const plainError = plain.reduce((a, b) => a + b, 0) / plain.length;
    expect(plainError / P).toBeLessThan(-0.15);
    // Measured: naive −43%, plain share −21%, truncation-aware −13% (of the true rate).
    expect(Math.abs(r.trainerF.meanError / P)).toBeLessThan(0.16);
    expect(Math.abs(r.trainerF.meanError)).toBeLessThan(Math.abs(r.naive.meanError) / 3);
    expect(Math.abs(r.trainerF.meanError)).toBeLessThan(Math.abs(plainError) * 0.75);
  });
});
