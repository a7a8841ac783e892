import type pg from 'pg';
import type { AppliedRedemption, RefundableOrder } from '../outcome-plan.js';
import type { EventOutcome, EventWrite, EventWriteResult, FeatureDelta } from '../../events/port.js';
import type { CounterMove, ExpiryWrite, RedeemFailure, RedeemResult, RedemptionPlan, RollbackPlan } from '../../wallet/port.js';
import { appliedRedemptions, checkAgainstOrder, checkAgainstRedemption, COUNTER_FAILURE, quarantineRow, releasedEvent } from '../outcome-plan.js';
import { APPLIED_REDEMPTIONS, REFUNDABLE_COLUMNS, EVENT_COLUMNS, eventValues, itemRow, LEDGER_COLUMNS, ledgerRow, ledgerValues, ORDER_COLUMNS, orderValues, QUARANTINE_COLUMNS, quarantineValues, redemptionOf, redemptionRow, type Column } from '../outcome-rows.js';
import type { DB } from '../schema.js';

/** One multi-row INSERT from column arrays (unnest): a whole batch in one round trip. */
function bulkInsert<T>(table: string, columns: readonly Column[], rows: T[], values: (r: T) => unknown[], tail = ''): [string, unknown[]] {
  const text = `INSERT INTO ${table} (${columns.map((c) => c[0]).join(', ')})
    SELECT * FROM unnest(${columns.map((c, i) => `$${i + 1}::${c[1]}[]`).join(', ')}) ${tail}`;
  const arrays = columns.map(() => new Array<unknown>(rows.length));
  rows.forEach((r, k) => {
    const v = values(r);
    for (let i = 0; i < arrays.length; i++) arrays[i]![k] = v[i] ?? null;
  });
  return [text, arrays];
}

// Dialect-specific: the upsert below merges per subject in SQL (SQLite applies each delta by name).
const FEATURE_COLS: readonly Column[] = [
  ['subject_id', 'text'], ['orders', 'int8'], ['first_order_at', 'int8'], ['last_order_at', 'int8'], ['revenue', 'int8'], ['refunded', 'int8'],
  ['offer_orders', 'int8'], ['offer_discount', 'int8'], ['offer_subtotal', 'int8'], ['updated_at', 'int8'],
];

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
function mergeOps(ops: CounterMove[]): CounterMove[] {
  const m = new Map<string, CounterMove>();
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

/**
 * Group commit: calls queue while up to `inFlight` batches run; a free slot takes its share of
 * what is queued (up to `max`). Under load batches grow by themselves; when idle a call goes alone.
 */
export function groupBatcher<I, O>(max: number, inFlight: number, run: (items: I[]) => Promise<O[]>) {
  let queue: Array<{ item: I; resolve: (o: O) => void; reject: (e: unknown) => void }> = [];
  let running = 0;
  const flush = () => {
    while (queue.length > 0 && running < inFlight) {
      // Split what is queued across the free slots, so that while one batch is in the database
      // the callers of the other are already preparing their next request.
      const size = Math.min(max, Math.ceil(queue.length / (inFlight - running)));
      const part = queue.slice(0, size);
      queue = queue.slice(size);
      running++;
      run(part.map((p) => p.item))
        .then(
          (outs) => part.forEach((p, i) => p.resolve(outs[i]!)),
          (e: unknown) => part.forEach((p) => p.reject(e)),
        )
        .finally(() => {
          running--;
          flush();
        });
    }
  };
  return {
    submit(item: I): Promise<O> {
      return new Promise<O>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        if (queue.length === 1) setImmediate(flush);
      });
    },
  };
}

const failureMessage = (code: RedeemFailure['code'], key?: string) =>
  code === 'TOKEN_EXPIRED'
    ? 'The offer has expired'
    : code === 'TOKEN_ALREADY_REDEEMED'
      ? 'The offer was already redeemed'
      : code === 'ORDER_DISCOUNT_MISMATCH'
        ? `the order was reported with a discount of ${key}`
        : `counter ${key} is at its limit`;

