import type Database from 'better-sqlite3';
import { isUniqueViolation } from '../admin-store.js';
import type { CommitPlan, CommitRefusal, CommitResult, DecisionRecord } from '../../decisions/port.js';
import { failedSubjectCheck, staleVersion } from '../commit-plan.js';
import { DECISION_COLUMNS, insertSql, ISSUANCE_COLUMNS } from '../commit-sql.js';
import type { EventWrite, EventWriteResult } from '../../events/port.js';
import type { ExpiryWrite, RedeemResult, RedemptionPlan, RollbackPlan } from '../../wallet/port.js';
import { Abort, prepareOutcomes } from './outcomes.js';

/** Events per background write (well under a millisecond of work). */
const EVENT_CHUNK = 100;
/** How long one group commit may spend on background writes once foreground ones are done. */
const BACKGROUND_BUDGET_MS = 10;

/** Every write the SQLite store makes on its hot path, as plain data (it may cross to a worker thread). */
export type WriteJob =
  | { kind: 'decision'; plan: CommitPlan; now: number }
  | { kind: 'events'; items: EventWrite[]; now: number }
  | { kind: 'redeem'; plan: RedemptionPlan }
  | { kind: 'rollback'; plan: RollbackPlan }
  | { kind: 'expire'; items: ExpiryWrite[]; now: number };

/** What each job resolves to. */
export type WriteResult<J extends WriteJob> = J extends { kind: 'decision' }
  ? CommitResult
  : J extends { kind: 'events' }
    ? EventWriteResult
    : J extends { kind: 'redeem' }
      ? RedeemResult
      : J extends { kind: 'rollback' }
        ? boolean
        : number;

/** The single writer of one SQLite file in this process. */
export interface Writer {
  /** Queues a write for the next group commit; resolves once it is durable. */
  run<J extends WriteJob>(job: J): Promise<WriteResult<J>>;
  /** Rewinds a long, fully checkpointed log (between group commits). */
  rewind(): void;
  /** Waits for queued writes, then closes. */
  close(): Promise<void>;
}

const rejected = (offerId: string, code: CommitRefusal, detail: string) => new Abort<CommitResult>({ status: 'rejected', offerId, reason: { code, detail } });

// The plan's records bind by field name as they are, with no row copy per commit; SQLite binds
// no booleans, so the decision flags bind positionally as 0/1, in their column order.
const DECISION_FLAGS: ReadonlySet<string> = new Set(['holdout', 'personalized', 'globalHoldout'] satisfies Array<keyof DecisionRecord>);
const INSERT_ISSUANCE = insertSql('issuances', ISSUANCE_COLUMNS, (f) => `@${f}`);
const INSERT_DECISION = insertSql('decisions', DECISION_COLUMNS, (f) => (DECISION_FLAGS.has(f) ? '?' : `@${f}`));

interface Pending {
  run: () => unknown;
  resolve: (r: any) => void;
  reject: (e: unknown) => void;
}

/**
 * Group commit on one connection: every write queued in one event-loop turn (decisions,
 * events, redemptions) commits in one IMMEDIATE transaction, each inside its own savepoint (a
 * nested transaction), so one rejection rolls back only itself. Two lanes: decisions and
 * redemptions (someone is waiting at a page or checkout) commit first; event chunks fill the
 * rest of a group commit up to BACKGROUND_BUDGET_MS, so a large batch of events holds a
 * decision back by at most that much work.
 */
