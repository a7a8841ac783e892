import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Consent } from '../../core/request.js';
import { createPolicyStateStore } from '../policy-state.js';
import { createAdminStore, isUniqueViolation, storedDecision } from '../admin-store.js';
import { failedSubjectCheck, staleVersion } from '../commit-plan.js';
import { DECISION_COLUMNS, decisionValues, insertSql, ISSUANCE_COLUMNS, issuanceValues } from '../commit-sql.js';
import { HISTORY_SQL, toIssuance, type HistoryRow } from '../subject-history.js';
import { migrateToLatest } from '../migrations/index.js';
import type { CommitResult } from '../../decisions/port.js';
import type { Store } from '../ports.js';
import type { DB } from '../schema.js';
import { createOutcomeReads } from '../outcome-reads.js';
import { createCustomerErasure } from '../erasure.js';
import { featureTotalsOf, issuanceOf } from '../outcome-rows.js';
import type { Issuance } from '../../wallet/port.js';
import { createMeasureReads } from '../measure-reads.js';
import { BUMP, groupBatcher, postgresOutcomes } from './outcomes.js';

// int8 and numeric come back as strings by default; every value we store fits in 2^53.
const INT8 = 20;
const NUMERIC = 1700;
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8 || oid === NUMERIC) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

const INSERT_ISSUANCE = insertSql('issuances', ISSUANCE_COLUMNS, (_, i) => `$${i + 1}`);
const INSERT_DECISION = insertSql('decisions', DECISION_COLUMNS, (_, i) => `$${i + 1}`);

export interface PostgresOptions {
  /** Connection pool size per process. */
  poolSize?: number;
}

/**
 * PostgreSQL backend for several server processes or machines. Guardrails hold across all
 * of them because every reservation is a conditional upsert on a shared counter row inside
 * one transaction, and per-customer checks run under a row lock on the subject.
 */
