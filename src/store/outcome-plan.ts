import { counterKeys } from '../core/counter-keys.js';
import type { ReasonCode } from '../core/reasons.js';
import { utcDay } from '../core/runtime.js';
import type { CounterOp } from './commit-plan.js';
import type { StatOp } from '../learning/stats.js';
import type { DB } from './schema.js';

/** A change to one subject's stored features, applied only if its event (or order) is new. */
export interface FeatureDelta {
  subjectId: string;
  orders: number;
  orderAt: number | null;
  revenue: number;
  refunded: number;
  offerOrders: number;
  offerDiscount: number;
  offerSubtotal: number;
}

/** One event to write: the event row, its order (order events) and its feature change. */
export interface EventWrite {
  event: DB['events'];
  order?: DB['orders'];
  delta?: FeatureDelta;
  /** Order events: the issuance each of its tokens or codes names, in order (null: none known). */
  tokenIssuances?: Array<string | null>;
  /** Statistic increments applied with the event, only if it is new (and, for an order, its order row too). */
  stats?: readonly StatOp[];
}

/** Codes of events the store refuses (rejected) or holds back (quarantined); registered in errors/index.ts. */
export type EventRefusalCode =
  | 'EVENT_ORDER_CONFLICT'
  | 'REFUND_ORDER_UNKNOWN'
  | 'REFUND_CUSTOMER_MISMATCH'
  | 'REFUND_EXCEEDS_ORDER'
  | 'ORDER_DISCOUNT_MISMATCH'
  | 'ORDER_TOKEN_MISMATCH';

/** Why an event was not stored: rejected for good, or quarantined until its order is known. */
export interface EventRefusal {
  status: 'rejected' | 'quarantined';
  code: EventRefusalCode;
  /** The event's field at fault, e.g. `orderId` or `amount`. */
  field: string;
  message: string;
}

/** One event's fate, by its position in the items written. */
export type EventOutcome = 'accepted' | 'duplicate' | EventRefusal;

export interface EventWriteResult {
  inserted: number;
  duplicates: number;
  /** Per item, in the order given. */
  outcomes: EventOutcome[];
}

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
    if (order && order.subjectId !== e.subject_id) {
      return { status: 'rejected', code: 'EVENT_ORDER_CONFLICT', field: 'orderId', message: `order ${e.order_id} belongs to another customer` };
    }
    return null;
  }
  if (e.type !== 'refund' && e.type !== 'return') return null;
  if (!order) {
    return { status: 'quarantined', code: 'REFUND_ORDER_UNKNOWN', field: 'orderId', message: `order ${e.order_id} is not known yet: the ${e.type} is held back and counted when the order arrives` };
  }
  if (order.subjectId !== e.subject_id) {
    return { status: 'rejected', code: 'REFUND_CUSTOMER_MISMATCH', field: 'orderId', message: `order ${e.order_id} belongs to another customer` };
  }
  const left = order.paid - order.refunded;
  if (Number(e.amount) > left) {
    return { status: 'rejected', code: 'REFUND_EXCEEDS_ORDER', field: 'amount', message: `${e.amount} is more than the ${left} left to refund on order ${e.order_id}` };
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
  if (Number(it.order.discount) !== red.discount) {
    return { status: 'rejected', code: 'ORDER_DISCOUNT_MISMATCH', field: 'discount', message: `order ${it.order.order_id} was redeemed (${red.id}) with a discount of ${red.discount}, not ${it.order.discount}` };
  }
  const j = (it.tokenIssuances ?? []).findIndex((iss) => iss === null || !red.issuanceIds.includes(iss));
  if (j >= 0) {
    return { status: 'rejected', code: 'ORDER_TOKEN_MISMATCH', field: `tokens.${j}`, message: `order ${it.order.order_id} was redeemed (${red.id}) without this token or code` };
  }
  return null;
}

/** The feature change of an accepted refund or return: what the customer got back. */
export function refundDelta(e: Pick<DB['events'], 'subject_id' | 'amount'>): FeatureDelta {
  return { subjectId: e.subject_id, orders: 0, orderAt: null, revenue: 0, refunded: Number(e.amount), offerOrders: 0, offerDiscount: 0, offerSubtotal: 0 };
}

/**
 * A quarantined refund or return released by the arrival of its order: written as it would have
 * been, and credited (unless it named a decision itself) to whatever the order was credited to.
 */
