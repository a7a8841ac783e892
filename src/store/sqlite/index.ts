import { Kysely, SqliteDialect } from 'kysely';
import type { Consent } from '../../core/request.js';
import { createPolicyStateStore } from '../policy-state.js';
import { createAdminStore, storedDecision } from '../admin-store.js';
import { HISTORY_SQL, toIssuance, type HistoryRow } from '../subject-history.js';
import { migrateToLatest } from '../migrations/index.js';
import type { Store } from '../ports.js';
import type { DB } from '../schema.js';
import { startCheckpointer } from './checkpointer.js';
import { open } from './connection.js';
import { createOutcomeReads } from '../outcome-reads.js';
import { createCustomerErasure } from '../erasure.js';
import { decisionRefOf, featureTotalsOf, issuanceOf } from '../outcome-rows.js';
import { createMeasureReads } from '../measure-reads.js';
import { createWriter, type Writer } from './writer.js';
import { startWriterThread } from './writer-client.js';
import { routeWrites } from './writer-router.js';

type RefRow = { id: string; subject_id: string; campaign_id: string | null; holdout: number; created_at: number };
const totalsOf = (r: DB['customer_features'] | undefined) => (r ? featureTotalsOf(r) : null);

/** A writer on this thread, prepared on first use (after migrations created its tables). */
function inThreadWriter(make: () => Writer): Writer {
  let w: Writer | null = null;
  return {
    run: (job) => {
      try {
        return (w ??= make()).run(job);
      } catch (e) {
        return Promise.reject(e);
      }
    },
    rewind: () => w?.rewind(),
    close: async () => w?.close(),
  };
}

/** How the SQLite store runs. */
export interface SqliteOptions {
  /**
   * Run the hot-path writes (event batches always; decision commits and redemptions when the
   * store is busy) on a worker thread with its own connection. Default for files; an in-memory
   * database has no second connection.
   */
  writerThread?: boolean;
  /**
   * PRAGMA statements run on every connection after the store's own, e.g. `max_page_count = N`
   * to cap the file at N pages (writes past it fail as STORE_FULL instead of filling the disk).
   */
  pragmas?: readonly string[];
}

/**
 * The embedded default. Admin queries go through Kysely on one connection; hot-path reads use a
 * second one with prepared statements; hot-path writes go to a single writer (a worker thread
 * by default) that group-commits them in IMMEDIATE transactions, which makes each commit atomic
 * even with several processes on one file.
 */
