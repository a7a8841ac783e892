import { CholeskyDecomposition, Matrix } from 'ml-matrix';

/**
 * Bayesian linear regression (ridge) kept as sufficient statistics, so observations from any
 * number of processes add up in the store and a model is refitted from the sums alone:
 *   θ ~ N(m0, σ²/λ · I),  y = θ·x + ε,  ε ~ N(0, σ²)
 *   posterior mean  (XᵀX + λI)⁻¹ (Xᵀy + λ m0),  covariance σ² (XᵀX + λI)⁻¹.
 * σ² is estimated from the residuals, shrunk toward a prior guess so a young model is not overconfident.
 */

/** A sparse feature vector: parallel index and value arrays (indices distinct). */
export interface SparseX {
  idx: readonly number[];
  val: readonly number[];
}

/** The sufficient statistics of one linear model over `d` features (plain arrays: they are stored as JSON). */
export interface RidgeStats {
  d: number;
  /** Σ w (observations, weighted). */
  n: number;
  /** XᵀX, row-major d×d (both triangles kept). */
  xtx: number[];
  /** Xᵀy. */
  xty: number[];
  /** Σ y². */
  yy: number;
}

/** Empty statistics over `d` features. */
export function emptyRidge(d: number): RidgeStats {
  return { d, n: 0, xtx: new Array<number>(d * d).fill(0), xty: new Array<number>(d).fill(0), yy: 0 };
}

/** Adds one observation: `w` its weight (1 for a plain row). */
export function addRidge(s: RidgeStats, x: SparseX, y: number, w = 1): void {
  const { idx, val } = x;
  const d = s.d;
  for (let i = 0; i < idx.length; i++) {
    const a = idx[i]!;
    const v = val[i]!;
    s.xty[a]! += v * w * y;
    // w·(vᵢ·vⱼ), not (vᵢ·w)·vⱼ: the same rounding on both sides of the diagonal keeps XᵀX exactly symmetric.
    for (let j = 0; j < idx.length; j++) s.xtx[a * d + idx[j]!]! += w * (v * val[j]!);
  }
  s.n += w;
  s.yy += w * y * y;
}

/** a + b (same dimension), as new statistics. */
export function mergeRidge(a: RidgeStats, b: RidgeStats): RidgeStats {
  if (a.d !== b.d) throw new Error(`dimension mismatch ${a.d} vs ${b.d}`);
  return { d: a.d, n: a.n + b.n, xtx: a.xtx.map((v, i) => v + b.xtx[i]!), xty: a.xty.map((v, i) => v + b.xty[i]!), yy: a.yy + b.yy };
}

/** Grows statistics to `d` features (new features unseen so far: zero rows and columns). */
export function growRidge(s: RidgeStats, d: number): RidgeStats {
  if (d <= s.d) return s;
  const out = emptyRidge(d);
  for (let i = 0; i < s.d; i++) {
    out.xty[i] = s.xty[i]!;
    for (let j = 0; j < s.d; j++) out.xtx[i * d + j] = s.xtx[i * s.d + j]!;
  }
  out.n = s.n;
  out.yy = s.yy;
  return out;
}

/**
 * The statistics of the features at `at` (ascending indices) alone: exactly those of the same
 * rows had they never carried the other features.
 */
export function pickRidge(s: RidgeStats, at: readonly number[]): RidgeStats {
  const d = at.length;
  const out = emptyRidge(d);
  for (let i = 0; i < d; i++) {
    out.xty[i] = s.xty[at[i]!]!;
    for (let j = 0; j < d; j++) out.xtx[i * d + j] = s.xtx[at[i]! * s.d + at[j]!]!;
  }
  out.n = s.n;
  out.yy = s.yy;
  return out;
}

/** A fitted model: the posterior mean and covariance of θ, and the noise variance. */
export interface RidgeModel {
  d: number;
  mean: number[];
  /** Posterior covariance of θ, row-major d×d. */
  cov: number[];
  noise: number;
  n: number;
}

