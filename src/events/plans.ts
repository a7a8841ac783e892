import type { EventRecord, FeatureDelta } from './port.js';

/** The feature change of an accepted refund or return: what the customer got back. */
export function refundDelta(e: Pick<EventRecord, 'subjectId' | 'amount'>): FeatureDelta {
  return { subjectId: e.subjectId, orders: 0, orderAt: null, revenue: 0, refunded: Number(e.amount), offerOrders: 0, offerDiscount: 0, offerSubtotal: 0 };
}
