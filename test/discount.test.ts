import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OfferSpecSchema, type Offer, type OfferSpecInput, type Product } from '../src/core/catalog.js';
import { allocate, applyOffers, type CheckoutDefaults, type CheckoutFailure, type CheckoutLine, type CheckoutResult, type OfferToApply } from '../src/core/discount.js';

/**
 * Worked examples for checkout discount arithmetic (src/core/discount.ts), all in integer
 * minor units. The rule under test: a percentage is applied once to the eligible amount in
 * basis points, rounding half up, then capped by maxDiscount and by what is left; the discount
 * is spread over the eligible lines by largest remainder (ties to the earlier line); several
 * offers apply in order, each to what the previous ones left.
 */

const D: CheckoutDefaults = { pointValue: 1, pointsPerMajorUnit: 1, merchantFeeBpsPerMonth: 50 };

const product = (sku: string, category: string, price: number, unitCost: number, fulfilmentCost = 0): [string, Product] => [sku, { sku, category, price, unitCost, fulfilmentCost }];
const PRODUCTS: ReadonlyMap<string, Product> = new Map([
  product('TEE', 'tops', 1999, 600, 300),
  product('HOOD', 'tops', 6000, 2200, 400),
  product('JEANS', 'bottoms', 8000, 3000, 400),
  product('MUG', 'home', 1200, 400, 100),
  product('GIFT', 'gifts', 1500, 350, 50),
]);

let seq = 0;
/** An offer as stored: the parsed spec plus lifecycle fields. */
function offer(spec: Omit<OfferSpecInput, 'name'> & { name?: string }, id = `ofr_t${++seq}`): Offer {
  return {
    ...OfferSpecSchema.parse({ name: `offer ${id}`, ...spec }),
    id,
    status: 'live',
    version: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  };
}

/** The offer to apply, at its own value (as the issuance would carry it). */
const use = (o: Offer, issuanceId = `iss_${o.id}`): OfferToApply => ({ issuanceId, offer: o, value: o.value ?? null });

const line = (sku: string, quantity: number, unitPrice: number): CheckoutLine => ({ sku, quantity, unitPrice });

function ok(r: CheckoutResult | { failure: CheckoutFailure }): CheckoutResult {
  if ('failure' in r) throw new Error(`expected a result, got failure ${JSON.stringify(r.failure)}`);
  return r;
}
function failure(r: CheckoutResult | { failure: CheckoutFailure }): CheckoutFailure {
  if (!('failure' in r)) throw new Error(`expected a failure, got ${JSON.stringify(r)}`);
  return r.failure;
}

/** Invariants every successful result satisfies. */
function expectConsistent(r: CheckoutResult): void {
  const lineDiscounts = r.lines.map((l) => l.discount);
  const lineTotal = lineDiscounts.reduce((a, b) => a + b, 0);
  for (const l of r.lines) {
    expect(Number.isInteger(l.discount)).toBe(true);
    expect(l.discount).toBeGreaterThanOrEqual(0);
    expect(l.discount).toBeLessThanOrEqual(l.unitPrice * l.quantity);
  }
  expect(r.subtotal).toBe(r.lines.reduce((s, l) => s + l.unitPrice * l.quantity, 0));
  expect(lineTotal).toBe(r.applied.reduce((s, a) => s + a.lineDiscount, 0));
  expect(r.shippingDiscount).toBe(r.applied.reduce((s, a) => s + a.shippingDiscount, 0));
  expect(r.discountTotal).toBe(lineTotal + r.shippingDiscount);
  expect(r.total).toBe(r.subtotal - lineTotal + r.shipping - r.shippingDiscount);
  expect(r.points).toBe(r.applied.reduce((s, a) => s + a.points, 0));
  for (const a of r.applied) expect(a.discount).toBe(a.lineDiscount + a.shippingDiscount + a.giftValue);
}

