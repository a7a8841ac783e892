import type { Offer, Product, ResponseModel } from './catalog.js';

/**
 * Money arithmetic for offers, in integer minor units.
 *
 * Rounding rule: a percentage is applied once to the eligible subtotal (never per line),
 * in basis points with integer arithmetic, rounding half up to the nearest minor unit; the
 * result is then capped by the offer's maxDiscount and by the eligible subtotal.
 */

export interface CartLineInput {
  sku: string;
  quantity: number;
  unitPrice: number;
}

export interface PricedLine {
  sku: string;
  quantity: number;
  unitPrice: number;
  category: string | null;
  /** Unit cost + fulfilment cost per unit, or null when the SKU is not in the catalog. */
  unitVariableCost: number | null;
}

/** What the engine knows about the basket a decision is for. */
export interface Basket {
  /** 'cart' when the request carried lines; 'expected' when the campaign's assumed basket stands in. */
  basis: 'cart' | 'expected';
  lines: PricedLine[];
  subtotal: number;
  /** Revenue minus COGS and fulfilment, before any offer; null if some SKU's cost is unknown. */
  margin: number | null;
  unknownSkus: string[];
  skus: Set<string>;
  categories: Set<string>;
  shipping: number | null;
}

/** Prices a request's cart against the product catalog (or assumes the campaign's basket). */
export function priceBasket(
  lines: CartLineInput[] | undefined,
  shipping: number | undefined,
  products: ReadonlyMap<string, Product>,
  model: ResponseModel,
): Basket {
  if (!lines || lines.length === 0) {
    const subtotal = model.expectedBasket.subtotal;
    return {
      basis: 'expected',
      lines: [],
      subtotal,
      margin: Math.round((subtotal * model.expectedBasket.marginPct) / 100),
      unknownSkus: [],
      skus: new Set(),
      categories: new Set(),
      shipping: shipping ?? null,
    };
  }
  const priced: PricedLine[] = [];
  const unknown: string[] = [];
  const skus = new Set<string>();
  const categories = new Set<string>();
  let subtotal = 0;
  let margin = 0;
  for (const l of lines) {
    const p = products.get(l.sku);
    const cost = p ? p.unitCost + p.fulfilmentCost : null;
    if (!p) unknown.push(l.sku);
    else if (p.category) categories.add(p.category);
    skus.add(l.sku);
    subtotal += l.unitPrice * l.quantity;
    if (cost !== null) margin += (l.unitPrice - cost) * l.quantity;
    priced.push({ sku: l.sku, quantity: l.quantity, unitPrice: l.unitPrice, category: p?.category ?? null, unitVariableCost: cost });
  }
  return { basis: 'cart', lines: priced, subtotal, margin: unknown.length ? null : margin, unknownSkus: unknown, skus, categories, shipping: shipping ?? null };
}

/** Subtotal of the lines an offer's scope covers (the whole basket when it is assumed). */
export function eligibleSubtotal(offer: Offer, basket: Basket): number {
  if (basket.basis === 'expected' || offer.scope.type === 'order') return basket.subtotal;
  let s = 0;
  if (offer.scope.type === 'categories') {
    const cats = offer.scope.categories;
    for (const l of basket.lines) if (l.category !== null && cats.includes(l.category)) s += l.unitPrice * l.quantity;
  } else {
    const skus = offer.scope.skus;
    for (const l of basket.lines) if (skus.includes(l.sku)) s += l.unitPrice * l.quantity;
  }
  return s;
}

/** Percent (up to 2 decimals) of an amount, rounded half up, in integer arithmetic. */
export function percentOf(amount: number, percent: number): number {
  const bp = Math.round(percent * 100);
  return Math.floor((amount * bp + 5000) / 10000);
}

/** The economics of one offer at one value on one basket. */
export interface OfferEconomics {
  /** What the shopper sees as money off (discount types), minor units. */
  discount: number;
  /** What the offer costs the shop if redeemed, minor units. */
  cost: number;
  /** The shopper's perceived benefit in money, drives the default lift assumption. */
  benefit: number;
  /** How much the offer lowers the price of goods (percent, amount and bundle discounts). */
  priceReduction: number;
  /** Loyalty points awarded, if any. */
  points: number;
  /** Whether the basket can carry the offer at all (e.g. a bundle needs all its SKUs). */
  applicable: boolean;
  notApplicableReason?: 'SCOPE_NOT_IN_CART' | 'BUNDLE_INCOMPLETE';
}

