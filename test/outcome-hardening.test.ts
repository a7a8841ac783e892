import { describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers/backends.js';
import { createApiHarness, json } from './helpers/http.js';

const catalog = {
  products: [{ sku: 'TEE', category: 'tops', price: 3000, unitCost: 1000, fulfilmentCost: 200 }],
  offers: [{ id: 'ofr_tee', status: 'live', name: '$5 off', type: 'amount_off', value: 500, expectedLift: 2, channels: ['web', 'email'] }],
  campaigns: [{ id: 'cmp_tee', status: 'live', name: 'Tee', placements: ['cart'], offers: ['ofr_tee'], holdoutPct: 0 }],
};
const cart = { lines: [{ sku: 'TEE', quantity: 2, unitPrice: 3000 }], shipping: 450 };
const at = (ms = 0) => new Date(Date.parse('2026-11-23T12:00:00Z') + ms).toISOString();

for (const backend of BACKENDS) {
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
