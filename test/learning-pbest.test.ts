/**
 * The probability that each action is best under independent normal posteriors, which the
 * contextual policy samples from and logs as its propensity: against the closed form for two,
 * a fine-grid integral for several (the accuracy pbest.ts states), Thompson draws for what it
 * means, the exact step for known values, and the normal CDF it is built on against @stdlib's.
 */
import cdf from '@stdlib/stats-base-dists-normal-cdf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fastNormalCdf, logNormalCdf, probabilityOfBest } from '../src/core/learn/pbest.js';
import { topIndices } from '../src/core/learn/policies.js';
import { seededRandom } from '../src/core/runtime.js';

/** P(each best) by the trapezoid rule on a grid far finer than any sd: the reference. */
function fineGrid(mean: number[], sd: number[], n = 60_000): number[] {
  const lo = Math.min(...mean.map((m, j) => m - 9 * sd[j]!));
  const hi = Math.max(...mean.map((m, j) => m + 9 * sd[j]!));
  const h = (hi - lo) / n;
  return mean.map((ma, a) => {
    let s = 0;
    for (let i = 0; i <= n; i++) {
      const t = lo + i * h;
      let p = Math.exp(-0.5 * ((t - ma) / sd[a]!) ** 2) / (sd[a]! * Math.sqrt(2 * Math.PI));
      for (let j = 0; j < mean.length && p > 0; j++) if (j !== a) p *= cdf(t, mean[j]!, sd[j]!);
      s += (i === 0 || i === n ? 0.5 : 1) * p;
    }
    return s * h;
  });
}
const maxError = (p: number[], q: number[]) => Math.max(...p.map((x, j) => Math.abs(x - q[j]!)));

describe('probabilityOfBest', () => {
  it('two variables: P(A > B) = Φ((μA − μB) / √(σA² + σB²)), to 1e-3 with sds within a factor of three, 1e-7 when equal', () => {
    fc.assert(
      fc.property(fc.double({ min: -50, max: 50, noNaN: true }), fc.double({ min: -50, max: 50, noNaN: true }), fc.double({ min: 1, max: 3, noNaN: true }), fc.double({ min: 1, max: 3, noNaN: true }), fc.double({ min: 0.01, max: 100, noNaN: true }), (ma, mb, sa, sb, scale) => {
        const [pa, pb] = probabilityOfBest([ma * scale, mb * scale], [sa * scale, sb * scale]);
        const exact = cdf((ma - mb) / Math.hypot(sa, sb), 0, 1);
        expect(Math.abs(pa! - exact)).toBeLessThan(1e-3);
        expect(pa! + pb!).toBeCloseTo(1, 12);
        expect(Math.abs(probabilityOfBest([ma, mb], [sa, sa])[0]! - cdf((ma - mb) / (Math.SQRT2 * sa), 0, 1))).toBeLessThan(1e-7);
      }),
      { numRuns: 400 },
    );
  });

  it('several variables: the accuracy stated in pbest.ts, against a fine-grid integral', () => {
    // Within a factor of three; then four; then ten.
    const close = { mean: [10, 9.5, 8, 12, 11.8], sd: [2, 3, 1.2, 1.5, 1] };
    expect(maxError(probabilityOfBest(close.mean, close.sd), fineGrid(close.mean, close.sd))).toBeLessThan(1e-3);
    const four = { mean: [0, 0.5, 1], sd: [2, 1, 0.5] };
    expect(maxError(probabilityOfBest(four.mean, four.sd), fineGrid(four.mean, four.sd))).toBeLessThan(5e-3);
    const ten = { mean: [0, 1], sd: [1, 10] };
    expect(maxError(probabilityOfBest(ten.mean, ten.sd), fineGrid(ten.mean, ten.sd))).toBeLessThan(3e-2);
  });

  it('means what Thompson sampling does: within 4 standard errors of 400,000 draws', () => {
    const mean = [10, 9.5, 8, 12, 2, -40, 11.8];
    const sd = [2, 3, 1.2, 1.5, 3, 1, 1];
    const p = probabilityOfBest(mean, sd);
    const random = seededRandom(3);
    const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    const n = 400_000;
    const wins = new Array<number>(mean.length).fill(0);
    for (let i = 0; i < n; i++) {
      let best = 0;
      let v = -Infinity;
      for (let j = 0; j < mean.length; j++) {
        const x = mean[j]! + sd[j]! * normal();
        if (x > v) [best, v] = [j, x];
      }
      wins[best]!++;
    }
    for (let j = 0; j < mean.length; j++) {
      const f = wins[j]! / n;
      expect(Math.abs(p[j]! - f), `action ${j}: ${p[j]} vs ${f}`).toBeLessThanOrEqual(4 * Math.sqrt((p[j]! * (1 - p[j]!)) / n) + 1e-4);
    }
    // Far below the others: exactly none of it (not integrated at all).
    expect(p[5]).toBe(0);
  });

  it('known values: the largest mean wins, ties share, a known value against an uncertain one', () => {
    expect(probabilityOfBest([1, 3, 2], [0, 0, 0])).toEqual([0, 1, 0]);
    expect(probabilityOfBest([3, 3, 1], [0, 0, 0])).toEqual([0.5, 0.5, 0]);
    // A known 0 against N(1, 1): P(N(1,1) > 0) = Φ(1), to a step-like integrand's accuracy.
    const [known, unsure] = probabilityOfBest([0, 1], [0, 1]);
    expect(Math.abs(unsure! - cdf(1, 0, 1))).toBeLessThan(0.015);
    expect(known! + unsure!).toBeCloseTo(1, 12);
    expect(probabilityOfBest([], [])).toEqual([]);
    expect(probabilityOfBest([5], [2])).toEqual([1]);
  });
});

describe('fastNormalCdf', () => {
  it('agrees with @stdlib to 1.2e-7 relative error over the range that matters', () => {
    for (let z = -8.3; z <= 8.3; z += 0.01) {
      const want = cdf(z, 0, 1);
      expect(Math.abs(fastNormalCdf(z) - want) / want, `z = ${z}`).toBeLessThan(1.2e-7);
    }
  });
});

describe('logNormalCdf', () => {
  it('agrees with the log of @stdlib’s normal CDF to 2e-7 over the range that matters, between the table’s steps too', () => {
    for (let z = -8.3; z <= 8.3; z += 0.0037) {
      const want = Math.log(cdf(z, 0, 1));
      expect(Math.abs(logNormalCdf(z) - want), `z = ${z}`).toBeLessThan(2e-7);
    }
  });
});

describe('topIndices (the actions whose probability of best is computed)', () => {
  it('is a stable descending sort’s first k, for any values with ties', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -5, max: 5 }), { maxLength: 40 }), fc.integer({ min: 1, max: 14 }), (xs, k) => {
        const values = Float64Array.from(xs, (x) => x / 2);
        const sorted = xs.map((_, j) => j).sort((a, b) => values[b]! - values[a]! || a - b);
        expect(topIndices(values, k)).toEqual(sorted.slice(0, k));
      }),
      { numRuns: 500 },
    );
  });
});
