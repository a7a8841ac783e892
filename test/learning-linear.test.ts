/**
 * The ridge posterior the contextual learner is built on, against numbers worked out by hand, and
 * the sparse covariance a published state keeps: predicting from the kept pairs gives exactly
 * what the whole matrix gives, for any request.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addRidge, columnsOf, cooccurring, emptyRidge, fitRidge, fitRidgeShared, layoutOf, pairIndex, predictAll, predictRidge } from '../src/core/learn/linear.js';
import { seededRandom } from '../src/core/runtime.js';

describe('ridge posterior', () => {
  it('matches the closed form on a two-feature example', () => {
    // x = [1, 0] → y 1 (twice), x = [1, 1] → y 0; λ = 1, prior mean 0:
    // XᵀX + I = [[4, 1], [1, 2]], Xᵀy = [2, 0] → θ = [[2, −1], [−1, 4]] / 7 · [2, 0] = [4/7, −2/7].
    const s = emptyRidge(2);
    addRidge(s, { idx: [0], val: [1] }, 1);
    addRidge(s, { idx: [0], val: [1] }, 1);
    addRidge(s, { idx: [0, 1], val: [1, 1] }, 0);
    const m = fitRidge(s, { lambda: 1, noise: 0.25, noiseWeight: 0 });
    expect(m.mean[0]).toBeCloseTo(4 / 7, 12);
    expect(m.mean[1]).toBeCloseTo(-2 / 7, 12);
    // RSS = (1 − 4/7)² · 2 + (0 − 2/7)² = 22/49, over n = 3 with no prior weight; cov = σ² (XᵀX + I)⁻¹.
    const noise = 22 / 49 / 3;
    expect(m.noise).toBeCloseTo(noise, 12);
    expect(m.cov).toEqual([(2 / 7) * noise, (-1 / 7) * noise, (-1 / 7) * noise, (4 / 7) * noise].map((v) => expect.closeTo(v, 12)));
    // A prior mean pulls toward itself: with no data the posterior is the prior.
    expect(fitRidge(emptyRidge(2), { lambda: 3, mean: [0.2, -0.1], noise: 0.1 }).mean).toEqual([expect.closeTo(0.2, 12), expect.closeTo(-0.1, 12)]);
  });
});

/**
 * Segments whose effects are drawn from N(0, τ²), each seen `perSegment` times with noise σ²,
 * split over `models` models (as offers share one precision): what empirical Bayes should find
 * is λ = σ²/τ².
 */
function segmentData(seed: number, tau: number, sigma: number, segments: number, perSegment: number, models: number) {
  const random = seededRandom(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const d = 1 + segments;
  const stats = Array.from({ length: models }, () => emptyRidge(d));
  for (let g = 0; g < segments; g++) {
    const effect = tau * normal();
    const s = stats[g % models]!;
    for (let i = 0; i < perSegment; i++) addRidge(s, { idx: [0, 1 + g], val: [1, 1] }, 0.5 + effect + sigma * normal());
  }
  const group = [0, ...new Array<number>(segments).fill(1)];
  return { stats, group, means: stats.map(() => new Array<number>(d).fill(0)) };
}

describe('weighted rows', () => {
  it('keep XᵀX exactly symmetric for any values and weight, so the fit never refuses it', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.double({ min: 0.01, max: 3, noNaN: true }), fc.double({ min: 0.01, max: 3, noNaN: true }), fc.double({ min: 0.05, max: 20, noNaN: true })), { minLength: 1, maxLength: 20 }), (rows) => {
        const s = emptyRidge(3);
        for (const [a, b, w] of rows) addRidge(s, { idx: [0, 1, 2], val: [1, a, b] }, a > 1 ? 1 : 0, w);
        for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) expect(s.xtx[i * 3 + j]).toBe(s.xtx[j * 3 + i]);
        expect(() => fitRidge(s, { lambda: 1, noise: 0.1 })).not.toThrow();
      }),
    );
  });
});

