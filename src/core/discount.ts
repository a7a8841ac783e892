import type { Offer, Product } from './catalog.js';
import { percentOf } from './economics.js';

/**
 * Exact discounts on a checkout cart, in integer minor units.
 *
 * Rounding rule (same as decide): a percentage is applied once to the eligible amount in
 * basis points, rounding half up to the minor unit, then capped by the offer's maxDiscount
 * and by what is left to discount. The discount is then spread over the eligible lines in
 * proportion to their remaining amounts by the largest-remainder method (ties go to the
 * earlier line), so the line discounts add up exactly to the total and a return of one line
 * can refund exactly its share. Several offers apply in the order given, each to what the
 * previous ones left, so no line ever goes below zero.
 */

export interface CheckoutLine {
  sku: string;
  quantity: number;
  unitPrice: number;
}

export interface PricedCheckoutLine extends CheckoutLine {
  /** Discount on the whole line (all units), minor units. */
  discount: number;
}

export interface OfferToApply {
  issuanceId: string;
  offer: Offer;
  value: number | null;
}

export interface AppliedOffer {
  issuanceId: string;
  offerId: string;
  offerVersion: number;
  type: Offer['type'];
  value: number | null;
  /** Money off the goods (line discounts and gift lines excluded). */
  lineDiscount: number;
  shippingDiscount: number;
  /** Value of a free gift line given. */
  giftValue: number;
  /** Everything the shopper saves: line + shipping discount + gift value. */
  discount: number;
  /** What the offer costs the shop: discounts, the gift's cost, points' value or the financing fee. */
  cost: number;
  points: number;
}

export interface CheckoutResult {
  lines: PricedCheckoutLine[];
  giftLines: Array<PricedCheckoutLine & { issuanceId: string }>;
  subtotal: number;
  shipping: number;
  shippingDiscount: number;
  /** Line discounts + shipping discount (gifts are separate lines at zero net). */
  discountTotal: number;
  /** What the shopper pays: subtotal − line discounts + shipping − shipping discount. */
  total: number;
  points: number;
  applied: AppliedOffer[];
}

export type CheckoutFailure = { index: number; code: 'SCOPE_NOT_IN_CART' | 'BUNDLE_INCOMPLETE' | 'MIN_CART_NOT_MET' | 'MAX_CART_EXCEEDED' | 'OFFER_NOT_REDEEMABLE'; message: string };

export interface CheckoutDefaults {
  pointValue: number;
  pointsPerMajorUnit: number;
  merchantFeeBpsPerMonth: number;
}

/** Spreads `amount` over `weights` (largest remainder, ties to the earlier index); sums exactly. */
export function allocate(amount: number, weights: number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  if (amount <= 0 || total <= 0) return weights.map(() => 0);
  const A = BigInt(amount);
  const W = BigInt(total);
  const shares = weights.map((w) => (A * BigInt(w)) / W);
  const rems = weights.map((w, i) => ({ i, r: (A * BigInt(w)) % W }));
  let left = amount - shares.reduce((a, b) => a + Number(b), 0);
  rems.sort((a, b) => (a.r === b.r ? a.i - b.i : a.r > b.r ? -1 : 1));
  const out = shares.map(Number);
  for (let k = 0; left > 0; k++, left--) out[rems[k % rems.length]!.i]!++;
  return out;
}

const inScope = (offer: Offer, line: CheckoutLine, products: ReadonlyMap<string, Product>): boolean => {
  const scope = offer.scope;
  if (scope.type === 'order') return true;
  if (scope.type === 'skus') return scope.skus.includes(line.sku);
  const cat = products.get(line.sku)?.category;
  return cat !== undefined && scope.categories.includes(cat);
};

