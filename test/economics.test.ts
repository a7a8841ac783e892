import { describe, expect, it } from 'vitest';
import { OfferSpecSchema, type Offer, type Product } from '../src/core/catalog.js';
import { marginPctAfter, offerEconomics, percentOf, priceBasket, round2 } from '../src/core/economics.js';
import { ResponseModelSchema } from '../src/core/catalog.js';

const products = new Map<string, Product>(
  [
    { sku: 'SHIRT', category: 'tops', price: 2999, unitCost: 1000, fulfilmentCost: 200 },
    { sku: 'JEANS', category: 'bottoms', price: 7999, unitCost: 3000, fulfilmentCost: 300 },
    { sku: 'GIFT', category: 'gifts', price: 1500, unitCost: 400, fulfilmentCost: 50 },
  ].map((p) => [p.sku, p]),
);
const model = ResponseModelSchema.parse({});
const defaults = { shippingCost: 500, pointValue: 1, pointsPerMajorUnit: 1, merchantFeeBpsPerMonth: 50 };
const offer = (spec: Record<string, unknown>): Offer => ({ ...OfferSpecSchema.parse({ name: 't', ...spec }), id: 'ofr_t', status: 'live', version: 1, createdAt: '', updatedAt: '' });
const cart = priceBasket(
  [
    { sku: 'SHIRT', quantity: 3, unitPrice: 2999 },
    { sku: 'JEANS', quantity: 1, unitPrice: 7999 },
  ],
  695,
  products,
  model,
);

describe('offer arithmetic in integer minor units (rounding: half up, once per eligible subtotal)', () => {
  it('prices the cart and its contribution margin', () => {
    expect(cart.subtotal).toBe(3 * 2999 + 7999); // 16996
    expect(cart.margin).toBe(3 * (2999 - 1200) + (7999 - 3300)); // 10096
  });

  it('rounds percentages half up on the whole eligible subtotal', () => {
    expect(percentOf(16996, 15)).toBe(2549); // 2549.4
    expect(percentOf(8997, 12.5)).toBe(1125); // 1124.625
    expect(percentOf(10, 5)).toBe(1); // 0.5 → 1
    expect(percentOf(9, 5)).toBe(0); // 0.45 → 0
  });

  it('percent off across mixed-scope carts only discounts lines in scope, capped by maxDiscount', () => {
    const tops = offer({ type: 'percent_off', value: 15, scope: { type: 'categories', categories: ['tops'] } });
    expect(offerEconomics(tops, 15, cart, products, defaults)).toMatchObject({ discount: 1350, cost: 1350, priceReduction: 1350 }); // 15% of 8997 = 1349.55
    const capped = offer({ type: 'percent_off', value: 15, maxDiscount: 1000, scope: { type: 'skus', skus: ['SHIRT', 'JEANS'] } });
    expect(offerEconomics(capped, 15, cart, products, defaults).discount).toBe(1000);
  });

  it('a fixed amount larger than the eligible subtotal is limited to that subtotal', () => {
    const big = offer({ type: 'amount_off', value: 10000, scope: { type: 'skus', skus: ['JEANS'] } });
    expect(offerEconomics(big, 10000, cart, products, defaults)).toMatchObject({ discount: 7999, cost: 7999 });
  });

  it('free shipping forgoes the cart shipping fee, else the offer or default cost', () => {
    expect(offerEconomics(offer({ type: 'free_shipping' }), 0, cart, products, defaults)).toMatchObject({ discount: 695, cost: 695, priceReduction: 0 });
    const noFee = priceBasket([{ sku: 'SHIRT', quantity: 1, unitPrice: 2999 }], undefined, products, model);
    expect(offerEconomics(offer({ type: 'free_shipping', shippingCost: 450 }), 0, noFee, products, defaults).cost).toBe(450);
    expect(offerEconomics(offer({ type: 'free_shipping' }), 0, noFee, products, defaults).cost).toBe(500);
  });

  it('a free gift costs its unit and fulfilment cost and is worth its price to the shopper', () => {
    expect(offerEconomics(offer({ type: 'free_gift', giftSku: 'GIFT' }), 0, cart, products, defaults)).toMatchObject({ discount: 0, cost: 450, benefit: 1500 });
  });

  it('a bundle discounts one unit of each bundle SKU and needs all of them', () => {
    const bundle = offer({ type: 'bundle', value: 20, bundleSkus: ['SHIRT', 'JEANS'] });
    expect(offerEconomics(bundle, 20, cart, products, defaults)).toMatchObject({ discount: 2200, applicable: true }); // 20% of 10998 = 2199.6
    const shirtOnly = priceBasket([{ sku: 'SHIRT', quantity: 2, unitPrice: 2999 }], undefined, products, model);
    expect(offerEconomics(bundle, 20, shirtOnly, products, defaults)).toMatchObject({ applicable: false, notApplicableReason: 'BUNDLE_INCOMPLETE' });
  });

  it('loyalty points: fixed or a multiplier on base points, costed at the point value', () => {
    expect(offerEconomics(offer({ type: 'loyalty_points', value: 500, pointValue: 0.5 }), 500, cart, products, defaults)).toMatchObject({ points: 500, cost: 250 });
    // 169 base points (1 per whole major unit of 169.96), 3x adds 2 × 169 = 338 extra.
    expect(offerEconomics(offer({ type: 'loyalty_points', pointsMode: 'multiplier', value: 3 }), 3, cart, products, defaults)).toMatchObject({ points: 338, cost: 338 });
  });

  it('financing costs the merchant fee per month of the plan', () => {
    expect(offerEconomics(offer({ type: 'financing', value: 6, merchantFeeBpsPerMonth: 40 }), 6, cart, products, defaults).cost).toBe(408); // 2.4% of 16996 = 407.9
  });

  it('margin after offers is measured on net revenue', () => {
    expect(marginPctAfter(cart, 1350, 1350)).toBeCloseTo(((10096 - 1350) / (16996 - 1350)) * 100, 10);
    expect(marginPctAfter(cart, 0, 16996)).toBe(-Infinity);
  });

  it('scores round to two decimals and never to -0, which a stored log would read back as 0', () => {
    expect(Object.is(round2(-0.004), 0)).toBe(true);
    expect(Object.is(round2(-0), 0)).toBe(true);
    expect(round2(-0.006)).toBe(-0.01);
    expect(round2(12.345)).toBe(12.35);
  });
});
