import { EigenvalueDecomposition, Matrix } from 'ml-matrix';

/**
 * Gauss–Hermite nodes and weights for E[f(Z)], Z ~ N(0, 1), by Golub–Welsch: the nodes are the
 * eigenvalues of the (probabilists') Hermite Jacobi matrix, the weights the squared first
 * components of its eigenvectors. Computed once, not typed in.
 */
function hermite(n: number): { z: number[]; w: number[] } {
  const j = new Matrix(n, n);
  for (let i = 1; i < n; i++) {
    j.set(i, i - 1, Math.sqrt(i));
    j.set(i - 1, i, Math.sqrt(i));
  }
  const e = new EigenvalueDecomposition(j, { assumeSymmetric: true });
  const v = e.eigenvectorMatrix;
  const z = e.realEigenvalues;
  const w = z.map((_, k) => v.get(0, k) ** 2);
  return { z, w };
}

/**
 * The 24-point rule without its outermost nodes (weights below 1e-9, six of them): each adds at
 * most its weight to a probability, under 5e-10 together, and they cost a quarter of the work.
 */
const GH = ((r) => {
  const keep = r.w.map((w, i) => (w >= 1e-9 ? i : -1)).filter((i) => i >= 0);
  return { z: keep.map((i) => r.z[i]!), w: keep.map((i) => r.w[i]!) };
})(hermite(24));

/**
 * Φ(z) from the Chebyshev-fitted erfc of Numerical Recipes (erfcc; relative error < 1.2e-7,
 * tested against @stdlib's normal CDF): what the log-CDF table below is built from.
 */
export function fastNormalCdf(z: number): number {
  const x = -z / Math.SQRT2;
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const r =
    t *
    Math.exp(
      -x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return 0.5 * (x >= 0 ? r : 2 - r);
}

/** The log-CDF table's range and step: Φ is 1 to double precision above the top, negligible below the bottom. */
const Z_MAX = 8.3;
const STEPS_PER_UNIT = 64;
const LOG_PHI = new Float64Array(Math.round(2 * Z_MAX * STEPS_PER_UNIT) + 2);
const LOG_PHI_SLOPE = new Float64Array(LOG_PHI.length);
for (let i = 0; i < LOG_PHI.length; i++) {
  const z = -Z_MAX + i / STEPS_PER_UNIT;
  const phi = fastNormalCdf(z);
  LOG_PHI[i] = Math.log(phi);
  // d log Φ / dz = φ(z) / Φ(z).
  LOG_PHI_SLOPE[i] = Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI) / phi;
}

/**
 * The interpolant of each step as a cubic in u ∈ [0, 1): four coefficients side by side (Horner's
 * rule, one contiguous read), the same polynomial as the Hermite form
 *   (2u³ − 3u² + 1)·L₀ + (u³ − 2u² + u)·h·S₀ + (3u² − 2u³)·L₁ + (u³ − u²)·h·S₁.
 */
const CUBIC = new Float64Array(4 * (LOG_PHI.length - 1));
for (let i = 0; i + 1 < LOG_PHI.length; i++) {
  const h = 1 / STEPS_PER_UNIT;
  const l0 = LOG_PHI[i]!;
  const l1 = LOG_PHI[i + 1]!;
  const s0 = h * LOG_PHI_SLOPE[i]!;
  const s1 = h * LOG_PHI_SLOPE[i + 1]!;
  CUBIC.set([l0, s0, -3 * l0 - 2 * s0 + 3 * l1 - s1, 2 * l0 + s0 - 2 * l1 + s1], 4 * i);
}

/**
 * log Φ(z) for |z| ≤ 8.3, by cubic Hermite interpolation of a table of log Φ and its slope at
 * steps of 1/64 (log Φ is smooth, so the interpolation adds under 1e-9 to fastNormalCdf's
 * 1.2e-7 relative error): products of many CDFs become sums, with one exp at the end.
 */
export function logNormalCdf(z: number): number {
  const x = (z + Z_MAX) * STEPS_PER_UNIT;
  const i = Math.min(LOG_PHI.length - 2, Math.max(0, Math.floor(x)));
  const u = x - i;
  const c = 4 * i;
  return CUBIC[c]! + u * (CUBIC[c + 1]! + u * (CUBIC[c + 2]! + u * CUBIC[c + 3]!));
}

