import { OfferpilotError } from '../errors.js';
import { seededRandom } from '../runtime.js';
import { addRidge, emptyRidge, fitRidge, mergeRidge, predictRidge, type RidgeModel, type RidgeStats, type SparseX } from './linear.js';

/**
 * Off-policy evaluation: what a candidate policy would have earned on logs collected by another
 * (the logging) policy whose action probabilities were recorded. Three estimators, each with a
 * normal 95% interval from its per-row influence terms, so differences between two policies on the
 * same rows are paired and their interval is the difference's own (not two intervals compared):
 *   IPS    (1/n) Σ wᵢ rᵢ,                          wᵢ = min(π(aᵢ|xᵢ)/μᵢ, cap)
 *   SNIPS  Σ wᵢ rᵢ / Σ wᵢ                           (delta method)
 *   DR     (1/n) Σ [Σₐ π(a|xᵢ) q̂(xᵢ,a) + wᵢ (rᵢ − q̂(xᵢ,aᵢ))]   q̂ cross-fitted over K folds
 * Unclipped, IPS and DR are unbiased whenever every action the candidate may take had a positive
 * logged probability; SNIPS is consistent.
 */

/** One logged decision: the action taken, its reward, the probability the logging policy gave it, and the context. */
export interface LoggedRow {
  action: string;
  reward: number;
  /** μ(action | x): the logged probability of the action that was taken, in (0, 1]. */
  propensity: number;
  x?: SparseX;
}

/** A candidate policy as its action probabilities on each logged row (they must sum to 1). */
export type CandidatePolicy = (i: number, row: LoggedRow) => ReadonlyMap<string, number>;

export type OpeEstimator = 'ips' | 'snips' | 'dr';
export const OPE_ESTIMATORS: readonly OpeEstimator[] = ['ips', 'snips', 'dr'];

/** 'better' or 'worse' only when the interval of the difference excludes 0. */
export type OpeVerdict = 'better' | 'worse' | 'inconclusive';

/** A point estimate with its standard error and two-sided interval. */
export interface OpeInterval {
  estimate: number;
  se: number;
  lower: number;
  upper: number;
}

export interface OpeOptions {
  /** Largest importance weight π/μ kept (larger ones are capped; default 100, Infinity for none). */
  clip?: number;
  /** Number of cross-fitting folds (default 5), or the fold of each row (0…K−1) to reuse a split made elsewhere. */
  folds?: number | readonly number[];
  /** Seed of the random fold assignment (default 1). */
  seed?: number;
  /** Interval level (default 0.95). */
  level?: number;
  /** Ridge prior precision of the reward model (default 1). */
  lambda?: number;
  /** Actions to consider as constant policies and in the reward model (default: every logged action). */
  actions?: readonly string[];
}

/** One estimator's view of the candidate: its value and its paired differences to the logging policy and to the best constant action. */
export interface OpeEstimate {
  estimator: OpeEstimator;
  value: OpeInterval;
  /** Candidate − logging policy (the on-policy mean reward), paired per row. */
  vsLogging: OpeInterval;
  verdictVsLogging: OpeVerdict;
  /** The constant action with the highest estimate under this estimator. */
  bestConstant: string;
  /** Candidate − best constant action, paired per row. */
  vsBestConstant: OpeInterval;
  verdictVsBestConstant: OpeVerdict;
  /** Every constant action's value under this estimator. */
  constants: Record<string, OpeInterval>;
}

export interface OpeReport {
  n: number;
  level: number;
  actions: string[];
  /** The logging policy's value: the mean logged reward. */
  logging: OpeInterval;
  clip: {
    cap: number;
    /** Rows whose candidate weight was capped. */
    clippedRows: number;
    /** The largest candidate weight before capping. */
    maxWeight: number;
  };
  /** Effective sample size of the candidate's weights, (Σw)²/Σw². */
  ess: number;
  /** The candidate's mean probability on actions never logged: no estimator can see their reward. */
  unloggedMass: number;
  rewardModel: { kind: 'ridge' | 'means'; folds: number };
  estimates: OpeEstimate[];
  /** 'better' / 'worse' than the best constant action only if every estimator says so; otherwise 'inconclusive'. */
  verdict: OpeVerdict;
}

const DEFAULT_CLIP = 100;

