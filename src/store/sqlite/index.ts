import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, SqliteDialect } from 'kysely';
import type { Consent } from '../../decide/request.js';
import { createAdminStore, isUniqueViolation, storedDecision } from '../admin-store.js';
import { commitPlan, failedSubjectCheck, staleVersion, type CommitPlan } from '../commit-plan.js';
import { migrateToLatest } from '../migrations/index.js';
import type { CommitResult, Store } from '../ports.js';
import type { DB } from '../schema.js';
import { startCheckpointer } from './checkpointer.js';
import { Abort, prepareOutcomes } from './outcomes.js';
import type { ReasonCode } from '../../decide/reasons.js';
import { createOutcomeReads } from '../outcome-reads.js';

function open(path: string): Database.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL mode survives process crashes (an OS crash may lose the last commits).
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  // Each write in a group commit runs in a savepoint; its undo journal stays in memory
  // instead of a temp file (measured: 2 of 3 page writes during event ingestion went there).
  db.pragma('temp_store = MEMORY');
  // 64 MiB page cache (default 2 MiB): index pages of the event and decision tables stay in
  // memory instead of being re-read from the OS on every batch.
  db.pragma('cache_size = -65536');
  // Checkpoints (which fsync) run on a background thread (checkpointer.ts); this is only the
  // safety net should that thread fall behind: about 400 MB of log.
  db.pragma('wal_autocheckpoint = 100000');
  db.pragma('journal_size_limit = 67108864');
  return db;
}

/** Events per background write (well under a millisecond of work). */
const EVENT_CHUNK = 100;
/** How long one group commit may spend on background writes once foreground ones are done. */
const BACKGROUND_BUDGET_MS = 10;

type RefRow = { id: string; subject_id: string; campaign_id: string | null; holdout: number; created_at: number };
const toRef = (r: RefRow) => ({ id: r.id, subjectId: r.subject_id, campaignId: r.campaign_id, holdout: r.holdout === 1, createdAt: r.created_at });

const rejected = (offerId: string, code: ReasonCode, detail: string) => new Abort<CommitResult>({ status: 'rejected', offerId, reason: { code, detail } });

/**
 * The embedded default. Admin queries go through Kysely on one connection; the decision
 * hot path uses its own connection with prepared statements in synchronous IMMEDIATE
 * transactions, which makes each commit atomic even with several processes on one file.
 */