/** Applies offers to a cart and returns the exact discounts, or the first offer that cannot apply. */
export function applyOffers(
  cart: { lines: CheckoutLine[]; shipping: number },
  offers: OfferToApply[],
  products: ReadonlyMap<string, Product>,
  d: CheckoutDefaults,
): CheckoutResult | { failure: CheckoutFailure } {
  const gross = cart.lines.map((l) => l.unitPrice * l.quantity);
  const subtotal = gross.reduce((a, b) => a + b, 0);
  const remaining = [...gross];
  let shippingLeft = cart.shipping;
  const giftLines: CheckoutResult['giftLines'] = [];
  const applied: AppliedOffer[] = [];

  for (const [index, { issuanceId, offer, value }] of offers.entries()) {
    const fail = (code: CheckoutFailure['code'], message: string) => ({ failure: { index, code, message } });
    if (offer.minCartValue !== undefined && subtotal < offer.minCartValue) return fail('MIN_CART_NOT_MET', `cart subtotal ${subtotal} < minimum ${offer.minCartValue}`);
    if (offer.maxCartValue !== undefined && subtotal > offer.maxCartValue) return fail('MAX_CART_EXCEEDED', `cart subtotal ${subtotal} > maximum ${offer.maxCartValue}`);
    const cap = (x: number) => (offer.maxDiscount !== undefined ? Math.min(x, offer.maxDiscount) : x);
    const a: AppliedOffer = { issuanceId, offerId: offer.id, offerVersion: offer.version, type: offer.type, value, lineDiscount: 0, shippingDiscount: 0, giftValue: 0, discount: 0, cost: 0, points: 0 };
    const spread = (idx: number[], weights: number[], amount: number) => {
      const parts = allocate(amount, weights);
      idx.forEach((li, k) => (remaining[li]! -= parts[k]!));
    };
    switch (offer.type) {
      case 'percent_off':
      case 'amount_off': {
        const idx = cart.lines.flatMap((l, i) => (inScope(offer, l, products) ? [i] : []));
        const base = idx.reduce((s, i) => s + remaining[i]!, 0);
        if (idx.length === 0) return fail('SCOPE_NOT_IN_CART', 'no line in the cart is covered by the offer');
        if (base <= 0) return fail('SCOPE_NOT_IN_CART', 'earlier offers left nothing to discount on the lines this offer covers');
        const raw = offer.type === 'percent_off' ? percentOf(base, value!) : value!;
        a.lineDiscount = Math.min(cap(raw), base);
        spread(idx, idx.map((i) => remaining[i]!), a.lineDiscount);
        a.cost = a.lineDiscount;
        break;
      }
      case 'bundle': {
        // A set is one unit of each listed SKU (a SKU listed twice needs two units). Complete
        // sets count units across every line of a SKU, and each set is priced from the lines
        // its units come from, first line first.
        const need = new Map<string, number>();
        for (const sku of offer.bundleSkus ?? []) need.set(sku, (need.get(sku) ?? 0) + 1);
        const qty = (sku: string) => cart.lines.reduce((s, l) => s + (l.sku === sku ? l.quantity : 0), 0);
        const sets = Math.min(...[...need].map(([sku, n]) => Math.floor(qty(sku) / n)));
        if (!(sets > 0)) return fail('BUNDLE_INCOMPLETE', `the bundle needs ${(offer.bundleSkus ?? []).join(', ')}`);
        const weight = new Map<number, number>();
        for (const [sku, n] of need) {
          let units = n * sets;
          cart.lines.forEach((l, i) => {
            if (l.sku !== sku || units === 0) return;
            const u = Math.min(units, l.quantity);
            units -= u;
            weight.set(i, (weight.get(i) ?? 0) + u * l.unitPrice);
          });
        }
        const idx = [...weight.keys()].sort((a, b) => a - b);
        const weights = idx.map((i) => Math.min(weight.get(i)!, remaining[i]!));
        const base = weights.reduce((x, y) => x + y, 0);
        a.lineDiscount = Math.min(cap(percentOf(base, value!)), base);
        spread(idx, weights, a.lineDiscount);
        a.cost = a.lineDiscount;
        break;
      }
      case 'free_shipping':
        a.shippingDiscount = cap(shippingLeft);
        shippingLeft -= a.shippingDiscount;
        a.cost = a.shippingDiscount;
        break;
      case 'free_gift': {
        const gift = offer.giftSku !== undefined ? products.get(offer.giftSku) : undefined;
        if (!gift) return fail('OFFER_NOT_REDEEMABLE', `gift SKU ${offer.giftSku ?? '?'} is not in the product catalog`);
        a.giftValue = gift.price;
        a.cost = gift.unitCost + gift.fulfilmentCost;
        giftLines.push({ sku: gift.sku, quantity: 1, unitPrice: gift.price, discount: gift.price, issuanceId });
        break;
      }
      case 'loyalty_points': {
        const net = remaining.reduce((x, y) => x + y, 0);
        // Whole points only, rounded down: a multiplier of m earns (m − 1) × the base rate extra.
        a.points = offer.pointsMode === 'multiplier' ? Math.floor(Math.floor(net / 100) * d.pointsPerMajorUnit * Math.max(0, value! - 1)) : Math.round(value!);
        a.cost = Math.round(a.points * (offer.pointValue ?? d.pointValue));
        break;
      }
      case 'financing': {
        const net = remaining.reduce((x, y) => x + y, 0);
        const bps = (offer.merchantFeeBpsPerMonth ?? d.merchantFeeBpsPerMonth) * value!;
        a.cost = Math.floor((net * bps + 5000) / 10000);
        break;
      }
      case 'content':
        return fail('OFFER_NOT_REDEEMABLE', 'content offers carry no benefit to redeem');
    }
    a.discount = a.lineDiscount + a.shippingDiscount + a.giftValue;
    applied.push(a);
  }
  const lines = cart.lines.map((l, i) => ({ ...l, discount: gross[i]! - remaining[i]! }));
  const lineDiscount = lines.reduce((s, l) => s + l.discount, 0);
  const shippingDiscount = cart.shipping - shippingLeft;
  return {
    lines,
    giftLines,
    subtotal,
    shipping: cart.shipping,
    shippingDiscount,
    discountTotal: lineDiscount + shippingDiscount,
    total: subtotal - lineDiscount + cart.shipping - shippingDiscount,
    points: applied.reduce((s, x) => s + x.points, 0),
    applied,
  };
}
