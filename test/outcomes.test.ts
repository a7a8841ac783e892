import { describe, expect, it } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import type { DecisionResponse, OfferpilotError } from '../src/index.js';
import { BACKENDS, createTestEngine, type TestEngine } from './helpers/backends.js';
import { codeOf } from './helpers/errors.js';

const DAY = 86_400_000;
const products = [
  { sku: 'SHIRT', category: 'apparel', price: 4000, unitCost: 1500, fulfilmentCost: 200 },
  { sku: 'MUG', category: 'home', price: 1500, unitCost: 500, fulfilmentCost: 100 },
  { sku: 'GIFT', category: 'home', price: 800, unitCost: 200, fulfilmentCost: 50 },
  { sku: 'TOY', category: 'toys', price: 2000, unitCost: 800, fulfilmentCost: 100 },
];
const cart = { lines: [{ sku: 'SHIRT', quantity: 2, unitPrice: 4000 }, { sku: 'MUG', quantity: 1, unitPrice: 1500 }], shipping: 499 };

async function setup(backend: (typeof BACKENDS)[number], offers: unknown[], campaign: Record<string, unknown> = {}): Promise<TestEngine> {
  const t = await createTestEngine(backend);
  await importCatalog(t.engine.catalog, {
    products,
    offers,
    campaigns: [{ id: 'cmp_web', status: 'live', name: 'Web', placements: ['cart', 'email_weekly'], offers: (offers as Array<{ id: string }>).map((o) => o.id), policy: { type: 'static' }, holdoutPct: 0, ...campaign }],
  });
  return t;
}


const pct10 = { id: 'ofr_p10', status: 'live', name: '10% off', type: 'percent_off', value: 10, expectedLift: 1, caps: { redemptions: 5 }, budget: { total: 100_000 } };