/**
 * Φ⁻¹(p) by Acklam's rational approximation (relative error < 1.2e-9): enough for interval
 * quantiles, and it keeps the core free of a statistics package.
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile needs 0 < p < 1, got ${p}`);
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

/** Mean ± z·se of per-row terms (se from their sample variance). */
export function meanInterval(terms: ArrayLike<number>, level = 0.95): OpeInterval {
  const n = terms.length;
  let s = 0;
  for (let i = 0; i < n; i++) s += terms[i]!;
  const mean = n > 0 ? s / n : Number.NaN;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (terms[i]! - mean) ** 2;
  const se = n > 1 ? Math.sqrt(ss / (n - 1) / n) : Number.NaN;
  return around(mean, se, level);
}

function around(estimate: number, se: number, level: number): OpeInterval {
  const z = normalQuantile(0.5 + level / 2);
  return { estimate, se, lower: estimate - z * se, upper: estimate + z * se };
}

/** The verdict an interval of a difference supports: never a gain (or loss) whose interval includes 0. */
export function opeVerdict(diff: OpeInterval): OpeVerdict {
  if (diff.lower > 0) return 'better';
  if (diff.upper < 0) return 'worse';
  return 'inconclusive';
}

/** Always `action`. */
export function constantPolicy(action: string): CandidatePolicy {
  const m = new Map([[action, 1]]);
  return () => m;
}

/** Uniformly random over `actions`. */
export function uniformPolicy(actions: readonly string[]): CandidatePolicy {
  if (actions.length === 0) throw new OfferpilotError('VALIDATION_FAILED', 'A uniform policy needs at least one action', [{ path: 'actions', message: 'empty' }]);
  const m = new Map(actions.map((a) => [a, 1 / actions.length]));
  return () => m;
}