export function releasedEvent(q: Pick<DB['event_quarantine'], 'event'>, order: DB['orders']): EventWrite {
  const e = JSON.parse(q.event) as DB['events'];
  const event: DB['events'] =
    e.decision_id === null && order.decision_id !== null
      ? { ...e, decision_id: order.decision_id, campaign_id: order.campaign_id, holdout: order.holdout, offer_id: e.offer_id ?? order.offer_id, attribution: 'order' }
      : e;
  return { event, delta: refundDelta(event) };
}

/** The quarantine row of a held-back event: the event row as it would have been stored, and why not. */
export function quarantineRow(e: DB['events'], r: EventRefusal): DB['event_quarantine'] {
  return { id: e.id, code: r.code, subject_id: e.subject_id, order_id: e.order_id, received_at: e.received_at, event: JSON.stringify(e) };
}

/** A decision as attribution sees it. */
export interface DecisionRef {
  id: string;
  subjectId: string;
  campaignId: string | null;
  holdout: boolean;
  createdAt: number;
}

/**
 * Why a redemption (or one of its tokens) was refused; codes are API error codes. The index is
 * the token's, or -1 for ORDER_DISCOUNT_MISMATCH: the order id was already reported as an order
 * with another discount than this redemption computes (orders and redemptions must agree,
 * whichever arrives first).
 */
export type RedeemFailure = {
  index: number;
  code: 'TOKEN_ALREADY_REDEEMED' | 'TOKEN_EXPIRED' | 'REDEMPTION_CAP_REACHED' | 'BUDGET_EXHAUSTED' | 'DAILY_LIABILITY_EXCEEDED' | 'ORDER_DISCOUNT_MISMATCH';
  message: string;
};

/** Everything a redemption writes, computed before the transaction so both dialects run the same plan. */
export interface RedemptionPlan {
  now: number;
  redemption: DB['redemptions'];
  items: Array<DB['redemption_items'] & { index: number }>;
  /** Sorted by key (lock order), as for decision commits. */
  counterOps: Array<CounterOp & { index: number }>;
  ledger: Array<DB['liability_ledger']>;
}

export type RedeemResult =
  | { status: 'applied' }
  | { status: 'duplicate'; redemption: DB['redemptions'] }
  | { status: 'rejected'; failure: RedeemFailure };

/** Undoing a redemption: issuances back to the wallet (or expired), counters restored, ledger entries. */
export interface RollbackPlan {
  now: number;
  redemptionId: string;
  issuances: Array<{ id: string; toStatus: 'issued' | 'expired' }>;
  counterOps: CounterOp[];
  ledger: Array<DB['liability_ledger']>;
}

/** Maps a counter reason to its redemption error. */
export const COUNTER_FAILURE: Partial<Record<ReasonCode, RedeemFailure['code']>> = {
  REDEMPTION_CAP: 'REDEMPTION_CAP_REACHED',
  BUDGET_EXHAUSTED: 'BUDGET_EXHAUSTED',
  DAILY_LIABILITY: 'DAILY_LIABILITY_EXCEEDED',
};

/** An issuance about to expire unredeemed: status change, reservation release and ledger entry. */
export interface ExpiryWrite {
  issuanceId: string;
  counterOps: CounterOp[];
  ledger: DB['liability_ledger'];
}

const UNLIMITED = Number.MAX_SAFE_INTEGER;

/** Counter moves that give back an amount previously reserved (never refused). */
export function releaseOps(offerId: string, day: string, amount: number): CounterOp[] {
  if (amount === 0) return [];
  return [
    { key: counterKeys.spent(offerId), amount: -amount, limit: UNLIMITED, offerId, reason: 'BUDGET_EXHAUSTED' as ReasonCode },
    { key: counterKeys.daily(offerId, day), amount: -amount, limit: UNLIMITED, offerId, reason: 'DAILY_LIABILITY' as ReasonCode },
  ].sort((a, b) => (a.key < b.key ? -1 : 1));
}

/** What expiring one unredeemed issuance writes: its reservation is released and its liability becomes breakage. */
export function expiryWrite(iss: Pick<DB['issuances'], 'id' | 'offer_id' | 'liability_day' | 'reserved' | 'cost' | 'expires_at'>): ExpiryWrite {
  return {
    issuanceId: iss.id,
    counterOps: releaseOps(iss.offer_id, iss.liability_day, Number(iss.reserved)),
    ledger: {
      id: `${iss.id}:expire`,
      issuance_id: iss.id,
      offer_id: iss.offer_id,
      kind: 'expire',
      day: utcDay(Number(iss.expires_at)),
      at: Number(iss.expires_at),
      liability: -Number(iss.cost),
      cost: 0,
      points: 0,
      redemption_id: null,
    },
  };
}