/** log 1e-17: a product of CDFs below it adds nothing a probability can show. */
const LOG_NEGLIGIBLE = Math.log(1e-17);

/**
 * The probability that each of several independent normal variables N(mean[k], sd[k]²) is the
 * largest — Thompson sampling's action probabilities, computed instead of sampled, so a policy
 * that samples from them logs its propensity exactly:
 *   P(k best) = E_{t ~ N(mean_k, sd_k²)} Π_{j≠k} Φ((t − mean_j) / sd_j)
 * by 24-point Gauss–Hermite quadrature, then normalised to sum to 1. Accurate to ~1e-3 while the
 * sds are within a factor of three of each other (1e-8 when equal); a much narrower rival makes
 * the integrand step-like and the error grows (against a fine grid: ~5e-3 at a factor of four,
 * ~2e-2 at ten; test/learning-pbest.test.ts). The policy samples from exactly these numbers, so the
 * logged propensity is exact either way: the error is only how far the policy is from textbook
 * Thompson sampling.
 * A zero sd is a known value (a step function in the product).
 */
export function probabilityOfBest(mean: readonly number[], sd: readonly number[]): number[] {
  const k = mean.length;
  if (k === 0) return [];
  if (k === 1) return [1];
  // Rivals by mean, highest first: the product is then usually negligible after a factor or two.
  const ri = new Int32Array(k);
  for (let j = 0; j < k; j++) ri[j] = j;
  ri.sort((x, y) => mean[y]! - mean[x]! || x - y);
  const rm = new Float64Array(k);
  const rs = new Float64Array(k);
  for (let n = 0; n < k; n++) {
    rm[n] = mean[ri[n]!]!;
    rs[n] = sd[ri[n]!]!;
  }
  const out = new Array<number>(k).fill(0);
  for (let a = 0; a < k; a++) {
    const ma = mean[a]!;
    const sa = sd[a]!;
    // P(a best) ≤ P(a above the highest-mean rival) = Φ(gap / combined sd): below Φ(−7) ≈ 1e-12
    // it is left at 0 instead of integrated (most of a large catalog). Two known values that tie
    // give 0 / 0, which compares false and is integrated.
    const top = ri[0] === a ? 1 : 0;
    const gap = (ma - rm[top]!) / Math.sqrt(sa * sa + rs[top]! * rs[top]!);
    if (gap < -7) continue;
    if (sa === 0) {
      out[a] = productBelow(ma, a, rm, rs, ri);
      continue;
    }
    let p = 0;
    for (let i = 0; i < GH.z.length; i++) p += GH.w[i]! * productBelow(ma + sa * GH.z[i]!, a, rm, rs, ri);
    out[a] = p;
  }
  let total = 0;
  for (const p of out) total += p;
  if (!(total > 0)) {
    // Every action's chance underflowed (all certain, a tie at the top): share among the best means.
    const top = Math.max(...mean);
    const ties = mean.map((m) => (m === top ? 1 : 0));
    const n = ties.reduce((s: number, x) => s + x, 0);
    return ties.map((x) => x / n);
  }
  return out.map((p) => p / total);
}

/**
 * Π_{j≠skip} Φ((t − mean_j) / sd_j) over the rivals (means, sds and indexes in descending order
 * of mean), summed as logs. Once the product is below 1e-17 the node adds less than that to a
 * probability (its weight is below 1): it counts as 0, which only skips work — the policy samples
 * from what this returns, so the logged propensity stays exact.
 */
function productBelow(t: number, skip: number, rm: Float64Array, rs: Float64Array, ri: Int32Array): number {
  let log = 0;
  for (let n = 0; n < rm.length; n++) {
    if (ri[n] === skip) continue;
    const m = rm[n]!;
    const s = rs[n]!;
    if (s === 0) {
      if (t < m) return 0;
      if (t === m) log -= Math.LN2; // a tie with a known value: half the mass
      continue;
    }
    const z = (t - m) / s;
    if (z > Z_MAX) continue; // Φ = 1 to double precision
    if (z < -Z_MAX) return 0;
    log += logNormalCdf(z);
    if (log < LOG_NEGLIGIBLE) return 0;
  }
  return Math.exp(log);
}