for (const backend of BACKENDS) {
  describe(`outcomes: events, wallet, redemption [${backend}]`, () => {
    it('decide → impression → redeem → order: attributed, counted once, wallet and liabilities move', async () => {
      const t = await setup(backend, [pct10]);
      try {
        const e = t.engine;
        const d = await e.decide({ customerId: 'alice', placement: 'cart', channel: 'web', cart });
        expect(d.offers).toHaveLength(1);
        const offer = d.offers[0]!;
        expect(offer.code).toBeNull(); // web: token only
        const wallet = await e.wallet.list('alice');
        expect(wallet.entries.map((w) => w.issuanceId)).toEqual([offer.issuanceId]);

        const at = (ms: number) => new Date(t.clock.now() + ms).toISOString();
        const batch = {
          events: [
            { id: 'ev1', type: 'impression', customerId: 'alice', occurredAt: at(1000), decisionId: d.decisionId, offerId: offer.offerId },
            { id: 'ev2', type: 'click', customerId: 'alice', occurredAt: at(2000), token: offer.token },
            { id: 'ev3', type: 'add_to_cart', customerId: 'alice', occurredAt: at(3000), sku: 'MUG', quantity: 1, unitPrice: 1500 },
          ],
        };
        expect(await e.events.ingest(batch)).toEqual({ accepted: 3, duplicates: 0, rejected: 0, quarantined: 0, attributed: 3, results: [] });
        // Resending is a no-op.
        expect(await e.events.ingest(batch)).toMatchObject({ accepted: 0, duplicates: 3, rejected: 0, quarantined: 0, attributed: 3, results: [0, 1, 2].map((index) => ({ index, status: 'duplicate' })) });

        const red = await e.wallet.redeem({ orderId: 'o-1', customerId: 'alice', channel: 'app', tokens: [offer.token], cart });
        expect(red.status).toBe('applied');
        // 10% of 9500 = 950, spread over the lines by remaining amount: 8000 → 800, 1500 → 150.
        expect(red.discountTotal).toBe(950);
        expect(red.lines.map((l) => l.discount)).toEqual([800, 150]);
        expect(red.total).toBe(9500 - 950 + 499);
        // Idempotent per order id.
        const again = await e.wallet.redeem({ orderId: 'o-1', customerId: 'alice', channel: 'app', tokens: [offer.token], cart });
        expect(again.replayed).toBe(true);
        expect(again.redemptionId).toBe(red.redemptionId);
        // The same token on another order is refused.
        expect(await codeOf(e.wallet.redeem({ orderId: 'o-2', customerId: 'alice', channel: 'web', tokens: [offer.token], cart }))).toBe('TOKEN_ALREADY_REDEEMED');
        expect((await e.wallet.list('alice')).entries).toEqual([]);

        const order = { id: 'ev4', type: 'order', customerId: 'alice', occurredAt: at(5000), orderId: 'o-1', lines: cart.lines, shipping: 499, discount: 950, tokens: [offer.token] };
        expect((await e.events.ingest({ events: [order] })).accepted).toBe(1);
        // The same order under a new event id is stored as an event but counted once.
        await e.events.ingest({ events: [{ ...order, id: 'ev4-resent' }] });
        const f = await e.features('alice');
        // Paid: 9,500 + 499 shipping − 950 = 9,049; depth 950 / 9,999 = 9.5%.
        expect(f).toMatchObject({ orders: 1, monetary: 9049, aov: 9049, cohort: 'engaged_30', couponAffinity: 1, discountDepthPct: 9.5, impressions30d: 1 });

        const counters = await t.store.readCounters(['r:ofr_p10', 'b:ofr_p10']);
        expect(counters.get('r:ofr_p10')).toBe(1);
        expect(counters.get('b:ofr_p10')).toBe(950);

        // Rollback (cancelled order): the offer returns to the wallet; caps and budget go back to the reservation.
        const rb = await e.wallet.rollback(red.redemptionId);
        expect(rb.status).toBe('rolled_back');
        expect((await e.wallet.rollback(red.redemptionId)).status).toBe('rolled_back');
        expect((await e.wallet.list('alice')).entries.map((w) => w.issuanceId)).toEqual([offer.issuanceId]);
        const after = await t.store.readCounters(['r:ofr_p10', 'b:ofr_p10']);
        expect(after.get('r:ofr_p10')).toBe(0);
        expect(after.get('b:ofr_p10')).toBe(offer.discount); // the reservation made at issue

        const rep = await e.liabilities({});
        const o = rep.offers.find((x) => x.offerId === 'ofr_p10')!;
        expect(o.days[0]).toMatchObject({ issued: { count: 1, liability: offer.discount }, redeemed: { count: 1, cost: 950 }, rolledBack: { count: 1, cost: 950 } });
        expect(o.outstanding).toBe(offer.discount);
      } finally {
        await t.close();
      }
    });

    it('holdout and treatment outcomes are attributed the same way, within the campaign window', async () => {
      const t = await setup(backend, [pct10], { holdoutPct: 50, attributionWindow: '3d' });
      try {
        const e = t.engine;
        const ds = [];
        for (let i = 0; i < 20; i++) ds.push(await e.decide({ customerId: `c${i}`, placement: 'cart', channel: 'web', cart }));
        expect(new Set(ds.map((d) => d.holdout))).toEqual(new Set([true, false]));
        const events = ds.map((d, i) => ({
          id: `o${i}`,
          type: 'order',
          customerId: `c${i}`,
          // Even customers buy inside the 3-day window, odd ones after it.
          occurredAt: new Date(t.clock.now() + (i % 2 === 0 ? 2 : 4) * DAY).toISOString(),
          orderId: `order-${i}`,
          lines: [{ sku: 'MUG', quantity: 1, unitPrice: 1500 }],
        }));
        t.clock.advance(5 * DAY);
        const r = await e.events.ingest({ events });
        expect(r.attributed).toBe(10);
        const rows = await t.store.decisionRefs(ds.map((d) => d.decisionId));
        expect(rows).toHaveLength(20);
        for (const [i, d] of ds.entries()) {
          const counts = await t.store.eventCounts(`c:c${i}`);
          expect(counts.order).toBe(1);
          void d;
        }
      } finally {
        await t.close();
      }
    });

    it('e-mail decisions carry a coupon code that redeems the same wallet entry on the web', async () => {
      const t = await setup(backend, [{ ...pct10, channels: ['email', 'web'] }]);
      try {
        const e = t.engine;
        await e.putCustomer('bob', { consent: { email: true } });
        const d = await e.decide({ customerId: 'bob', placement: 'email_weekly', channel: 'email' });
        const code = d.offers[0]!.code!;
        expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
        expect((await e.wallet.list('bob')).entries[0]!.code).toBe(code);
        // Typed sloppily: lower case, no dashes.
        const red = await e.wallet.redeem({ orderId: 'b-1', customerId: 'bob', channel: 'web', tokens: [code.toLowerCase().replace(/-/g, '')], cart });
        expect(red.offers[0]!.issuanceId).toBe(d.offers[0]!.issuanceId);
        expect(await codeOf(e.wallet.redeem({ orderId: 'b-2', customerId: 'bob', channel: 'web', tokens: [d.offers[0]!.token], cart }))).toBe('TOKEN_ALREADY_REDEEMED');
        expect(await codeOf(e.wallet.redeem({ orderId: 'b-3', customerId: 'bob', channel: 'web', tokens: ['AAAA-BBBB-CCCC'], cart }))).toBe('TOKEN_INVALID');
      } finally {
        await t.close();
      }
    });

    it('validation: customer, channel, minimum cart, scope, stacking and forged tokens', async () => {
      const t = await setup(backend, [
        { id: 'ofr_a', status: 'live', name: 'A', type: 'amount_off', value: 500, stackingGroup: 'g', minCartValue: 5000, expectedLift: 2 },
        { id: 'ofr_b', status: 'live', name: 'B', type: 'percent_off', value: 5, stackingGroup: 'g', channels: ['web'], expectedLift: 1 },
        { id: 'ofr_c', status: 'live', name: 'C', type: 'percent_off', value: 5, scope: { type: 'categories', categories: ['toys'] }, expectedLift: 2 },
      ], { maxOffers: 3 });
      try {
        const e = t.engine;
        const withToy = { lines: [...cart.lines, { sku: 'TOY', quantity: 1, unitPrice: 2000 }] };
        const d = await e.decide({ customerId: 'carol', placement: 'cart', channel: 'web', cart: withToy });
        const tok = Object.fromEntries(d.offers.map((o) => [o.offerId, o.token]));
        expect(Object.keys(tok).sort()).toEqual(['ofr_a', 'ofr_c']);
        const d2 = await e.decide({ customerId: 'dave', placement: 'cart', channel: 'web', cart: withToy });
        const daveB = d2.offers.find((o) => o.offerId === 'ofr_a')!.token!;
        const small = { lines: [{ sku: 'MUG', quantity: 1, unitPrice: 1500 }] };
        const r = (tokens: string[], over: Record<string, unknown> = {}) => codeOf(e.wallet.redeem({ orderId: `x${Math.random()}`, customerId: 'carol', channel: 'web', tokens, cart, ...over }));
        expect(await r([daveB])).toBe('TOKEN_NOT_FOR_CUSTOMER');
        expect(await r([tok.ofr_a!], { cart: small })).toBe('MIN_CART_NOT_MET');
        expect(await r([tok.ofr_c!])).toBe('SCOPE_NOT_IN_CART');
        expect(await r([tok.ofr_a!, tok.ofr_a!])).toBe('NOT_STACKABLE');
        const forged = tok.ofr_a!.slice(0, -3) + (tok.ofr_a!.endsWith('AAA') ? 'BBB' : 'AAA');
        expect(await r([forged])).toBe('TOKEN_INVALID');
        // Nothing was redeemed by the failures.
        expect((await e.wallet.list('carol')).entries).toHaveLength(2);
      } finally {
        await t.close();
      }
    });

    it('expiry books breakage and releases the reservation; an expired token is refused', async () => {
      const t = await setup(backend, [{ ...pct10, expiresAfter: '1d' }]);
      try {
        const e = t.engine;
        const d = await e.decide({ customerId: 'erin', placement: 'cart', channel: 'web', cart });
        const reserved = (await t.store.readCounters(['b:ofr_p10'])).get('b:ofr_p10');
        expect(reserved).toBe(d.offers[0]!.discount);
        t.clock.advance(2 * DAY);
        expect(await codeOf(e.wallet.redeem({ orderId: 'e-1', customerId: 'erin', channel: 'web', tokens: [d.offers[0]!.token], cart }))).toBe('TOKEN_EXPIRED');
        const rep = await e.liabilities({});
        expect(rep.totals).toMatchObject({ outstanding: 0, breakage: reserved, expired: 1 });
        expect((await t.store.readCounters(['b:ofr_p10'])).get('b:ofr_p10')).toBe(0);
        // A second sweep finds nothing more; one after a later expiry finds just that one.
        expect((await e.liabilities({})).totals.expired).toBe(1);
        await e.decide({ customerId: 'erin2', placement: 'cart', channel: 'web', cart });
        t.clock.advance(2 * DAY);
        const later = await e.liabilities({});
        expect(later.totals).toMatchObject({ expired: 2, outstanding: 0, issued: 2 });
        expect(later.offers[0]!.days.map((d) => d.expired.count)).toEqual([0, 1, 0, 1]);
      } finally {
        await t.close();
      }
    });

    it('erasure removes profile, features and identifiers but keeps anonymised outcomes', async () => {
      const t = await setup(backend, [pct10]);
      try {
        const e = t.engine;
        await e.putCustomer('frank', { traits: { email: 'frank@example.com' }, consent: { personalization: true } });
        const fd = await e.decide({ customerId: 'frank', anonymousId: 'device-123', placement: 'cart', channel: 'web', cart });
        await e.events.ingest({ events: [{ id: 'fa', type: 'order', anonymousId: 'device-123', occurredAt: new Date(t.clock.now()).toISOString(), orderId: 'fo-0', lines: [{ sku: 'MUG', quantity: 1, unitPrice: 1500 }] }] });
        expect((await e.features({ anonymousId: 'device-123' })).orders).toBe(1);
        await e.events.ingest({ events: [{ id: 'f1', type: 'order', customerId: 'frank', occurredAt: new Date(t.clock.now()).toISOString(), orderId: 'fo-1', lines: [{ sku: 'MUG', quantity: 1, unitPrice: 1500 }] }] });
        expect((await e.features('frank')).orders).toBe(1);
        expect(await e.eraseCustomer('frank')).toEqual({ erased: true });
        expect(await codeOf(e.getCustomer('frank'))).toBe('CUSTOMER_NOT_FOUND');
        expect((await e.features('frank')).orders).toBe(0);
        expect((await e.wallet.list('frank')).entries).toEqual([]);
        expect(await t.store.eventCounts('c:frank')).toEqual({});
        const decisions = await t.store.listDecisions({ limit: 10 });
        expect(decisions).toHaveLength(1);
        expect(decisions[0]!.body).not.toContain('frank');
        expect(decisions[0]!.body).not.toContain('device-123');
        // Tokens carry the subject they were issued to (base64): gone from the log too.
        const logged = await e.getDecision(fd.decisionId);
        expect(logged.offers.map((o) => o.token)).toEqual(['']);
        // The device seen with the customer goes with it.
        expect((await e.features({ anonymousId: 'device-123' })).orders).toBe(0);
        const rep = await e.liabilities({});
        expect(rep.totals.issued).toBe(1);
      } finally {
        await t.close();
      }
    });

    it('a retried order is answered with its first redemption even when the cap is then full', async () => {
      const t = await setup(backend, [{ ...pct10, caps: { redemptions: 1 } }]);
      try {
        const e = t.engine;
        const d = await e.decide({ customerId: 'gina', placement: 'cart', channel: 'web', cart });
        const body = { orderId: 'g-1', customerId: 'gina', channel: 'web', tokens: [d.offers[0]!.token], cart };
        const [a, b] = await Promise.all([e.wallet.redeem(body), e.wallet.redeem(body)]);
        expect(a.redemptionId).toBe(b.redemptionId);
        expect([a.replayed ?? false, b.replayed ?? false].sort()).toEqual([false, true]);
        // Same order id, other customer: a conflict, not someone else's receipt.
        expect(await codeOf(e.wallet.redeem({ ...body, customerId: 'mallory' }))).toBe('ORDER_CONFLICT');
      } finally {
        await t.close();
      }
    });

    it("caps bind at their current value: lowering an offer's redemption cap applies to offers already issued", async () => {
      const t = await setup(backend, [{ ...pct10, caps: { redemptions: 10 } }]);
      try {
        const e = t.engine;
        const ds: DecisionResponse[] = [];
        for (const c of ['h1', 'h2', 'h3']) ds.push(await e.decide({ customerId: c, placement: 'cart', channel: 'web', cart }));
        const current = await e.catalog.getOffer('ofr_p10');
        const { id: _id, status: _s, version: _v, createdAt: _c, updatedAt: _u, ...spec } = current;
        await e.catalog.updateOffer('ofr_p10', { ...spec, caps: { redemptions: 1 } });
        const r = (i: number) => codeOf(e.wallet.redeem({ orderId: `h-${i}`, customerId: `h${i + 1}`, channel: 'web', tokens: [ds[i]!.offers[0]!.token], cart }));
        expect(await r(0)).toBeNull();
        expect(await r(1)).toBe('REDEMPTION_CAP_REACHED');
      } finally {
        await t.close();
      }
    });

    it('window attribution takes the newest decision whose own campaign window covers the event', async () => {
      const t = await createTestEngine(backend);
      try {
        await importCatalog(t.engine.catalog, {
          products,
          offers: [pct10, { ...pct10, id: 'ofr_b' }],
          campaigns: [
            { id: 'cmp_long', status: 'live', name: 'Long', placements: ['home'], offers: ['ofr_p10'], policy: { type: 'static' }, holdoutPct: 0, attributionWindow: '30d' },
            { id: 'cmp_short', status: 'live', name: 'Short', placements: ['cart'], offers: ['ofr_b'], policy: { type: 'static' }, holdoutPct: 0, attributionWindow: '1d' },
          ],
        });
        const e = t.engine;
        const long = await e.decide({ customerId: 'ivy', placement: 'home', channel: 'web', cart });
        t.clock.advance(DAY);
        await e.decide({ customerId: 'ivy', placement: 'cart', channel: 'web', cart });
        t.clock.advance(3 * DAY);
        const r = await e.events.ingest({ events: [{ id: 'ivy-click', type: 'click', customerId: 'ivy', occurredAt: new Date(t.clock.now()).toISOString() }] });
        expect(r.attributed).toBe(1);
        // A refund is credited where its order was.
        await e.events.ingest({ events: [{ id: 'ivy-o', type: 'order', customerId: 'ivy', occurredAt: new Date(t.clock.now()).toISOString(), orderId: 'ivy-1', lines: [{ sku: 'MUG', quantity: 1, unitPrice: 1500 }] }] });
        t.clock.advance(40 * DAY);
        expect((await e.events.ingest({ events: [{ id: 'ivy-r', type: 'refund', customerId: 'ivy', occurredAt: new Date(t.clock.now()).toISOString(), orderId: 'ivy-1', amount: 500 }] })).attributed).toBe(1);
        const rows = await t.store.ordersByIds(['ivy-1']);
        expect(rows[0]!.decisionId).toBe(long.decisionId);
      } finally {
        await t.close();
      }
    });
  });
}