/** The fold (0…k−1) of each of `n` rows: a seeded shuffle dealt round-robin, so folds differ in size by at most one and do not follow the log's time order. */
export function assignFolds(n: number, k: number, seed = 1): number[] {
  if (!Number.isInteger(k) || k < 2) throw new OfferpilotError('VALIDATION_FAILED', `Cross-fitting needs at least 2 folds, got ${k}`, [{ path: 'folds', message: 'at least 2' }]);
  const order = Array.from({ length: n }, (_, i) => i);
  const rnd = seededRandom(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const folds = new Array<number>(n);
  order.forEach((row, pos) => (folds[row] = pos % k));
  return folds;
}

/** Cross-fitted reward predictions q̂(xᵢ, a) for each row and action, each from a model that never saw row i's fold. */
export interface CrossFit {
  kind: 'ridge' | 'means';
  actions: string[];
  folds: number[];
  k: number;
  /** q̂ row-major: values[i · actions.length + a]. */
  values: Float64Array;
  /** predict(i, a): q̂ for row i and action a (index into `actions`). */
  predict(i: number, a: number): number;
}

/**
 * Fits q̂(x, a) per action on all folds but one and predicts the held-out fold: a per-action
 * ridge on x when rows carry x (an intercept added), else per-action means. The ridge is fitted to
 * rewards minus the training folds' action mean, so the prior shrinks toward that mean and not
 * toward 0. An action without training rows in the other folds falls back to their overall mean.
 */
export function crossFitRewards(rows: readonly LoggedRow[], opts: { folds?: number | readonly number[]; seed?: number; lambda?: number; actions?: readonly string[] } = {}): CrossFit {
  const n = rows.length;
  const folds = typeof opts.folds === 'object' ? [...opts.folds] : assignFolds(n, opts.folds ?? 5, opts.seed ?? 1);
  if (folds.length !== n) throw new OfferpilotError('VALIDATION_FAILED', `folds has ${folds.length} entries for ${n} rows`, [{ path: 'folds', message: 'one fold per row' }]);
  const k = folds.reduce((m, f) => Math.max(m, f + 1), 0);
  for (let i = 0; i < n; i++) if (!Number.isInteger(folds[i]) || folds[i]! < 0) throw new OfferpilotError('VALIDATION_FAILED', `folds[${i}] is not a fold number`, [{ path: `folds.${i}`, message: 'a non-negative integer' }]);
  const lambda = opts.lambda ?? 1;
  // λ > 0 keeps XᵀX + λI positive definite whatever the features (collinear one-hot groups included).
  if (!(lambda > 0 && Number.isFinite(lambda))) throw new OfferpilotError('VALIDATION_FAILED', `lambda must be a number > 0, got ${lambda}`, [{ path: 'lambda', message: 'a number > 0' }]);
  const actions = opts.actions ? [...opts.actions] : distinctActions(rows);
  const index = new Map(actions.map((a, j) => [a, j]));
  const withX = n > 0 && rows.every((r) => r.x !== undefined);
  let d = 0;
  if (withX) for (const r of rows) for (const j of r.x!.idx) d = Math.max(d, j + 1);
  const dim = d + 1; // the last feature is the intercept
  const A = actions.length;
  // Per fold and action: count, reward sum, and (with x) ridge statistics of the reward.
  const cnt = new Float64Array(k * A);
  const sum = new Float64Array(k * A);
  const stats: RidgeStats[] = withX ? Array.from({ length: k * A }, () => emptyRidge(dim)) : [];
  const xs: SparseX[] = withX ? rows.map((r) => ({ idx: [...r.x!.idx, d], val: [...r.x!.val, 1] })) : [];
  for (let i = 0; i < n; i++) {
    const a = index.get(rows[i]!.action);
    if (a === undefined) continue;
    const c = folds[i]! * A + a;
    cnt[c]! += 1;
    sum[c]! += rows[i]!.reward;
  }
  // Means per held-out fold (training = every other fold).
  const mean = new Float64Array(k * A);
  const totalCnt = new Float64Array(A);
  const totalSum = new Float64Array(A);
  for (let f = 0; f < k; f++) for (let a = 0; a < A; a++) ((totalCnt[a]! += cnt[f * A + a]!), (totalSum[a]! += sum[f * A + a]!));
  const allCnt = totalCnt.reduce((s, v) => s + v, 0);
  const allSum = totalSum.reduce((s, v) => s + v, 0);
  for (let f = 0; f < k; f++) {
    let fc = 0;
    let fs = 0;
    for (let a = 0; a < A; a++) ((fc += cnt[f * A + a]!), (fs += sum[f * A + a]!));
    const fallback = allCnt - fc > 0 ? (allSum - fs) / (allCnt - fc) : 0;
    for (let a = 0; a < A; a++) {
      const c = totalCnt[a]! - cnt[f * A + a]!;
      mean[f * A + a] = c > 0 ? (totalSum[a]! - sum[f * A + a]!) / c : fallback;
    }
  }
  // Predictions are tabulated once: the estimators read each several times.
  const values = new Float64Array(n * A);
  const table = (kind: 'ridge' | 'means'): CrossFit => ({ kind, actions, folds, k, values, predict: (i, a) => values[i * A + a]! });
  if (!withX) {
    for (let i = 0; i < n; i++) for (let a = 0; a < A; a++) values[i * A + a] = mean[folds[i]! * A + a]!;
    return table('means');
  }
  // Ridge statistics per fold and action, then one model per (held-out fold, action) from the others' sums.
  for (let i = 0; i < n; i++) {
    const a = index.get(rows[i]!.action);
    if (a === undefined) continue;
    addRidge(stats[folds[i]! * A + a]!, xs[i]!, rows[i]!.reward);
  }
  const models: Array<RidgeModel | null> = new Array(k * A).fill(null);
  for (let a = 0; a < A; a++) {
    let total = emptyRidge(dim);
    for (let f = 0; f < k; f++) total = mergeRidge(total, stats[f * A + a]!);
    for (let f = 0; f < k; f++) {
      const s = stats[f * A + a]!;
      const train: RidgeStats = { d: dim, n: total.n - s.n, xtx: total.xtx.map((v, j) => v - s.xtx[j]!), xty: total.xty.map((v, j) => v - s.xty[j]!), yy: total.yy - s.yy };
      if (train.n <= 0) continue;
      // Centre on the training mean m: Xᵀ(y − m) = Xᵀy − m·Xᵀ1, and the intercept column is Xᵀ1.
      const m = mean[f * A + a]!;
      const xt1 = Array.from({ length: dim }, (_, j) => train.xtx[j * dim + d]!);
      const centred: RidgeStats = { ...train, xty: train.xty.map((v, j) => v - m * xt1[j]!), yy: Math.max(0, train.yy - 2 * m * train.xty[d]! + m * m * train.n) };
      models[f * A + a] = fitRidge(centred, { lambda, noise: 1 });
    }
  }
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < A; a++) {
      const c = folds[i]! * A + a;
      const m = models[c];
      values[i * A + a] = mean[c]! + (m ? predictRidge(m, xs[i]!).mean : 0);
    }
  }
  return table('ridge');
}

