import type { ReasonCode } from '../core/reasons.js';
import { refundDelta } from '../events/plans.js';
import type { EventRecord, EventRefusal, EventWrite, OrderRecord } from '../events/port.js';
import type { RedeemFailure } from '../wallet/port.js';
import { eventOf, eventRow } from './outcome-rows.js';
import type { DB } from './schema.js';

/*
 * The store-side checks of outcome writes: what only the stored rows can tell (whose order an
 * order id is, what is left to refund, which redemption an order id had). The plans themselves
 * are built by their features (src/events, src/wallet); both dialects execute them with these.
 */

/** What a refund or return may still take off its order: what was paid less what was refunded. */
export interface RefundableOrder {
  subjectId: string;
  paid: number;
  refunded: number;
}

/**
 * The store-side checks on an event, with the order it names as the store (and the items of this
 * batch before it) left it: an order id already someone else's order is refused; a refund needs
 * its order, from the same subject, with enough left to refund. Both dialects apply exactly this.
 */
export function checkAgainstOrder(it: EventWrite, order: RefundableOrder | undefined): EventRefusal | null {
  const e = it.event;
  if (it.order) {
    if (order && order.subjectId !== e.subjectId) {
      return { status: 'rejected', code: 'EVENT_ORDER_CONFLICT', field: 'orderId', message: `order ${e.orderId} belongs to another customer` };
    }
    return null;
  }
  if (e.type !== 'refund' && e.type !== 'return') return null;
  if (!order) {
    return { status: 'quarantined', code: 'REFUND_ORDER_UNKNOWN', field: 'orderId', message: `order ${e.orderId} is not known yet: the ${e.type} is held back and counted when the order arrives` };
  }
  if (order.subjectId !== e.subjectId) {
    return { status: 'rejected', code: 'REFUND_CUSTOMER_MISMATCH', field: 'orderId', message: `order ${e.orderId} belongs to another customer` };
  }
  const left = order.paid - order.refunded;
  if (Number(e.amount) > left) {
    return { status: 'rejected', code: 'REFUND_EXCEEDS_ORDER', field: 'amount', message: `${e.amount} is more than the ${left} left to refund on order ${e.orderId}` };
  }
  return null;
}

/** An applied redemption of an order id, as an order event is reconciled with it. */
export interface AppliedRedemption {
  id: string;
  discount: number;
  issuanceIds: string[];
}

/** Groups (order id, discount, issuance) rows of applied redemptions by order id. */
export function appliedRedemptions(rows: Array<{ id: string; order_id: string; discount: number | string; issuance_id: string | null }>): Map<string, AppliedRedemption> {
  const m = new Map<string, AppliedRedemption>();
  for (const r of rows) {
    let a = m.get(r.order_id);
    if (!a) m.set(r.order_id, (a = { id: r.id, discount: Number(r.discount), issuanceIds: [] }));
    if (r.issuance_id !== null) a.issuanceIds.push(r.issuance_id);
  }
  return m;
}

/**
 * An order event against the redemption applied to its order id: the engine computed that
 * discount itself, so an order reporting another one (or tokens the redemption did not use)
 * would put a made-up discount into incremental margin; it is refused. Without an applied
 * redemption (none, or rolled back) there is nothing to reconcile with. Both dialects apply this.
 */
export function checkAgainstRedemption(it: EventWrite, red: AppliedRedemption | undefined): EventRefusal | null {
  if (!it.order || !red) return null;
  if (it.order.discount !== red.discount) {
    return { status: 'rejected', code: 'ORDER_DISCOUNT_MISMATCH', field: 'discount', message: `order ${it.order.orderId} was redeemed (${red.id}) with a discount of ${red.discount}, not ${it.order.discount}` };
  }
  const j = (it.tokenIssuances ?? []).findIndex((iss) => iss === null || !red.issuanceIds.includes(iss));
  if (j >= 0) {
    return { status: 'rejected', code: 'ORDER_TOKEN_MISMATCH', field: `tokens.${j}`, message: `order ${it.order.orderId} was redeemed (${red.id}) without this token or code` };
  }
  return null;
}

/**
 * A quarantined refund or return released by the arrival of its order: written as it would have
 * been, and credited (unless it named a decision itself) to whatever the order was credited to.
 */
export function releasedEvent(q: Pick<DB['event_quarantine'], 'event'>, order: OrderRecord): EventWrite {
  const e = eventOf(JSON.parse(q.event) as DB['events']);
  const event: EventRecord =
    e.decisionId === null && order.decisionId !== null
      ? { ...e, decisionId: order.decisionId, campaignId: order.campaignId, holdout: order.holdout, offerId: e.offerId ?? order.offerId, attribution: 'order' }
      : e;
  return { event, delta: refundDelta(event) };
}

/** The quarantine row of a held-back event: the event row as it would have been stored, and why not. */
export function quarantineRow(e: EventRecord, r: EventRefusal): DB['event_quarantine'] {
  return { id: e.id, code: r.code, subject_id: e.subjectId, order_id: e.orderId, received_at: e.receivedAt, event: JSON.stringify(eventRow(e)) };
}

/** Maps a counter reason to its redemption error. */
export const COUNTER_FAILURE: Partial<Record<ReasonCode, RedeemFailure['code']>> = {
  REDEMPTION_CAP: 'REDEMPTION_CAP_REACHED',
  BUDGET_EXHAUSTED: 'BUDGET_EXHAUSTED',
  DAILY_LIABILITY: 'DAILY_LIABILITY_EXCEEDED',
};
