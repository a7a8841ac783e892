import { CampaignCreateSchema, OfferCreateSchema, ProductSchema, type Campaign, type Offer, type PolicyConfig } from '../../src/core/catalog.js';
import type { DecideDefaults, SubjectState } from '../../src/core/decide.js';
import { DecideRequestSchema, type DecideRequest } from '../../src/core/request.js';
import { buildSnapshot, type CatalogSnapshot } from '../../src/core/snapshot.js';

/** Shared by the learning tests: a catalog whose offers each carry one guardrail, and a pure-decide harness. */
export const NOW = '2026-11-23T12:00:00Z';
export const NOW_MS = Date.parse(NOW);
export const CMP = 'cmp_learn';

export const PRODUCTS = [{ sku: 'TOP-1', category: 'tops', price: 10000, unitCost: 4000, fulfilmentCost: 500 }];

/**
 * One offer per guardrail: on a 1 × TOP-1 cart (subtotal 10000, margin 5500 = 55%), the 20% rung
 * of `ofr_pct` breaks its 48% margin floor (3500 / 8000 = 43.75%); the others pass until the
 * counters or the subject's history say otherwise.
 */
export const OFFERS = [
  { id: 'ofr_pct', status: 'live', name: 'pct', type: 'percent_off', valueLadder: [5, 10, 20], marginFloorPct: 48 },
  { id: 'ofr_amt', status: 'live', name: 'amt', type: 'amount_off', value: 500, budget: { total: 1000 } },
  { id: 'ofr_msg', status: 'live', name: 'msg', type: 'content' },
  { id: 'ofr_cap', status: 'live', name: 'cap', type: 'amount_off', value: 300, caps: { global: 5 } },
  { id: 'ofr_day', status: 'live', name: 'day', type: 'amount_off', value: 200, budget: { dailyLiability: 1000 } },
  { id: 'ofr_one', status: 'live', name: 'one', type: 'amount_off', value: 100, caps: { perCustomer: 1 } },
];

/** Every action eligible on the standard cart with no counters used: all rungs but ofr_pct@20. */
export const ELIGIBLE_ACTIONS = ['ofr_pct@5', 'ofr_pct@10', 'ofr_amt@500', 'ofr_msg', 'ofr_cap@300', 'ofr_day@200', 'ofr_one@100'];

export function campaignSpec(policy: unknown, extra: Record<string, unknown> = {}) {
  return { id: CMP, status: 'live', name: 'Learn', placements: ['home_hero'], offers: OFFERS.map((o) => o.id), holdoutPct: 0, policy, ...extra };
}

/** The catalog as an import body (engine tests). */
export function catalogBody(policy: unknown, extra: Record<string, unknown> = {}) {
  return { products: PRODUCTS, offers: OFFERS, campaigns: [campaignSpec(policy, extra)] };
}

/** A compiled snapshot with one campaign under `policy` (pure-decide tests). */
export function snapshotFor(policy: unknown): CatalogSnapshot {
  const iso = new Date(NOW_MS).toISOString();
  const offers = OFFERS.map((o) => ({ ...OfferCreateSchema.parse(o), id: o.id, status: 'live', version: 1, createdAt: iso, updatedAt: iso }) as Offer);
  const campaign = { ...CampaignCreateSchema.parse(campaignSpec(policy)), id: CMP, status: 'live', version: 1, createdAt: iso, updatedAt: iso } as Campaign;
  return buildSnapshot({ version: 1, offers, campaigns: [campaign], products: PRODUCTS.map((p) => ProductSchema.parse(p)) });
}

export function policyConfig(policy: unknown): PolicyConfig {
  return CampaignCreateSchema.parse(campaignSpec(policy)).policy;
}

export const DEFAULTS: DecideDefaults = { marginFloorPct: 0, shippingCost: 0, pointValue: 1, pointsPerMajorUnit: 1, merchantFeeBpsPerMonth: 0 };

export function request(extra: Record<string, unknown> = {}): DecideRequest {
  return DecideRequestSchema.parse({
    customerId: 'cust_1',
    placement: 'home_hero',
    channel: 'web',
    cart: { lines: [{ sku: 'TOP-1', quantity: 1, unitPrice: 10000 }] },
    context: { device: 'mobile' },
    ...extra,
  });
}

export function subject(extra: Partial<SubjectState> = {}): SubjectState {
  return { subjectId: 'c:cust_1', customerId: 'cust_1', anonymousId: null, traits: {}, consent: { personalization: true }, features: { cohort: 'vip', frequency: 3 }, issuances: [], ...extra };
}

/** The action a decision took: the shown offer (or the holdout's counterfactual) with its value, or "none". */
export function actionOf(d: { chosen: Array<{ offerId: string; value: number | null }>; counterfactual: Array<{ offerId: string; value: number | null }> }): string {
  const o = d.chosen[0] ?? d.counterfactual[0];
  if (!o) return 'none';
  return o.value === null ? o.offerId : `${o.offerId}@${o.value}`;
}
