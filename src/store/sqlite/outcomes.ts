import type Database from 'better-sqlite3';
import { isUniqueViolation } from '../admin-store.js';
import type { EventOutcome, EventRecord, EventWrite, EventWriteResult, FeatureDelta, OrderRecord } from '../../events/port.js';
import type { CounterMove, ExpiryWrite, RedeemResult, RedemptionPlan, RollbackPlan } from '../../wallet/port.js';
import { appliedRedemptions, checkAgainstOrder, checkAgainstRedemption, COUNTER_FAILURE, quarantineRow, releasedEvent } from '../outcome-plan.js';
import {
  EVENT_COLUMNS,
  eventValues,
  ITEM_COLUMNS,
  itemValues,
  LEDGER_COLUMNS,
  ledgerValues,
  ORDER_COLUMNS,
  orderValues,
  positionalInsert,
  QUARANTINE_COLUMNS,
  quarantineValues,
  REDEMPTION_COLUMNS,
  APPLIED_REDEMPTIONS,
  REFUNDABLE_COLUMNS,
  redemptionOf,
  redemptionValues,
} from '../outcome-rows.js';
import type { DB } from '../schema.js';

/** Thrown inside a savepoint to roll it back and hand a result to the caller. */
export class Abort<T> {
  constructor(readonly result: T) {}
}

/** Features upsert: counts add up; first/last order times take min/max, so arrival order does not matter. */
export const FEATURE_UPSERT = `INSERT INTO customer_features
  (subject_id, orders, first_order_at, last_order_at, revenue, refunded, offer_orders, offer_discount, offer_subtotal, updated_at)
  VALUES (@subjectId, @orders, @orderAt, @orderAt, @revenue, @refunded, @offerOrders, @offerDiscount, @offerSubtotal, @now)
  ON CONFLICT (subject_id) DO UPDATE SET
    orders = customer_features.orders + excluded.orders,
    first_order_at = CASE WHEN excluded.first_order_at IS NULL THEN customer_features.first_order_at
      WHEN customer_features.first_order_at IS NULL OR excluded.first_order_at < customer_features.first_order_at THEN excluded.first_order_at
      ELSE customer_features.first_order_at END,
    last_order_at = CASE WHEN excluded.last_order_at IS NULL THEN customer_features.last_order_at
      WHEN customer_features.last_order_at IS NULL OR excluded.last_order_at > customer_features.last_order_at THEN excluded.last_order_at
      ELSE customer_features.last_order_at END,
    revenue = customer_features.revenue + excluded.revenue,
    refunded = customer_features.refunded + excluded.refunded,
    offer_orders = customer_features.offer_orders + excluded.offer_orders,
    offer_discount = customer_features.offer_discount + excluded.offer_discount,
    offer_subtotal = customer_features.offer_subtotal + excluded.offer_subtotal,
    updated_at = excluded.updated_at`;