export interface RidgePrior {
  /** Prior precision per unit of noise (larger: stronger pull toward `mean`), for every coefficient or one each. */
  lambda: number | readonly number[];
  /** Prior mean of θ (default 0). */
  mean?: readonly number[];
  /** Prior guess of the noise variance, worth `noiseWeight` observations. */
  noise: number;
  noiseWeight?: number;
}

/** Fits the posterior from statistics and a prior. */
export function fitRidge(s: RidgeStats, prior: RidgePrior): RidgeModel {
  const d = s.d;
  const m0 = prior.mean ?? new Array<number>(d).fill(0);
  const a = new Matrix(d, d);
  const rhs = new Matrix(d, 1);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) a.set(i, j, s.xtx[i * d + j]!);
    const l = typeof prior.lambda === 'number' ? prior.lambda : prior.lambda[i]!;
    a.set(i, i, a.get(i, i) + l);
    rhs.set(i, 0, s.xty[i]! + l * (m0[i] ?? 0));
  }
  const chol = new CholeskyDecomposition(a);
  const theta = chol.solve(rhs).getColumn(0);
  const inv = chol.solve(Matrix.eye(d, d));
  // Residual sum of squares from the sums: Σ(y − θx)² = yy − 2θ·Xᵀy + θᵀXᵀXθ.
  let txy = 0;
  let quad = 0;
  for (let i = 0; i < d; i++) {
    txy += theta[i]! * s.xty[i]!;
    let row = 0;
    for (let j = 0; j < d; j++) row += s.xtx[i * d + j]! * theta[j]!;
    quad += theta[i]! * row;
  }
  const rss = Math.max(0, s.yy - 2 * txy + quad);
  const w0 = prior.noiseWeight ?? 10;
  const noise = (rss + w0 * prior.noise) / (s.n + w0);
  const cov = new Array<number>(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) cov[i * d + j] = noise * inv.get(i, j);
  return { d, mean: theta, cov, noise, n: s.n };
}

/**
 * The posterior predictive of θ·x: its mean and variance (not including the observation noise).
 * `cov` is the whole d×d matrix, or — with `at` from pairIndex — only the entries kept at some pairs.
 */
export function predictRidge(m: { d: number; mean: ArrayLike<number>; cov: ArrayLike<number> }, x: SparseX, at?: Int32Array): { mean: number; variance: number } {
  const { idx, val } = x;
  const d = m.d;
  let mean = 0;
  let variance = 0;
  // The covariance is symmetric: each pair once, doubled (half the work of the full sum).
  for (let i = 0; i < idx.length; i++) {
    const a = idx[i]!;
    if (a >= d) continue;
    const vi = val[i]!;
    mean += m.mean[a]! * vi;
    const row = a * d;
    const kd = at ? at[row + a]! : row + a;
    let cross = 0;
    for (let j = i + 1; j < idx.length; j++) {
      const b = idx[j]!;
      if (b >= d) continue;
      const k = at ? at[row + b]! : row + b;
      if (k >= 0) cross += m.cov[k]! * val[j]!;
    }
    variance += vi * ((kd >= 0 ? m.cov[kd]! * vi : 0) + 2 * cross);
  }
  return { mean, variance: Math.max(0, variance) };
}

/**
 * A request's features laid out once for every model over the same vocabulary and kept pairs:
 * the features `idx` (ones, then `idx.length − split` entries that share one scale, the dose) and
 * where each pair's covariance sits. Predicting for an action is then a few sums over the kept
 * entries — the pair lookups, a large table read at random, are paid once per request instead of
 * once per action.
 */
export interface Layout {
  d: number;
  /** The features at value 1. */
  one: Int32Array;
  /** The features at the scale (the dose). */
  scaled: Int32Array;
  /** Kept covariance entries among the ones, and each one's multiplicity (1 on the diagonal, 2 off it). */
  aa: Int32Array;
  aw: Float64Array;
  /** Kept entries between a one and a scaled feature (each counted twice). */
  ab: Int32Array;
  /** Kept entries among the scaled features, with their multiplicities. */
  bb: Int32Array;
  bw: Float64Array;
}

