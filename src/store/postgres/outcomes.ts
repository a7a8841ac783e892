import type pg from 'pg';
import { isUniqueViolation } from '../admin-store.js';
import type { CounterOp } from '../commit-plan.js';
import { COUNTER_FAILURE, type EventWrite, type EventWriteResult, type ExpiryWrite, type FeatureDelta, type RedeemResult, type RedemptionPlan, type RollbackPlan } from '../outcome-plan.js';
import type { DB } from '../schema.js';

type Col = readonly [name: string, type: 'text' | 'int8' | 'int4'];

/** One multi-row INSERT from column arrays (unnest): a whole batch in one round trip. */
function bulkInsert<T extends object>(table: string, columns: readonly Col[], rows: T[], tail = ''): [string, unknown[]] {
  const text = `INSERT INTO ${table} (${columns.map((c) => c[0]).join(', ')})
    SELECT * FROM unnest(${columns.map((c, i) => `$${i + 1}::${c[1]}[]`).join(', ')}) ${tail}`;
  return [text, columns.map(([name]) => rows.map((r) => (r as Record<string, unknown>)[name] ?? null))];
}

const EVENT_COLS: Col[] = [
  ['id', 'text'], ['type', 'text'], ['subject_id', 'text'], ['customer_id', 'text'], ['session_id', 'text'], ['occurred_at', 'int8'], ['received_at', 'int8'],
  ['order_id', 'text'], ['offer_id', 'text'], ['decision_id', 'text'], ['campaign_id', 'text'], ['holdout', 'int4'], ['attribution', 'text'], ['amount', 'int8'], ['body', 'text'],
];
const ORDER_COLS: Col[] = [
  ['order_id', 'text'], ['event_id', 'text'], ['subject_id', 'text'], ['customer_id', 'text'], ['occurred_at', 'int8'], ['subtotal', 'int8'], ['shipping', 'int8'],
  ['discount', 'int8'], ['cogs', 'int8'], ['margin', 'int8'], ['with_offer', 'int4'], ['decision_id', 'text'], ['campaign_id', 'text'], ['offer_id', 'text'],
  ['holdout', 'int4'], ['attribution', 'text'],
];
const FEATURE_COLS: Col[] = [
  ['subject_id', 'text'], ['orders', 'int8'], ['first_order_at', 'int8'], ['last_order_at', 'int8'], ['revenue', 'int8'], ['refunded', 'int8'],
  ['offer_orders', 'int8'], ['offer_discount', 'int8'], ['offer_subtotal', 'int8'], ['updated_at', 'int8'],
];
const ITEM_COLS: Col[] = [['redemption_id', 'text'], ['issuance_id', 'text'], ['offer_id', 'text'], ['discount', 'int8'], ['cost', 'int8'], ['points', 'int8']];
const LEDGER_COLS: Col[] = [
  ['id', 'text'], ['issuance_id', 'text'], ['offer_id', 'text'], ['kind', 'text'], ['day', 'text'], ['at', 'int8'], ['liability', 'int8'], ['cost', 'int8'], ['points', 'int8'], ['redemption_id', 'text'],
];
const REDEMPTION_COLS = ['id', 'order_id', 'subject_id', 'customer_id', 'channel', 'status', 'created_at', 'rolled_back_at', 'discount', 'cost', 'points', 'body'] as const;

const FEATURE_CONFLICT = `ON CONFLICT (subject_id) DO UPDATE SET
  orders = customer_features.orders + excluded.orders,
  first_order_at = LEAST(customer_features.first_order_at, excluded.first_order_at),
  last_order_at = GREATEST(customer_features.last_order_at, excluded.last_order_at),
  revenue = customer_features.revenue + excluded.revenue,
  refunded = customer_features.refunded + excluded.refunded,
  offer_orders = customer_features.offer_orders + excluded.offer_orders,
  offer_discount = customer_features.offer_discount + excluded.offer_discount,
  offer_subtotal = customer_features.offer_subtotal + excluded.offer_subtotal,
  updated_at = excluded.updated_at`;

export const BUMP = `INSERT INTO guard_counters (key, used, updated_at) VALUES ($1, $2, $3)
  ON CONFLICT (key) DO UPDATE SET used = guard_counters.used + excluded.used, updated_at = excluded.updated_at
  WHERE guard_counters.used + excluded.used <= $4
  RETURNING used`;

const byKey = <T>(k: (t: T) => string) => (a: T, b: T) => (k(a) < k(b) ? -1 : k(a) > k(b) ? 1 : 0);