describe('shared prior precision (empirical Bayes)', () => {
  it('recovers σ²/τ² from how much segments differ, from any guess below it; a guess above it is the floor', () => {
    // τ = 0.2, σ = 0.5: λ = 0.25 / 0.04 = 6.25; 60 segments estimate τ² to about ±20%.
    const { stats, group, means } = segmentData(3, 0.2, 0.5, 60, 200, 3);
    for (const start of [2, 4]) {
      const fit = fitRidgeShared(stats, means, group, [1, start], { noise: 0.25, noiseWeight: 0, fixed: [0], iterations: 20 });
      expect(fit.lambda[0]).toBe(1);
      expect(fit.lambda[1]).toBeGreaterThan(6.25 / 1.6);
      expect(fit.lambda[1]).toBeLessThan(6.25 * 1.6);
      expect(fit.models).toHaveLength(3);
    }
    expect(fitRidgeShared(stats, means, group, [1, 40], { noise: 0.25, noiseWeight: 0, fixed: [0], iterations: 20 }).lambda[1]).toBe(40);
  });

  it('one step per round, carried over, follows the same fixed point as the steps taken at once', () => {
    const { stats, group, means } = segmentData(5, 0.2, 0.5, 40, 150, 2);
    const opts = { noise: 0.25, noiseWeight: 0, fixed: [0] };
    const atOnce = fitRidgeShared(stats, means, group, [1, 2], { ...opts, iterations: 8 });
    let carried = fitRidgeShared(stats, means, group, [1, 2], { ...opts, iterations: 0 });
    for (let round = 1; round <= 8; round++) carried = fitRidgeShared(stats, means, group, [1, 2], { ...opts, iterations: 0, start: carried.next });
    expect(carried.lambda[1]).toBeCloseTo(atOnce.lambda[1]!, 9);
    expect(carried.models[0]!.mean).toEqual(atOnce.models[0]!.mean.map((v) => expect.closeTo(v, 9)));
    // A start below the guess (or garbage) never loosens it.
    expect(fitRidgeShared(stats, means, group, [1, 2], { ...opts, iterations: 0, start: [1, 0.1] }).lambda).toEqual([1, 2]);
    expect(fitRidgeShared(stats, means, group, [1, 2], { ...opts, iterations: 0, start: [1, Number.NaN] }).lambda).toEqual([1, 2]);
  });

  it('pools hard where segments do not differ, and keeps the guess where there are no data', () => {
    const same = segmentData(4, 0, 0.5, 60, 200, 2);
    const pooled = fitRidgeShared(same.stats, same.means, same.group, [1, 20], { noise: 0.25, noiseWeight: 0, fixed: [0], iterations: 30 });
    // Differing segments gave about 6; identical ones far more (the noise is not taken for a difference).
    expect(pooled.lambda[1]).toBeGreaterThan(60);
    // Each segment's coefficient (pure noise here) is pulled toward zero: far below a fit without the prior.
    const size = (ms: Array<{ mean: number[] }>) => ms.flatMap((m) => m.mean.slice(1).map(Math.abs)).reduce((a, b) => a + b, 0);
    const free = same.stats.map((st, i) => fitRidge(st, { lambda: same.group.map((g) => (g === 0 ? 1 : 1e-6)), mean: same.means[i]!, noise: 0.25, noiseWeight: 0 }));
    expect(size(pooled.models)).toBeLessThan(0.5 * size(free));
    const empty = fitRidgeShared([emptyRidge(3)], [[0, 0, 0]], [0, 1, 1], [2, 40], { noise: 0.1, fixed: [0] });
    expect(empty.lambda).toEqual([2, expect.closeTo(40, 9)]);
  });
});

describe('sparse covariance (the pairs a state keeps)', () => {
  it('predicting from the kept pairs equals predicting from the whole matrix, for any model and request', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 9 }),
        fc.array(fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 1, maxLength: 5 }),
        (d, rows, request) => {
          // Rows of co-occurring features decide which pairs are kept; the fit is whatever they give.
          const s = emptyRidge(d);
          rows.forEach((r, k) => {
            const idx = [...new Set(r.filter((i) => i < d))];
            if (idx.length) addRidge(s, { idx, val: idx.map(() => 1) }, k % 2);
          });
          const m = fitRidge(s, { lambda: 2, noise: 0.2 });
          const pairs = cooccurring([s], d);
          const kept = pairs.map((p) => m.cov[p]!);
          // The whole matrix the kept entries stand for: zero where two features never met.
          const dense = new Array<number>(d * d).fill(0);
          pairs.forEach((p, k) => {
            const i = Math.floor(p / d);
            const j = p % d;
            dense[i * d + j] = kept[k]!;
            dense[j * d + i] = kept[k]!;
          });
          const idx = [...new Set(request.filter((i) => i < d))];
          const x = { idx, val: idx.map((_, k) => 1 + k / 4) };
          const sparse = predictRidge({ d, mean: m.mean, cov: kept }, x, pairIndex(d, pairs));
          const full = predictRidge({ d, mean: m.mean, cov: dense }, x);
          expect(sparse.mean).toBe(full.mean);
          expect(sparse.variance).toBeCloseTo(full.variance, 12);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the index is symmetric and marks what is not kept', () => {
    const at = pairIndex(3, [0, 1, 4, 8]);
    expect([...at]).toEqual([0, 1, -1, 1, 2, -1, -1, -1, 3]);
  });

  it('all models predicted at once (column by column, the dose as a scale) equal each model predicted alone', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 9 }),
        fc.array(fc.array(fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 0, max: 6 }),
        fc.double({ min: 0, max: 3, noNaN: true }),
        (d, perModel, request, split, dose) => {
          const stats = perModel.map((rows) => {
            const s = emptyRidge(d);
            rows.forEach((r, k) => {
              const idx = [...new Set(r.filter((i) => i < d))];
              if (idx.length) addRidge(s, { idx, val: idx.map(() => 1) }, k % 2);
            });
            return s;
          });
          const models = stats.map((s) => fitRidge(s, { lambda: 1.5, noise: 0.2 }));
          const pairs = cooccurring(stats, d);
          const at = pairIndex(d, pairs);
          // The request: distinct features, the first `split` at 1 and the rest at the dose (some beyond d, ignored).
          const idx = [...new Set(request)];
          const cut = Math.min(split, idx.length);
          const cols = columnsOf(d, pairs.length, models.map((m) => ({ mean: m.mean, cov: (k: number) => m.cov[pairs[k]!]! })));
          const all = predictAll(cols, layoutOf(d, idx, cut, at));
          const kept = idx.map((i, k) => [i, k < cut ? 1 : dose] as const).filter(([i]) => i < d);
          const x = { idx: kept.map(([i]) => i), val: kept.map(([, v]) => v) };
          models.forEach((m, a) => {
            const alone = predictRidge({ d, mean: m.mean, cov: pairs.map((p) => m.cov[p]!) }, x, at);
            expect(all.one[a]! + dose * all.scaled[a]!).toBeCloseTo(alone.mean, 12);
            expect(Math.max(0, all.aa[a]! + dose * (2 * all.ab[a]! + dose * all.bb[a]!))).toBeCloseTo(alone.variance, 12);
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});