/** The layout of `idx` (the first `split` at value 1, the rest scaled) over the covariance entries kept at `at` (pairIndex). */
export function layoutOf(d: number, idx: readonly number[], split: number, at: Int32Array): Layout {
  const keep = idx.filter((i) => i < d);
  const nOne = idx.slice(0, split).filter((i) => i < d).length;
  const aa: number[] = [];
  const aw: number[] = [];
  const ab: number[] = [];
  const bb: number[] = [];
  const bw: number[] = [];
  for (let i = 0; i < keep.length; i++) {
    for (let j = i; j < keep.length; j++) {
      const k = at[keep[i]! * d + keep[j]!]!;
      if (k < 0) continue;
      const w = i === j ? 1 : 2;
      if (j < nOne) {
        aa.push(k);
        aw.push(w);
      } else if (i < nOne) ab.push(k);
      else {
        bb.push(k);
        bw.push(w);
      }
    }
  }
  return { d, one: Int32Array.from(keep.slice(0, nOne)), scaled: Int32Array.from(keep.slice(nOne)), aa: Int32Array.from(aa), aw: Float64Array.from(aw), ab: Int32Array.from(ab), bb: Int32Array.from(bb), bw: Float64Array.from(bw) };
}

/**
 * Many models over one vocabulary and one set of kept covariance entries, stored column by
 * column: entry k of model a at [k·n + a]. A request reads the same few entries of every
 * model, so predicting for all of them reads contiguous runs (see predictAll).
 */
export interface ModelColumns {
  /** Models. */
  n: number;
  /** Posterior means, d·n. */
  mean: Float64Array;
  /** Kept covariance entries, (kept pairs)·n. */
  cov: Float64Array;
}

/** Columns of `models`, each with its mean over d features and its covariance at the kept entries (`cov[k]` for pair k). */
export function columnsOf(d: number, pairCount: number, models: ReadonlyArray<{ mean: ArrayLike<number>; cov: (k: number) => number }>): ModelColumns {
  const n = models.length;
  const mean = new Float64Array(d * n);
  const cov = new Float64Array(pairCount * n);
  models.forEach((m, a) => {
    for (let i = 0; i < d; i++) mean[i * n + a] = m.mean[i] ?? 0;
    for (let k = 0; k < pairCount; k++) cov[k * n + a] = m.cov(k);
  });
  return { n, mean, cov };
}

/**
 * Every model's prediction for a laid-out request (slots into the kept pairs the columns were
 * built over), in parts: with its scaled features at s, model a predicts
 *   mean = one[a] + s·scaled[a],  variance = aa[a] + s·(2·ab[a] + s·bb[a])
 * (predictRidge's, term for term).
 */
export function predictAll(c: ModelColumns, l: Layout): { one: Float64Array; scaled: Float64Array; aa: Float64Array; ab: Float64Array; bb: Float64Array } {
  return { one: sumColumns(c.n, l.one, c.mean), scaled: sumColumns(c.n, l.scaled, c.mean), aa: sumColumns(c.n, l.aa, c.cov, l.aw), ab: sumColumns(c.n, l.ab, c.cov), bb: sumColumns(c.n, l.bb, c.cov, l.bw) };
}

/** Per model (of n, stored column by column), Σ over `rows` of w[r]·m[row] (w absent: 1). */
export function sumColumns(n: number, rows: ArrayLike<number>, m: Float64Array, w?: Float64Array): Float64Array {
  const out = new Float64Array(n);
  for (let r = 0; r < rows.length; r++) {
    const at = rows[r]! * n;
    const k = w ? w[r]! : 1;
    for (let a = 0; a < n; a++) out[a]! += k * m[at + a]!;
  }
  return out;
}

/** The upper-triangle entries (i·d + j, i ≤ j) where any of the statistics saw both features together. */
export function cooccurring(stats: readonly RidgeStats[], d: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      for (const s of stats) {
        if (i < s.d && j < s.d && s.xtx[i * s.d + j] !== 0) {
          out.push(i * d + j);
          break;
        }
      }
    }
  }
  return out;
}