describe('allocate: largest remainder, ties to the earlier index', () => {
  it('spreads exactly when the shares are whole', () => {
    // 100 over 500 : 300 : 200 (total 1000) → 50, 30, 20, no remainder.
    expect(allocate(100, [500, 300, 200])).toEqual([50, 30, 20]);
  });

  it('ties: equal remainders go to the earlier lines first', () => {
    // 10 over 1 : 1 : 1 → floor(10/3) = 3 each (9), remainders all 10 mod 3 = 1; the 1 left goes to index 0.
    expect(allocate(10, [1, 1, 1])).toEqual([4, 3, 3]);
    // 2 over 1 : 1 : 1 → 0 each, remainders all 2; the 2 left go to indices 0 and 1.
    expect(allocate(2, [1, 1, 1])).toEqual([1, 1, 0]);
    // 1 over 7 : 7 → 0, 0 with equal remainders 7: index 0 gets it.
    expect(allocate(1, [7, 7])).toEqual([1, 0]);
  });

  it('no ties: the largest remainders win, even when they are on later lines', () => {
    // 10 over 5 : 3 : 2 : 1 (total 11):
    //   10·5 = 50 → 4 r 6;  10·3 = 30 → 2 r 8;  10·2 = 20 → 1 r 9;  10·1 = 10 → 0 r 10.
    //   Shares 4+2+1+0 = 7, 3 left → remainders 10 (idx 3), 9 (idx 2), 8 (idx 1) get one each.
    expect(allocate(10, [5, 3, 2, 1])).toEqual([4, 3, 2, 1]);
  });

  it('zero weights get nothing; nothing to spread or nothing to spread over gives zeros', () => {
    // 5 over 0 : 3 : 0 : 2 (total 5) → 0, 3, 0, 2 exactly.
    expect(allocate(5, [0, 3, 0, 2])).toEqual([0, 3, 0, 2]);
    expect(allocate(0, [1, 2])).toEqual([0, 0]);
    expect(allocate(7, [0, 0])).toEqual([0, 0]);
    expect(allocate(7, [])).toEqual([]);
  });

  it('is exact on amounts far beyond what doubles multiply exactly (BigInt inside)', () => {
    // 900e9 over (900e9 + 1) : (900e9 − 1), total W = 1.8e12. The products (~8.1e23) are far above 2^53; BigInt keeps them exact.
    const parts = allocate(900_000_000_000, [900_000_000_001, 899_999_999_999]);
    expect(parts.reduce((a, b) => a + b, 0)).toBe(900_000_000_000);
    // Exact shares 450,000,000,000.5 and 449,999,999,999.5: floors 450e9 and 449,999,999,999 (sum 899,999,999,999),
    // both remainders W/2 = 9e11 (a tie) → the 1 left goes to index 0.
    expect(parts).toEqual([450_000_000_001, 449_999_999_999]);
  });

  it('property: sums exactly, each part within one of its exact share, never above its weight', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 1, maxLength: 12 }), fc.nat(), (weights, r) => {
        const total = weights.reduce((a, b) => a + b, 0);
        const amount = total === 0 ? r % 100 : r % (total + 1); // at most the base, as applyOffers guarantees
        const parts = allocate(amount, weights);
        expect(parts).toHaveLength(weights.length);
        if (total === 0 || amount === 0) return void expect(parts.every((p) => p === 0)).toBe(true);
        expect(parts.reduce((a, b) => a + b, 0)).toBe(amount);
        parts.forEach((p, i) => {
          const exact = (amount * weights[i]!) / total;
          expect(Number.isInteger(p)).toBe(true);
          expect(p).toBeGreaterThanOrEqual(Math.floor(exact));
          expect(p).toBeLessThanOrEqual(Math.ceil(exact));
          expect(p).toBeLessThanOrEqual(weights[i]!);
        });
      }),
      { numRuns: 300 },
    );
  });
});