export function createWriter(conn: Database.Database): Writer {
  const s = {
    history: conn.prepare<[string], { id: string; offer_id: string; issued_at: number; status: string; expires_at: number }>(
      'SELECT id, offer_id, issued_at, status, expires_at FROM issuances WHERE subject_id = ?',
    ),
    byRequest: conn.prepare<[string], { id: string }>('SELECT id FROM decisions WHERE request_id = ?'),
    counter: conn.prepare<[string], { used: number }>('SELECT used FROM guard_counters WHERE key = ?'),
    offerHead: conn.prepare<[string], { status: string; current_version: number }>('SELECT status, current_version FROM offers WHERE id = ?'),
    campaignHead: conn.prepare<[string], { status: string; current_version: number }>('SELECT status, current_version FROM campaigns WHERE id = ?'),
    bump: conn.prepare<[string, number, number, number], { used: number }>(
      `INSERT INTO guard_counters (key, used, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET used = guard_counters.used + excluded.used, updated_at = excluded.updated_at
       WHERE guard_counters.used + excluded.used <= ?
       RETURNING used`,
    ),
    issuance: conn.prepare(INSERT_ISSUANCE),
    decision: conn.prepare(INSERT_DECISION),
  };
  // Nested transactions are savepoints: an Abort rolls back that write only and becomes its result.
  const savepoint = <A extends unknown[], R>(f: (...a: A) => R) => {
    const tx = conn.transaction(f);
    return (...a: A): R => {
      try {
        return tx(...a);
      } catch (e) {
        if (e instanceof Abort) return e.result as R;
        throw e;
      }
    };
  };
  const one = savepoint((plan: CommitPlan, now: number): CommitResult => {
    if (plan.decision.requestId !== null) {
      const dup = s.byRequest.get(plan.decision.requestId);
      if (dup) return { status: 'duplicate', decisionId: dup.id };
    }
    if (plan.versionChecks.offers.length > 0) {
      const stale = staleVersion(plan.versionChecks, (kind, id) => (kind === 'offer' ? s.offerHead : s.campaignHead).get(id));
      if (stale) throw rejected(stale.offerId, 'OFFER_CHANGED', stale.detail);
    }
    if (plan.subjectChecks.length > 0) {
      const failed = failedSubjectCheck(plan.subjectChecks, s.history.all(plan.decision.subjectId), now);
      if (failed) throw rejected(failed.offerId, failed.reason, failed.detail);
    }
    const counters: Record<string, number> = {};
    for (const op of plan.counterOps) {
      const row = op.amount <= op.limit ? s.bump.get(op.key, op.amount, now, op.limit) : undefined;
      if (!row) {
        const used = s.counter.get(op.key)?.used ?? 0;
        throw rejected(op.offerId, op.reason, `${used} + ${op.amount} > ${op.limit}`);
      }
      counters[op.key] = Number(row.used);
    }
    for (const iss of plan.issuances) s.issuance.run(iss);
    const d = plan.decision;
    s.decision.run(d, d.holdout ? 1 : 0, d.personalized ? 1 : 0, d.globalHoldout ? 1 : 0);
    return { status: 'committed', counters };
  });
  const decision = (plan: CommitPlan, now: number): CommitResult => {
    try {
      return one(plan, now);
    } catch (e) {
      // Another process committed the same request id first.
      if (isUniqueViolation(e) && plan.decision.requestId !== null) {
        const dup = s.byRequest.get(plan.decision.requestId);
        if (dup) return { status: 'duplicate', decisionId: dup.id };
      }
      throw e;
    }
  };
  const outcomes = prepareOutcomes(conn, s.bump);
  const out = {
    writeEvents: savepoint(outcomes.writeEvents),
    redeem: savepoint(outcomes.redeem),
    rollback: savepoint(outcomes.rollback),
    expire: savepoint(outcomes.expire),
  };

  const runOne = (it: Pending): { ok: unknown } | { error: unknown } => {
    try {
      return { ok: it.run() };
    } catch (e) {
      // SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY and SQLITE_NOMEM may roll back the whole group
      // commit, not just this write's savepoint: the writes before it are gone and the ones
      // after would each autocommit on their own. Fail the group with this write's error.
      if (!conn.inTransaction) throw e;
      return { error: e };
    }
  };
  // Foreground writes all run; background ones (event chunks) run while time is left,
  // at least one per commit so ingestion always progresses.
  const batch = conn.transaction((items: Pending[], background: Pending[], taken: Pending[], deadline: number): Array<{ ok: unknown } | { error: unknown }> => {
    const results = items.map(runOne);
    while (background.length > 0 && (taken.length === 0 || performance.now() < deadline)) {
      const it = background.shift()!;
      taken.push(it);
      results.push(runOne(it));
    }
    return results;
  });

  let queue: Pending[] = [];
  const background: Pending[] = [];
  let scheduled = false;
  let idle: (() => void) | null = null;
  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  }
  function flush(): void {
    scheduled = false;
    const items = queue;
    queue = [];
    if (items.length === 0 && background.length === 0) return idle?.();
    let results: Array<{ ok: unknown } | { error: unknown }>;
    const taken: Pending[] = [];
    try {
      results = batch.immediate(items, background, taken, performance.now() + BACKGROUND_BUDGET_MS);
    } catch (e) {
      // Nothing of this transaction was committed: every write in it fails (and is not acknowledged).
      // If it failed before taking any background write (BEGIN refused: read-only, locked), the
      // queued ones fail too: retrying them here would spin on the same refusal, unanswered.
      const failed = taken.length === 0 ? [...items, ...background.splice(0)] : [...items, ...taken];
      for (const it of failed) it.reject(e);
      if (background.length > 0) schedule();
      else idle?.();
      return;
    }
    const all = [...items, ...taken];
    results.forEach((r, i) => ('error' in r ? all[i]!.reject(r.error) : all[i]!.resolve(r.ok)));
    if (background.length > 0 || queue.length > 0) schedule();
    else idle?.();
  }
  function submit<T>(run: () => T, lane: 'foreground' | 'background' = 'foreground'): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      (lane === 'foreground' ? queue : background).push({ run, resolve, reject });
      schedule();
    });
  }

  async function writeEvents(items: EventWrite[], now: number): Promise<EventWriteResult> {
    // Chunks commit separately: a batch interrupted by a crash is partly stored and not
    // acknowledged, and resending it stores the rest (events are idempotent by id).
    const parts = [];
    for (let i = 0; i < items.length; i += EVENT_CHUNK) {
      const chunk = items.slice(i, i + EVENT_CHUNK);
      parts.push(submit(() => out.writeEvents(chunk, now), 'background'));
    }
    // Settle every chunk before answering, so in-flight accounting stays true even when one fails.
    const settled = await Promise.allSettled(parts);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const rs = settled.map((r) => (r as PromiseFulfilledResult<EventWriteResult>).value);
    return { inserted: rs.reduce((a, r) => a + r.inserted, 0), duplicates: rs.reduce((a, r) => a + r.duplicates, 0), outcomes: rs.flatMap((r) => r.outcomes) };
  }

  return {
    run<J extends WriteJob>(job: J): Promise<WriteResult<J>> {
      const j = job as WriteJob;
      let p: Promise<unknown>;
      switch (j.kind) {
        case 'decision':
          p = submit(() => decision(j.plan, j.now));
          break;
        case 'events':
          p = writeEvents(j.items, j.now);
          break;
        case 'redeem':
          p = submit(() => out.redeem(j.plan));
          break;
        case 'rollback':
          p = submit(() => out.rollback(j.plan));
          break;
        case 'expire':
          p = submit(() => out.expire(j.items, j.now));
          break;
      }
      return p as Promise<WriteResult<J>>;
    },
    // Under continuous writes the background checkpointer copies the log into the database but
    // the log is never rewound (a new write transaction always finds fresh frames), so the file
    // keeps growing and every read and write slows down (measured: 60k -> 31k events/s as it grew
    // to 250 MB). When the checkpointer reports a long, fully copied log, the writer rewinds it
    // between group commits, waiting at most 50 ms for other connections.
    rewind(): void {
      conn.pragma('busy_timeout = 50');
      try {
        conn.pragma('wal_checkpoint(RESTART)');
      } catch {
        // Busy: another connection was mid-transaction; the checkpointer will ask again.
      } finally {
        conn.pragma('busy_timeout = 5000');
      }
    },
    async close(): Promise<void> {
      if (queue.length === 0 && background.length === 0 && !scheduled) return;
      await new Promise<void>((resolve) => (idle = resolve));
    },
  };
}
