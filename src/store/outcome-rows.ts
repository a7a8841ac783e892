import type { FeatureTotals } from '../customers/port.js';
import type { DecisionRef, EventRecord, OrderRecord } from '../events/port.js';
import type { Issuance, LedgerEntry, RedemptionItem, RedemptionRecord } from '../wallet/port.js';
import type { DB } from './schema.js';

/*
 * Rows ↔ domain records of the outcome tables, and the column lists both dialects insert with
 * (SQLite binds the values positionally, PostgreSQL sends them as column arrays to unnest), so
 * the two backends cannot disagree on a column's order or mapping. Drivers return BIGINT as a
 * string on PostgreSQL: every number is read through Number().
 */

/** A column written by the outcome code: its name and its PostgreSQL array element type. */
export type Column = readonly [name: string, pgType: 'text' | 'int8' | 'int4'];

const flag = (b: boolean | null): number | null => (b === null ? null : b ? 1 : 0);
const flagOf = (x: number | string | null): boolean | null => (x === null ? null : Number(x) === 1);
const numOf = (x: number | string | null): number | null => (x === null ? null : Number(x));

export const EVENT_COLUMNS: readonly Column[] = [
  ['id', 'text'], ['type', 'text'], ['subject_id', 'text'], ['customer_id', 'text'], ['session_id', 'text'], ['occurred_at', 'int8'], ['received_at', 'int8'],
  ['order_id', 'text'], ['offer_id', 'text'], ['decision_id', 'text'], ['campaign_id', 'text'], ['holdout', 'int4'], ['attribution', 'text'], ['amount', 'int8'], ['body', 'text'],
];

/** An event's values in EVENT_COLUMNS order. */
export const eventValues = (e: EventRecord): unknown[] => [
  e.id, e.type, e.subjectId, e.customerId, e.sessionId, e.occurredAt, e.receivedAt,
  e.orderId, e.offerId, e.decisionId, e.campaignId, flag(e.holdout), e.attribution, e.amount, e.body,
];

/** An event as its row (the quarantine keeps the row it would have stored, as JSON). */
export const eventRow = (e: EventRecord): DB['events'] => ({
  id: e.id, type: e.type, subject_id: e.subjectId, customer_id: e.customerId, session_id: e.sessionId, occurred_at: e.occurredAt, received_at: e.receivedAt,
  order_id: e.orderId, offer_id: e.offerId, decision_id: e.decisionId, campaign_id: e.campaignId, holdout: flag(e.holdout), attribution: e.attribution, amount: e.amount, body: e.body,
});

/** A stored event row as a record. */
export const eventOf = (r: DB['events']): EventRecord => ({
  id: r.id, type: r.type, subjectId: r.subject_id, customerId: r.customer_id, sessionId: r.session_id, occurredAt: Number(r.occurred_at), receivedAt: Number(r.received_at),
  orderId: r.order_id, offerId: r.offer_id, decisionId: r.decision_id, campaignId: r.campaign_id, holdout: flagOf(r.holdout), attribution: r.attribution, amount: numOf(r.amount), body: r.body,
});

export const ORDER_COLUMNS: readonly Column[] = [
  ['order_id', 'text'], ['event_id', 'text'], ['subject_id', 'text'], ['customer_id', 'text'], ['occurred_at', 'int8'], ['subtotal', 'int8'], ['shipping', 'int8'],
  ['discount', 'int8'], ['cogs', 'int8'], ['margin', 'int8'], ['with_offer', 'int4'], ['decision_id', 'text'], ['campaign_id', 'text'], ['offer_id', 'text'],
  ['holdout', 'int4'], ['attribution', 'text'],
];

/** An order's values in ORDER_COLUMNS order. */
export const orderValues = (o: OrderRecord): unknown[] => [
  o.orderId, o.eventId, o.subjectId, o.customerId, o.occurredAt, o.subtotal, o.shipping,
  o.discount, o.cogs, o.margin, o.withOffer ? 1 : 0, o.decisionId, o.campaignId, o.offerId,
  flag(o.holdout), o.attribution,
];

/** A stored order row as a record. */
export const orderOf = (r: DB['orders']): OrderRecord => ({
  orderId: r.order_id, eventId: r.event_id, subjectId: r.subject_id, customerId: r.customer_id, occurredAt: Number(r.occurred_at),
  subtotal: Number(r.subtotal), shipping: Number(r.shipping), discount: Number(r.discount), cogs: Number(r.cogs), margin: Number(r.margin),
  withOffer: Number(r.with_offer) === 1, decisionId: r.decision_id, campaignId: r.campaign_id, offerId: r.offer_id, holdout: flagOf(r.holdout), attribution: r.attribution,
  ...(r.refunded !== undefined ? { refunded: Number(r.refunded) } : {}),
});

export const QUARANTINE_COLUMNS: readonly Column[] = [['id', 'text'], ['code', 'text'], ['subject_id', 'text'], ['order_id', 'text'], ['received_at', 'int8'], ['event', 'text']];

/** A quarantine row's values in QUARANTINE_COLUMNS order. */
export const quarantineValues = (q: DB['event_quarantine']): unknown[] => [q.id, q.code, q.subject_id, q.order_id, q.received_at, q.event];

export const REDEMPTION_COLUMNS: readonly Column[] = [
  ['id', 'text'], ['order_id', 'text'], ['subject_id', 'text'], ['customer_id', 'text'], ['channel', 'text'], ['status', 'text'], ['created_at', 'int8'],
  ['rolled_back_at', 'int8'], ['discount', 'int8'], ['cost', 'int8'], ['points', 'int8'], ['body', 'text'], ['fingerprint', 'text'],
];