describe('percent_off', () => {
  it('category scope on a mixed cart: 12.5% of the one eligible line 1999, rounded half up to 250', () => {
    const o = offer({ type: 'percent_off', value: 12.5, maxDiscount: 1000, scope: { type: 'categories', categories: ['tops'] } });
    const cart = { lines: [line('TEE', 1, 1999), line('JEANS', 1, 8000), line('MUG', 1, 1200)], shipping: 499 };
    const r = ok(applyOffers(cart, [use(o)], PRODUCTS, D));
    // Eligible: TEE only (tops) = 1999. 12.5% = 1250 bp: 1999 × 1250 = 2,498,750 (= 249.875 minor units);
    // (2,498,750 + 5,000) / 10,000 = 250.375 → floor 250. Cap 1000 does not bind.
    expect(r.lines.map((l) => l.discount)).toEqual([250, 0, 0]);
    expect(r.applied[0]).toMatchObject({ lineDiscount: 250, shippingDiscount: 0, discount: 250, cost: 250, points: 0 });
    // Subtotal 1999 + 8000 + 1200 = 11,199; total = 11,199 − 250 + 499 − 0 = 11,448.
    expect(r).toMatchObject({ subtotal: 11_199, shipping: 499, shippingDiscount: 0, discountTotal: 250, total: 11_448 });
    expectConsistent(r);
  });

  it('an exact half rounds up, not to even and not down: 12.5% of 1988 = 248.5 → 249', () => {
    const o = offer({ type: 'percent_off', value: 12.5, scope: { type: 'categories', categories: ['tops'] } });
    // 1988 × 1250 = 2,485,000 (exactly 248.5); (2,485,000 + 5,000) / 10,000 = 249.0 → 249.
    // (Banker's rounding would give 248, truncation 248.)
    const r = ok(applyOffers({ lines: [line('TEE', 1, 1988), line('MUG', 1, 1200)], shipping: 0 }, [use(o)], PRODUCTS, D));
    expect(r.lines.map((l) => l.discount)).toEqual([249, 0]);
    expect(r.total).toBe(1988 + 1200 - 249);
    // And just below a half rounds down: 12.5% of 1987 = 248.375 → (2,483,750 + 5,000)/10,000 = 248.875 → 248.
    const r2 = ok(applyOffers({ lines: [line('TEE', 1, 1987)], shipping: 0 }, [use(o)], PRODUCTS, D));
    expect(r2.lines[0]!.discount).toBe(248);
  });

  it('the percentage is taken once on the eligible total, not per line (no per-line rounding drift)', () => {
    // Three lines of 5 at 10%: per line 0.5 → 1 each would be 3; once on 15: 1.5 → 2.
    const o = offer({ type: 'percent_off', value: 10 });
    const r = ok(applyOffers({ lines: [line('TEE', 1, 5), line('MUG', 1, 5), line('JEANS', 1, 5)], shipping: 0 }, [use(o)], PRODUCTS, D));
    // 15 × 1000 = 15,000; (15,000 + 5,000) / 10,000 = 2. Spread over 5:5:5 → 2·5/15 = 0.67 each, all rem 10 → idx 0, 1.
    expect(r.lines.map((l) => l.discount)).toEqual([1, 1, 0]);
    expect(r.discountTotal).toBe(2);
  });

  it('maxDiscount binds on a mixed-scope cart and the capped amount is spread by largest remainder', () => {
    const o = offer({ type: 'percent_off', value: 25, maxDiscount: 1500, scope: { type: 'categories', categories: ['tops'] } });
    const cart = { lines: [line('HOOD', 2, 6000), line('TEE', 1, 1999), line('JEANS', 1, 8000)], shipping: 0 };
    const r = ok(applyOffers(cart, [use(o)], PRODUCTS, D));
    // Eligible: HOOD 2 × 6000 = 12,000 and TEE 1999 → 13,999 (JEANS is bottoms).
    // 25% = 2500 bp: 13,999 × 2500 = 34,997,500; + 5,000 → 35,002,500 / 10,000 = 3500 → capped to 1500.
    // Spread 1500 over 12,000 : 1999 (total 13,999):
    //   1500 × 12,000 = 18,000,000 = 1285 × 13,999 + 11,285 → 1285 r 11,285
    //   1500 × 1999   =  2,998,500 =  214 × 13,999 +  2,714 →  214 r  2,714
    //   1285 + 214 = 1499, 1 left → larger remainder (HOOD) → 1286.
    expect(r.lines.map((l) => l.discount)).toEqual([1286, 214, 0]);
    expect(r.applied[0]!.lineDiscount).toBe(1500);
    // Subtotal 12,000 + 1999 + 8000 = 21,999; total 21,999 − 1500 = 20,499.
    expect(r).toMatchObject({ subtotal: 21_999, discountTotal: 1500, total: 20_499 });
    expectConsistent(r);
  });

  it('SKU scope: only the listed SKU is discounted (multi-unit line discounted as a whole)', () => {
    const o = offer({ type: 'percent_off', value: 20, scope: { type: 'skus', skus: ['MUG'] } });
    // MUG 3 × 1200 = 3600; 20% = 2000 bp: 3600 × 2000 = 7,200,000 → (7,200,000 + 5,000)/10,000 = 720.5 → 720.
    const r = ok(applyOffers({ lines: [line('TEE', 1, 1999), line('MUG', 3, 1200)], shipping: 0 }, [use(o)], PRODUCTS, D));
    expect(r.lines.map((l) => l.discount)).toEqual([0, 720]);
  });

  it('exact allocation with tied remainders: 10% of 3 × 333 → 100 → 34, 33, 33', () => {
    const o = offer({ type: 'percent_off', value: 10 });
    const r = ok(applyOffers({ lines: [line('TEE', 1, 333), line('MUG', 1, 333), line('JEANS', 1, 333)], shipping: 0 }, [use(o)], PRODUCTS, D));
    // Base 999; 999 × 1000 = 999,000; (999,000 + 5,000) / 10,000 = 100.4 → 100.
    // 100 × 333 = 33,300 = 33 × 999 + 333 for every line → 33 each (99), equal remainders 333 → the 1 left goes to line 0.
    expect(r.lines.map((l) => l.discount)).toEqual([34, 33, 33]);
    expect(r.lines.reduce((s, l) => s + l.discount, 0)).toBe(r.applied[0]!.lineDiscount);
    expect(r.applied[0]!.lineDiscount).toBe(100);
    expectConsistent(r);
  });

  it('exact allocation without ties: the remainder goes to the line with the largest fractional share (the last here)', () => {
    const o = offer({ type: 'percent_off', value: 15 });
    const r = ok(applyOffers({ lines: [line('TEE', 1, 1000), line('MUG', 1, 2500), line('JEANS', 3, 3333)], shipping: 0 }, [use(o)], PRODUCTS, D));
    // Base 1000 + 2500 + 9999 = 13,499; 15% = 1500 bp: 13,499 × 1500 = 20,248,500; + 5,000 → 20,253,500 / 10,000 = 2025.35 → 2025.
    // Spread 2025 over 1000 : 2500 : 9999 (total 13,499):
    //   2025 × 1000 =  2,025,000 =  150 × 13,499 +    150 →  150 r    150
    //   2025 × 2500 =  5,062,500 =  375 × 13,499 +    375 →  375 r    375
    //   2025 × 9999 = 20,247,975 = 1499 × 13,499 + 12,974 → 1499 r 12,974
    //   150 + 375 + 1499 = 2024, 1 left → largest remainder (JEANS) → 1500.
    expect(r.lines.map((l) => l.discount)).toEqual([150, 375, 1500]);
    expect(r.lines.reduce((s, l) => s + l.discount, 0)).toBe(2025);
    expectConsistent(r);
  });

  it('100% off is the whole eligible amount, never more', () => {
    const o = offer({ type: 'percent_off', value: 100, scope: { type: 'categories', categories: ['home'] } });
    const r = ok(applyOffers({ lines: [line('MUG', 2, 1200), line('TEE', 1, 1999)], shipping: 300 }, [use(o)], PRODUCTS, D));
    // 2400 × 10,000 bp = 24,000,000; + 5,000 → 2400.5 → 2400 = the whole MUG line.
    expect(r.lines.map((l) => l.discount)).toEqual([2400, 0]);
    expect(r.total).toBe(1999 + 300);
  });
});