function distinctActions(rows: readonly LoggedRow[]): string[] {
  return [...new Set(rows.map((r) => r.action))].sort();
}

function checkRows(rows: readonly LoggedRow[]): void {
  if (rows.length < 2) throw new OfferpilotError('VALIDATION_FAILED', `Off-policy evaluation needs at least 2 logged rows, got ${rows.length}`, [{ path: 'rows', message: 'at least 2' }]);
  rows.forEach((r, i) => {
    if (typeof r.action !== 'string' || r.action === '') throw new OfferpilotError('VALIDATION_FAILED', `Row ${i}: the action is empty`, [{ path: `rows.${i}.action`, message: 'a non-empty string' }]);
    if (!Number.isFinite(r.reward)) throw new OfferpilotError('VALIDATION_FAILED', `Row ${i}: the reward is not a finite number`, [{ path: `rows.${i}.reward`, message: 'a finite number' }]);
    if (!(r.propensity > 0 && r.propensity <= 1)) throw new OfferpilotError('VALIDATION_FAILED', `Row ${i}: the propensity ${r.propensity} is not in (0, 1]`, [{ path: `rows.${i}.propensity`, message: 'in (0, 1]' }]);
  });
}

/** The per-row influence terms of each estimator for one policy, given the weights and q̂. */
interface PolicyTerms {
  ips: Float64Array;
  snips: Float64Array;
  dr: Float64Array;
}

/**
 * Evaluates `candidate` on `rows` by IPS, SNIPS and DR, with intervals and paired differences to
 * the logging policy and to the best constant action (chosen per estimator by its point
 * estimate, which if anything flatters the constant: a candidate called better has beaten it).
 */