/** A redemption as its row. */
export const redemptionRow = (r: RedemptionRecord): DB['redemptions'] => ({
  id: r.id, order_id: r.orderId, subject_id: r.subjectId, customer_id: r.customerId, channel: r.channel, status: r.status, created_at: r.createdAt,
  rolled_back_at: r.rolledBackAt, discount: r.discount, cost: r.cost, points: r.points, body: r.body, fingerprint: r.fingerprint,
});

/** A redemption's values in REDEMPTION_COLUMNS order. */
export const redemptionValues = (r: RedemptionRecord): unknown[] => [
  r.id, r.orderId, r.subjectId, r.customerId, r.channel, r.status, r.createdAt, r.rolledBackAt, r.discount, r.cost, r.points, r.body, r.fingerprint,
];

/** A stored redemption row as a record. */
export const redemptionOf = (r: DB['redemptions']): RedemptionRecord => ({
  id: r.id, orderId: r.order_id, subjectId: r.subject_id, customerId: r.customer_id, channel: r.channel, status: r.status, createdAt: Number(r.created_at),
  rolledBackAt: numOf(r.rolled_back_at), discount: Number(r.discount), cost: Number(r.cost), points: Number(r.points), body: r.body, fingerprint: r.fingerprint ?? null,
});

export const ITEM_COLUMNS: readonly Column[] = [['redemption_id', 'text'], ['issuance_id', 'text'], ['offer_id', 'text'], ['discount', 'int8'], ['cost', 'int8'], ['points', 'int8']];

/** A redemption item's values in ITEM_COLUMNS order. */
export const itemValues = (redemptionId: string, i: RedemptionItem): unknown[] => [redemptionId, i.issuanceId, i.offerId, i.discount, i.cost, i.points];

/** A redemption item as its row. */
export const itemRow = (redemptionId: string, i: RedemptionItem): DB['redemption_items'] => ({
  redemption_id: redemptionId, issuance_id: i.issuanceId, offer_id: i.offerId, discount: i.discount, cost: i.cost, points: i.points,
});

/** A stored redemption item row as a record. */
export const itemOf = (r: DB['redemption_items']): RedemptionItem => ({ issuanceId: r.issuance_id, offerId: r.offer_id, discount: Number(r.discount), cost: Number(r.cost), points: Number(r.points) });

export const LEDGER_COLUMNS: readonly Column[] = [
  ['id', 'text'], ['issuance_id', 'text'], ['offer_id', 'text'], ['kind', 'text'], ['day', 'text'], ['at', 'int8'], ['liability', 'int8'], ['cost', 'int8'], ['points', 'int8'], ['redemption_id', 'text'],
];

/** A ledger entry's values in LEDGER_COLUMNS order. */
export const ledgerValues = (l: LedgerEntry): unknown[] => [l.id, l.issuanceId, l.offerId, l.kind, l.day, l.at, l.liability, l.cost, l.points, l.redemptionId];

/** A ledger entry as its row. */
export const ledgerRow = (l: LedgerEntry): DB['liability_ledger'] => ({
  id: l.id, issuance_id: l.issuanceId, offer_id: l.offerId, kind: l.kind, day: l.day, at: l.at, liability: l.liability, cost: l.cost, points: l.points, redemption_id: l.redemptionId,
});

/** A stored issuance row as a record. */
export const issuanceOf = (r: DB['issuances']): Issuance => ({
  id: r.id, decisionId: r.decision_id, offerId: r.offer_id, offerVersion: Number(r.offer_version), campaignId: r.campaign_id, subjectId: r.subject_id,
  customerId: r.customer_id, channel: r.channel, placement: r.placement, value: numOf(r.value), discount: Number(r.discount), cost: Number(r.cost),
  reserved: Number(r.reserved), points: Number(r.points), liabilityDay: r.liability_day, issuedAt: Number(r.issued_at), expiresAt: Number(r.expires_at),
  status: r.status, code: r.code ?? null,
});

/** A decision row's attribution fields as a reference. */
export const decisionRefOf = (r: { id: string; subject_id: string; campaign_id: string | null; holdout: number; created_at: number }): DecisionRef => ({
  id: r.id,
  subjectId: r.subject_id,
  campaignId: r.campaign_id,
  holdout: Number(r.holdout) === 1,
  createdAt: Number(r.created_at),
});

/** A stored features row as totals. */
export const featureTotalsOf = (r: DB['customer_features']): FeatureTotals => ({
  orders: Number(r.orders), firstOrderAt: numOf(r.first_order_at), lastOrderAt: numOf(r.last_order_at), revenue: Number(r.revenue), refunded: Number(r.refunded),
  offerOrders: Number(r.offer_orders), offerDiscount: Number(r.offer_discount), offerSubtotal: Number(r.offer_subtotal), updatedAt: Number(r.updated_at),
});

/** `INSERT INTO table (columns) VALUES (?, …)`: the positional SQLite form of a column list. */
export const positionalInsert = (table: string, columns: readonly Column[]) => `INSERT INTO ${table} (${columns.map((c) => c[0]).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`;

/** The applied redemptions of some order ids, one row per item (filter on r.order_id appended per dialect). */
export const APPLIED_REDEMPTIONS = `SELECT r.id, r.order_id, r.discount, i.issuance_id FROM redemptions r LEFT JOIN redemption_items i ON i.redemption_id = r.id
       WHERE r.status = 'applied' AND r.order_id`;

/** What an order may still have refunded against it: what was paid (goods after discounts, plus shipping) and what was refunded. */
export const REFUNDABLE_COLUMNS = 'subject_id, subtotal + shipping - discount AS paid, refunded';
