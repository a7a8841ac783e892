import chisquareCdf from '@stdlib/stats-base-dists-chisquare-cdf';
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';
import { OfferpilotError } from '../core/errors.js';

/** z such that P(|Z| ≤ z) = level (two-sided). */
export const zFor = (level: number) => normalQuantile(1 - (1 - level) / 2, 0, 1);

/**
 * One arm, aggregated per randomization unit (a customer): for each unit, its sessions (n) and
 * outcome sums (y). Sessions of one customer are not independent, so every variance below is
 * computed over units, not sessions.
 */
export class UnitSums {
  units = 0;
  n = 0;
  y = 0;
  private nn = 0;
  private yy = 0;
  private ny = 0;

  /** Adds one unit with `n` sessions and outcome total `y`. */
  add(n: number, y: number): void {
    this.units++;
    this.n += n;
    this.y += y;
    this.nn += n * n;
    this.yy += y * y;
    this.ny += n * y;
  }

  /** Adds `units` units at once from their session moments (Σn, Σn²) with no outcome yet. */
  addMoments(units: number, n: number, nn: number): void {
    this.units += units;
    this.n += n;
    this.nn += nn;
  }

  /** Adds the outcome of a unit already counted by addMoments. */
  addOutcome(n: number, y: number): void {
    this.y += y;
    this.yy += y * y;
    this.ny += n * y;
  }

  /** Ratio of sums: outcome per session (e.g. CM per session); 0 with no sessions (see ratioOrNull). */
  get ratio(): number {
    return this.n > 0 ? this.y / this.n : 0;
  }

  /** The ratio for display: null with no sessions, where 0 would pass an empty arm off as data. */
  get ratioOrNull(): number | null {
    return this.n > 0 ? this.y / this.n : null;
  }

  /** Why this arm cannot give a variance (null when it can). */
  get insufficient(): InsufficientReason | null {
    if (this.units === 0) return 'empty_arm';
    if (this.units < 2) return 'too_few_units';
    if (this.n === 0) return 'no_sessions';
    return null;
  }

  /**
   * Variance of the ratio estimator by the delta method over units:
   * Var(Ȳ/N̄) ≈ (s_y² − 2R·s_ny + R²·s_n²) / (m · N̄²), with sample (co)variances (m − 1).
   * With one session per unit it is the plain variance of a mean, s_y²/m (Welch's per-arm term).
   * Null when it cannot be estimated (fewer than 2 units, or no sessions): a sample variance of
   * one unit is undefined, and NaN would leak into every interval built on it.
   */
  get ratioVariance(): number | null {
    const m = this.units;
    if (m < 2 || this.n === 0) return null;
    const mn = this.n / m;
    const my = this.y / m;
    const sn = (this.nn - m * mn * mn) / (m - 1);
    const sy = (this.yy - m * my * my) / (m - 1);
    const sny = (this.ny - m * mn * my) / (m - 1);
    const r = this.y / this.n;
    return Math.max(0, sy - 2 * r * sny + r * r * sn) / (m * mn * mn);
  }
}

/**
 * Why a statistic is absent: an arm with no customers, one customer (no variance), no sessions,
 * no variation at all (no standard error, so no p-value), or a zero baseline (no relative lift).
 */
export type InsufficientReason = 'empty_arm' | 'too_few_units' | 'no_sessions' | 'zero_variance' | 'zero_baseline';

/** Why treatment against control gives no interval (null when it does). */
export const insufficientPair = (t: UnitSums, c: UnitSums): InsufficientReason | null => t.insufficient ?? c.insufficient;

/** An estimate with a confidence interval. */
export interface Interval {
  estimate: number;
  lower: number;
  upper: number;
  se: number;
}

/** Treatment − control of two ratio metrics (Welch: unequal variances, normal quantile); null when an arm gives no variance (see insufficientPair). */
export function difference(t: UnitSums, c: UnitSums, level = 0.95): Interval | null {
  const vt = t.ratioVariance;
  const vc = c.ratioVariance;
  if (vt === null || vc === null) return null;
  const est = t.ratio - c.ratio;
  const se = Math.sqrt(vt + vc);
  const z = zFor(level);
  return { estimate: est, lower: est - z * se, upper: est + z * se, se };
}