export function createSqliteStore(path: string): Store {
  const adminConn = open(path);
  const kysely = new Kysely<DB>({ dialect: new SqliteDialect({ database: adminConn }) });
  const admin = createAdminStore(kysely);
  let hot: ReturnType<typeof prepare> | null = null;
  const conn = path === ':memory:' ? adminConn : open(path);
  const checkpointer = path === ':memory:' ? null : startCheckpointer(path, 1000, (msg) => process.emitWarning(`SQLite checkpoint: ${msg}`), () => rewind());

  function prepare() {
    const s = {
      customer: conn.prepare<[string], { traits: string; consent: string }>('SELECT traits, consent FROM customers WHERE id = ?'),
      history: conn.prepare<[string], { offer_id: string; issued_at: number }>('SELECT offer_id, issued_at FROM issuances WHERE subject_id = ?'),
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
      offerHead: conn.prepare<[string], { status: string; current_version: number }>('SELECT status, current_version FROM offers WHERE id = ?'),
      campaignHead: conn.prepare<[string], { status: string; current_version: number }>('SELECT status, current_version FROM campaigns WHERE id = ?'),
      bump: conn.prepare<[string, number, number, number], { used: number }>(
        `INSERT INTO guard_counters (key, used, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET used = guard_counters.used + excluded.used, updated_at = excluded.updated_at
         WHERE guard_counters.used + excluded.used <= ?
         RETURNING used`,
      ),
      issuance: conn.prepare(
        `INSERT INTO issuances (id, decision_id, offer_id, offer_version, campaign_id, subject_id, customer_id, channel, placement, value,
           discount, cost, reserved, points, liability_day, issued_at, expires_at, status, code)
         VALUES (@id, @decision_id, @offer_id, @offer_version, @campaign_id, @subject_id, @customer_id, @channel, @placement, @value,
           @discount, @cost, @reserved, @points, @liability_day, @issued_at, @expires_at, @status, @code)`,
      ),
      decision: conn.prepare(
        `INSERT INTO decisions (id, request_id, created_at, campaign_id, campaign_version, subject_id, customer_id, anonymous_id, placement,
           channel, holdout, personalized, probability, policy, catalog_version, body)
         VALUES (@id, @request_id, @created_at, @campaign_id, @campaign_version, @subject_id, @customer_id, @anonymous_id, @placement,
           @channel, @holdout, @personalized, @probability, @policy, @catalog_version, @body)`,
      ),
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
      if (plan.decision.request_id !== null) {
        const dup = s.byRequest.get(plan.decision.request_id);
        if (dup) return { status: 'duplicate', decisionId: dup.id };
      }
      if (plan.versionChecks.offers.length > 0) {
        const stale = staleVersion(plan.versionChecks, (kind, id) => (kind === 'offer' ? s.offerHead : s.campaignHead).get(id));
        if (stale) throw rejected(stale.offerId, 'OFFER_CHANGED', stale.detail);
      }
      if (plan.subjectChecks.length > 0) {
        const failed = failedSubjectCheck(plan.subjectChecks, s.history.all(plan.decision.subject_id), now);
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
      s.decision.run(plan.decision);
      return { status: 'committed', counters };
    });
    // Group commit: every write queued in one event-loop turn (decisions, events, redemptions)
    // commits in one transaction, each inside its own savepoint (a nested transaction), so one
    // rejection rolls back only itself.
    const decisionJob = (plan: CommitPlan, now: number) => (): CommitResult => {
      try {
        return one(plan, now);
      } catch (e) {
        if (isUniqueViolation(e) && plan.decision.request_id !== null) {
          const dup = s.byRequest.get(plan.decision.request_id);
          if (dup) return { status: 'duplicate', decisionId: dup.id };
        }
        throw e;
      }
    };
    const runOne = (it: Pending): { ok: unknown } | { error: unknown } => {
      try {
        return { ok: it.run() };
      } catch (e) {
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
    const outcomes = prepareOutcomes(conn, s.bump);
    const out = {
      writeEvents: savepoint(outcomes.writeEvents),
      redeem: savepoint(outcomes.redeem),
      rollback: savepoint(outcomes.rollback),
      expire: savepoint(outcomes.expire),
    };
    return { ...s, batch, decisionJob, out };
  }

  interface Pending {
    run: () => unknown;
    resolve: (r: any) => void;
    reject: (e: unknown) => void;
  }
  // Two lanes: decisions and redemptions (someone is waiting at a page or checkout) commit
  // first; event chunks fill the rest of a group commit up to BACKGROUND_BUDGET_MS, so a large
  // batch of events holds a decision back by at most that much work.
  let queue: Pending[] = [];
  let background: Pending[] = [];
  let scheduled = false;
  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  }
  function flush(): void {
    scheduled = false;
    const items = queue;
    queue = [];
    if (items.length === 0 && background.length === 0) return;
    let results: Array<{ ok: unknown } | { error: unknown }>;
    const taken: Pending[] = [];
    try {
      results = stmts().batch.immediate(items, background, taken, performance.now() + BACKGROUND_BUDGET_MS);
    } catch (e) {
      // Nothing of this transaction was committed: every write in it fails (and is not acknowledged).
      for (const it of [...items, ...taken]) it.reject(e);
      if (background.length > 0) schedule();
      return;
    }
    const all = [...items, ...taken];
    results.forEach((r, i) => ('error' in r ? all[i]!.reject(r.error) : all[i]!.resolve(r.ok)));
    if (background.length > 0) schedule();
  }

  // Under continuous writes the background checkpointer copies the log into the database but
  // the log is never rewound (a new write transaction always finds fresh frames), so the file
  // keeps growing and every read and write slows down (measured: 60k -> 31k events/s as it grew
  // to 250 MB). When the checkpointer reports a long, fully copied log, the writer rewinds it
  // here, between group commits, waiting at most 50 ms for other connections.
  function rewind(): void {
    conn.pragma('busy_timeout = 50');
    try {
      conn.pragma('wal_checkpoint(RESTART)');
    } catch {
      // Busy: another connection was mid-transaction; the checkpointer will ask again.
    } finally {
      conn.pragma('busy_timeout = 5000');
    }
  }

  /** Queues a write for the next group commit; resolves once it is durable. */
  function submit<T>(run: () => T, lane: 'foreground' | 'background' = 'foreground'): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      (lane === 'foreground' ? queue : background).push({ run, resolve, reject });
      schedule();
    });
  }

  const stmts = () => (hot ??= prepare());

  return {
    dialect: 'sqlite',
    ...admin,
    ...createOutcomeReads(kysely),
    // Attribution lookups run per event batch: prepared point queries beat building IN lists.
    async decisionRefs(ids) {
      const s = stmts();
      return ids.flatMap((id) => {
        const r = s.decisionRef.get(id);
        return r ? [toRef(r)] : [];
      });
    },
    async recentDecisions(subjectIds, from, to) {
      const s = stmts();
      // Newest first within each subject (what attribution needs), straight from the index.
      const out = [];
      for (const id of subjectIds) for (const r of s.recent.all(id, from, to)) out.push(toRef(r));
      return out;
    },
    async issuancesByIds(ids) {
      const s = stmts();
      return ids.flatMap((id) => {
        const r = s.issuanceById.get(id);
        return r ? [r] : [];
      });
    },
    async issuancesByCodes(codes) {
      const s = stmts();
      return codes.flatMap((c) => {
        const r = s.issuanceByCode.get(c);
        return r ? [r] : [];
      });
    },
    async migrate() {
      return migrateToLatest(kysely);
    },
    async close() {
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
        issuances: s.history.all(subjectId).map((r) => ({ offerId: r.offer_id, issuedAt: Number(r.issued_at) })),
        features: impressionsSince === null ? null : (s.features.get(subjectId) ?? null),
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
    commitDecision(decision, meta) {
      const plan = commitPlan(decision, meta);
      return submit(stmts().decisionJob(plan, decision.decidedAt));
    },
    async writeEvents(items) {
      const now = Date.now();
      // Chunks commit separately: a batch interrupted by a crash is partly stored and not
      // acknowledged, and resending it stores the rest (events are idempotent by id).
      const parts = [];
      for (let i = 0; i < items.length; i += EVENT_CHUNK) {
        const chunk = items.slice(i, i + EVENT_CHUNK);
        parts.push(submit(() => stmts().out.writeEvents(chunk, now), 'background'));
      }
      // Settle every chunk before answering, so in-flight accounting stays true even when one fails.
      const settled = await Promise.allSettled(parts);
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      const rs = settled.map((r) => (r as PromiseFulfilledResult<{ inserted: number; duplicates: number }>).value);
      return { inserted: rs.reduce((a, r) => a + r.inserted, 0), duplicates: rs.reduce((a, r) => a + r.duplicates, 0) };
    },
    redeem(plan) {
      return submit(() => stmts().out.redeem(plan));
    },
    rollback(plan) {
      return submit(() => stmts().out.rollback(plan));
    },
    expire(items) {
      const now = Date.now();
      return submit(() => stmts().out.expire(items, now));
    },
    async findDecisionByRequestId(requestId) {
      const r = stmts().byRequest.get(requestId);
      return r ? storedDecision(r) : null;
    },
  };
}
