import type { Offer, Product } from '../core/catalog.js';
import { applyOffers, type CheckoutDefaults } from '../core/discount.js';
import type { Scenario } from './scenario.js';
import type { SimProduct, SimSession } from './shop.js';

/**
 * The true response model (documented in docs/simulator.md). For a session and an action (no
 * offer, or offers at given values) it gives the probability of buying and the order's
 * contribution margin. Only the simulator knows it; the engine sees outcomes.
 *
 *   perceived value v = line discount + shipping saved × perceived.shipping + gift price × perceived.gift
 *                       + points' cost × perceived.points + basket × perceived.financingPerMonth × months
 *   sure_thing, lost_cause: P = p0                      (an offer changes nothing: pure cost)
 *   persuadable:            P = p0 + (pmax − p0)(1 − e^(−s·v/basket))
 *   sleeping_dog:           P = p0 × (1 − penalty)      (any offer shown lowers it)
 *
 *   contribution margin CM = revenue − COGS − fulfilment − carrier cost − gift cost − points' cost − financing fee,
 *   revenue = what the shopper pays (goods after discounts + shipping fee after discounts).
 */

/** One offer at one value, as shown. */
export interface ShownOffer {
  offer: Offer;
  value: number | null;
}

/** An order's economics under an action. */
export interface OrderEconomics {
  subtotal: number;
  revenue: number;
  /** What the offers cost the shop (discounts, gift, points, financing fee); 0 when none applied. */
  offerCost: number;
  /** Line + shipping discount the shopper got. */
  discount: number;
  points: number;
  cm: number;
  /** Whether the offers applied to this basket (an offer whose scope or minimum the basket misses does not). */
  applied: boolean;
  /** What the shopper perceives the offers to be worth, minor units. */
  perceived: number;
}

/** The truth for one session under one action. */
export interface Truth {
  p: number;
  order: OrderEconomics;
  /** Expected contribution margin of the session: p × CM. */
  ecm: number;
}

/** Builds the model of a scenario's shop. */
export class ResponseModel {
  private readonly products: Map<string, Product & { fulfilmentCost: number }>;
  private readonly defaults: CheckoutDefaults;

  constructor(
    private readonly scenario: Scenario,
    products: SimProduct[],
  ) {
    this.products = new Map(products.map((p) => [p.sku, { ...p, fulfilmentCost: p.fulfilmentCost }]));
    this.defaults = { pointValue: scenario.pointValue, pointsPerMajorUnit: 1, merchantFeeBpsPerMonth: 50 };
  }

  /** The order a session's basket makes under `shown` (empty: no offer). */
  order(session: SimSession, shown: ShownOffer[]): OrderEconomics {
    const s = this.scenario;
    let cogs = 0;
    let subtotal = 0;
    for (const l of session.lines) {
      const p = this.products.get(l.sku)!;
      cogs += (p.unitCost + p.fulfilmentCost) * l.quantity;
      subtotal += l.unitPrice * l.quantity;
    }
    const plain = { subtotal, revenue: subtotal + s.shippingFee, offerCost: 0, discount: 0, points: 0, cm: subtotal + s.shippingFee - cogs - s.carrierCost, applied: false, perceived: 0 };
    if (shown.length === 0) return plain;
    const r = applyOffers(
      { lines: session.lines, shipping: s.shippingFee },
      shown.map((x, i) => ({ issuanceId: `sim${i}`, offer: x.offer, value: x.value })),
      this.products,
      this.defaults,
    );
    if ('failure' in r) return plain;
    let giftCost = 0;
    for (const g of r.giftLines) {
      const p = this.products.get(g.sku);
      if (p) giftCost += (p.unitCost + p.fulfilmentCost) * g.quantity;
    }
    const financingFee = r.applied.filter((a) => a.type === 'financing').reduce((a, x) => a + x.cost, 0);
    const pointsCost = Math.round(r.points * s.pointValue);
    const revenue = r.total;
    const k = s.perceived;
    let perceived = 0;
    for (const a of r.applied) {
      perceived += a.lineDiscount + a.shippingDiscount * k.shipping + a.giftValue * k.gift + a.points * s.pointValue * k.points;
      if (a.type === 'financing') perceived += subtotal * k.financingPerMonth * (a.value ?? 0);
    }
    return {
      perceived,
      subtotal,
      revenue,
      offerCost: r.discountTotal + giftCost + pointsCost + financingFee,
      discount: r.discountTotal,
      points: r.points,
      cm: revenue - cogs - s.carrierCost - giftCost - pointsCost - financingFee,
      applied: true,
    };
  }

  /** Probability that the session converts under `shown`. */
  conversion(session: SimSession, shown: ShownOffer[], order = this.order(session, shown)): number {
    const c = session.customer;
    const p0 = c.baseConversion;
    if (shown.length === 0) return p0;
    switch (c.segment) {
      case 'sure_thing':
      case 'lost_cause':
        return p0;
      case 'sleeping_dog':
        return p0 * (1 - (this.scenario.segments.sleeping_dog.offerPenalty ?? 0.3));
      case 'persuadable': {
        const pmax = Math.max(p0, this.scenario.segments.persuadable.maxConversion ?? 0.5);
        const rel = order.subtotal > 0 ? order.perceived / order.subtotal : 0;
        return p0 + (pmax - p0) * (1 - Math.exp(-c.sensitivity * rel));
      }
    }
  }

  /** Probability, order and expected contribution margin of the session under `shown`. */
  truth(session: SimSession, shown: ShownOffer[]): Truth {
    const order = this.order(session, shown);
    const p = this.conversion(session, shown, order);
    return { p, order, ecm: p * order.cm };
  }
}
