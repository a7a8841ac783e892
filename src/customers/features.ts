import { z } from 'zod';
import type { FeatureTotals } from './port.js';
import { round2 } from '../core/economics.js';

const DAY = 86_400_000;

/** How far back "offer impressions in window" counts. */
export const IMPRESSION_WINDOW_MS = 30 * DAY;

export const COHORTS = ['first_time', 'engaged_30', 'engaged_90', 'lapsed'] as const;
export type Cohort = (typeof COHORTS)[number];

/**
 * A customer's features as rules (`customer.features.*`), learning and reports see them.
 * Money in minor units; days are fractional. The type is inferred from the schema.
 */
export const CustomerFeaturesSchema = z
  .object({
    orders: z.number().int().describe('Distinct orders (by order id), whatever order their events arrived in'),
    firstOrderAt: z.string().nullable(),
    lastOrderAt: z.string().nullable(),
    recencyDays: z.number().nullable().describe('RFM recency: days since the last order (null without orders)'),
    frequency: z.number().int().describe('RFM frequency: the order count'),
    monetary: z.number().describe('RFM monetary: net revenue (order subtotals after discounts, minus refunds and returns)'),
    aov: z.number().describe('Gross order value per order (subtotal after discounts, before refunds), rounded half up'),
    refunded: z.number(),
    cohort: z.enum(COHORTS),
    couponAffinity: z.number().describe('Share of orders that used an offer (0 without orders)'),
    discountDepthPct: z.number().describe('Discount depth used: total discount / subtotal over the orders that used an offer, percent'),
    impressions30d: z.number().int().describe('Impression events in the last 30 days'),
  })
  .meta({ id: 'CustomerFeatures' });
export type CustomerFeatures = z.infer<typeof CustomerFeaturesSchema>;

/** The behavioural cohort at `now`: last order < 30 days, 30–90 days, > 90 days, or none. */
export function cohortOf(lastOrderAt: number | null, now: number): Cohort {
  if (lastOrderAt === null) return 'first_time';
  const age = now - lastOrderAt;
  if (age < 30 * DAY) return 'engaged_30';
  if (age <= 90 * DAY) return 'engaged_90';
  return 'lapsed';
}


/** Derives features from the stored aggregates (numbers, as the store maps them); time-relative ones (recency, cohort) are computed at `now`. */
export function computeFeatures(totals: FeatureTotals | null, impressions: number, now: number): CustomerFeatures {
  const orders = totals ? totals.orders : 0;
  const last = totals?.lastOrderAt != null && orders > 0 ? totals.lastOrderAt : null;
  const first = totals?.firstOrderAt != null && orders > 0 ? totals.firstOrderAt : null;
  const revenue = totals ? totals.revenue : 0;
  const refunded = totals ? totals.refunded : 0;
  const offerSubtotal = totals ? totals.offerSubtotal : 0;
  return {
    orders,
    firstOrderAt: first === null ? null : new Date(first).toISOString(),
    lastOrderAt: last === null ? null : new Date(last).toISOString(),
    recencyDays: last === null ? null : round2(Math.max(0, now - last) / DAY),
    frequency: orders,
    monetary: revenue - refunded,
    aov: orders > 0 ? Math.floor((2 * revenue + orders) / (2 * orders)) : 0,
    refunded,
    cohort: cohortOf(last, now),
    couponAffinity: orders > 0 ? round2(totals!.offerOrders / orders) : 0,
    discountDepthPct: offerSubtotal > 0 ? round2((totals!.offerDiscount / offerSubtotal) * 100) : 0,
    impressions30d: impressions,
  };
}
