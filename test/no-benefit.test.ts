import { describe, expect, it } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import type { OfferpilotError } from '../src/index.js';
import { BACKENDS, createTestEngine, type TestEngine } from './helpers/backends.js';
import { codeOf } from './helpers/errors.js';

// Regression tests for issue 10, items 7 (zero-benefit incentives were issued; content got
// tokens and coupon codes; no maxCartValue) and 8 (traits.propensity silently set the baseline).

const products = [{ sku: 'SHIRT', category: 'apparel', price: 4000, unitCost: 1500, fulfilmentCost: 200 }];
const cart = (quantity: number, shipping?: number) => ({ lines: [{ sku: 'SHIRT', quantity, unitPrice: 4000 }], ...(shipping !== undefined ? { shipping } : {}) });

async function setup(backend: (typeof BACKENDS)[number], offers: unknown[], campaign: Record<string, unknown> = {}): Promise<TestEngine> {
  const t = await createTestEngine(backend);
  await importCatalog(t.engine.catalog, {
    products,
    offers,
    campaigns: [{ id: 'cmp_n', status: 'live', name: 'N', placements: ['cart', 'email_weekly'], offers: (offers as Array<{ id: string }>).map((o) => o.id), holdoutPct: 0, maxOffers: 3, ...campaign }],
  });
  return t;
}


const reasonsOf = (d: { candidates: Array<{ offerId: string; reasons: Array<{ code: string }> }> }, id: string) => d.candidates.find((c) => c.offerId === id)!.reasons.map((r) => r.code);

for (const backend of BACKENDS) {
  describe(`no zero-benefit incentive is issued [${backend}]`, () => {
    it('free shipping on a cart with no shipping fee and a discount that rounds to 0 are excluded with NO_BENEFIT: no entry, no token, no reservation', async () => {
      const t = await setup(backend, [
        { id: 'ofr_ship', status: 'live', name: 'Free shipping', type: 'free_shipping', expectedLift: 1, budget: { total: 100_000 } },
        { id: 'ofr_tiny', status: 'live', name: 'Tiny', type: 'percent_off', value: 0.01, expectedLift: 1, budget: { total: 100_000 } },
      ]);
      try {
        const d = await t.engine.decide({ customerId: 'alice', placement: 'cart', channel: 'web', cart: cart(1, 0) });
        expect(d.offers).toEqual([]);
        expect(reasonsOf(d, 'ofr_ship')).toEqual(['NO_BENEFIT']);
        expect(reasonsOf(d, 'ofr_tiny')).toEqual(['NO_BENEFIT']);
        expect((await t.engine.wallet.list('alice')).entries).toEqual([]);
        const c = await t.store.readCounters(['g:ofr_ship', 'b:ofr_ship', 'g:ofr_tiny']);
        expect([...c.values()].every((v) => v === 0)).toBe(true);
        // With a shipping fee to waive, free shipping is worth something again.
        const paid = await t.engine.decide({ customerId: 'alice', placement: 'cart', channel: 'web', cart: cart(1, 499) });
        expect(paid.offers.map((o) => o.offerId)).toEqual(['ofr_ship']);
      } finally {
        await t.close();
      }
    });

    it('content is shown but not issued as an incentive: no token, no code, no wallet entry, no liability; its caps still count', async () => {
      const t = await setup(backend, [{ id: 'ofr_look', status: 'live', name: 'Lookbook', type: 'content', caps: { frequency: { count: 2, window: '1d' } } }]);
      try {
        const e = t.engine;
        const req = { customerId: 'bob', placement: 'email_weekly', channel: 'email', consent: { email: true } };
        const d = await e.decide(req);
        expect(d.offers).toHaveLength(1);
        expect(d.offers[0]).toMatchObject({ offerId: 'ofr_look', token: null, code: null, fromWallet: false });
        expect((await e.wallet.list('bob')).entries).toEqual([]);
        const rep = await e.liabilities({});
        expect(rep.totals.outstanding).toBe(0);
        expect(rep.totals.issued).toBe(0);
        // Shown, not held: the second showing is recorded too, and the frequency cap binds on the third.
        expect((await e.decide(req)).offers).toHaveLength(1);
        const third = await e.decide(req);
        expect(third.offers).toEqual([]);
        expect(reasonsOf(third, 'ofr_look')).toEqual(['FREQUENCY_CAP']);
      } finally {
        await t.close();
      }
    });

    it('maxCartValue: validated against minCartValue, excluded above it with MAX_CART_VALUE, refused at redemption', async () => {
      const small = { id: 'ofr_small', status: 'live', name: 'Small carts', type: 'amount_off', value: 300, expectedLift: 1, minCartValue: 2000, maxCartValue: 10_000 };
      const t = await setup(backend, [small]);
      try {
        const e = t.engine;
        expect(await codeOf(e.catalog.createOffer({ name: 'x', type: 'amount_off', value: 100, minCartValue: 5000, maxCartValue: 4999 }))).toBe('VALIDATION_FAILED');
        const err = await e.catalog.createOffer({ name: 'x', type: 'amount_off', value: 100, minCartValue: 5000, maxCartValue: 4999 }).catch((x: OfferpilotError) => x);
        expect(JSON.stringify((err as OfferpilotError).details)).toContain('maxCartValue');
        expect((await e.catalog.createOffer({ name: 'ok', type: 'amount_off', value: 100, minCartValue: 5000, maxCartValue: 5000 })).maxCartValue).toBe(5000);

        const big = await e.decide({ customerId: 'carol', placement: 'cart', channel: 'web', cart: cart(3) });
        expect(big.offers).toEqual([]);
        expect(big.candidates[0]!.reasons).toEqual([{ code: 'MAX_CART_VALUE', detail: '12000 > 10000' }]);
        const ok = await e.decide({ customerId: 'carol', placement: 'cart', channel: 'web', cart: cart(2) });
        expect(ok.offers.map((o) => o.offerId)).toEqual(['ofr_small']);
        expect(await codeOf(e.wallet.redeem({ orderId: 'o-big', customerId: 'carol', channel: 'web', tokens: [ok.offers[0]!.token!], cart: cart(3) }))).toBe('MAX_CART_EXCEEDED');
        expect((await e.wallet.redeem({ orderId: 'o-ok', customerId: 'carol', channel: 'web', tokens: [ok.offers[0]!.token!], cart: cart(2) })).discountTotal).toBe(300);
      } finally {
        await t.close();
      }
    });
  });

  describe(`no undocumented input changes a decision [${backend}]`, () => {
    it('a "propensity" trait (stored or sent) leaves scores as the response model sets them', async () => {
      const t = await setup(backend, [{ id: 'ofr_p', status: 'live', name: '10%', type: 'percent_off', value: 10, expectedLift: 0.5 }]);
      try {
        const e = t.engine;
        const req = { customerId: 'dan', placement: 'cart', channel: 'web', cart: cart(1), consent: { personalization: true } };
        const plain = await e.preview(req);
        const sent = await e.preview({ ...req, traits: { propensity: 0.5 } });
        await e.putCustomer('dan', { traits: { propensity: 0.5 }, consent: { personalization: true } });
        const stored = await e.preview(req);
        expect(plain.candidates[0]!.score).not.toBeNull();
        expect(sent.candidates[0]!.score).toBe(plain.candidates[0]!.score);
        expect(stored.candidates[0]!.score).toBe(plain.candidates[0]!.score);
        expect(sent.chosen).toEqual(plain.chosen);
      } finally {
        await t.close();
      }
    });
  });
}
