import { parse } from 'csv-parse/sync';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { OfferpilotError } from '../core/errors.js';
import { difference, pValue, relativeLift, srm, UnitSums, type InsufficientReason, type Interval } from './stats.js';

/** Which column holds the arm, which of its values are treatment and control, and the outcomes to compare. */
export interface CsvReportSpec {
  arm: string;
  treatment: string[];
  control: string[];
  outcomes: string[];
  /** Designed share of treatment among treatment + control units, for the sample-ratio check. */
  expectedTreatmentShare?: number;
  level?: number;
}

export interface CsvOutcome {
  outcome: string;
  treatment: { mean: number; sd: number };
  control: { mean: number; sd: number };
  difference: Interval;
  relativeLift: Interval | null;
  /** Null when neither arm varies (no standard error): `reason` says so. */
  z: number | null;
  pValue: number | null;
  reason: InsufficientReason | null;
}

/** The same comparison as an incrementality report, for an external randomized experiment (one row per randomized unit). */
export interface CsvReport {
  arm: string;
  treatment: { values: string[]; units: number };
  control: { values: string[]; units: number };
  level: number;
  outcomes: CsvOutcome[];
  srm: { expectedTreatmentShare: number; chi2: number; pValue: number; mismatch: boolean } | null;
  /** Rows in neither arm. */
  otherRows: number;
}

/** Reads a CSV (or .csv.gz) file with a header row. */
export function readCsv(path: string): Array<Record<string, string>> {
  const buf = readFileSync(path);
  const text = (path.endsWith('.gz') ? gunzipSync(buf) : buf).toString('utf8');
  return parse(text, { columns: true, skip_empty_lines: true, trim: true }) as Array<Record<string, string>>;
}

/**
 * Treatment against control on each outcome: per-arm means, the difference with a Welch
 * (normal) interval, the relative lift by the delta method, and a sample-ratio check.
 */
export function csvReport(rows: Array<Record<string, string>>, spec: CsvReportSpec): CsvReport {
  const level = spec.level ?? 0.95;
  const header = rows.length > 0 ? Object.keys(rows[0]!) : [];
  for (const col of [spec.arm, ...spec.outcomes]) {
    if (!header.includes(col)) throw new OfferpilotError('VALIDATION_FAILED', `Column ${col} is not in the file (columns: ${header.join(', ')})`, [{ path: col, message: 'no such column' }]);
  }
  const t = new Set(spec.treatment);
  const c = new Set(spec.control);
  const sums = spec.outcomes.map(() => ({ t: new UnitSums(), c: new UnitSums() }));
  let nt = 0;
  let nc = 0;
  let other = 0;
  rows.forEach((row, i) => {
    const arm = row[spec.arm]!;
    const side = t.has(arm) ? 't' : c.has(arm) ? 'c' : null;
    if (side === null) {
      other++;
      return;
    }
    if (side === 't') nt++;
    else nc++;
    spec.outcomes.forEach((col, k) => {
      const raw = row[col]!;
      const v = Number(raw);
      if (raw === '' || !Number.isFinite(v)) {
        throw new OfferpilotError('VALIDATION_FAILED', `Row ${i + 2}, column ${col}: "${raw}" is not a number`, [{ path: `${i + 2}.${col}`, message: 'not a number' }]);
      }
      sums[k]![side].add(1, v);
    });
  });
  if (nt < 2 || nc < 2) {
    throw new OfferpilotError('VALIDATION_FAILED', `Need at least 2 units per arm (treatment ${nt}, control ${nc}): check --treatment / --control against the values of ${spec.arm}`, [
      { path: spec.arm, message: 'too few units in an arm' },
    ]);
  }
  const outcomes = spec.outcomes.map((outcome, k) => {
    const { t: a, c: b } = sums[k]!;
    // At least 2 units per arm (checked above), so every variance exists.
    const d = difference(a, b, level)!;
    const p = pValue(d.estimate, d.se);
    const lift = relativeLift(a, b, level);
    return {
      outcome,
      treatment: { mean: a.ratio, sd: Math.sqrt(a.ratioVariance! * a.units) },
      control: { mean: b.ratio, sd: Math.sqrt(b.ratioVariance! * b.units) },
      difference: d,
      relativeLift: lift,
      z: p === null ? null : d.estimate / d.se,
      pValue: p,
      reason: p === null ? ('zero_variance' as const) : lift === null ? ('zero_baseline' as const) : null,
    };
  });
  const share = spec.expectedTreatmentShare;
  const s = share !== undefined ? srm([nt, nc], [share, 1 - share]) : null;
  return {
    arm: spec.arm,
    treatment: { values: spec.treatment, units: nt },
    control: { values: spec.control, units: nc },
    level,
    outcomes,
    srm: s && share !== undefined ? { expectedTreatmentShare: share, chi2: s.chi2, pValue: s.pValue, mismatch: s.mismatch } : null,
    otherRows: other,
  };
}