export interface EconomicsDefaults {
  shippingCost: number;
  pointValue: number;
  pointsPerMajorUnit: number;
  merchantFeeBpsPerMonth: number;
}

/** Computes discount, cost and benefit of `offer` at `value` on `basket`. */
export function offerEconomics(
  offer: Offer,
  value: number,
  basket: Basket,
  products: ReadonlyMap<string, Product>,
  d: EconomicsDefaults,
): OfferEconomics {
  const capped = (x: number) => (offer.maxDiscount !== undefined ? Math.min(x, offer.maxDiscount) : x);
  switch (offer.type) {
    case 'percent_off':
    case 'amount_off': {
      const base = eligibleSubtotal(offer, basket);
      if (base <= 0) return { discount: 0, cost: 0, benefit: 0, priceReduction: 0, points: 0, applicable: false, notApplicableReason: 'SCOPE_NOT_IN_CART' };
      const raw = offer.type === 'percent_off' ? percentOf(base, value) : Math.min(value, base);
      const discount = capped(raw);
      return { discount, cost: discount, benefit: discount, priceReduction: discount, points: 0, applicable: true };
    }
    case 'bundle': {
      const skus = offer.bundleSkus ?? [];
      let bundlePrice = 0;
      for (const sku of skus) {
        const line = basket.lines.find((l) => l.sku === sku);
        if (basket.basis === 'cart' && !line) {
          return { discount: 0, cost: 0, benefit: 0, priceReduction: 0, points: 0, applicable: false, notApplicableReason: 'BUNDLE_INCOMPLETE' };
        }
        bundlePrice += line ? line.unitPrice : (products.get(sku)?.price ?? 0);
      }
      const discount = capped(percentOf(bundlePrice, value));
      return { discount, cost: discount, benefit: discount, priceReduction: discount, points: 0, applicable: true };
    }
    case 'free_shipping': {
      // The shop forgoes the shipping fee the shopper would have paid; without a cart fee,
      // the offer's (or the default) shipping cost stands in for it.
      const fee = capped(basket.shipping ?? offer.shippingCost ?? d.shippingCost);
      return { discount: fee, cost: fee, benefit: fee, priceReduction: 0, points: 0, applicable: true };
    }
    case 'free_gift': {
      const gift = offer.giftSku ? products.get(offer.giftSku) : undefined;
      const cost = gift ? gift.unitCost + gift.fulfilmentCost : 0;
      return { discount: 0, cost, benefit: gift?.price ?? 0, priceReduction: 0, points: 0, applicable: true };
    }
    case 'loyalty_points': {
      const pointValue = offer.pointValue ?? d.pointValue;
      const points =
        offer.pointsMode === 'multiplier'
          ? Math.round(Math.floor(basket.subtotal / 100) * d.pointsPerMajorUnit * Math.max(0, value - 1))
          : Math.round(value);
      const cost = Math.round(points * pointValue);
      return { discount: 0, cost, benefit: cost, priceReduction: 0, points, applicable: true };
    }
    case 'financing': {
      const bps = (offer.merchantFeeBpsPerMonth ?? d.merchantFeeBpsPerMonth) * value;
      const cost = Math.floor((basket.subtotal * bps + 5000) / 10000);
      return { discount: 0, cost, benefit: cost, priceReduction: 0, points: 0, applicable: true };
    }
    case 'content':
      return { discount: 0, cost: 0, benefit: 0, priceReduction: 0, points: 0, applicable: true };
  }
}

/**
 * Contribution margin % of net revenue after the offer(s): (margin − cost) / (subtotal − price reduction).
 * Returns -Infinity when net revenue is not positive (nothing left to earn a margin on).
 */
export function marginPctAfter(basket: Basket, totalCost: number, totalPriceReduction: number): number {
  const net = basket.subtotal - totalPriceReduction;
  if (net <= 0 || basket.margin === null) return -Infinity;
  return ((basket.margin - totalCost) / net) * 100;
}

/** Two decimals, and never -0: JSON stores -0 as 0, so a reply would differ from its own log. */
export function round2(x: number): number {
  return Math.round(x * 100) / 100 + 0;
}
