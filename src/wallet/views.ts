import { z } from 'zod';
import { OFFER_TYPES } from '../core/catalog.js';
import type { Assert, Same } from '../http/type-check.js';
import type { RedemptionView, Wallet, WalletEntry } from './service.js';

const Line = z.object({ sku: z.string(), quantity: z.number().int(), unitPrice: z.number().int(), discount: z.number().int().describe('Discount on the whole line, minor units') });

export const AppliedOfferSchema = z
  .object({
    issuanceId: z.string(),
    offerId: z.string(),
    offerVersion: z.number().int(),
    type: z.enum(OFFER_TYPES),
    value: z.number().nullable(),
    lineDiscount: z.number().int().describe('Money off the goods'),
    shippingDiscount: z.number().int(),
    giftValue: z.number().int().describe('Value of a free gift line given'),
    discount: z.number().int().describe('Everything the shopper saves: line + shipping discount + gift value'),
    cost: z.number().int().describe('What the offer costs the shop'),
    points: z.number().int(),
  })
  .meta({ id: 'AppliedOffer' });

const checkout = {
  orderId: z.string(),
  channel: z.string(),
  lines: z.array(Line),
  giftLines: z.array(Line.extend({ issuanceId: z.string() })),
  subtotal: z.number().int(),
  shipping: z.number().int(),
  shippingDiscount: z.number().int(),
  discountTotal: z.number().int().describe('Line discounts + shipping discount'),
  total: z.number().int().describe('What the shopper pays'),
  points: z.number().int(),
  offers: z.array(AppliedOfferSchema).describe('The offers applied, in order'),
};

/** A redemption as the API returns it. */
export const RedemptionSchema = z
  .object({
    ...checkout,
    redemptionId: z.string(),
    status: z.enum(['applied', 'rolled_back']),
    createdAt: z.string(),
    rolledBackAt: z.string().nullable(),
    replayed: z.boolean().optional().describe('The stored answer to an earlier request for the same order'),
  })
  .meta({ id: 'Redemption' });

/** A quote: the redemption's figures, nothing redeemed. */
export const QuoteSchema = z.object(checkout).meta({ id: 'RedemptionQuote' });

export const WalletEntrySchema = z
  .object({
    issuanceId: z.string(),
    offerId: z.string(),
    offerVersion: z.number().int(),
    name: z.string(),
    type: z.enum(OFFER_TYPES),
    value: z.number().nullable(),
    discount: z.number().int(),
    points: z.number().int(),
    channel: z.string(),
    placement: z.string(),
    issuedAt: z.string(),
    expiresAt: z.string(),
    code: z.string().nullable(),
    token: z.string(),
  })
  .meta({ id: 'WalletEntry' });

export const WalletPageSchema = z.object({ customerId: z.string(), entries: z.array(WalletEntrySchema), nextCursor: z.string().nullable() }).meta({ id: 'WalletPage' });

// The wallet's interfaces predate these schemas; the compiler keeps the two in step.
export type _RedemptionAgrees = Assert<Same<z.infer<typeof RedemptionSchema>, RedemptionView>>;
// A quote is never a replay: the type's `replayed` comes from the redemption it is cut from.
export type _QuoteAgrees = Assert<Same<z.infer<typeof QuoteSchema>, Omit<Awaited<ReturnType<Wallet['quote']>>, 'replayed'>>>;
export type _WalletEntryAgrees = Assert<Same<z.infer<typeof WalletEntrySchema>, WalletEntry>>;
export type _WalletPageAgrees = Assert<Same<z.infer<typeof WalletPageSchema>, Awaited<ReturnType<Wallet['list']>>>>;