export function createSqliteStore(path: string, opts: SqliteOptions = {}): Store {
  const pragmas = opts.pragmas ?? [];
  const adminConn = open(path, pragmas);
  const kysely = new Kysely<DB>({ dialect: new SqliteDialect({ database: adminConn }) });
  const admin = createAdminStore(kysely);
  const outcomeReads = createOutcomeReads(kysely);
  const erasure = createCustomerErasure(kysely);
  let hot: ReturnType<typeof prepare> | null = null;
  const conn = path === ':memory:' ? adminConn : open(path, pragmas);
  const local = inThreadWriter(() => createWriter(conn));
  const writer: Writer = path !== ':memory:' && opts.writerThread !== false ? routeWrites(local, startWriterThread(path, pragmas)) : local;
  const checkpointer = path === ':memory:' ? null : startCheckpointer(path, 1000, (msg) => process.emitWarning(`SQLite checkpoint: ${msg}`), () => writer.rewind());

  // secure_delete zeroes what the erasure freed in the pages it writes, but the log still holds
  // older copies of those pages (the customer's rows as first written) until it is overwritten.
  // A TRUNCATE checkpoint copies the log into the file and empties it, so "erased" holds at once.
  function purgeLog() {
    // Without waiting for readers (busy_timeout would hold this thread, and every request, up to
    // 5 s per try): a log that stays busy is reported and rewound by a later checkpoint.
    const timeout = adminConn.pragma('busy_timeout', { simple: true }) as number;
    adminConn.pragma('busy_timeout = 0');
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const [r] = adminConn.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
        if (r?.busy === 0) return;
      }
    } catch (e) {
      if ((e as { code?: string }).code !== 'SQLITE_BUSY') throw e;
    } finally {
      adminConn.pragma(`busy_timeout = ${timeout}`);
    }
    process.emitWarning('SQLite: after a customer erasure the log could not be emptied (other connections busy); older copies of the erased rows stay in the -wal file until the next checkpoint rewinds it');
  }

  function prepare() {
    return {
      customer: conn.prepare<[string], { traits: string; consent: string }>('SELECT traits, consent FROM customers WHERE id = ?'),
      history: conn.prepare<[string], HistoryRow>(HISTORY_SQL),
      decisionRef: conn.prepare<[string], RefRow>('SELECT id, subject_id, campaign_id, holdout, created_at FROM decisions WHERE id = ?'),
      recent: conn.prepare<[string, number, number], RefRow>(
        'SELECT id, subject_id, campaign_id, holdout, created_at FROM decisions WHERE subject_id = ? AND created_at >= ? AND created_at <= ? AND campaign_id IS NOT NULL ORDER BY created_at DESC, id DESC',
      ),
      issuanceById: conn.prepare<[string], DB['issuances']>('SELECT * FROM issuances WHERE id = ?'),
      issuanceByCode: conn.prepare<[string], DB['issuances']>('SELECT * FROM issuances WHERE code = ?'),
      features: conn.prepare<[string], DB['customer_features']>('SELECT * FROM customer_features WHERE subject_id = ?'),
      impressions: conn.prepare<[string, number], { n: number }>(`SELECT count(*) AS n FROM events WHERE subject_id = ? AND type = 'impression' AND occurred_at >= ?`),
      byRequest: conn.prepare<[string], { id: string; request_id: string | null; created_at: number; body: string }>(
        'SELECT id, request_id, created_at, body FROM decisions WHERE request_id = ?',
      ),
      counter: conn.prepare<[string], { used: number }>('SELECT used FROM guard_counters WHERE key = ?'),
    };
  }

  const stmts = () => (hot ??= prepare());

  return {
    dialect: 'sqlite',
    ...admin,
    ...createPolicyStateStore(kysely),
    ...outcomeReads,
    ...createMeasureReads(kysely, 'sqlite'),
    // Attribution lookups run per event batch: prepared point queries beat building IN lists.
    async decisionRefs(ids) {
      const s = stmts();
      return ids.flatMap((id) => {
        const r = s.decisionRef.get(id);
        return r ? [decisionRefOf(r)] : [];
      });
    },
    async recentDecisions(subjectIds, from, to) {
      const s = stmts();
      // Newest first within each subject (what attribution needs), straight from the index.
      const out = [];
      for (const id of subjectIds) for (const r of s.recent.all(id, from, to)) out.push(decisionRefOf(r));
      return out;
    },
    async issuancesByIds(ids) {
      const s = stmts();
      return ids.flatMap((id) => {
        const r = s.issuanceById.get(id);
        return r ? [issuanceOf(r)] : [];
      });
    },
    async issuancesByCodes(codes) {
      const s = stmts();
      return codes.flatMap((c) => {
        const r = s.issuanceByCode.get(c);
        return r ? [issuanceOf(r)] : [];
      });
    },
    async eraseCustomer(customerId, pseudonym, scrubDecision) {
      const erased = await erasure.eraseCustomer(customerId, pseudonym, scrubDecision);
      if (erased && path !== ':memory:') purgeLog();
      return erased;
    },
    async migrate() {
      // Kysely takes no migration lock on SQLite, so two processes starting on a new file both
      // applied the first migration ("table settings already exists"). One write transaction
      // around the run makes the second wait (busy_timeout) and then find nothing pending; it
      // also makes a run all-or-nothing. The migrations hold no statement that cannot run in one.
      // Waiting is asynchronous (busy_timeout would block this thread, and with it a holder in
      // the same process).
      const timeout = adminConn.pragma('busy_timeout', { simple: true }) as number;
      adminConn.pragma('busy_timeout = 0');
      try {
        for (let waited = 0; ; waited += 20) {
          try {
            adminConn.exec('BEGIN IMMEDIATE');
            break;
          } catch (e) {
            if ((e as { code?: string }).code !== 'SQLITE_BUSY' || waited > 60_000) throw e;
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      } finally {
        adminConn.pragma(`busy_timeout = ${timeout}`);
      }
      try {
        const applied = await migrateToLatest(kysely);
        adminConn.exec('COMMIT');
        return applied;
      } catch (e) {
        if (adminConn.inTransaction) adminConn.exec('ROLLBACK');
        throw e;
      }
    },
    async close() {
      await writer.close();
      await checkpointer?.stop();
      await kysely.destroy();
      if (conn !== adminConn) conn.close();
    },
    async loadSubject(subjectId, customerId, impressionsSince) {
      const s = stmts();
      const row = customerId !== null ? s.customer.get(customerId) : undefined;
      return {
        traits: row ? (JSON.parse(row.traits) as Record<string, unknown>) : {},
        consent: row ? (JSON.parse(row.consent) as Consent) : {},
        issuances: s.history.all(subjectId).map(toIssuance),
        features: impressionsSince === null ? null : totalsOf(s.features.get(subjectId)),
        impressions: impressionsSince === null ? 0 : Number(s.impressions.get(subjectId, impressionsSince)?.n ?? 0),
      };
    },
    async readCounters(keys) {
      const s = stmts();
      const out = new Map<string, number>();
      for (const k of keys) {
        const r = s.counter.get(k);
        if (r) out.set(k, Number(r.used));
      }
      return out;
    },
    commitDecision(plan) {
      return writer.run({ kind: 'decision', plan, now: plan.decision.createdAt });
    },
    writeEvents(items) {
      return writer.run({ kind: 'events', items, now: Date.now() });
    },
    redeem(plan) {
      return writer.run({ kind: 'redeem', plan });
    },
    rollback(plan) {
      return writer.run({ kind: 'rollback', plan });
    },
    expire(items) {
      return writer.run({ kind: 'expire', items, now: Date.now() });
    },
    async findDecisionByRequestId(requestId) {
      const r = stmts().byRequest.get(requestId);
      return r ? storedDecision(r) : null;
    },
  };
}
