import type { StatOp } from '../learning/stats.js';
import type { IssuanceReads } from '../wallet/port.js';

/** An outcome event as stored: the event, its subject and what it was attributed to (times epoch ms). */
export interface EventRecord {
  id: string;
  type: string;
  subjectId: string;
  customerId: string | null;
  sessionId: string | null;
  occurredAt: number;
  receivedAt: number;
  orderId: string | null;
  offerId: string | null;
  decisionId: string | null;
  campaignId: string | null;
  /** The attributed decision's arm (null: not attributed). */
  holdout: boolean | null;
  /** How it was attributed: decision, token, redemption, order or window. */
  attribution: string | null;
  /** Order revenue, refund amount, cart value… in minor units. */
  amount: number | null;
  /** The rest of the event as sent (JSON). */
  body: string;
}

/** An order as stored, once per order id: money in minor units. */
export interface OrderRecord {
  orderId: string;
  eventId: string;
  subjectId: string;
  customerId: string | null;
  occurredAt: number;
  subtotal: number;
  shipping: number;
  discount: number;
  /** Cost of goods and fulfilment. */
  cogs: number;
  margin: number;
  withOffer: boolean;
  decisionId: string | null;
  campaignId: string | null;
  offerId: string | null;
  holdout: boolean | null;
  attribution: string | null;
  /** Refunds and returns accepted against the order so far (never more than what was paid). */
  refunded?: number;
}

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

/** One event to write: the event, its order (order events) and its feature change. */
export interface EventWrite {
  event: EventRecord;
  order?: OrderRecord;
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

/** A decision as attribution sees it. */
export interface DecisionRef {
  id: string;
  subjectId: string;
  campaignId: string | null;
  holdout: boolean;
  createdAt: number;
}

/** What event ingestion needs from the store: the attribution reads and the batch write. */
export interface IngestPort extends IssuanceReads {
  decisionRefs(ids: string[]): Promise<DecisionRef[]>;
  /** Campaign decisions of these subjects made in [from, to], newest first within each subject. */
  recentDecisions(subjectIds: string[], from: number, to: number): Promise<DecisionRef[]>;
  ordersByIds(orderIds: string[]): Promise<OrderRecord[]>;
  /** Writes events idempotently by id; orders once per order id; features move only for new events. */
  writeEvents(items: EventWrite[]): Promise<EventWriteResult>;
}