describe('amount_off', () => {
  it('a fixed amount larger than the eligible subtotal discounts exactly the eligible subtotal', () => {
    const o = offer({ type: 'amount_off', value: 5000, scope: { type: 'categories', categories: ['bottoms'] } });
    const cart = { lines: [line('TEE', 1, 1999), line('JEANS', 1, 3000)], shipping: 499 };
    const r = ok(applyOffers(cart, [use(o)], PRODUCTS, D));
    // Eligible: JEANS 3000 < 5000 → discount min(5000, 3000) = 3000, all on JEANS, nothing on TEE.
    expect(r.lines.map((l) => l.discount)).toEqual([0, 3000]);
    expect(r.applied[0]).toMatchObject({ lineDiscount: 3000, cost: 3000, discount: 3000 });
    // Subtotal 1999 + 3000 = 4999; total 4999 − 3000 + 499 = 2498: the shipping fee is untouched.
    expect(r.total).toBe(2498);
    expectConsistent(r);
  });

  it('order scope: larger than the whole cart → every line at zero, never negative', () => {
    const o = offer({ type: 'amount_off', value: 100_000 });
    const r = ok(applyOffers({ lines: [line('TEE', 2, 1999), line('MUG', 1, 1200)], shipping: 0 }, [use(o)], PRODUCTS, D));
    expect(r.lines.map((l) => l.discount)).toEqual([3998, 1200]);
    expect(r.total).toBe(0);
    expectConsistent(r);
  });

  it('maxDiscount below the amount caps it: 1000 off capped to 700, spread 1999 : 8000', () => {
    const o = offer({ type: 'amount_off', value: 1000, maxDiscount: 700 });
    const r = ok(applyOffers({ lines: [line('TEE', 1, 1999), line('JEANS', 1, 8000)], shipping: 0 }, [use(o)], PRODUCTS, D));
    // 700 × 1999 = 1,399,300 = 139 × 9999 + 9,439 → 139 r 9,439
    // 700 × 8000 = 5,600,000 = 560 × 9999 +   560 → 560 r   560
    // 139 + 560 = 699, 1 left → TEE (remainder 9,439) → 140.
    expect(r.lines.map((l) => l.discount)).toEqual([140, 560]);
  });
});

describe('free_shipping', () => {
  it('waives the whole fee without maxDiscount; lines are untouched', () => {
    const o = offer({ type: 'free_shipping' });
    const r = ok(applyOffers({ lines: [line('TEE', 1, 1999)], shipping: 799 }, [use(o)], PRODUCTS, D));
    expect(r.lines.map((l) => l.discount)).toEqual([0]);
    expect(r.applied[0]).toMatchObject({ lineDiscount: 0, shippingDiscount: 799, discount: 799, cost: 799 });
    // Total 1999 + 799 − 799 = 1999.
    expect(r).toMatchObject({ shippingDiscount: 799, discountTotal: 799, total: 1999 });
    expectConsistent(r);
  });

  it('maxDiscount caps the waiver: 799 fee, at most 500 off → the shopper pays 299 shipping', () => {
    const o = offer({ type: 'free_shipping', maxDiscount: 500 });
    const r = ok(applyOffers({ lines: [line('TEE', 1, 1999)], shipping: 799 }, [use(o)], PRODUCTS, D));
    expect(r).toMatchObject({ shippingDiscount: 500, discountTotal: 500, total: 1999 + 299 });
    expect(r.applied[0]!.cost).toBe(500);
  });

  it('no shipping fee → a zero discount and zero cost (still applies)', () => {
    const o = offer({ type: 'free_shipping' });
    const r = ok(applyOffers({ lines: [line('TEE', 1, 1999)], shipping: 0 }, [use(o)], PRODUCTS, D));
    expect(r.applied[0]).toMatchObject({ shippingDiscount: 0, discount: 0, cost: 0 });
    expect(r).toMatchObject({ shippingDiscount: 0, discountTotal: 0, total: 1999 });
  });
});

describe('free_gift', () => {
  it('adds a gift line at the product price with an equal discount; costs unitCost + fulfilmentCost', () => {
    const o = offer({ type: 'free_gift', giftSku: 'GIFT' });
    const r = ok(applyOffers({ lines: [line('HOOD', 1, 6000)], shipping: 500 }, [use(o, 'iss_gift')], PRODUCTS, D));
    expect(r.giftLines).toEqual([{ sku: 'GIFT', quantity: 1, unitPrice: 1500, discount: 1500, issuanceId: 'iss_gift' }]);
    // GIFT costs the shop 350 + 50 = 400; the shopper saves its price, 1500.
    expect(r.applied[0]).toMatchObject({ giftValue: 1500, lineDiscount: 0, shippingDiscount: 0, discount: 1500, cost: 400, points: 0 });
    // The gift line nets to zero: goods lines, discountTotal and the total are unchanged.
    expect(r.lines.map((l) => l.discount)).toEqual([0]);
    expect(r).toMatchObject({ subtotal: 6000, discountTotal: 0, total: 6500 });
    expectConsistent(r);
  });

  it('a gift SKU missing from the catalog → OFFER_NOT_REDEEMABLE', () => {
    const o = offer({ type: 'free_gift', giftSku: 'NO-SUCH-GIFT' });
    expect(failure(applyOffers({ lines: [line('HOOD', 1, 6000)], shipping: 0 }, [use(o)], PRODUCTS, D))).toMatchObject({ index: 0, code: 'OFFER_NOT_REDEEMABLE' });
  });
});

