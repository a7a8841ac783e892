import { OfferpilotError } from '../core/errors.js';
import type { Store } from './ports.js';

/** The codes a storage failure is answered with: each a 503 the client may retry. */
export type StoreErrorCode = 'STORE_FULL' | 'STORE_READ_ONLY' | 'STORE_BUSY' | 'STORE_UNAVAILABLE';

// PostgreSQL SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html).
const PG_CODES: Record<string, StoreErrorCode> = {
  '53100': 'STORE_FULL', // disk_full
  '25006': 'STORE_READ_ONLY', // read_only_sql_transaction (a standby, or default_transaction_read_only)
  '55P03': 'STORE_BUSY', // lock_not_available (lock_timeout)
  '40P01': 'STORE_BUSY', // deadlock_detected: the transaction was rolled back and may be retried
  '40001': 'STORE_BUSY', // serialization_failure: likewise
  '57014': 'STORE_BUSY', // query_canceled (statement_timeout)
  '53300': 'STORE_BUSY', // too_many_connections
  '57P01': 'STORE_UNAVAILABLE', // admin_shutdown
  '57P02': 'STORE_UNAVAILABLE', // crash_shutdown
  '57P03': 'STORE_UNAVAILABLE', // cannot_connect_now (starting up, recovering)
};
const NODE_DOWN = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'SQLITE_WRITER_DOWN']);

/**
 * Classifies a database driver's error (better-sqlite3, also as revived from the writer thread;
 * pg; a socket) as a storage failure, or null when it is something else (a bug: a 500).
 */
export function storeErrorCode(e: unknown): StoreErrorCode | null {
  if (typeof e !== 'object' || e === null) return null;
  const code = typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : '';
  if (code.startsWith('SQLITE_')) {
    // Extended result codes (SQLITE_READONLY_DBMOVED, SQLITE_BUSY_SNAPSHOT, …) share the primary's meaning.
    if (code.startsWith('SQLITE_FULL')) return 'STORE_FULL';
    if (code.startsWith('SQLITE_READONLY')) return 'STORE_READ_ONLY';
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'STORE_BUSY';
    if (code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_CANTOPEN') || code === 'SQLITE_WRITER_DOWN') return 'STORE_UNAVAILABLE';
    return null;
  }
  if (PG_CODES[code]) return PG_CODES[code];
  // Connection exceptions are SQLSTATE class 08.
  if (/^08[0-9A-Z]{3}$/.test(code) || NODE_DOWN.has(code)) return 'STORE_UNAVAILABLE';
  const message = String((e as { message?: unknown }).message ?? '');
  if (/Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(message)) return 'STORE_UNAVAILABLE';
  return null;
}

/** The last storage failure of a write, for /health. */
export interface WriteFailure {
  code: StoreErrorCode;
  message: string;
  at: string;
}

/** Whether writes are failing: the latest write outcome, and when the last one failed. */
export interface StoreHealth {
  /** True while the most recent write failed with a storage error within the last `windowMs`. */
  readonly degraded: boolean;
  readonly lastWriteError: WriteFailure | null;
  readonly lastWriteOkAt: string | null;
}

// Every method that writes; a success of any of them shows writes work again.
const WRITES = new Set<string>([
  'putVersion', 'setStatus', 'upsertProducts', 'putCustomer', 'createKey', 'revokeKey', 'getOrCreateSetting', 'putSetting',
  'commitDecision', 'writeEvents', 'redeem', 'rollback', 'expire', 'eraseCustomer', 'logGuardAction', 'migrate', 'writePolicyState',
]);

/**
 * Wraps a store so that its storage failures become OfferpilotErrors with a stable 503 code
 * (the driver's error as the cause), and write outcomes are tracked for /health. A failure
 * counts for `windowMs`: with no traffic there is no newer evidence, and a health check that
 * stays degraded forever would keep a recovered process out of a load balancer.
 */
export function watchStore(store: Store, windowMs = 60_000): { store: Store; health: () => StoreHealth } {
  let lastError: (WriteFailure & { t: number }) | null = null;
  let lastOk: number | null = null;
  const translate = (e: unknown, write: boolean): unknown => {
    const code = storeErrorCode(e);
    if (code === null) return e;
    const message = `${new OfferpilotError(code).message} (${String((e as Error).message ?? e)})`;
    if (write) {
      const t = Date.now();
      lastError = { code, message, at: new Date(t).toISOString(), t };
    }
    return Object.assign(new OfferpilotError(code, message), { cause: e });
  };
  const wrapped = new Map<PropertyKey, unknown>();
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      let w = wrapped.get(prop);
      if (!w) {
        const write = typeof prop === 'string' && WRITES.has(prop);
        const fn = v as (...a: unknown[]) => unknown;
        w = (...args: unknown[]) => {
          let r: unknown;
          try {
            r = fn.apply(target, args);
          } catch (e) {
            throw translate(e, write);
          }
          if (!(r instanceof Promise)) return r;
          return r.then(
            (ok: unknown) => {
              if (write) lastOk = Date.now();
              return ok;
            },
            (e: unknown) => {
              throw translate(e, write);
            },
          );
        };
        wrapped.set(prop, w);
      }
      return w;
    },
  });
  const health = (): StoreHealth => {
    const e = lastError as (WriteFailure & { t: number }) | null;
    const failing = e !== null && (lastOk === null || e.t >= lastOk) && Date.now() - e.t < windowMs;
    return { degraded: failing, lastWriteError: e ? { code: e.code, message: e.message, at: e.at } : null, lastWriteOkAt: lastOk === null ? null : new Date(lastOk).toISOString() };
  };
  return { store: proxy, health };
}