/** Sums counter moves per key (sorted, so concurrent transactions lock rows in one order). */
function mergeOps(ops: CounterOp[]): CounterOp[] {
  const m = new Map<string, CounterOp>();
  for (const op of ops) {
    const prev = m.get(op.key);
    m.set(op.key, prev ? { ...prev, amount: prev.amount + op.amount } : { ...op });
  }
  return [...m.values()].filter((o) => o.amount !== 0).sort(byKey((o) => o.key));
}

/** Runs `f` in a transaction on one pooled connection; `f` returning { abort } rolls back. */
async function tx<T>(pool: pg.Pool, f: (c: pg.PoolClient) => Promise<T | { abort: T }>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    let r: T | { abort: T };
    try {
      r = await f(client);
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    }
    if (r && typeof r === 'object' && 'abort' in r) {
      await client.query('ROLLBACK');
      return r.abort;
    }
    await client.query('COMMIT');
    return r as T;
  } finally {
    client.release();
  }
}

/** Outcome writes for PostgreSQL: each call is one transaction of a few batched statements. */
export function postgresOutcomes(pool: pg.Pool) {
  return {
    async writeEvents(items: EventWrite[]): Promise<EventWriteResult> {
      // Sorted so concurrent batches touching the same keys wait for each other instead of deadlocking.
      const sorted = [...items].sort(byKey((i) => i.event.id));
      const distinct = sorted.filter((it, i) => i === 0 || sorted[i - 1]!.event.id !== it.event.id);
      return tx(pool, async (c) => {
        const [evSql, evParams] = bulkInsert('events', EVENT_COLS, distinct.map((i) => i.event), 'ON CONFLICT (id) DO NOTHING RETURNING id');
        const fresh = new Set((await c.query<{ id: string }>(evSql, evParams)).rows.map((r) => r.id));
        const news = distinct.filter((i) => fresh.has(i.event.id));
        const orders = news.filter((i) => i.order).sort(byKey((i) => i.order!.order_id));
        let freshOrders = new Set<string>();
        if (orders.length > 0) {
          const [oSql, oParams] = bulkInsert('orders', ORDER_COLS, orders.map((i) => i.order!), 'ON CONFLICT (order_id) DO NOTHING RETURNING order_id');
          freshOrders = new Set((await c.query<{ order_id: string }>(oSql, oParams)).rows.map((r) => r.order_id));
        }
        const agg = new Map<string, FeatureDelta & { first: number | null }>();
        for (const it of news) {
          if (!it.delta || (it.order && !freshOrders.has(it.order.order_id))) continue;
          const d = it.delta;
          const a = agg.get(d.subjectId);
          if (!a) {
            agg.set(d.subjectId, { ...d, first: d.orderAt });
            continue;
          }
          a.orders += d.orders;
          a.revenue += d.revenue;
          a.refunded += d.refunded;
          a.offerOrders += d.offerOrders;
          a.offerDiscount += d.offerDiscount;
          a.offerSubtotal += d.offerSubtotal;
          a.first = minN(a.first, d.orderAt);
          a.orderAt = maxN(a.orderAt, d.orderAt);
        }
        if (agg.size > 0) {
          const now = Date.now();
          const rows = [...agg.values()].sort(byKey((d) => d.subjectId)).map((d) => ({
            subject_id: d.subjectId,
            orders: d.orders,
            first_order_at: d.first,
            last_order_at: d.orderAt,
            revenue: d.revenue,
            refunded: d.refunded,
            offer_orders: d.offerOrders,
            offer_discount: d.offerDiscount,
            offer_subtotal: d.offerSubtotal,
            updated_at: now,
          }));
          const [fSql, fParams] = bulkInsert('customer_features', FEATURE_COLS, rows, FEATURE_CONFLICT);
          await c.query(fSql, fParams);
        }
        return { inserted: fresh.size, duplicates: items.length - fresh.size };
      });
    },

    async redeem(plan: RedemptionPlan): Promise<RedeemResult> {
      const findDup = async (c: pg.PoolClient) =>
        (await c.query<DB['redemptions']>('SELECT * FROM redemptions WHERE order_id = $1', [plan.redemption.order_id])).rows[0];
      try {
        return await tx<RedeemResult>(pool, async (c) => {
          const ins = await c.query(
            `INSERT INTO redemptions (${REDEMPTION_COLS.join(', ')}) VALUES (${REDEMPTION_COLS.map((_, i) => `$${i + 1}`).join(', ')}) ON CONFLICT (order_id) DO NOTHING RETURNING id`,
            REDEMPTION_COLS.map((k) => plan.redemption[k]),
          );
          if (ins.rowCount === 0) {
            const dup = await findDup(c);
            return { abort: { status: 'duplicate', redemption: dup! } };
          }
          const ids = plan.items.map((i) => i.issuance_id);
          const took = await c.query<{ id: string }>(
            `UPDATE issuances SET status = 'redeemed' WHERE id = ANY($1::text[]) AND status = 'issued' AND expires_at > $2 RETURNING id`,
            [ids, plan.now],
          );
          if ((took.rowCount ?? 0) < ids.length) {
            const got = new Set(took.rows.map((r) => r.id));
            const miss = plan.items.find((i) => !got.has(i.issuance_id))!;
            const st = (await c.query<{ status: string; expires_at: number }>('SELECT status, expires_at FROM issuances WHERE id = $1', [miss.issuance_id])).rows[0];
            const expired = st && (st.status === 'expired' || (st.status === 'issued' && Number(st.expires_at) <= plan.now));
            return {
              abort: {
                status: 'rejected',
                failure: expired
                  ? { index: miss.index, code: 'TOKEN_EXPIRED', message: 'The offer has expired' }
                  : { index: miss.index, code: 'TOKEN_ALREADY_REDEEMED', message: 'The offer was already redeemed' },
              },
            };
          }
          for (const op of plan.counterOps) {
            const r = op.amount <= op.limit ? await c.query(BUMP, [op.key, op.amount, plan.now, op.limit]) : null;
            if (!r || r.rowCount === 0) {
              return {
                abort: { status: 'rejected', failure: { index: op.index, code: COUNTER_FAILURE[op.reason] ?? 'BUDGET_EXHAUSTED', message: `+${op.amount} would exceed ${op.limit}` } },
              };
            }
          }
          const [iSql, iParams] = bulkInsert('redemption_items', ITEM_COLS, plan.items);
          await c.query(iSql, iParams);
          if (plan.ledger.length > 0) {
            const [lSql, lParams] = bulkInsert('liability_ledger', LEDGER_COLS, plan.ledger);
            await c.query(lSql, lParams);
          }
          return { status: 'applied' };
        });
      } catch (e) {
        if (!isUniqueViolation(e)) throw e;
        const c = await pool.connect();
        try {
          const dup = await findDup(c);
          if (dup) return { status: 'duplicate', redemption: dup };
        } finally {
          c.release();
        }
        throw e;
      }
    },

    async rollback(plan: RollbackPlan): Promise<boolean> {
      return tx(pool, async (c) => {
        const r = await c.query(`UPDATE redemptions SET status = 'rolled_back', rolled_back_at = $1 WHERE id = $2 AND status = 'applied'`, [plan.now, plan.redemptionId]);
        if (r.rowCount === 0) return { abort: false };
        for (const i of plan.issuances) await c.query(`UPDATE issuances SET status = $1 WHERE id = $2 AND status = 'redeemed'`, [i.toStatus, i.id]);
        for (const op of mergeOps(plan.counterOps)) await c.query(BUMP, [op.key, op.amount, plan.now, Number.MAX_SAFE_INTEGER]);
        if (plan.ledger.length > 0) {
          const [lSql, lParams] = bulkInsert('liability_ledger', LEDGER_COLS, plan.ledger);
          await c.query(lSql, lParams);
        }
        return true;
      });
    },

    async expire(items: ExpiryWrite[]): Promise<number> {
      if (items.length === 0) return 0;
      const now = Date.now();
      return tx(pool, async (c) => {
        const r = await c.query<{ id: string }>(`UPDATE issuances SET status = 'expired' WHERE id = ANY($1::text[]) AND status = 'issued' RETURNING id`, [items.map((i) => i.issuanceId)]);
        const done = new Set(r.rows.map((x) => x.id));
        const mine = items.filter((i) => done.has(i.issuanceId));
        for (const op of mergeOps(mine.flatMap((i) => i.counterOps))) await c.query(BUMP, [op.key, op.amount, now, Number.MAX_SAFE_INTEGER]);
        if (mine.length > 0) {
          const [lSql, lParams] = bulkInsert('liability_ledger', LEDGER_COLS, mine.map((i) => i.ledger));
          await c.query(lSql, lParams);
        }
        return mine.length;
      });
    },
  };
}

const minN = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
const maxN = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));
