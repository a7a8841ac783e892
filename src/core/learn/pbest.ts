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

const GH = hermite(24);

/**
 * Φ(z) from the Chebyshev-fitted erfc of Numerical Recipes (erfcc; relative error < 1.2e-7,
 * tested against @stdlib's normal CDF): ~10× faster than the library's, and this runs
 * K × 16 × (K − 1) times per decision.
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
  // A variable that is below some other's value 8 sd down, 8 of its own sd up, is best with a
  // probability under 1e-15: it is left at 0 instead of integrated (most of a large catalog).
  let floor = -Infinity;
  for (let j = 0; j < k; j++) floor = Math.max(floor, mean[j]! - 8 * sd[j]!);
  // Rivals by mean, highest first: the product is then usually negligible after a factor or two.
  const rivals = Array.from({ length: k }, (_, j) => j).sort((x, y) => mean[y]! - mean[x]! || x - y);
  const out = new Array<number>(k).fill(0);
  for (let a = 0; a < k; a++) {
    const ma = mean[a]!;
    const sa = sd[a]!;
    if (ma + 8 * sa < floor) continue;
    if (sa === 0) {
      out[a] = productBelow(ma, a, mean, sd, rivals);
      continue;
    }
    let p = 0;
    for (let i = 0; i < GH.z.length; i++) p += GH.w[i]! * productBelow(ma + sa * GH.z[i]!, a, mean, sd, rivals);
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
 * Π_{j≠skip} Φ((t − mean_j) / sd_j), rivals taken in `order`. Once the product is below 1e-17 the
 * node adds less than that to a probability (its weight is below 1): it counts as 0, which only
 * skips work — the policy samples from what this returns, so the logged propensity stays exact.
 */
function productBelow(t: number, skip: number, mean: readonly number[], sd: readonly number[], order: readonly number[]): number {
  let prod = 1;
  for (let n = 0; n < order.length; n++) {
    const j = order[n]!;
    if (j === skip) continue;
    const s = sd[j]!;
    const z = s === 0 ? (t > mean[j]! ? Infinity : t < mean[j]! ? -Infinity : 0) : (t - mean[j]!) / s;
    if (z > 8.3) continue; // Φ = 1 to double precision
    if (z < -8.3) return 0;
    prod *= z === 0 && s === 0 ? 0.5 : fastNormalCdf(z);
    if (prod < 1e-17) return 0;
  }
  return prod;
}