/**
 * Where each (i, j) entry of a symmetric d×d matrix kept at `pairs` sits in the kept values
 * (both triangles; −1: not kept, zero). One index serves every model over the same pairs.
 */
export function pairIndex(d: number, pairs: readonly number[]): Int32Array {
  const at = new Int32Array(d * d).fill(-1);
  for (let k = 0; k < pairs.length; k++) {
    const i = Math.floor(pairs[k]! / d);
    const j = pairs[k]! - i * d;
    at[i * d + j] = k;
    at[j * d + i] = k;
  }
  return at;
}

/** Models fitted together, the prior precisions they were fitted with, and the next fixed-point step's. */
export interface SharedFit {
  models: RidgeModel[];
  lambda: number[];
  /** The precisions one more step would fit with: carried to the next round, the fixed point is followed over rounds. */
  next: number[];
}

/**
 * Fits several models whose coefficients share, per group (a token's depth in the segment tree),
 * one prior precision chosen from the data — empirical Bayes by MacKay's evidence fixed point:
 *   τ²_g = Σ δ² / Σ γ over the group's coefficients in every model,  λ_g = σ² / τ²_g,
 * δ a coefficient's distance from its prior mean, γ = 1 − λ·(A⁻¹)_jj how far the data determine
 * it. A hand-set precision is too weak where segments barely differ: every cell's noise is then
 * taken for a difference, and sampling explores it. `guess` is that precision, worth `weight`
 * coefficients of evidence (a young model keeps it until data outweigh it), and the floor: it
 * encodes the tree (a deeper segment shrinks at least as hard as its parent), so the data may
 * only say that segments differ less than it assumed. `start` (default the guess) is where the
 * iterations begin — the last round's `next`, so a trainer takes one step per round instead of
 * several (each step a full fit of every model). Groups in `fixed` keep the guess.
 */
export function fitRidgeShared(
  stats: readonly RidgeStats[],
  means: ReadonlyArray<readonly number[]>,
  group: readonly number[],
  guess: readonly number[],
  opts: { noise: number; noiseWeight?: number; fixed?: readonly number[]; weight?: number; iterations?: number; start?: readonly number[] },
): SharedFit {
  const usable = opts.start && opts.start.length === guess.length && opts.start.every((x) => Number.isFinite(x) && x > 0);
  let lambda = guess.map((l, g) => (opts.fixed?.includes(g) || !usable ? l : Math.max(l, opts.start![g]!)));
  const weight = opts.weight ?? 3;
  const iterations = opts.iterations ?? 4;
  for (let it = 0; ; it++) {
    const models = stats.map((s, i) => fitRidge(s, { lambda: group.map((g) => lambda[g]!), mean: means[i]!, noise: opts.noise, noiseWeight: opts.noiseWeight ?? 10 }));
    const next = models.length === 0 ? [...lambda] : step(models, means, group, guess, lambda, weight, opts.fixed);
    if (it === iterations || models.length === 0) return { models, lambda, next };
    lambda = next;
  }
}

/** One fixed-point step of fitRidgeShared from models fitted with `lambda`. */
function step(models: readonly RidgeModel[], means: ReadonlyArray<readonly number[]>, group: readonly number[], guess: readonly number[], lambda: readonly number[], weight: number, fixed?: readonly number[]): number[] {
  const noise = models.reduce((a, m) => a + m.noise, 0) / models.length;
  const num = guess.map((l) => (weight * noise) / l);
  const den = guess.map(() => weight);
  models.forEach((m, i) => {
    const m0 = means[i]!;
    for (let j = 0; j < m.d; j++) {
      const g = group[j]!;
      const delta = m.mean[j]! - (m0[j] ?? 0);
      const gamma = Math.min(1, Math.max(0, 1 - (lambda[g]! * m.cov[j * m.d + j]!) / m.noise));
      num[g]! += delta * delta;
      den[g]! += gamma;
    }
  });
  return guess.map((l, g) => {
    if (fixed?.includes(g)) return l;
    const tau2 = num[g]! / den[g]!;
    return tau2 > 0 ? Math.min(1e5, Math.max(l, noise / tau2)) : 1e5;
  });
}
