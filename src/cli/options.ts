import { CommanderError, InvalidArgumentError } from 'commander';
import { readFileSync } from 'node:fs';
import { ERRORS, isOfferpilotError, OfferpilotError, type ErrorCode } from '../core/errors.js';

/**
 * Exit codes of the CLI: 0 success; 2 the command line, a file or the configuration is wrong
 * (nothing was done: fix the input); 1 a runtime failure (database unreachable, port in use,
 * an unexpected error).
 */
export const EXIT = { ok: 0, runtime: 1, usage: 2 } as const;

// Configuration problems are input the user fixes, though the HTTP registry gives them a 500.
const INPUT_CODES = new Set<ErrorCode>(['CONFIG_INVALID']);

/** The exit code for an error: usage for anything the user's input caused, runtime otherwise. */
export function exitCodeOf(e: unknown): number {
  if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
  // A file the user named that cannot be read is input too.
  const coded = isOfferpilotError(e) ? e : fromFsError(e);
  if (coded) return INPUT_CODES.has(coded.code) || ERRORS[coded.code].status < 500 ? EXIT.usage : EXIT.runtime;
  return EXIT.runtime;
}

const FS_REASONS: Record<string, string> = { ENOENT: 'no such file', EACCES: 'permission denied', EPERM: 'permission denied', EISDIR: 'is a folder, not a file', ENOTDIR: 'a part of the path is not a folder' };

/** A Node file-system error as a coded error naming the path (null for any other error). */
export function fromFsError(e: unknown): OfferpilotError | null {
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.code !== 'string' || typeof err.path !== 'string' || !(err.code in FS_REASONS)) return null;
  return new OfferpilotError('FILE_NOT_READABLE', `Cannot read ${err.path}: ${FS_REASONS[err.code]}`, [{ path: err.path, message: FS_REASONS[err.code]! }]);
}

/** Reads and parses a JSON file, failing with a coded error that names the file. */
export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw fromFsError(e) ?? e;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new OfferpilotError('INVALID_JSON', `${path} is not valid JSON: ${(e as Error).message}`, [{ path, message: 'not valid JSON' }]);
  }
}

/**
 * The one line (plus detail lines) a failed command prints: `offerpilot: CODE: message`. The
 * stack only with `verbose`: a user needs what went wrong and where, not our call chain.
 */
export function formatCliError(e: unknown, verbose: boolean): string {
  const coded = isOfferpilotError(e) ? e : (fromFsError(e) ?? new OfferpilotError('INTERNAL', (e as Error)?.message ?? String(e)));
  const lines = [`offerpilot: ${coded.code}: ${coded.message}`];
  // Details the message already names are not repeated.
  for (const d of coded.details) if (!coded.message.includes(d.path)) lines.push(`  ${d.path}: ${d.message}`);
  if (verbose && e instanceof Error && e.stack) lines.push(e.stack);
  return `${lines.join('\n')}\n`;
}

/** Parses a number option within bounds, refusing anything else before any work is done. */
export function numberOption(opts: { integer?: boolean; min?: number; max?: number; gt?: number; lt?: number } = {}): (raw: string) => number {
  const bounds = [
    opts.gt !== undefined ? `> ${opts.gt}` : opts.min !== undefined ? `≥ ${opts.min}` : null,
    opts.lt !== undefined ? `< ${opts.lt}` : opts.max !== undefined ? `≤ ${opts.max}` : null,
  ].filter(Boolean);
  const want = `${opts.integer ? 'an integer' : 'a number'}${bounds.length ? ` ${bounds.join(' and ')}` : ''}`;
  return (raw) => {
    const v = raw.trim() === '' ? Number.NaN : Number(raw);
    const ok =
      Number.isFinite(v) &&
      (!opts.integer || Number.isSafeInteger(v)) &&
      (opts.min === undefined || v >= opts.min) &&
      (opts.max === undefined || v <= opts.max) &&
      (opts.gt === undefined || v > opts.gt) &&
      (opts.lt === undefined || v < opts.lt);
    if (!ok) throw new InvalidArgumentError(`expected ${want}.`);
    return v;
  };
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** Parses an ISO 8601 date (YYYY-MM-DD, as 00:00 UTC) or date-time with an offset into an ISO string. */
export function isoTimeOption(raw: string): string {
  const s = raw.trim();
  const ms = ISO_DATE.test(s) ? Date.parse(`${s}T00:00:00Z`) : ISO_TIME.test(s) ? Date.parse(s) : Number.NaN;
  // Date.parse rolls 2026-02-30 over to March: a date must read back as itself.
  if (!Number.isFinite(ms) || (ISO_DATE.test(s) && new Date(ms).toISOString().slice(0, 10) !== s)) {
    throw new InvalidArgumentError('expected an ISO 8601 date (2026-11-01) or date-time with an offset (2026-11-01T00:00:00Z).');
  }
  return new Date(ms).toISOString();
}

/** Parses a comma-separated list whose every item is one of `allowed`. */
export function listOfOption<T extends string>(allowed: readonly T[]): (raw: string) => T[] {
  return (raw) => {
    const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
    const bad = items.filter((s) => !(allowed as readonly string[]).includes(s));
    if (items.length === 0 || bad.length > 0) throw new InvalidArgumentError(`${bad.length ? `unknown ${bad.map((b) => `"${b}"`).join(', ')}; ` : ''}expected a comma-separated list of ${allowed.join(', ')}.`);
    return items as T[];
  };
}

/** Parses an http(s) URL. */
export function urlOption(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new InvalidArgumentError('expected an http:// or https:// URL.');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError('expected an http:// or https:// URL.');
  return raw;
}

/** Where a store URL points, for error messages: the SQLite path, or PostgreSQL's host, port, database and user (never the password). */
export function describeStore(url: string): string {
  if (!/^postgres(ql)?:\/\//.test(url)) return `the SQLite database at ${url.replace(/^sqlite:(\/\/)?/, '')}`;
  try {
    const u = new URL(url);
    const host = u.hostname || process.env.PGHOST || 'localhost';
    const port = u.port || process.env.PGPORT || '5432';
    const db = decodeURIComponent(u.pathname.replace(/^\//, '')) || process.env.PGDATABASE || '(default)';
    const user = decodeURIComponent(u.username) || process.env.PGUSER || '(default)';
    return `PostgreSQL at ${host}:${port}, database ${db}, user ${user}`;
  } catch {
    return 'PostgreSQL (the URL does not parse)';
  }
}

/** A failure to open or migrate the store as a coded error naming where it is. */
export function storeOpenError(url: string, e: unknown): OfferpilotError {
  if (isOfferpilotError(e)) return e;
  const raw = (e as Error)?.message || (e as { code?: string })?.code || String(e);
  // pg can echo the connection string back; never print a password.
  const message = raw.replace(/(postgres(ql)?:\/\/[^:@/]*):[^@]*@/g, '$1:***@');
  return new OfferpilotError('STORE_UNAVAILABLE', `Cannot open ${describeStore(url)}: ${message}`);
}