describe('bundle', () => {
  const bundle = offer({ type: 'bundle', value: 15, bundleSkus: ['HOOD', 'JEANS'] }, 'ofr_bundle');

  it('one complete set: 15% of one hoodie + one jeans, other lines untouched', () => {
    const r = ok(applyOffers({ lines: [line('TEE', 1, 1999), line('HOOD', 1, 6000), line('JEANS', 1, 8000)], shipping: 0 }, [use(bundle)], PRODUCTS, D));
    // Set price 6000 + 8000 = 14,000; 15% = 1500 bp: 14,000 × 1500 = 21,000,000 → (21,000,000 + 5,000)/10,000 = 2100.5 → 2100.
    // Spread 6000 : 8000 → 900 and 1200 exactly.
    expect(r.lines.map((l) => l.discount)).toEqual([0, 900, 1200]);
    expect(r.applied[0]).toMatchObject({ lineDiscount: 2100, cost: 2100 });
    expect(r.total).toBe(1999 + 14_000 - 2100);
    expectConsistent(r);
  });

  it('two complete sets (the extra jeans is not part of a set)', () => {
    const r = ok(applyOffers({ lines: [line('HOOD', 2, 6000), line('JEANS', 3, 8000)], shipping: 0 }, [use(bundle)], PRODUCTS, D));
    // Sets = min(2 hoodies, 3 jeans) = 2. Weights: min(6000 × 2, 12,000) = 12,000 and min(8000 × 2, 24,000) = 16,000.
    // Base 28,000 × 1500 bp = 42,000,000 → 4200 (+0.5 → floor 4200). Spread 12,000 : 16,000 → 1800 and 2400.
    expect(r.lines.map((l) => l.discount)).toEqual([1800, 2400]);
    expect(r.discountTotal).toBe(4200);
    expectConsistent(r);
  });

  it('an incomplete bundle → BUNDLE_INCOMPLETE', () => {
    expect(failure(applyOffers({ lines: [line('HOOD', 2, 6000), line('TEE', 1, 1999)], shipping: 0 }, [use(bundle)], PRODUCTS, D))).toMatchObject({ index: 0, code: 'BUNDLE_INCOMPLETE' });
  });

  it('maxDiscount caps a bundle: 50% of 14,000 = 7000 capped to 1001, spread 6000 : 8000', () => {
    const o = offer({ type: 'bundle', value: 50, maxDiscount: 1001, bundleSkus: ['HOOD', 'JEANS'] });
    const r = ok(applyOffers({ lines: [line('HOOD', 1, 6000), line('JEANS', 1, 8000)], shipping: 0 }, [use(o)], PRODUCTS, D));
    // 1001 × 6000 = 6,006,000 = 429 × 14,000 + 0 → 429 r 0;  1001 × 8000 = 8,008,000 = 572 × 14,000 + 0 → 572. Exact: 1001.
    expect(r.lines.map((l) => l.discount)).toEqual([429, 572]);
  });

  // Sets count units across every line of a SKU, and each set is priced from the lines its units come from.
  it('the same SKU split over two lines counts toward complete sets like one line', () => {
    const split = ok(applyOffers({ lines: [line('HOOD', 1, 6000), line('HOOD', 1, 6000), line('JEANS', 2, 8000)], shipping: 0 }, [use(bundle)], PRODUCTS, D));
    const merged = ok(applyOffers({ lines: [line('HOOD', 2, 6000), line('JEANS', 2, 8000)], shipping: 0 }, [use(bundle)], PRODUCTS, D));
    expect(merged.discountTotal).toBe(4200);
    expect(split.discountTotal).toBe(merged.discountTotal);
  });

  // A SKU listed twice in bundleSkus means two units of it per set: one hoodie is not a set,
  // two are, and 75% of 2 × 6000 = 9000 never takes a line below zero.
  it('a repeated SKU in bundleSkus needs that many units and never discounts a line below zero', () => {
    const o = offer({ type: 'bundle', value: 75, bundleSkus: ['HOOD', 'HOOD'] });
    const one = applyOffers({ lines: [line('HOOD', 1, 6000)], shipping: 0 }, [use(o)], PRODUCTS, D);
    expect('failure' in one && one.failure.code).toBe('BUNDLE_INCOMPLETE');
    const r = ok(applyOffers({ lines: [line('HOOD', 2, 6000)], shipping: 0 }, [use(o)], PRODUCTS, D));
    expect(r.discountTotal).toBe(9000);
    expectConsistent(r);
  });
});