export function evaluatePolicy(rows: readonly LoggedRow[], candidate: CandidatePolicy, opts: OpeOptions = {}): OpeReport {
  checkRows(rows);
  const n = rows.length;
  const level = opts.level ?? 0.95;
  if (!(level > 0 && level < 1)) throw new OfferpilotError('VALIDATION_FAILED', `level must be in (0, 1), got ${level}`, [{ path: 'level', message: 'in (0, 1)' }]);
  const cap = opts.clip ?? DEFAULT_CLIP;
  if (!(cap > 0)) throw new OfferpilotError('VALIDATION_FAILED', `clip must be > 0, got ${cap}`, [{ path: 'clip', message: 'a weight cap > 0' }]);
  const actions = opts.actions ? [...opts.actions] : distinctActions(rows);
  const logged = new Set(rows.map((r) => r.action));
  const q = crossFitRewards(rows, { folds: opts.folds, seed: opts.seed, lambda: opts.lambda, actions });
  const A = actions.length;
  const index = new Map(actions.map((a, j) => [a, j]));

  // The candidate's probabilities, once per row: on the logged action (for the weight) and on every action (for DR's direct term).
  const piLogged = new Float64Array(n);
  const direct = new Float64Array(n);
  let unlogged = 0;
  for (let i = 0; i < n; i++) {
    const row = rows[i]!;
    const probs = candidate(i, row);
    let total = 0;
    let dm = 0;
    probs.forEach((p, a) => {
      if (!(p >= 0) || !Number.isFinite(p)) throw new OfferpilotError('VALIDATION_FAILED', `Row ${i}: the candidate gives ${a} probability ${p}`, [{ path: `candidate.${i}.${a}`, message: 'a probability in [0, 1]' }]);
      total += p;
      if (!(p > 0)) return;
      const j = index.get(a);
      if (!logged.has(a)) unlogged += p;
      if (j !== undefined) dm += p * q.values[i * A + j]!;
    });
    if (Math.abs(total - 1) > 1e-6) throw new OfferpilotError('VALIDATION_FAILED', `Row ${i}: the candidate's probabilities sum to ${total}, not 1`, [{ path: `candidate.${i}`, message: 'probabilities summing to 1' }]);
    piLogged[i] = probs.get(row.action) ?? 0;
    direct[i] = dm;
  }

  // q̂ at the logged action, for every policy's correction term.
  const qLogged = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const a = index.get(rows[i]!.action);
    qLogged[i] = a === undefined ? 0 : q.values[i * A + a]!;
  }
  let clippedRows = 0;
  let maxWeight = 0;
  /** `pi[i]`: the policy's probability of the logged action; `dm[i]`: its expected q̂ on row i. */
  const termsOf = (pi: Float64Array, dm: Float64Array, track: boolean): PolicyTerms => {
    const w = new Float64Array(n);
    let sw = 0;
    let swr = 0;
    for (let i = 0; i < n; i++) {
      const raw = pi[i]! / rows[i]!.propensity;
      if (track) {
        maxWeight = Math.max(maxWeight, raw);
        if (raw > cap) clippedRows++;
      }
      w[i] = Math.min(raw, cap);
      sw += w[i]!;
      swr += w[i]! * rows[i]!.reward;
    }
    const ips = new Float64Array(n);
    const snips = new Float64Array(n);
    const dr = new Float64Array(n);
    // SNIPS's terms are V + wᵢ(rᵢ − V)/w̄: they average to V exactly and their spread is the
    // delta-method variance, so SNIPS and its paired differences go through meanInterval like the others.
    const v = sw > 0 ? swr / sw : 0;
    const wbar = sw / n;
    for (let i = 0; i < n; i++) {
      const r = rows[i]!.reward;
      ips[i] = w[i]! * r;
      snips[i] = wbar > 0 ? v + (w[i]! * (r - v)) / wbar : 0;
      dr[i] = dm[i]! + w[i]! * (r - qLogged[i]!);
    }
    return { ips, snips, dr };
  };

  const cand = termsOf(piLogged, direct, true);
  const constants = actions.map((a, j) => {
    const pi = new Float64Array(n);
    const dm = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      pi[i] = rows[i]!.action === a ? 1 : 0;
      dm[i] = q.values[i * A + j]!;
    }
    return termsOf(pi, dm, false);
  });
  const rewards = new Float64Array(n);
  for (let i = 0; i < n; i++) rewards[i] = rows[i]!.reward;
  const logging = meanInterval(rewards, level);

  const scratch = new Float64Array(n);
  const diff = (x: Float64Array, y: Float64Array) => {
    for (let i = 0; i < n; i++) scratch[i] = x[i]! - y[i]!;
    return meanInterval(scratch, level);
  };
  const estimates: OpeEstimate[] = OPE_ESTIMATORS.map((e) => {
    const value = meanInterval(cand[e], level);
    const consts: Record<string, OpeInterval> = {};
    let best = 0;
    constants.forEach((c, j) => {
      consts[actions[j]!] = meanInterval(c[e], level);
      if (consts[actions[j]!]!.estimate > consts[actions[best]!]!.estimate) best = j;
    });
    const vsLogging = diff(cand[e], rewards);
    const vsBest = A > 0 ? diff(cand[e], constants[best]![e]) : around(Number.NaN, Number.NaN, level);
    return {
      estimator: e,
      value,
      vsLogging,
      verdictVsLogging: opeVerdict(vsLogging),
      bestConstant: actions[best] ?? '',
      vsBestConstant: vsBest,
      verdictVsBestConstant: opeVerdict(vsBest),
      constants: consts,
    };
  });
  let sw = 0;
  let sw2 = 0;
  for (let i = 0; i < n; i++) {
    const w = Math.min(piLogged[i]! / rows[i]!.propensity, cap);
    sw += w;
    sw2 += w * w;
  }
  const verdicts = estimates.map((e) => e.verdictVsBestConstant);
  const verdict: OpeVerdict = verdicts.every((v) => v === 'better') ? 'better' : verdicts.every((v) => v === 'worse') ? 'worse' : 'inconclusive';
  return {
    n,
    level,
    actions,
    logging,
    clip: { cap, clippedRows, maxWeight },
    ess: sw2 > 0 ? (sw * sw) / sw2 : 0,
    unloggedMass: unlogged / n,
    rewardModel: { kind: q.kind, folds: q.k },
    estimates,
    verdict,
  };
}
