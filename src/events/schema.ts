import { z } from 'zod';
import { ChannelSchema } from '../core/catalog.js';

const Id = z.string().min(1).max(200);
const Money = z.number().int().min(0).max(1e11).describe('Minor units');
const IsoTime = z.iso.datetime({ offset: true });
const Token = z.string().min(1).max(2000).describe('An offer token or a coupon code');

// Fields every event may carry. Exactly one of customerId / anonymousId names who it is about.
const common = {
  id: z.string().min(1).max(128).describe('Client-supplied event id: resending it is a no-op'),
  occurredAt: IsoTime.describe('When it happened (may be late or out of order)'),
  customerId: Id.optional(),
  anonymousId: Id.optional(),
  sessionId: z.string().min(1).max(200).optional(),
  decisionId: z.string().regex(/^dec_[A-Za-z0-9_-]{1,100}$/, 'a decision id (dec_...)').optional().describe('The decision that exposed the offer'),
  token: Token.optional().describe('The offer token shown or used'),
  offerId: z.string().regex(/^ofr_[A-Za-z0-9_-]{1,100}$/, 'an offer id (ofr_...)').optional(),
  placement: z.string().min(1).max(100).optional(),
  channel: ChannelSchema.optional(),
  properties: z.record(z.string().max(100), z.unknown()).optional(),
};

export const OrderLineSchema = z
  .object({
    sku: z.string().min(1).max(100),
    quantity: z.number().int().min(1).max(100_000),
    unitPrice: Money,
    unitCost: Money.optional().describe('Cost of goods per unit; defaults to the product catalog'),
  })
  .strict();

const simple = <T extends string>(type: T) => z.object({ type: z.literal(type), ...common }).strict();

/** One schema per event type (the union below is built from them). */
export const EVENT_VARIANTS = [
    simple('impression'),
    simple('click'),
    simple('session_start'),
    z.object({ type: z.literal('add_to_cart'), ...common, sku: z.string().min(1).max(100), quantity: z.number().int().min(1).max(100_000).default(1), unitPrice: Money.optional() }).strict(),
    z.object({ type: z.literal('checkout_started'), ...common, cartValue: Money.optional() }).strict(),
    z
      .object({
        type: z.literal('order'),
        ...common,
        orderId: Id,
        currency: z.string().length(3).optional(),
        lines: z.array(OrderLineSchema).min(1).max(500),
        shipping: Money.default(0).describe('Shipping fee charged (pass-through: not margin)'),
        discount: Money.default(0).describe('Total discount given on the order, including shipping discounts'),
        tokens: z.array(Token).max(20).default([]).describe('Offer tokens or coupon codes redeemed on the order'),
      })
      .strict()
      .refine((o) => o.lines.reduce((s, l) => s + l.unitPrice * l.quantity, 0) <= 900_000_000_000, { message: 'order subtotal above 900,000,000,000 minor units', path: ['lines'] })
      // A discount beyond what the order charged would make its revenue (and the customer's monetary) negative.
      .refine((o) => o.discount <= o.lines.reduce((s, l) => s + l.unitPrice * l.quantity, 0) + o.shipping, { message: 'is more than the order’s subtotal plus shipping', path: ['discount'] }),
    z.object({ type: z.literal('refund'), ...common, orderId: Id, amount: Money.refine((a) => a > 0, 'must be positive'), reason: z.string().max(500).optional() }).strict(),
    z.object({ type: z.literal('return'), ...common, orderId: Id, amount: Money.refine((a) => a > 0, 'must be positive'), reason: z.string().max(500).optional() }).strict(),
] as const;

export const EventSchema = z
  .discriminatedUnion('type', EVENT_VARIANTS)
  .refine((e) => (e.customerId === undefined) !== (e.anonymousId === undefined), { message: 'give exactly one of customerId or anonymousId', path: ['customerId'] });
export type OutcomeEvent = z.output<typeof EventSchema>;
export type EventType = OutcomeEvent['type'];

/** At most this many events per request; larger batches should be split by the client. */
export const MAX_BATCH = 1000;

export const EventBatchSchema = z.object({ events: z.array(EventSchema).min(1).max(MAX_BATCH) }).strict();