describe('loyalty_points and financing', () => {
  it('fixed points: value points at the default point value (1) → cost = points', () => {
    const o = offer({ type: 'loyalty_points', pointsMode: 'fixed', value: 500 });
    const r = ok(applyOffers({ lines: [line('HOOD', 1, 6000)], shipping: 0 }, [use(o)], PRODUCTS, D));
    expect(r.applied[0]).toMatchObject({ points: 500, cost: 500, discount: 0, lineDiscount: 0 });
    expect(r).toMatchObject({ points: 500, discountTotal: 0, total: 6000 });
  });

  it('fixed points at the offer’s point value: 333 points × 0.5 = 166.5 → 167 (rounded)', () => {
    const o = offer({ type: 'loyalty_points', value: 333, pointValue: 0.5 });
    const r = ok(applyOffers({ lines: [line('HOOD', 1, 6000)], shipping: 0 }, [use(o)], PRODUCTS, D));
    expect(r.applied[0]).toMatchObject({ points: 333, cost: 167 });
  });

  it('multiplier: (m − 1) × whole major units of what is left after earlier discounts', () => {
    const x3 = offer({ type: 'loyalty_points', pointsMode: 'multiplier', value: 3 });
    // Net 12,345 → floor(12,345 / 100) = 123 major units × 1 point × (3 − 1) = 246 points, cost 246 × 1.
    const r = ok(applyOffers({ lines: [line('HOOD', 1, 6000), line('TEE', 1, 6345)], shipping: 999 }, [use(x3)], PRODUCTS, D));
    expect(r.applied[0]).toMatchObject({ points: 246, cost: 246 });
    // 1.5× → 123 × 0.5 = 61.5 → floor 61.
    const x15 = offer({ type: 'loyalty_points', pointsMode: 'multiplier', value: 1.5 });
    expect(ok(applyOffers({ lines: [line('HOOD', 1, 6000), line('TEE', 1, 6345)], shipping: 0 }, [use(x15)], PRODUCTS, D)).points).toBe(61);
    // After a 2345 amount_off the net is 10,000 → 100 × 2 = 200 points.
    const off = offer({ type: 'amount_off', value: 2345 });
    const r2 = ok(applyOffers({ lines: [line('HOOD', 1, 6000), line('TEE', 1, 6345)], shipping: 0 }, [use(off), use(x3)], PRODUCTS, D));
    expect(r2.applied.map((a) => a.points)).toEqual([0, 200]);
    expect(r2.points).toBe(200);
  });

  it('financing: months × fee bps/month on the net, rounded half up', () => {
    // Default 50 bps/month × 3 months = 150 bps. Net 9999: 9999 × 150 = 1,499,850 (149.985) → (1,499,850 + 5,000)/10,000 = 150.485 → 150.
    const pay3 = offer({ type: 'financing', value: 3 });
    expect(ok(applyOffers({ lines: [line('TEE', 1, 9999)], shipping: 0 }, [use(pay3)], PRODUCTS, D)).applied[0]).toMatchObject({ cost: 150, discount: 0, points: 0 });
    // Exact half: 10,100 × 150 = 1,515,000 (151.5) → (1,515,000 + 5,000)/10,000 = 152.
    expect(ok(applyOffers({ lines: [line('TEE', 1, 10_100)], shipping: 0 }, [use(pay3)], PRODUCTS, D)).applied[0]!.cost).toBe(152);
    // The offer's own fee: 60 bps × 3 = 180 bps on 9999 = 1,799,820 → (1,799,820 + 5,000)/10,000 = 180.48 → 180.
    const pay3at60 = offer({ type: 'financing', value: 3, merchantFeeBpsPerMonth: 60 });
    const r = ok(applyOffers({ lines: [line('TEE', 1, 9999)], shipping: 250 }, [use(pay3at60)], PRODUCTS, D));
    expect(r.applied[0]!.cost).toBe(180);
    // Financing changes nothing the shopper pays.
    expect(r).toMatchObject({ discountTotal: 0, total: 9999 + 250 });
  });
});