/** Outcome writes on the single SQLite writer connection; each runs inside the caller's transaction. */
export function prepareOutcomes(conn: Database.Database, bump: Database.Statement<[string, number, number, number], { used: number }>) {
  const s = {
    // Positional parameters: binding by name costs a property lookup per column, per event.
    event: conn.prepare(positionalInsert('events', EVENT_COLUMNS).replace('INSERT', 'INSERT OR IGNORE')),
    order: conn.prepare(positionalInsert('orders', ORDER_COLUMNS).replace('INSERT', 'INSERT OR IGNORE')),
    feature: conn.prepare(FEATURE_UPSERT),
    redemption: conn.prepare(positionalInsert('redemptions', REDEMPTION_COLUMNS)),
    redemptionByOrder: conn.prepare<[string], DB['redemptions']>('SELECT * FROM redemptions WHERE order_id = ?'),
    reportedDiscount: conn.prepare<[string], { discount: number }>('SELECT discount FROM orders WHERE order_id = ?'),
    item: conn.prepare(positionalInsert('redemption_items', ITEM_COLUMNS)),
    ledger: conn.prepare(positionalInsert('liability_ledger', LEDGER_COLUMNS)),
    issuanceStatus: conn.prepare<[string], { status: string; expires_at: number }>('SELECT status, expires_at FROM issuances WHERE id = ?'),
    setIssuance: conn.prepare<[string, string, string]>('UPDATE issuances SET status = ? WHERE id = ? AND status = ?'),
    unapply: conn.prepare<[number, string]>(`UPDATE redemptions SET status = 'rolled_back', rolled_back_at = ? WHERE id = ? AND status = 'applied'`),
    counter: conn.prepare<[string], { used: number }>('SELECT used FROM guard_counters WHERE key = ?'),
    eventExists: conn.prepare<[string], { one: number }>('SELECT 1 AS one FROM events WHERE id = ?'),
    orderRef: conn.prepare<[string], { subject_id: string; paid: number; refunded: number }>(`SELECT ${REFUNDABLE_COLUMNS} FROM orders WHERE order_id = ?`),
    addRefund: conn.prepare<[number, string]>('UPDATE orders SET refunded = refunded + ? WHERE order_id = ?'),
    quarantine: conn.prepare(positionalInsert('event_quarantine', QUARANTINE_COLUMNS).replace('INSERT', 'INSERT OR IGNORE')),
    release: conn.prepare<[string]>('DELETE FROM event_quarantine WHERE id = ?'),
    heldFor: conn.prepare<[string], { id: string; event: string }>('SELECT id, event FROM event_quarantine WHERE order_id = ? ORDER BY received_at, id'),
    reason: conn.prepare<[string, string]>('UPDATE event_quarantine SET code = ? WHERE id = ?'),
    // One lookup per written chunk, not per order: the applied redemptions of its order ids.
    applied: conn.prepare<[string], { id: string; order_id: string; discount: number; issuance_id: string | null }>(
      `${APPLIED_REDEMPTIONS} IN (SELECT value FROM json_each(?))`,
    ),
  };
  const take = conn.prepare<[string, number]>(`UPDATE issuances SET status = 'redeemed' WHERE id = ? AND status = 'issued' AND expires_at > ?`);

  const applyOp = (op: CounterMove, now: number): boolean => (op.amount <= op.limit ? bump.get(op.key, op.amount, now, op.limit) !== undefined : false);
  const applyDelta = (d: FeatureDelta, now: number) => s.feature.run({ ...d, now });
  // Statistics share the guardrail counters' table and upsert, without a limit.
  const applyStats = (it: EventWrite, now: number) => {
    if (it.stats) for (const op of it.stats) bump.get(op.key, op.amount, now, Number.MAX_SAFE_INTEGER);
  };
  const insertEvent = (e: EventRecord) => s.event.run(eventValues(e)).changes > 0;
  const refundable = (orderId: string) => {
    const o = s.orderRef.get(orderId);
    return o && { subjectId: o.subject_id, paid: Number(o.paid), refunded: Number(o.refunded) };
  };
  // Refunds that arrived before this (new) order are written now, oldest first; one that no
  // longer fits (another customer's, or more than is left) stays quarantined under its reason.
  const releaseHeld = (order: OrderRecord, now: number) => {
    for (const q of s.heldFor.all(order.orderId)) {
      const w = releasedEvent(q, order);
      const refusal = checkAgainstOrder(w, refundable(order.orderId));
      if (refusal) {
        s.reason.run(refusal.code, q.id);
        continue;
      }
      s.release.run(q.id);
      if (!insertEvent(w.event)) continue;
      s.addRefund.run(Number(w.event.amount), order.orderId);
      applyDelta(w.delta!, now);
    }
  };

  return {
    writeEvents(items: EventWrite[], now: number): EventWriteResult {
      let inserted = 0;
      let duplicates = 0;
      const outcomes: EventOutcome[] = [];
      const orderIds = items.flatMap((it) => (it.order ? [it.order.orderId] : []));
      const redeemed = orderIds.length === 0 ? new Map() : appliedRedemptions(s.applied.all(JSON.stringify(orderIds)));
      for (const it of items) {
        const e = it.event;
        const refund = e.type === 'refund' || e.type === 'return';
        if (it.order || refund) {
          // A resent refund is a duplicate, not a second refund checked against what the first left.
          if (refund && s.eventExists.get(e.id)) {
            duplicates++;
            outcomes.push('duplicate');
            continue;
          }
          const refusal = checkAgainstRedemption(it, redeemed.get(e.orderId!)) ?? checkAgainstOrder(it, refundable(e.orderId!));
          if (refusal) {
            if (refusal.status === 'quarantined') s.quarantine.run(quarantineValues(quarantineRow(e, refusal)));
            outcomes.push(refusal);
            continue;
          }
        }
        if (!insertEvent(e)) {
          duplicates++;
          outcomes.push('duplicate');
          continue;
        }
        inserted++;
        outcomes.push('accepted');
        if (refund) {
          s.addRefund.run(Number(e.amount), e.orderId!);
          s.release.run(e.id);
        }
        if (it.order) {
          // A resent order under a new event id is recorded as an event but counted once.
          if (s.order.run(orderValues(it.order)).changes === 0) continue;
          if (it.delta) applyDelta(it.delta, now);
          applyStats(it, now);
          releaseHeld(it.order, now);
          continue;
        }
        if (it.delta) applyDelta(it.delta, now);
        applyStats(it, now);
      }
      return { inserted, duplicates, outcomes };
    },

    redeem(plan: RedemptionPlan): RedeemResult {
      const dup = s.redemptionByOrder.get(plan.redemption.orderId);
      if (dup) return { status: 'duplicate', redemption: redemptionOf(dup) };
      // An order reported before its redemption: both are kept only if they agree on the discount.
      const reported = s.reportedDiscount.get(plan.redemption.orderId);
      if (reported && Number(reported.discount) !== plan.redemption.discount) {
        return { status: 'rejected', failure: { index: -1, code: 'ORDER_DISCOUNT_MISMATCH', message: `order ${plan.redemption.orderId} was reported with a discount of ${reported.discount}, not ${plan.redemption.discount}` } };
      }
      try {
        s.redemption.run(redemptionValues(plan.redemption));
      } catch (e) {
        if (isUniqueViolation(e)) return { status: 'duplicate', redemption: redemptionOf(s.redemptionByOrder.get(plan.redemption.orderId)!) };
        throw e;
      }
      for (const it of plan.items) {
        if (take.run(it.issuanceId, plan.now).changes === 0) {
          const st = s.issuanceStatus.get(it.issuanceId);
          const expired = st && (st.status === 'expired' || (st.status === 'issued' && Number(st.expires_at) <= plan.now));
          throw new Abort<RedeemResult>({
            status: 'rejected',
            failure: expired
              ? { index: it.index, code: 'TOKEN_EXPIRED', message: 'The offer has expired' }
              : { index: it.index, code: 'TOKEN_ALREADY_REDEEMED', message: 'The offer was already redeemed' },
          });
        }
      }
      for (const op of plan.counterOps) {
        if (!applyOp(op, plan.now)) {
          const used = s.counter.get(op.key)?.used ?? 0;
          throw new Abort<RedeemResult>({
            status: 'rejected',
            failure: { index: op.index, code: COUNTER_FAILURE[op.reason] ?? 'BUDGET_EXHAUSTED', message: `${used} + ${op.amount} > ${op.limit}` },
          });
        }
      }
      for (const it of plan.items) s.item.run(itemValues(plan.redemption.id, it));
      for (const l of plan.ledger) s.ledger.run(ledgerValues(l));
      return { status: 'applied' };
    },

    rollback(plan: RollbackPlan): boolean {
      if (s.unapply.run(plan.now, plan.redemptionId).changes === 0) return false;
      for (const i of plan.issuances) s.setIssuance.run(i.toStatus, i.id, 'redeemed');
      for (const op of plan.counterOps) applyOp(op, plan.now);
      for (const l of plan.ledger) s.ledger.run(ledgerValues(l));
      return true;
    },

    expire(items: ExpiryWrite[], now: number): number {
      let n = 0;
      for (const it of items) {
        if (s.setIssuance.run('expired', it.issuanceId, 'issued').changes === 0) continue;
        n++;
        for (const op of it.counterOps) applyOp(op, now);
        s.ledger.run(ledgerValues(it.ledger));
      }
      return n;
    },
  };
}
