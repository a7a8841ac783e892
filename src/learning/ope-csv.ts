import { parse } from 'csv-parse/sync';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { OfferpilotError } from '../core/errors.js';
import type { SparseX } from '../core/learn/linear.js';
import { constantPolicy, uniformPolicy, type CandidatePolicy, type LoggedRow } from '../core/learn/ope.js';

/**
 * Logged bandit feedback from CSV, one row per logged decision (the Open Bandit Dataset's
 * layout and the like): flags name the action, reward and propensity columns and the context
 * columns. A context column whose every value is a number becomes one feature holding that value;
 * any other becomes one-hot features, one per distinct value (`column=value`).
 */

/** Which columns hold what. `propensity` may instead be a fixed probability for a randomized experiment. */
export interface BanditCsvSpec {
  action: string;
  reward: string;
  /** The column of the logged probability of the action taken, or one probability for every row. */
  propensity: string | number;
  context?: readonly string[];
}

/** Logged rows ready for evaluatePolicy, and the name of each context feature index. */
export interface BanditData {
  rows: LoggedRow[];
  features: string[];
  /** The distinct logged actions, sorted. */
  actions: string[];
}

/** Reads a CSV (or .csv.gz) file with a header row into records, failing with a coded error naming the file. */
export function readCsvRecords(path: string): Array<Record<string, string>> {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new OfferpilotError('FILE_NOT_READABLE', `Cannot read ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, [{ path, message: 'not readable' }]);
  }
  try {
    const text = (path.endsWith('.gz') ? gunzipSync(buf) : buf).toString('utf8');
    return parse(text, { columns: true, skip_empty_lines: true, trim: true }) as Array<Record<string, string>>;
  } catch (e) {
    throw new OfferpilotError('VALIDATION_FAILED', `${path} is not a readable CSV file: ${(e as Error).message}`, [{ path, message: 'not CSV' }]);
  }
}

function requireColumns(header: readonly string[], cols: readonly string[], file: string): void {
  for (const c of cols) {
    if (!header.includes(c)) throw new OfferpilotError('VALIDATION_FAILED', `Column ${c} is not in ${file} (columns: ${header.join(', ')})`, [{ path: c, message: 'no such column' }]);
  }
}

/** Turns CSV records into logged rows (`file` names the source in messages; rows are counted as in the file, header = line 1). */
export function parseBanditRecords(records: ReadonlyArray<Record<string, string>>, spec: BanditCsvSpec, file = 'the file'): BanditData {
  const header = records.length > 0 ? Object.keys(records[0]!) : [];
  const context = [...(spec.context ?? [])];
  requireColumns(header, [spec.action, spec.reward, ...(typeof spec.propensity === 'string' ? [spec.propensity] : []), ...context], file);
  if (typeof spec.propensity === 'number' && !(spec.propensity > 0 && spec.propensity <= 1)) {
    throw new OfferpilotError('VALIDATION_FAILED', `The propensity ${spec.propensity} is not in (0, 1]`, [{ path: 'propensity', message: 'in (0, 1]' }]);
  }
  const bad = (i: number, col: string, raw: string, want: string) =>
    new OfferpilotError('VALIDATION_FAILED', `${file} line ${i + 2}, column ${col}: "${raw}" is not ${want}`, [{ path: `${i + 2}.${col}`, message: want }]);
  const number = (raw: string | undefined) => (raw === undefined || raw === '' ? Number.NaN : Number(raw));

  // Feature layout: a numeric column is one index; a categorical one an index per sorted distinct value.
  const features: string[] = [];
  const layout = context.map((col) => {
    const numeric = records.length > 0 && records.every((r) => Number.isFinite(number(r[col])));
    if (numeric) {
      features.push(col);
      return { col, numeric: true as const, at: features.length - 1 };
    }
    const values = [...new Set(records.map((r) => r[col] ?? ''))].sort();
    const base = features.length;
    const at = new Map(values.map((v, j) => [v, base + j]));
    for (const v of values) features.push(`${col}=${v}`);
    return { col, numeric: false as const, at };
  });

  const rows: LoggedRow[] = records.map((r, i) => {
    const action = r[spec.action] ?? '';
    if (action === '') throw bad(i, spec.action, action, 'an action (empty)');
    const reward = number(r[spec.reward]);
    if (!Number.isFinite(reward)) throw bad(i, spec.reward, r[spec.reward] ?? '', 'a number');
    let propensity: number;
    if (typeof spec.propensity === 'number') propensity = spec.propensity;
    else {
      propensity = number(r[spec.propensity]);
      if (!(propensity > 0 && propensity <= 1)) throw bad(i, spec.propensity, r[spec.propensity] ?? '', 'a probability in (0, 1]');
    }
    if (context.length === 0) return { action, reward, propensity };
    const idx: number[] = [];
    const val: number[] = [];
    for (const f of layout) {
      if (f.numeric) {
        const v = Number(r[f.col]);
        // Zeros are left out: the vector is sparse.
        if (v !== 0) (idx.push(f.at), val.push(v));
      } else {
        idx.push(f.at.get(r[f.col] ?? '')!);
        val.push(1);
      }
    }
    const x: SparseX = { idx, val };
    return { action, reward, propensity, x };
  });
  return { rows, features, actions: [...new Set(rows.map((r) => r.action))].sort() };
}

/** Reads logged bandit feedback from a .csv or .csv.gz file. */
export function readBanditCsv(path: string, spec: BanditCsvSpec): BanditData {
  return parseBanditRecords(readCsvRecords(path), spec, path);
}

/**
 * A candidate's per-row action probabilities from a CSV file in long format: columns `row`,
 * `action`, `probability`, one line per (row, action) with a non-zero probability; `row` is the
 * 0-based index of the data row in the logged file (its first row after the header is 0). Every
 * logged row must appear; actions left out have probability 0.
 */
export function readProbsCsv(path: string, n: number): CandidatePolicy {
  const records = readCsvRecords(path);
  requireColumns(records.length > 0 ? Object.keys(records[0]!) : [], ['row', 'action', 'probability'], path);
  const maps: Array<Map<string, number> | undefined> = new Array(n);
  records.forEach((r, i) => {
    const row = Number(r.row);
    if (!Number.isInteger(row) || row < 0 || row >= n) {
      throw new OfferpilotError('VALIDATION_FAILED', `${path} line ${i + 2}: row "${r.row}" is not a logged row (0 to ${n - 1})`, [{ path: `${i + 2}.row`, message: `an integer from 0 to ${n - 1}` }]);
    }
    const p = r.probability === '' ? Number.NaN : Number(r.probability);
    if (!(p >= 0 && p <= 1)) throw new OfferpilotError('VALIDATION_FAILED', `${path} line ${i + 2}: probability "${r.probability}" is not in [0, 1]`, [{ path: `${i + 2}.probability`, message: 'in [0, 1]' }]);
    const m = (maps[row] ??= new Map());
    m.set(r.action!, (m.get(r.action!) ?? 0) + p);
  });
  const missing = maps.findIndex((m) => m === undefined);
  if (missing >= 0 || maps.length < n) {
    const at = missing >= 0 ? missing : maps.length;
    throw new OfferpilotError('VALIDATION_FAILED', `${path} gives no probabilities for logged row ${at}`, [{ path: `row.${at}`, message: 'every logged row needs its probabilities' }]);
  }
  return (i) => maps[i]!;
}

/** `constant:<action>` | `uniform` (over the logged actions) | `probs:<file.csv>` as a candidate policy. */
export function parseCandidate(spec: string, data: BanditData): CandidatePolicy {
  if (spec === 'uniform') return uniformPolicy(data.actions);
  if (spec.startsWith('constant:')) {
    const a = spec.slice('constant:'.length);
    if (!data.actions.includes(a)) {
      throw new OfferpilotError('VALIDATION_FAILED', `--policy constant:${a}: "${a}" is never logged (actions: ${data.actions.join(', ')}), so no estimator can see its reward`, [{ path: 'policy', message: 'an action in the log' }]);
    }
    return constantPolicy(a);
  }
  if (spec.startsWith('probs:')) return readProbsCsv(spec.slice('probs:'.length), data.rows.length);
  throw new OfferpilotError('USAGE_ERROR', `--policy "${spec}": expected constant:<action>, uniform or probs:<file.csv>`, [{ path: 'policy', message: 'constant:<action> | uniform | probs:<file.csv>' }]);
}

/** Parses a probability given as a number or a fraction a/b (1/3 is exact where 0.333 is not). */
export function parseProbability(raw: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)\s*$/.exec(raw);
  const v = m ? Number(m[1]) / Number(m[2]) : raw.trim() === '' ? Number.NaN : Number(raw);
  if (!(v > 0 && v <= 1)) throw new OfferpilotError('USAGE_ERROR', `"${raw}" is not a probability in (0, 1] (a number or a fraction such as 1/3)`, [{ path: 'propensity', message: 'in (0, 1]' }]);
  return v;
}