describe('offers that cannot apply', () => {
  it('minimum cart not met → MIN_CART_NOT_MET; exactly the minimum is enough', () => {
    const o = offer({ type: 'percent_off', value: 10, minCartValue: 10_000 });
    const f = failure(applyOffers({ lines: [line('TEE', 1, 1999), line('JEANS', 1, 8000)], shipping: 5000 }, [use(o)], PRODUCTS, D));
    // Subtotal 9999 < 10,000 (shipping does not count).
    expect(f).toMatchObject({ index: 0, code: 'MIN_CART_NOT_MET' });
    const r = ok(applyOffers({ lines: [line('TEE', 1, 2000), line('JEANS', 1, 8000)], shipping: 0 }, [use(o)], PRODUCTS, D));
    expect(r.discountTotal).toBe(1000);
  });

  it('category scope not in the cart → SCOPE_NOT_IN_CART (percent and amount)', () => {
    const cart = { lines: [line('TEE', 1, 1999), line('JEANS', 1, 8000)], shipping: 0 };
    expect(failure(applyOffers(cart, [use(offer({ type: 'percent_off', value: 10, scope: { type: 'categories', categories: ['outerwear'] } }))], PRODUCTS, D)).code).toBe('SCOPE_NOT_IN_CART');
    expect(failure(applyOffers(cart, [use(offer({ type: 'amount_off', value: 500, scope: { type: 'skus', skus: ['MUG'] } }))], PRODUCTS, D)).code).toBe('SCOPE_NOT_IN_CART');
    // A SKU missing from the catalog has no category, so category scopes never cover it.
    const unknown = { lines: [line('UNKNOWN', 1, 1000)], shipping: 0 };
    expect(failure(applyOffers(unknown, [use(offer({ type: 'percent_off', value: 10, scope: { type: 'categories', categories: ['tops'] } }))], PRODUCTS, D)).code).toBe('SCOPE_NOT_IN_CART');
    // Eligible lines that are all free (unit price 0) leave nothing to discount either.
    const free = { lines: [line('TEE', 1, 0), line('JEANS', 1, 8000)], shipping: 0 };
    expect(failure(applyOffers(free, [use(offer({ type: 'percent_off', value: 10, scope: { type: 'categories', categories: ['tops'] } }))], PRODUCTS, D)).code).toBe('SCOPE_NOT_IN_CART');
  });

  it('content offers → OFFER_NOT_REDEEMABLE', () => {
    const o = offer({ type: 'content' });
    expect(failure(applyOffers({ lines: [line('TEE', 1, 1999)], shipping: 0 }, [use(o)], PRODUCTS, D))).toMatchObject({ index: 0, code: 'OFFER_NOT_REDEEMABLE' });
  });

  it('the failure names the index of the first offer that cannot apply', () => {
    const good = offer({ type: 'free_shipping' });
    const bad = offer({ type: 'percent_off', value: 10, minCartValue: 1_000_000 });
    expect(failure(applyOffers({ lines: [line('TEE', 1, 1999)], shipping: 500 }, [use(good), use(bad)], PRODUCTS, D))).toMatchObject({ index: 1, code: 'MIN_CART_NOT_MET' });
  });
});

describe('stacking: offers apply in order, each to what the previous ones left', () => {
  const cart = { lines: [line('HOOD', 1, 6000), line('MUG', 1, 4000)], shipping: 600 };
  const tenOff = offer({ type: 'amount_off', value: 1000 }, 'ofr_ten_off');
  const tenPct = offer({ type: 'percent_off', value: 10 }, 'ofr_ten_pct');

  it('amount first, then percent on what is left', () => {
    const r = ok(applyOffers(cart, [use(tenOff), use(tenPct)], PRODUCTS, D));
    // 1) 1000 over 6000 : 4000 → 600, 400 exactly; left 5400 and 3600.
    // 2) 10% of 9000 = 900 (9000 × 1000 = 9,000,000 → 900.5 → 900), spread 5400 : 3600 → 540, 360.
    // Lines: 600 + 540 = 1140 and 400 + 360 = 760; total discount 1900.
    expect(r.applied.map((a) => a.lineDiscount)).toEqual([1000, 900]);
    expect(r.lines.map((l) => l.discount)).toEqual([1140, 760]);
    expect(r).toMatchObject({ subtotal: 10_000, discountTotal: 1900, total: 10_000 - 1900 + 600 });
    expectConsistent(r);
  });

  it('percent first, then amount: order matters (2000 instead of 1900)', () => {
    const r = ok(applyOffers(cart, [use(tenPct), use(tenOff)], PRODUCTS, D));
    // 1) 10% of 10,000 = 1000 → 600, 400; left 5400, 3600. 2) 1000 → 600, 400. Lines 1200, 800.
    expect(r.applied.map((a) => a.lineDiscount)).toEqual([1000, 1000]);
    expect(r.lines.map((l) => l.discount)).toEqual([1200, 800]);
    expect(r.total).toBe(10_000 - 2000 + 600);
  });

  it('a scoped second offer sees only its lines’ remaining amounts; free shipping and points stack too', () => {
    const tops20 = offer({ type: 'percent_off', value: 20, scope: { type: 'categories', categories: ['tops'] } });
    const ship = offer({ type: 'free_shipping' });
    const pts = offer({ type: 'loyalty_points', pointsMode: 'multiplier', value: 2 });
    const r = ok(applyOffers(cart, [use(tenOff), use(tops20), use(ship), use(pts)], PRODUCTS, D));
    // 1) 1000 → 600 / 400; left 5400 / 3600.  2) 20% of HOOD's 5400 = 1080 (5400 × 2000 = 10,800,000 → 1080.5 → 1080).
    // 3) shipping 600 waived.  4) net 5400 − 1080 + 3600 = 7920 → 79 major units × (2 − 1) = 79 points.
    expect(r.lines.map((l) => l.discount)).toEqual([1680, 400]);
    expect(r.applied.map((a) => [a.lineDiscount, a.shippingDiscount, a.points])).toEqual([[1000, 0, 0], [1080, 0, 0], [0, 600, 0], [0, 0, 79]]);
    expect(r).toMatchObject({ discountTotal: 2680, shippingDiscount: 600, points: 79, total: 10_000 - 2080 + 600 - 600 });
    expectConsistent(r);
  });

  it('a second offer never pushes a line below zero: 90% then 50% of the rest', () => {
    const p90 = offer({ type: 'percent_off', value: 90 });
    const p50 = offer({ type: 'percent_off', value: 50 });
    const r = ok(applyOffers({ lines: [line('TEE', 1, 1001)], shipping: 0 }, [use(p90), use(p50)], PRODUCTS, D));
    // 1) 1001 × 9000 = 9,009,000 → (9,009,000 + 5,000)/10,000 = 901.4 → 901; left 100.
    // 2) 100 × 5000 = 500,000 → 50.5 → 50; left 50.
    expect(r.applied.map((a) => a.lineDiscount)).toEqual([901, 50]);
    expect(r.lines[0]!.discount).toBe(951);
    expect(r.total).toBe(50);
  });
});