/** Relative lift t/c − 1 with a delta-method interval (null when control is 0 or an arm gives no variance). */
export function relativeLift(t: UnitSums, c: UnitSums, level = 0.95): Interval | null {
  const rc = c.ratio;
  const vt = t.ratioVariance;
  const vc = c.ratioVariance;
  if (rc === 0 || vt === null || vc === null) return null;
  const rt = t.ratio;
  const est = rt / rc - 1;
  const se = Math.sqrt(vt / (rc * rc) + (rt * rt * vc) / (rc * rc * rc * rc));
  if (!Number.isFinite(est) || !Number.isFinite(se)) return null;
  const z = zFor(level);
  return { estimate: est, lower: est - z * se, upper: est + z * se, se };
}

/** Sample-ratio-mismatch test: observed units per arm against the designed shares (chi-square). */
export function srm(observed: number[], expectedShares: number[], alpha = 0.001): { chi2: number; pValue: number; mismatch: boolean; expected: number[] } {
  const total = observed.reduce((a, b) => a + b, 0);
  const expected = expectedShares.map((s) => s * total);
  let chi2 = 0;
  observed.forEach((o, i) => {
    const e = expected[i]!;
    if (e > 0) chi2 += ((o - e) * (o - e)) / e;
  });
  const df = observed.length - 1;
  const pValue = total > 0 && df > 0 ? 1 - chisquareCdf(chi2, df) : 1;
  return { chi2, pValue, mismatch: pValue < alpha, expected };
}

/** Two-sided p-value of an estimate with standard error `se` against 0; null with no standard error (zero variance), where no test exists. */
export const pValue = (estimate: number, se: number): number | null => (se > 0 && Number.isFinite(se) && Number.isFinite(estimate) ? 2 * (1 - normalCdf(Math.abs(estimate / se), 0, 1)) : null);

/**
 * An always-valid interval (asymptotic confidence sequence, normal mixture; Waudby-Smith et al.
 * 2023, "Time-uniform central limit theory"): looking at it after every new unit keeps the
 * chance of ever excluding the truth below 1 − level. `n` is the number of units so far, `se`
 * the usual standard error, `plannedUnits` where the sequence is tightest. Null with no units
 * (the width divides by n).
 */
export function confidenceSequence(estimate: number, se: number, n: number, level = 0.95, plannedUnits = 10_000): Interval | null {
  if (!(n > 0) || !Number.isFinite(se) || !Number.isFinite(estimate)) return null;
  const alpha = 1 - level;
  const rho2 = (-2 * Math.log(alpha) + Math.log(-2 * Math.log(alpha) + 1)) / plannedUnits;
  const k = n * rho2 + 1;
  const half = se * Math.sqrt(((2 * k) / (n * rho2)) * Math.log(Math.sqrt(k) / alpha));
  return { estimate, lower: estimate - half, upper: estimate + half, se };
}

/**
 * Planning: the minimum detectable effect for a difference in means with per-unit standard
 * deviation `sd`, `units` randomized with `holdoutShare` held out, or the units needed for `mde`.
 */
export function sampleSize(opts: { sd: number; holdoutShare: number; level?: number; power?: number; units?: number; mde?: number }): { mde: number; units: number } {
  const z = zFor(opts.level ?? 0.95) + normalQuantile(opts.power ?? 0.8, 0, 1);
  const h = opts.holdoutShare;
  // Var(diff) = sd²/(N(1−h)) + sd²/(N h) = sd² / (N h (1−h)).
  const factor = (z * opts.sd) ** 2 / (h * (1 - h));
  const r = opts.units !== undefined ? { units: opts.units, mde: Math.sqrt(factor / opts.units) } : opts.mde !== undefined ? { mde: opts.mde, units: Math.ceil(factor / (opts.mde * opts.mde)) } : null;
  if (r === null) throw new OfferpilotError('VALIDATION_FAILED', 'give units or mde', [{ path: 'customers', message: 'give exactly one of customers or mde' }]);
  // Extreme inputs overflow a double: say which, rather than answer Infinity (or 0 customers).
  if (!Number.isFinite(r.mde) || !Number.isFinite(r.units) || r.units < 1 || r.mde <= 0) {
    throw new OfferpilotError('VALIDATION_FAILED', `No finite answer for sd ${opts.sd} with ${opts.units !== undefined ? `${opts.units} customers` : `mde ${opts.mde}`}: the inputs are out of range`, [{ path: 'sd', message: 'out of range for a finite answer' }]);
  }
  return r;
}
