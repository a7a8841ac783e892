import { OfferpilotError } from '../errors.js';

/**
 * Qini and uplift curves for an uplift model scored on held-out randomized data. Units are
 * ranked by score, highest first; a point is taken only at the end of each group of tied scores,
 * so the curve does not depend on the order of ties. x is the fraction of units targeted.
 *   Qini    Q(k) = Y_T(k) − Y_C(k) · N_T(k)/N_C(k)             (Radcliffe; the control term is 0 while N_C(k) = 0)
 *   uplift  U(k) = (Y_T(k)/N_T(k) − Y_C(k)/N_C(k)) · k         (0 while either group is empty)
 * Y the outcome sums and N the counts of the treated (T) and control (C) units among the top k.
 */

/** One point of a curve: after the top `n` units (a `fraction` of all), the curve's value. */
export interface UpliftCurvePoint {
  n: number;
  fraction: number;
  value: number;
}

/** A curve with its area: AUUC (trapezoids over the fraction targeted), the random-targeting line's area, and their difference. */
export interface UpliftCurveSummary {
  curve: UpliftCurvePoint[];
  /** Area under the curve over x ∈ [0, 1] (trapezoids). */
  auuc: number;
  /** Area under the straight line from (0, 0) to the curve's end: what random ranking earns on average. */
  randomAuuc: number;
  /** auuc − randomAuuc: > 0 when the ranking beats random targeting (for the Qini curve, the Qini coefficient). */
  coefficient: number;
}

type Kind = 'qini' | 'uplift';

function curve(kind: Kind, scores: readonly number[], treated: readonly (boolean | number)[], outcome: readonly number[]): UpliftCurvePoint[] {
  const n = scores.length;
  if (treated.length !== n || outcome.length !== n) {
    throw new OfferpilotError('VALIDATION_FAILED', `scores, treated and outcome differ in length (${n}, ${treated.length}, ${outcome.length})`, [{ path: 'treated', message: 'one entry per score' }]);
  }
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(scores[i])) throw new OfferpilotError('VALIDATION_FAILED', `scores[${i}] is not a finite number`, [{ path: `scores.${i}`, message: 'a finite number' }]);
    if (!Number.isFinite(outcome[i])) throw new OfferpilotError('VALIDATION_FAILED', `outcome[${i}] is not a finite number`, [{ path: `outcome.${i}`, message: 'a finite number' }]);
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const out: UpliftCurvePoint[] = [{ n: 0, fraction: 0, value: 0 }];
  let nt = 0;
  let nc = 0;
  let yt = 0;
  let yc = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    if (treated[i]) {
      nt++;
      yt += outcome[i]!;
    } else {
      nc++;
      yc += outcome[i]!;
    }
    if (k + 1 < n && scores[order[k + 1]!] === scores[i]) continue;
    const value = kind === 'qini' ? (nc > 0 ? yt - (yc * nt) / nc : yt) : nt > 0 && nc > 0 ? (yt / nt - yc / nc) * (k + 1) : 0;
    out.push({ n: k + 1, fraction: (k + 1) / n, value });
  }
  return out;
}

function summarise(c: UpliftCurvePoint[]): UpliftCurveSummary {
  let area = 0;
  for (let j = 1; j < c.length; j++) area += ((c[j]!.fraction - c[j - 1]!.fraction) * (c[j]!.value + c[j - 1]!.value)) / 2;
  const end = c[c.length - 1]!;
  const randomAuuc = (end.fraction * end.value) / 2;
  return { curve: c, auuc: area, randomAuuc, coefficient: area - randomAuuc };
}

/** The Qini curve of `scores` (higher: more uplift expected) on randomized units, with its area and Qini coefficient. */
export function qini(scores: readonly number[], treated: readonly (boolean | number)[], outcome: readonly number[]): UpliftCurveSummary {
  return summarise(curve('qini', scores, treated, outcome));
}

/** The uplift curve of `scores` on randomized units, with its AUUC and the gain over random targeting. */
export function upliftCurve(scores: readonly number[], treated: readonly (boolean | number)[], outcome: readonly number[]): UpliftCurveSummary {
  return summarise(curve('uplift', scores, treated, outcome));
}