/** Outcome writes for PostgreSQL: each call is one transaction of a few batched statements. */
export function postgresOutcomes(pool: pg.Pool) {
  // The rows as offerpilot_redeem_many reads them (snake_case columns).
  const payload = (plan: RedemptionPlan) => ({
    now: plan.now,
    redemption: redemptionRow(plan.redemption),
    items: plan.items.map((it) => ({ ...itemRow(plan.redemption.id, it), index: it.index })),
    counterOps: plan.counterOps.map((op) => ({ ...op, failure: COUNTER_FAILURE[op.reason] ?? 'BUDGET_EXHAUSTED' })),
    ledger: plan.ledger.map(ledgerRow),
  });
  const toResult = (s: string): RedeemResult | 'duplicate' => {
    if (s === 'applied') return { status: 'applied' };
    if (s === 'duplicate') return 'duplicate';
    const f = JSON.parse(s) as { index: number; code: RedeemFailure['code']; key?: string };
    return { status: 'rejected', failure: { index: f.index, code: f.code, message: failureMessage(f.code, f.key) } };
  };
  const finish = async (plans: RedemptionPlan[], results: Array<RedeemResult | 'duplicate'>): Promise<RedeemResult[]> => {
    const dupIds = plans.filter((_, i) => results[i] === 'duplicate').map((p) => p.redemption.orderId);
    const dups = dupIds.length === 0 ? [] : (await pool.query<DB['redemptions']>('SELECT * FROM redemptions WHERE order_id = ANY($1::text[])', [dupIds])).rows;
    return results.map((r, i) => {
      if (r !== 'duplicate') return r;
      const dup = dups.find((d) => d.order_id === plans[i]!.redemption.orderId);
      if (!dup) throw new Error(`redemption of order ${plans[i]!.redemption.orderId} neither applied nor found`);
      return { status: 'duplicate', redemption: redemptionOf(dup) };
    });
  };
  const redeemMany = async (plans: RedemptionPlan[]) => {
    const r = await pool.query<{ r: string[] }>('SELECT offerpilot_redeem_many($1::jsonb) AS r', [JSON.stringify(plans.map(payload))]);
    return r.rows[0]!.r.map(toResult);
  };
  // Redemptions arriving together share one transaction (group commit).
  const redeemBatcher = groupBatcher<RedemptionPlan, RedeemResult>(128, 2, async (plans) => {
    let results: Array<RedeemResult | 'duplicate'>;
    try {
      results = await redeemMany(plans);
    } catch (e) {
      // Should two batches still deadlock (PostgreSQL aborts one), the aborted batch's
      // redemptions are retried one by one, so none is lost or doubled.
      if ((e as { code?: string }).code !== '40P01') throw e;
      results = [];
      for (const p of plans) results.push(...(await redeemMany([p])));
    }
    return finish(plans, results);
  });

  const writeEventsOnce = (items: EventWrite[]) => writeEventsOnceOn(pool, items);

  return {
    async writeEvents(items: EventWrite[]): Promise<EventWriteResult> {
      for (let attempt = 1; ; attempt++) {
        try {
          return await writeEventsOnce(items);
        } catch (e) {
          // Two batches each refunding an order the other is inserting can deadlock; PostgreSQL
          // aborts one, which is written again (nothing of it was committed).
          if ((e as { code?: string }).code !== '40P01' || attempt >= 3) throw e;
        }
      }
    },

    redeem(plan: RedemptionPlan): Promise<RedeemResult> {
      for (const op of plan.counterOps) {
        // A move larger than the limit itself cannot fit, whatever the counter holds.
        if (op.amount > op.limit) return Promise.resolve({ status: 'rejected', failure: { index: op.index, code: COUNTER_FAILURE[op.reason] ?? 'BUDGET_EXHAUSTED', message: `+${op.amount} exceeds ${op.limit}` } });
      }
      return redeemBatcher.submit(plan);
    },

    async rollback(plan: RollbackPlan): Promise<boolean> {
      return tx(pool, async (c) => {
        const r = await c.query(`UPDATE redemptions SET status = 'rolled_back', rolled_back_at = $1 WHERE id = $2 AND status = 'applied'`, [plan.now, plan.redemptionId]);
        if (r.rowCount === 0) return { abort: false };
        // Counters before issuances: the order redemption batches lock them in, so the two cannot deadlock.
        for (const op of mergeOps(plan.counterOps)) await c.query(BUMP, [op.key, op.amount, plan.now, Number.MAX_SAFE_INTEGER]);
        for (const i of plan.issuances) await c.query(`UPDATE issuances SET status = $1 WHERE id = $2 AND status = 'redeemed'`, [i.toStatus, i.id]);
        if (plan.ledger.length > 0) {
          const [lSql, lParams] = bulkInsert('liability_ledger', LEDGER_COLUMNS, plan.ledger, ledgerValues);
          await c.query(lSql, lParams);
        }
        return true;
      });
    },

    async expire(items: ExpiryWrite[]): Promise<number> {
      if (items.length === 0) return 0;
      const now = Date.now();
      return tx(pool, async (c) => {
        // Counters before issuances, as redemption batches lock them (no deadlock between the two).
        const keys = [...new Set(items.flatMap((i) => i.counterOps.map((o) => o.key)))].sort();
        if (keys.length > 0) await c.query('SELECT key FROM guard_counters WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE', [keys]);
        const r = await c.query<{ id: string }>(`UPDATE issuances SET status = 'expired' WHERE id = ANY($1::text[]) AND status = 'issued' RETURNING id`, [items.map((i) => i.issuanceId)]);
        const done = new Set(r.rows.map((x) => x.id));
        const mine = items.filter((i) => done.has(i.issuanceId));
        for (const op of mergeOps(mine.flatMap((i) => i.counterOps))) await c.query(BUMP, [op.key, op.amount, now, Number.MAX_SAFE_INTEGER]);
        if (mine.length > 0) {
          const [lSql, lParams] = bulkInsert('liability_ledger', LEDGER_COLUMNS, mine.map((i) => i.ledger), ledgerValues);
          await c.query(lSql, lParams);
        }
        return mine.length;
      });
    },
  };
}

