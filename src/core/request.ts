import { z } from 'zod';
import { ChannelSchema } from './catalog.js';

// No NUL: PostgreSQL cannot store it in text columns.
const Id = z.string().min(1).max(200).refine((s) => !s.includes('\u0000'), 'NUL characters are not allowed');
const JsonRecord = z.record(z.string().max(100), z.unknown());

export const ConsentSchema = z
  .object({
    personalization: z.boolean().optional().describe('Profile data and learned scores may be used'),
    email: z.boolean().optional(),
    sms: z.boolean().optional(),
    push: z.boolean().optional(),
  })
  .strict();
export type Consent = z.infer<typeof ConsentSchema>;

export const CartLineSchema = z
  .object({
    sku: z.string().min(1).max(100),
    quantity: z.number().int().min(1).max(100_000),
    unitPrice: z.number().int().min(0).max(1e11).describe('Minor units'),
  })
  .strict();

export const DecideRequestSchema = z
  .object({
    customerId: Id.optional(),
    anonymousId: Id.optional(),
    placement: z.string().min(1).max(100),
    channel: ChannelSchema,
    campaignId: z.string().regex(/^cmp_/).optional().describe('Restrict the decision to one campaign'),
    requestId: z.string().min(1).max(200).optional().describe('Idempotency key: a retry returns the same decision'),
    context: z
      .object({
        device: z.string().max(50).optional(),
        geo: z.object({ country: z.string().max(2).optional(), region: z.string().max(100).optional(), city: z.string().max(100).optional() }).strict().optional(),
        time: z.iso.datetime({ offset: true }).optional().describe("The shopper's local time"),
        session: JsonRecord.optional(),
      })
      .catchall(z.unknown())
      .optional(),
    traits: JsonRecord.optional().describe('Customer traits; merged over stored ones'),
    consent: ConsentSchema.optional().describe('Overrides stored consent for this request'),
    cart: z
      .object({
        currency: z.string().length(3).optional(),
        lines: z.array(CartLineSchema).max(500),
        shipping: z.number().int().min(0).max(1e10).optional().describe('Shipping fee the shopper would pay, minor units'),
      })
      .strict()
      // Keeps every money product exact in doubles (percent in basis points × subtotal < 2^53).
      .refine((c) => c.lines.reduce((s, l) => s + l.unitPrice * l.quantity, 0) <= 900_000_000_000, {
        message: 'cart subtotal above 900,000,000,000 minor units',
        path: ['lines'],
      })
      .optional(),
  })
  .strict()
  .refine((r) => r.customerId !== undefined || r.anonymousId !== undefined, {
    message: 'give customerId or anonymousId',
    path: ['customerId'],
  });
export type DecideRequest = z.infer<typeof DecideRequestSchema>;
