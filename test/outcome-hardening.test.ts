import { describe, expect, it } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import { BACKENDS, createTestEngine, type TestEngine } from './helpers/backends.js';
import { createApiHarness, json } from './helpers/http.js';

const catalog = {
  products: [{ sku: 'TEE', category: 'tops', price: 3000, unitCost: 1000, fulfilmentCost: 200 }],
  offers: [{ id: 'ofr_tee', status: 'live', name: '$5 off', type: 'amount_off', value: 500, expectedLift: 2, channels: ['web', 'email'] }],
  campaigns: [{ id: 'cmp_tee', status: 'live', name: 'Tee', placements: ['cart'], offers: ['ofr_tee'], holdoutPct: 0 }],
};
const cart = { lines: [{ sku: 'TEE', quantity: 2, unitPrice: 3000 }], shipping: 450 };
const at = (ms = 0) => new Date(Date.parse('2026-11-23T12:00:00Z') + ms).toISOString();

async function engineWith(backend: (typeof BACKENDS)[number]): Promise<TestEngine> {
  const t = await createTestEngine(backend);
  await importCatalog(t.engine.catalog, catalog);
  return t;
}

async function codeOf(p: Promise<unknown>): Promise<string | null> {
  try {
    await p;
    return null;
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

for (const backend of BACKENDS) {
  describe(`redemption idempotency: the order id is a key for one request [${backend}]`, () => {
    it('the same order id with another cart or channel is ORDER_CONFLICT; the same request replays', async () => {
      const t = await engineWith(backend);
      try {
        const e = t.engine;
        const d = await e.decide({ customerId: 'u1', placement: 'cart', channel: 'web', cart });
        const body = { orderId: 'o1', customerId: 'u1', channel: 'web', tokens: [d.offers[0]!.token], cart };
        const first = await e.wallet.redeem(body);
        expect(first.discountTotal).toBe(500);
        expect(await e.wallet.redeem(body)).toMatchObject({ redemptionId: first.redemptionId, replayed: true, discountTotal: 500 });
        const bigger = { ...cart, lines: [{ sku: 'TEE', quantity: 5, unitPrice: 3000 }] };
        expect(await codeOf(e.wallet.redeem({ ...body, cart: bigger }))).toBe('ORDER_CONFLICT');
        expect(await codeOf(e.wallet.redeem({ ...body, cart: { ...cart, shipping: 0 } }))).toBe('ORDER_CONFLICT');
        expect(await codeOf(e.wallet.redeem({ ...body, channel: 'email' }))).toBe('ORDER_CONFLICT');
        // The wallet entry is spent once, whatever was tried under the order id.
        expect((await e.wallet.list('u1')).entries).toEqual([]);
      } finally {
        await t.close();
      }
    });

    it('a rolled-back order id is not replayed (ORDER_ROLLED_BACK); a new order id redeems the returned offer', async () => {
      const t = await engineWith(backend);
      try {
        const e = t.engine;
        const d = await e.decide({ customerId: 'u2', placement: 'cart', channel: 'web', cart });
        const body = { orderId: 'o2', customerId: 'u2', channel: 'web', tokens: [d.offers[0]!.token], cart };
        const first = await e.wallet.redeem(body);
        expect((await e.wallet.rollback(first.redemptionId)).status).toBe('rolled_back');
        expect(await codeOf(e.wallet.redeem(body))).toBe('ORDER_ROLLED_BACK');
        expect(await codeOf(e.wallet.redeem({ ...body, cart: { ...cart, shipping: 0 } }))).toBe('ORDER_CONFLICT');
        const again = await e.wallet.redeem({ ...body, orderId: 'o2-retry' });
        expect(again).toMatchObject({ status: 'applied', discountTotal: 500 });
        expect(again.replayed).toBeUndefined();
      } finally {
        await t.close();
      }
    });

    it('concurrent redemptions of one order id with different carts: one applies, every other is ORDER_CONFLICT', async () => {
      const t = await engineWith(backend);
      try {
        const e = t.engine;
        const d = await e.decide({ customerId: 'u3', placement: 'cart', channel: 'web', cart });
        const bodies = [1, 2, 3, 4, 5, 6].map((q) => ({ orderId: 'o3', customerId: 'u3', channel: 'web', tokens: [d.offers[0]!.token], cart: { lines: [{ sku: 'TEE', quantity: q, unitPrice: 3000 }] } }));
        const outcomes = await Promise.all(bodies.map((b) => e.wallet.redeem(b).then((r) => (r.replayed ? 'replayed' : 'applied'), (err: { code?: string }) => err.code ?? String(err))));
        expect(outcomes.filter((o) => o === 'applied')).toHaveLength(1);
        expect(outcomes.filter((o) => o !== 'applied')).toEqual(Array(5).fill('ORDER_CONFLICT'));
        // Only the winner's request replays.
        const winner = bodies[outcomes.indexOf('applied')]!;
        expect((await e.wallet.redeem(winner)).replayed).toBe(true);
        const stored = await t.store.redemptionsByOrderIds(['o3']);
        expect(stored).toHaveLength(1);
        expect(stored[0]!.fingerprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
      } finally {
        await t.close();
      }
    });
  });

  describe(`subjects: a customer id is never an anonymous id [${backend}]`, () => {
    it('customer "a:1001" and anonymous device "1001" stay apart in features, wallet, decisions and erasure', async () => {
      const h = await createApiHarness(backend);
      try {
        expect((await h.req('POST', '/v1/catalog/import', catalog)).statusCode).toBe(200);
        const d = json(await h.req('POST', '/v1/decide', { anonymousId: '1001', placement: 'cart', channel: 'web', cart }));
        expect(d.offers).toHaveLength(1);
        const ev = await h.req('POST', '/v1/events', {
          events: [
            { id: 'e1', type: 'order', anonymousId: '1001', occurredAt: at(), orderId: 'o1', lines: cart.lines, shipping: 450 },
            { id: 'e2', type: 'order', anonymousId: '1001', occurredAt: at(1000), orderId: 'o2', lines: cart.lines, shipping: 450 },
          ],
        });
        expect(ev.statusCode).toBe(200);
        expect(json(await h.req('GET', '/v1/customers/a:1001/features')).orders).toBe(0);
        expect(json(await h.req('GET', '/v1/customers/a:1001/wallet')).entries).toEqual([]);
        expect(json(await h.req('GET', '/v1/decisions?customerId=a:1001')).decisions).toEqual([]);
        expect((await h.t.engine.features({ anonymousId: '1001' })).orders).toBe(2);

        // The customer's own order counts for the customer only.
        expect((await h.req('PUT', '/v1/customers/a:1001', { traits: {} })).statusCode).toBe(200);
        await h.t.engine.events.ingest({ events: [{ id: 'e3', type: 'order', customerId: 'a:1001', occurredAt: at(2000), orderId: 'o3', lines: cart.lines }] });
        expect(json(await h.req('GET', '/v1/customers/a:1001/features')).orders).toBe(1);
        expect((await h.t.engine.features({ anonymousId: '1001' })).orders).toBe(2);

        // Erasing the customer leaves the unrelated device alone.
        expect((await h.req('DELETE', '/v1/customers/a:1001')).statusCode).toBe(200);
        expect((await h.t.engine.features({ anonymousId: '1001' })).orders).toBe(2);
        expect((await h.t.engine.wallet.list('a:1001')).entries).toEqual([]);
      } finally {
        await h.close();
      }
    });
  });
}