const isRefund = (e: { type: string }) => e.type === 'refund' || e.type === 'return';

/**
 * One batch of events in one transaction, a fixed number of statements whatever its size:
 * order rows first (the unique order id decides, across concurrent batches, whose order it is),
 * then the orders the batch's refunds name, locked, so refunds are checked against what is left,
 * then the events that passed, refund totals, quarantine and features.
 */
async function writeEventsOnceOn(pool: pg.Pool, batch: EventWrite[]): Promise<EventWriteResult> {
  // The batch, then any quarantined refunds its new orders release (written, not reported).
  const items = [...batch];
  const outcomes: EventOutcome[] = new Array<EventOutcome>(items.length);
  // Sorted so concurrent batches touching the same keys wait for each other instead of deadlocking;
  // the first of a repeated event id in the batch is the one written.
  const sorted = items.map((_, i) => i).sort((a, b) => (items[a]!.event.id < items[b]!.event.id ? -1 : items[a]!.event.id > items[b]!.event.id ? 1 : a - b));
  const distinct: number[] = [];
  for (const i of sorted) {
    if (distinct.length > 0 && items[distinct[distinct.length - 1]!]!.event.id === items[i]!.event.id) outcomes[i] = 'duplicate';
    else distinct.push(i);
  }
  return tx(pool, async (c) => {
    let redeemed = new Map<string, AppliedRedemption>();
    const checked = distinct.filter((i) => items[i]!.order || isRefund(items[i]!.event));
    if (checked.length > 0) {
      // One lock per order id named, taken at once in key order (no deadlock between batches), and
      // held to commit: a refund finding no order and a batch inserting that order are thereby
      // serialized, so the refund either sees the order or is quarantined where the order's
      // arrival will find it (an order id not stored yet has no row to lock).
      const orderIds = [...new Set(checked.map((i) => items[i]!.event.orderId!))];
      await c.query('SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(o, 0) AS k FROM unnest($1::text[]) AS o ORDER BY k) AS keys', [orderIds]);
      // Known event ids first: a resent order must not insert an order row, nor a resent refund refund again.
      const known = await c.query<{ id: string }>('SELECT id FROM events WHERE id = ANY($1::text[])', [checked.map((i) => items[i]!.event.id)]);
      const ids = new Set(known.rows.map((r) => r.id));
      for (const i of checked) if (ids.has(items[i]!.event.id)) outcomes[i] = 'duplicate';
      // Read under the order-id locks, which a redemption batch takes too: an order and the
      // redemption of its id, written concurrently, each see the other or are seen by it.
      const ordered = [...new Set(checked.filter((i) => items[i]!.order && outcomes[i] === undefined).map((i) => items[i]!.order!.orderId))];
      if (ordered.length > 0) {
        const red = await c.query<{ id: string; order_id: string; discount: string; issuance_id: string | null }>(
          `${APPLIED_REDEMPTIONS} = ANY($1::text[])`,
          [ordered],
        );
        redeemed = appliedRedemptions(red.rows);
      }
    }
    const pending = (i: number) => outcomes[i] === undefined;
    // Before any order row is inserted: a refused order must not become the order of its id.
    for (const i of distinct) {
      const refusal = pending(i) && items[i]!.order ? checkAgainstRedemption(items[i]!, redeemed.get(items[i]!.order!.orderId)) : null;
      if (refusal) outcomes[i] = refusal;
    }

    // Orders: the earliest event of each order id in the batch carries its row.
    const orderItems = distinct.filter((i) => items[i]!.order && pending(i)).sort((a, b) => a - b);
    const carrier = new Map<string, number>();
    for (const i of orderItems) if (!carrier.has(items[i]!.order!.orderId)) carrier.set(items[i]!.order!.orderId, i);
    const freshOrders = new Set<number>(); // items whose order row was inserted
    if (carrier.size > 0) {
      const rows = [...carrier.values()].map((i) => items[i]!.order!).sort(byKey((o) => o.orderId));
      const [oSql, oParams] = bulkInsert('orders', ORDER_COLUMNS, rows, orderValues, 'ON CONFLICT (order_id) DO NOTHING RETURNING order_id');
      const inserted = new Set((await c.query<{ order_id: string }>(oSql, oParams)).rows.map((r) => r.order_id));
      for (const [id, i] of carrier) if (inserted.has(id)) freshOrders.add(i);
      const owner = new Map<string, string>();
      for (const [id, i] of carrier) if (inserted.has(id)) owner.set(id, items[i]!.event.subjectId);
      const stored = [...carrier.keys()].filter((id) => !inserted.has(id));
      if (stored.length > 0) {
        for (const r of (await c.query<{ order_id: string; subject_id: string }>('SELECT order_id, subject_id FROM orders WHERE order_id = ANY($1::text[])', [stored])).rows) owner.set(r.order_id, r.subject_id);
      }
      for (const i of orderItems) {
        const subjectId = owner.get(items[i]!.order!.orderId);
        const refusal = checkAgainstOrder(items[i]!, subjectId === undefined ? undefined : { subjectId, paid: 0, refunded: 0 });
        if (refusal) outcomes[i] = refusal;
      }
    }
    const released: number[] = [];
    if (freshOrders.size > 0) {
      const byId = new Map([...freshOrders].map((i) => [items[i]!.order!.orderId, items[i]!.order!]));
      const held = await c.query<{ id: string; order_id: string; event: string }>(
        'SELECT id, order_id, event FROM event_quarantine WHERE order_id = ANY($1::text[]) ORDER BY received_at, id FOR UPDATE',
        [[...byId.keys()]],
      );
      for (const q of held.rows) {
        released.push(items.length);
        items.push(releasedEvent(q, byId.get(q.order_id)!));
      }
    }

    // Refunds against their orders as stored and as this batch leaves them: those waiting for a
    // new order first (they came earlier), then the batch's in batch order.
    const refunds = [...released, ...distinct.filter((i) => isRefund(items[i]!.event) && pending(i)).sort((a, b) => a - b)];
    const refundable = new Map<string, RefundableOrder>();
    if (refunds.length > 0) {
      const ids = [...new Set(refunds.map((i) => items[i]!.event.orderId!))].sort();
      const r = await c.query<{ order_id: string; subject_id: string; paid: string; refunded: string }>(
        `SELECT order_id, ${REFUNDABLE_COLUMNS} FROM orders WHERE order_id = ANY($1::text[]) ORDER BY order_id FOR UPDATE`,
        [ids],
      );
      for (const o of r.rows) refundable.set(o.order_id, { subjectId: o.subject_id, paid: Number(o.paid), refunded: Number(o.refunded) });
      for (const i of refunds) {
        const e = items[i]!.event;
        const o = refundable.get(e.orderId!);
        const refusal = checkAgainstOrder(items[i]!, o);
        if (refusal) outcomes[i] = refusal;
        else o!.refunded += Number(e.amount);
      }
    }

    const toWrite = [...distinct, ...released].filter(pending);
    let fresh = new Set<string>();
    if (toWrite.length > 0) {
      const [evSql, evParams] = bulkInsert('events', EVENT_COLUMNS, toWrite.map((i) => items[i]!.event), eventValues, 'ON CONFLICT (id) DO NOTHING RETURNING id');
      fresh = new Set((await c.query<{ id: string }>(evSql, evParams)).rows.map((r) => r.id));
    }
    for (const i of toWrite) outcomes[i] = fresh.has(items[i]!.event.id) ? 'accepted' : 'duplicate';
    const news = toWrite.filter((i) => outcomes[i] === 'accepted');

    const refunded = news.filter((i) => isRefund(items[i]!.event));
    if (refunded.length > 0) {
      const sum = new Map<string, number>();
      for (const i of refunded) sum.set(items[i]!.event.orderId!, (sum.get(items[i]!.event.orderId!) ?? 0) + Number(items[i]!.event.amount));
      const keys = [...sum.keys()].sort();
      await c.query('UPDATE orders o SET refunded = o.refunded + u.amount FROM unnest($1::text[], $2::int8[]) AS u(order_id, amount) WHERE o.order_id = u.order_id', [keys, keys.map((k) => sum.get(k)!)]);
    }
    const held = distinct.filter((i) => typeof outcomes[i] === 'object' && (outcomes[i] as { status: string }).status === 'quarantined');
    if (held.length > 0) {
      const [qSql, qParams] = bulkInsert('event_quarantine', QUARANTINE_COLUMNS, held.map((i) => quarantineRow(items[i]!.event, outcomes[i] as Exclude<EventOutcome, string>)), quarantineValues, 'ON CONFLICT (id) DO NOTHING');
      await c.query(qSql, qParams);
    }
    // Written (or already stored): out of quarantine. A released one that no longer fits stays, under its reason.
    const done = [...refunded, ...released.filter((i) => outcomes[i] === 'duplicate')].map((i) => items[i]!.event.id);
    if (done.length > 0) await c.query('DELETE FROM event_quarantine WHERE id = ANY($1::text[])', [done]);
    const refused = released.filter((i) => typeof outcomes[i] === 'object');
    if (refused.length > 0) {
      await c.query('UPDATE event_quarantine q SET code = u.code FROM unnest($1::text[], $2::text[]) AS u(id, code) WHERE q.id = u.id', [
        refused.map((i) => items[i]!.event.id),
        refused.map((i) => (outcomes[i] as Exclude<EventOutcome, string>).code),
      ]);
    }

    const agg = new Map<string, FeatureDelta & { first: number | null }>();
    for (const i of news) {
      const it = items[i]!;
      if (!it.delta || (it.order && !freshOrders.has(i))) continue;
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
      const rows = [...agg.values()].sort(byKey((d) => d.subjectId));
      const values = (d: FeatureDelta & { first: number | null }) => [d.subjectId, d.orders, d.first, d.orderAt, d.revenue, d.refunded, d.offerOrders, d.offerDiscount, d.offerSubtotal, now];
      const [fSql, fParams] = bulkInsert('customer_features', FEATURE_COLS, rows, values, FEATURE_CONFLICT);
      await c.query(fSql, fParams);
    }
    // Statistics of the new events (an order's only if its order row is new), summed per key and
    // written in key order with the guardrail counters' upsert: one statement, none without ops.
    const stats = new Map<string, number>();
    for (const i of news) {
      const it = items[i]!;
      if (!it.stats || (it.order && !freshOrders.has(i))) continue;
      for (const op of it.stats) stats.set(op.key, (stats.get(op.key) ?? 0) + op.amount);
    }
    if (stats.size > 0) {
      const keys = [...stats.keys()].sort();
      await c.query(
        `INSERT INTO guard_counters (key, used, updated_at) SELECT k, a, $3 FROM unnest($1::text[], $2::int8[]) AS u(k, a)
         ON CONFLICT (key) DO UPDATE SET used = guard_counters.used + excluded.used, updated_at = excluded.updated_at`,
        [keys, keys.map((k) => stats.get(k)!), Date.now()],
      );
    }
    const reported = outcomes.slice(0, batch.length);
    return { inserted: reported.filter((o) => o === 'accepted').length, duplicates: reported.filter((o) => o === 'duplicate').length, outcomes: reported };
  });
}

const minN = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
const maxN = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));