export function createPostgresStore(url: string, opts: PostgresOptions = {}): Store {
  // Reports group millions of sessions: 64 MB of sort / hash memory per query keeps that off
  // disk (measured on 1M sessions with the 4 MB default: see BENCHMARKS.md).
  const pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 10, types, connectionTimeoutMillis: 10_000, options: '-c work_mem=64MB' });
  // An idle connection dropped by the server must not crash the process; the pool replaces it.
  pool.on('error', () => undefined);
  // A checked-out client has no pool listener: a connection dropped mid-query must fail that
  // query (it does, through its own handler), not crash the process on an unhandled 'error'.
  pool.on('connect', (c) => c.on('error', () => undefined));
  const kysely = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  const admin = createAdminStore(kysely);
  // Checkout looks issuances up one redemption at a time; concurrent lookups share one query.
  const issuanceReads = groupBatcher<string[], Issuance[]>(256, 4, async (lists) => {
    const ids = [...new Set(lists.flat())];
    const rows = (await pool.query<DB['issuances']>('SELECT * FROM issuances WHERE id = ANY($1::text[])', [ids])).rows;
    const byId = new Map(rows.map((r) => [r.id, issuanceOf(r)]));
    return lists.map((l) => l.flatMap((id) => (byId.has(id) ? [byId.get(id)!] : [])));
  });

  // A report's joins are planned from table statistics. Tables never analyzed (just loaded, before
  // autovacuum's first visit) get nested-loop plans: measured, one headline report over 2,000
  // simulated sessions took 15.6 s, 0.1 s after ANALYZE. Reports analyze such tables first (and
  // tables changed by more than their size since), checking at most once a minute.
  const REPORT_TABLES = ['decisions', 'orders', 'events', 'redemptions', 'issuances'];
  let statsCheckedAt = -Infinity;
  let analyzing: Promise<void> | null = null;
  const ensureStats = (): Promise<void> => {
    if (performance.now() - statsCheckedAt < 60_000) return Promise.resolve();
    return (analyzing ??= (async () => {
      try {
        const r = await pool.query<{ relname: string }>(
          'SELECT relname FROM pg_stat_user_tables WHERE relname = ANY($1::text[]) AND ((last_analyze IS NULL AND last_autoanalyze IS NULL) OR n_mod_since_analyze > n_live_tup)',
          [REPORT_TABLES],
        );
        if (r.rows.length > 0) await pool.query(`ANALYZE ${r.rows.map((x) => `"${x.relname}"`).join(', ')}`);
        statsCheckedAt = performance.now();
      } finally {
        analyzing = null;
      }
    })());
  };
  const measureReads = createMeasureReads(kysely, 'postgres', {
      // Rows handed over as they arrive, not once the whole result is in: a report works through
      // one grouping while the server still produces the next customers.
      async eachRow(query, onRow) {
        const client = await pool.connect();
        let failed = false;
        try {
          await new Promise<void>((resolve, reject) => {
            const q = new pg.Query({ text: query.sql, values: query.parameters as unknown[] });
            let settled = false;
            const fail = (e: unknown) => {
              if (settled) return;
              settled = true;
              reject(e);
            };
            q.on('row', (row: unknown) => {
              if (settled) return;
              try {
                onRow(row as never);
              } catch (e) {
                // Fails now; releasing the connection with the error closes it, which stops the server.
                fail(e);
              }
            });
            q.on('error', fail);
            q.on('end', () => {
              if (settled) return;
              settled = true;
              resolve();
            });
            client.query(q);
          });
        } catch (e) {
          failed = true;
          throw e;
        } finally {
          // After a failure the connection is closed, not reused: its state is unknown.
          client.release(failed);
        }
      },
  });
  const withStats = Object.fromEntries(
    Object.entries(measureReads).map(([k, f]) => [k, typeof f === 'function' && k.startsWith('measure') ? async (...a: unknown[]) => (await ensureStats(), (f as (...x: unknown[]) => unknown)(...a)) : f]),
  ) as typeof measureReads;

  return {
    dialect: 'postgres',
    ...admin,
    ...createPolicyStateStore(kysely),
    ...createOutcomeReads(kysely),
    ...createCustomerErasure(kysely),
    ...withStats,
    ...postgresOutcomes(pool),
    issuancesByIds: (ids) => (ids.length === 0 ? Promise.resolve([]) : issuanceReads.submit(ids)),
    async migrate() {
      // Kysely's migrator takes its own lock, so processes booting together migrate one at a time.
      return migrateToLatest(kysely);
    },
    async close() {
      await kysely.destroy();
    },
    async loadSubject(subjectId, customerId, impressionsSince) {
      const [cust, hist, feats] = await Promise.all([
        customerId !== null ? pool.query<{ traits: string; consent: string }>('SELECT traits, consent FROM customers WHERE id = $1', [customerId]) : null,
        pool.query<HistoryRow>(HISTORY_SQL.replace('?', '$1'), [subjectId]),
        // One round trip for the stored features and the impression count, when asked for.
        impressionsSince === null
          ? null
          : pool.query<DB['customer_features'] & { impressions: number }>(
              `SELECT f.*, (SELECT count(*) FROM events WHERE subject_id = $1 AND type = 'impression' AND occurred_at >= $2) AS impressions
               FROM (SELECT 1) one LEFT JOIN customer_features f ON f.subject_id = $1`,
              [subjectId, impressionsSince],
            ),
      ]);
      const frow = feats?.rows[0];
      const row = cust?.rows[0];
      return {
        traits: row ? (JSON.parse(row.traits) as Record<string, unknown>) : {},
        consent: row ? (JSON.parse(row.consent) as Consent) : {},
        issuances: hist.rows.map(toIssuance),
        features: !frow || frow.subject_id === null ? null : featureTotalsOf(frow),
        impressions: frow ? Number(frow.impressions) : 0,
      };
    },
    async readCounters(keys) {
      const out = new Map<string, number>();
      if (keys.length === 0) return out;
      const r = await pool.query<{ key: string; used: number }>('SELECT key, used FROM guard_counters WHERE key = ANY($1)', [keys]);
      for (const row of r.rows) out.set(row.key, Number(row.used));
      return out;
    },
    async commitDecision(plan): Promise<CommitResult> {
      const now = plan.decision.createdAt;
      const client = await pool.connect();
      let inTx = false;
      try {
        if (plan.decision.requestId !== null) {
          const dup = await client.query<{ id: string }>('SELECT id FROM decisions WHERE request_id = $1', [plan.decision.requestId]);
          if (dup.rows[0]) return { status: 'duplicate', decisionId: dup.rows[0].id };
        }
        await client.query('BEGIN');
        inTx = true;
        if (plan.issuances.length > 0) {
          // Serializes commits for one customer (per-customer and frequency caps), across processes.
          await client.query('INSERT INTO subjects (id, seq) VALUES ($1, 1) ON CONFLICT (id) DO UPDATE SET seq = subjects.seq + 1', [plan.decision.subjectId]);
        }
        if (plan.versionChecks.offers.length > 0) {
          const ids = plan.versionChecks.offers.map((o) => o.offerId);
          const [offers, campaigns] = await Promise.all([
            client.query<{ id: string; status: string; current_version: number }>('SELECT id, status, current_version FROM offers WHERE id = ANY($1)', [ids]),
            client.query<{ id: string; status: string; current_version: number }>('SELECT id, status, current_version FROM campaigns WHERE id = $1', [plan.versionChecks.campaign?.id ?? '']),
          ]);
          const stale = staleVersion(plan.versionChecks, (kind, id) => (kind === 'offer' ? offers.rows : campaigns.rows).find((r) => r.id === id));
          if (stale) {
            await client.query('ROLLBACK');
            inTx = false;
            return { status: 'rejected', offerId: stale.offerId, reason: { code: 'OFFER_CHANGED', detail: stale.detail } };
          }
        }
        if (plan.subjectChecks.length > 0) {
          const hist = await client.query<{ id: string; offer_id: string; issued_at: number; status: string; expires_at: number }>(
            'SELECT id, offer_id, issued_at, status, expires_at FROM issuances WHERE subject_id = $1 AND offer_id = ANY($2)',
            [plan.decision.subjectId, plan.subjectChecks.map((c) => c.offerId)],
          );
          const failed = failedSubjectCheck(plan.subjectChecks, hist.rows, now);
          if (failed) {
            await client.query('ROLLBACK');
            inTx = false;
            return { status: 'rejected', offerId: failed.offerId, reason: { code: failed.reason, detail: failed.detail } };
          }
        }
        const counters: Record<string, number> = {};
        for (const op of plan.counterOps) {
          const r = op.amount <= op.limit ? await client.query<{ used: number }>(BUMP, [op.key, op.amount, now, op.limit]) : null;
          const row = r?.rows[0];
          if (!row) {
            await client.query('ROLLBACK');
            inTx = false;
            return { status: 'rejected', offerId: op.offerId, reason: { code: op.reason, detail: `+${op.amount} would exceed ${op.limit}` } };
          }
          counters[op.key] = Number(row.used);
        }
        for (const iss of plan.issuances) await client.query(INSERT_ISSUANCE, issuanceValues(iss));
        await client.query(INSERT_DECISION, decisionValues(plan.decision));
        await client.query('COMMIT');
        inTx = false;
        return { status: 'committed', counters };
      } catch (e) {
        if (inTx) await client.query('ROLLBACK').catch(() => undefined);
        if (isUniqueViolation(e) && plan.decision.requestId) {
          // On the client we already hold: with a pool of one, asking the pool would wait forever.
          const dup = await client.query<{ id: string }>('SELECT id FROM decisions WHERE request_id = $1', [plan.decision.requestId]);
          if (dup.rows[0]) return { status: 'duplicate', decisionId: dup.rows[0].id };
        }
        throw e;
      } finally {
        client.release();
      }
    },
    async findDecisionByRequestId(requestId) {
      const r = await pool.query<{ id: string; request_id: string | null; created_at: number; body: string }>(
        'SELECT id, request_id, created_at, body FROM decisions WHERE request_id = $1',
        [requestId],
      );
      return r.rows[0] ? storedDecision(r.rows[0]) : null;
    },
  };
}
