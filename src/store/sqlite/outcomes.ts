import type Database from 'better-sqlite3';
import { isUniqueViolation } from '../admin-store.js';
import type { CounterOp } from '../commit-plan.js';
import { appliedRedemptions, checkAgainstOrder, checkAgainstRedemption, COUNTER_FAILURE, quarantineRow, releasedEvent, type EventOutcome, type EventWrite, type EventWriteResult, type ExpiryWrite, type FeatureDelta, type RedeemResult, type RedemptionPlan, type RollbackPlan } from '../outcome-plan.js';
import type { DB } from '../schema.js';

/** Thrown inside a savepoint to roll it back and hand a result to the caller. */
export class Abort<T> {
  constructor(readonly result: T) {}
}

const cols = <T extends object>(table: string, row: T) => {
  const keys = Object.keys(row);
  return `INSERT INTO ${table} (${keys.join(', ')}) VALUES (${keys.map((k) => `@${k}`).join(', ')})`;
};

const EVENT_ROW: DB['events'] = {
  id: '', type: '', subject_id: '', customer_id: null, session_id: null, occurred_at: 0, received_at: 0, order_id: null, offer_id: null,
  decision_id: null, campaign_id: null, holdout: null, attribution: null, amount: null, body: '',
};
const EVENT_KEYS = Object.keys(EVENT_ROW);
const ORDER_ROW: DB['orders'] = {
  order_id: '', event_id: '', subject_id: '', customer_id: null, occurred_at: 0, subtotal: 0, shipping: 0, discount: 0, cogs: 0, margin: 0,
  with_offer: 0, decision_id: null, campaign_id: null, offer_id: null, holdout: null, attribution: null,
};
const LEDGER_ROW: DB['liability_ledger'] = { id: '', issuance_id: '', offer_id: '', kind: '', day: '', at: 0, liability: 0, cost: 0, points: 0, redemption_id: null };

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
    event: conn.prepare(`INSERT OR IGNORE INTO events (${EVENT_KEYS.join(', ')}) VALUES (${EVENT_KEYS.map(() => '?').join(', ')})`),
    order: conn.prepare(cols('orders', ORDER_ROW).replace('INSERT', 'INSERT OR IGNORE')),
    feature: conn.prepare(FEATURE_UPSERT),
    redemption: conn.prepare(
      cols('redemptions', { id: '', order_id: '', subject_id: '', customer_id: null, channel: '', status: '', created_at: 0, rolled_back_at: null, discount: 0, cost: 0, points: 0, body: '', fingerprint: null }),
    ),
    redemptionByOrder: conn.prepare<[string], DB['redemptions']>('SELECT * FROM redemptions WHERE order_id = ?'),
    reportedDiscount: conn.prepare<[string], { discount: number }>('SELECT discount FROM orders WHERE order_id = ?'),
    item: conn.prepare(cols('redemption_items', { redemption_id: '', issuance_id: '', offer_id: '', discount: 0, cost: 0, points: 0 })),
    ledger: conn.prepare(cols('liability_ledger', LEDGER_ROW)),
    issuanceStatus: conn.prepare<[string], { status: string; expires_at: number }>('SELECT status, expires_at FROM issuances WHERE id = ?'),
    setIssuance: conn.prepare<[string, string, string]>('UPDATE issuances SET status = ? WHERE id = ? AND status = ?'),
    unapply: conn.prepare<[number, string]>(`UPDATE redemptions SET status = 'rolled_back', rolled_back_at = ? WHERE id = ? AND status = 'applied'`),
    counter: conn.prepare<[string], { used: number }>('SELECT used FROM guard_counters WHERE key = ?'),
    eventExists: conn.prepare<[string], { one: number }>('SELECT 1 AS one FROM events WHERE id = ?'),
    orderRef: conn.prepare<[string], { subject_id: string; paid: number; refunded: number }>('SELECT subject_id, subtotal + shipping - discount AS paid, refunded FROM orders WHERE order_id = ?'),
    addRefund: conn.prepare<[number, string]>('UPDATE orders SET refunded = refunded + ? WHERE order_id = ?'),
    quarantine: conn.prepare(cols('event_quarantine', { id: '', code: '', subject_id: '', order_id: null, received_at: 0, event: '' }).replace('INSERT', 'INSERT OR IGNORE')),
    release: conn.prepare<[string]>('DELETE FROM event_quarantine WHERE id = ?'),
    heldFor: conn.prepare<[string], { id: string; event: string }>('SELECT id, event FROM event_quarantine WHERE order_id = ? ORDER BY received_at, id'),
    reason: conn.prepare<[string, string]>('UPDATE event_quarantine SET code = ? WHERE id = ?'),
    // One lookup per written chunk, not per order: the applied redemptions of its order ids.
    applied: conn.prepare<[string], { id: string; order_id: string; discount: number; issuance_id: string | null }>(
      `SELECT r.id, r.order_id, r.discount, i.issuance_id FROM redemptions r LEFT JOIN redemption_items i ON i.redemption_id = r.id
       WHERE r.status = 'applied' AND r.order_id IN (SELECT value FROM json_each(?))`,
    ),
  };
  const take = conn.prepare<[string, number]>(`UPDATE issuances SET status = 'redeemed' WHERE id = ? AND status = 'issued' AND expires_at > ?`);

  const applyOp = (op: CounterOp, now: number): boolean => (op.amount <= op.limit ? bump.get(op.key, op.amount, now, op.limit) !== undefined : false);
  const applyDelta = (d: FeatureDelta, now: number) => s.feature.run({ ...d, now });
  // Statistics share the guardrail counters' table and upsert, without a limit.
  const applyStats = (it: EventWrite, now: number) => {
    if (it.stats) for (const op of it.stats) bump.get(op.key, op.amount, now, Number.MAX_SAFE_INTEGER);
  };
  const insertEvent = (e: DB['events']) =>
    s.event.run(e.id, e.type, e.subject_id, e.customer_id, e.session_id, e.occurred_at, e.received_at, e.order_id, e.offer_id, e.decision_id, e.campaign_id, e.holdout, e.attribution, e.amount, e.body).changes > 0;
  const refundable = (orderId: string) => {
    const o = s.orderRef.get(orderId);
    return o && { subjectId: o.subject_id, paid: Number(o.paid), refunded: Number(o.refunded) };
  };
  // Refunds that arrived before this (new) order are written now, oldest first; one that no
  // longer fits (another customer's, or more than is left) stays quarantined under its reason.
  const releaseHeld = (order: DB['orders'], now: number) => {
    for (const q of s.heldFor.all(order.order_id)) {
      const w = releasedEvent(q, order);
      const refusal = checkAgainstOrder(w, refundable(order.order_id));
      if (refusal) {
        s.reason.run(refusal.code, q.id);
        continue;
      }
      s.release.run(q.id);
      if (!insertEvent(w.event)) continue;
      s.addRefund.run(Number(w.event.amount), order.order_id);
      applyDelta(w.delta!, now);
    }
  };

  return {
    writeEvents(items: EventWrite[], now: number): EventWriteResult {
      let inserted = 0;
      let duplicates = 0;
      const outcomes: EventOutcome[] = [];
      const orderIds = items.flatMap((it) => (it.order ? [it.order.order_id] : []));
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
          const refusal = checkAgainstRedemption(it, redeemed.get(e.order_id!)) ?? checkAgainstOrder(it, refundable(e.order_id!));
          if (refusal) {
            if (refusal.status === 'quarantined') s.quarantine.run(quarantineRow(e, refusal));
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
          s.addRefund.run(Number(e.amount), e.order_id!);
          s.release.run(e.id);
        }
        if (it.order) {
          // A resent order under a new event id is recorded as an event but counted once.
          if (s.order.run(it.order).changes === 0) continue;
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
      const dup = s.redemptionByOrder.get(plan.redemption.order_id);
      if (dup) return { status: 'duplicate', redemption: dup };
      // An order reported before its redemption: both are kept only if they agree on the discount.
      const reported = s.reportedDiscount.get(plan.redemption.order_id);
      if (reported && Number(reported.discount) !== plan.redemption.discount) {
        return { status: 'rejected', failure: { index: -1, code: 'ORDER_DISCOUNT_MISMATCH', message: `order ${plan.redemption.order_id} was reported with a discount of ${reported.discount}, not ${plan.redemption.discount}` } };
      }
      try {
        s.redemption.run(plan.redemption);
      } catch (e) {
        if (isUniqueViolation(e)) return { status: 'duplicate', redemption: s.redemptionByOrder.get(plan.redemption.order_id)! };
        throw e;
      }
      for (const it of plan.items) {
        if (take.run(it.issuance_id, plan.now).changes === 0) {
          const st = s.issuanceStatus.get(it.issuance_id);
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
      for (const it of plan.items) {
        const { index: _i, ...row } = it;
        s.item.run(row);
      }
      for (const l of plan.ledger) s.ledger.run(l);
      return { status: 'applied' };
    },

    rollback(plan: RollbackPlan): boolean {
      if (s.unapply.run(plan.now, plan.redemptionId).changes === 0) return false;
      for (const i of plan.issuances) s.setIssuance.run(i.toStatus, i.id, 'redeemed');
      for (const op of plan.counterOps) applyOp(op, plan.now);
      for (const l of plan.ledger) s.ledger.run(l);
      return true;
    },

    expire(items: ExpiryWrite[], now: number): number {
      let n = 0;
      for (const it of items) {
        if (s.setIssuance.run('expired', it.issuanceId, 'issued').changes === 0) continue;
        n++;
        for (const op of it.counterOps) applyOp(op, now);
        s.ledger.run(it.ledger);
      }
      return n;
    },
  };
}