describe('property: percent / amount / free-shipping offers on random carts', () => {
  const SKUS = ['TEE', 'HOOD', 'JEANS', 'MUG', 'GIFT', 'UNKNOWN'];
  const scopeArb = fc.oneof(
    fc.constant({ type: 'order' as const }),
    fc.record({ type: fc.constant('categories' as const), categories: fc.subarray(['tops', 'bottoms', 'home', 'gifts'], { minLength: 1 }) }),
    fc.record({ type: fc.constant('skus' as const), skus: fc.subarray(SKUS, { minLength: 1 }) }),
  );
  const offerArb = fc.oneof(
    fc.record({ type: fc.constant('percent_off' as const), value: fc.integer({ min: 1, max: 10_000 }).map((bp) => bp / 100), scope: scopeArb, maxDiscount: fc.option(fc.nat(50_000), { nil: undefined }) }),
    fc.record({ type: fc.constant('amount_off' as const), value: fc.integer({ min: 1, max: 200_000 }), scope: scopeArb, maxDiscount: fc.option(fc.nat(50_000), { nil: undefined }) }),
    fc.record({ type: fc.constant('free_shipping' as const), maxDiscount: fc.option(fc.nat(2_000), { nil: undefined }) }),
  );
  const cartArb = fc.record({
    lines: fc.array(fc.record({ sku: fc.constantFrom(...SKUS), quantity: fc.integer({ min: 1, max: 20 }), unitPrice: fc.oneof(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 5_000_000_000 })) }), { minLength: 1, maxLength: 8 }),
    shipping: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 5_000 })),
  }); // subtotal ≤ 8 × 20 × 5e9 = 8e11, inside the API's 9e11 cap that keeps basis-point products exact in doubles

  /** Whether a scope covers a SKU (order: all; skus: listed; categories: the catalog category, unknown SKUs none). */
  const covers = (scope: Offer['scope'], sku: string): boolean => {
    if (scope.type === 'order') return true;
    if (scope.type === 'skus') return scope.skus.includes(sku);
    const cat = PRODUCTS.get(sku)?.category;
    return cat !== undefined && scope.categories.includes(cat);
  };

  it('line discounts are integers in [0, line amount] that sum to the reported totals; total = subtotal − discounts + shipping − shipping discount', () => {
    fc.assert(
      fc.property(cartArb, fc.array(offerArb, { minLength: 1, maxLength: 4 }), (cart, specs) => {
        const offers = specs.map((s) => use(offer(s)));
        const r = applyOffers(cart, offers, PRODUCTS, D);
        if ('failure' in r) {
          // The only way these offers fail: nothing in scope (or nothing left in scope).
          expect(r.failure.code).toBe('SCOPE_NOT_IN_CART');
          return;
        }
        const sum = r.lines.reduce((s, l) => s + l.discount, 0);
        for (const l of r.lines) {
          expect(Number.isInteger(l.discount)).toBe(true);
          expect(l.discount).toBeGreaterThanOrEqual(0);
          expect(l.discount).toBeLessThanOrEqual(l.unitPrice * l.quantity);
        }
        expect(sum).toBe(r.applied.reduce((s, a) => s + a.lineDiscount, 0));
        expect(r.discountTotal).toBe(sum + r.shippingDiscount);
        expect(r.shippingDiscount).toBeGreaterThanOrEqual(0);
        expect(r.shippingDiscount).toBeLessThanOrEqual(cart.shipping);
        expect(r.total).toBe(r.subtotal - sum + r.shipping - r.shippingDiscount);
        expect(r.total).toBeGreaterThanOrEqual(0);
        specs.forEach((s, i) => {
          const a = r.applied[i]!;
          expect(Number.isInteger(a.lineDiscount) && Number.isInteger(a.shippingDiscount)).toBe(true);
          if (s.maxDiscount !== undefined) expect(a.lineDiscount + a.shippingDiscount).toBeLessThanOrEqual(s.maxDiscount);
          if (s.type === 'amount_off') expect(a.lineDiscount).toBeLessThanOrEqual(s.value);
          // Out-of-scope lines never get a discount from a scoped offer alone.
          if (specs.length === 1 && s.type !== 'free_shipping') {
            r.lines.forEach((l) => {
              if (!covers(offers[i]!.offer.scope, l.sku)) expect(l.discount).toBe(0);
            });
          }
        });
        // A single percent offer: exactly half-up basis points of the eligible amount, then the caps.
        if (specs.length === 1 && specs[0]!.type === 'percent_off') {
          const s = specs[0]!;
          const base = cart.lines.reduce((acc, l) => acc + (covers(offers[0]!.offer.scope, l.sku) ? BigInt(l.unitPrice * l.quantity) : 0n), 0n);
          const bp = BigInt(Math.round(s.value * 100));
          const raw = Number((base * bp + 5000n) / 10000n);
          expect(sum).toBe(Math.min(raw, s.maxDiscount ?? Infinity, Number(base)));
        }
      }),
      { numRuns: 500 },
    );
  });
});
