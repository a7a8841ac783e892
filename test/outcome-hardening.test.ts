import { describe, expect, it } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import { BACKENDS, createTestEngine, type TestEngine } from './helpers/backends.js';
import { createApiHarness, json } from './helpers/http.js';
import { codeOf } from './helpers/errors.js';

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

const order = (id: string, who: Record<string, string>, orderId: string, unitPrice: number, extra: Record<string, unknown> = {}) => ({
  id, type: 'order', ...who, occurredAt: at(), orderId, lines: [{ sku: 'TEE', quantity: 1, unitPrice }], ...extra,
});
const refund = (id: string, who: Record<string, string>, orderId: string, amount: number) => ({ id, type: 'refund', ...who, occurredAt: at(60_000), orderId, amount });
const alice = { customerId: 'alice' };
const bob = { customerId: 'bob' };

async function issueOf(p: Promise<unknown>): Promise<{ code: string; paths: string[] }> {
  try {
    await p;
  } catch (e) {
    const err = e as { code: string; details: Array<{ path: string }> };
    return { code: err.code, paths: err.details.map((d) => d.path) };
  }
  throw new Error('expected a refusal');
}

for (const backend of BACKENDS) {
  describe(`outcome events are sanity-checked [${backend}]`, () => {
    it('stateless: a discount above the order, or a date before 2000, is a 400 naming the field', async () => {
      const t = await engineWith(backend);
      try {
        const e = t.engine;
        expect(await issueOf(e.events.ingest({ events: [order('d1', alice, 'o1', 2000, { shipping: 100, discount: 2101 })] }))).toEqual({ code: 'VALIDATION_FAILED', paths: ['events.0.discount'] });
        expect(await e.events.ingest({ events: [order('d2', alice, 'o1', 2000, { shipping: 100, discount: 2100 })] })).toMatchObject({ accepted: 1 });
        const old = { ...order('d3', alice, 'o3', 2000), occurredAt: '0001-01-01T00:00:00Z' };
        expect(await issueOf(e.events.ingest({ events: [old] }))).toEqual({ code: 'VALIDATION_FAILED', paths: ['events.0.occurredAt'] });
        expect(await issueOf(e.events.ingest({ events: [{ ...old, occurredAt: '1999-12-31T23:59:59Z' }] }))).toEqual({ code: 'VALIDATION_FAILED', paths: ['events.0.occurredAt'] });
        expect(await e.events.ingest({ events: [{ ...old, occurredAt: '2000-01-01T00:00:00Z' }] })).toMatchObject({ accepted: 1 });
      } finally {
        await t.close();
      }
    });

    it('against the store: refunds beyond the order, of another customer’s or an unknown order, and a taken order id are refused one by one; the rest is stored', async () => {
      const t = await engineWith(backend);
      try {
        const e = t.engine;
        expect(await e.events.ingest({ events: [order('a1', alice, 'o1', 2000)] })).toMatchObject({ accepted: 1 });
        const r = await e.events.ingest({
          events: [
            { id: 'imp', type: 'impression', ...alice, occurredAt: at() },
            refund('huge', alice, 'o1', 99_999_999_999),
            refund('bobs', bob, 'o1', 100),
            order('b1', bob, 'o1', 5000),
            refund('part', alice, 'o1', 500),
            refund('rest+1', alice, 'o1', 1501),
            refund('early', alice, 'o-later', 300),
            order('a2', alice, 'o2', 3000),
            refund('same-batch', alice, 'o2', 3000),
          ],
        });
        expect(r).toMatchObject({ accepted: 4, duplicates: 0, rejected: 4, quarantined: 1 });
        expect(r.results).toEqual([
          { index: 1, id: 'huge', status: 'rejected', code: 'REFUND_EXCEEDS_ORDER', field: 'events.1.amount', message: expect.any(String) },
          { index: 2, id: 'bobs', status: 'rejected', code: 'REFUND_CUSTOMER_MISMATCH', field: 'events.2.orderId', message: expect.any(String) },
          { index: 3, id: 'b1', status: 'rejected', code: 'EVENT_ORDER_CONFLICT', field: 'events.3.orderId', message: expect.any(String) },
          { index: 5, id: 'rest+1', status: 'rejected', code: 'REFUND_EXCEEDS_ORDER', field: 'events.5.amount', message: expect.any(String) },
          { index: 6, id: 'early', status: 'quarantined', code: 'REFUND_ORDER_UNKNOWN', field: 'events.6.orderId', message: expect.any(String) },
        ]);
        expect(await e.features('alice')).toMatchObject({ orders: 2, refunded: 3500, monetary: 2000 + 3000 - 3500 });
        expect(await e.features('bob')).toMatchObject({ orders: 0, refunded: 0, monetary: 0 });
        expect(await t.store.eventCounts('c:bob')).toEqual({});
        // What is left on o1 (1,500) can still be refunded, exactly; a resent refund is a duplicate, not a second refund.
        expect(await e.events.ingest({ events: [refund('rest', alice, 'o1', 1500), refund('part', alice, 'o1', 500)] })).toMatchObject({ accepted: 1, duplicates: 1, rejected: 0 });
        expect(await e.events.ingest({ events: [refund('one-more', alice, 'o1', 1)] })).toMatchObject({ accepted: 0, rejected: 1 });
        expect((await e.features('alice')).monetary).toBe(0);

        // The quarantined refund counts when its order arrives (in a later batch), and is then stored once.
        expect((await e.features('alice')).refunded).toBe(5000);
        expect(await e.events.ingest({ events: [order('a3', alice, 'o-later', 1000)] })).toMatchObject({ accepted: 1, quarantined: 0 });
        expect(await e.features('alice')).toMatchObject({ orders: 3, refunded: 5300, monetary: 1000 - 300 });
        expect(await e.events.ingest({ events: [refund('early', alice, 'o-later', 300)] })).toMatchObject({ accepted: 0, duplicates: 1 });
        expect((await e.features('alice')).refunded).toBe(5300);
      } finally {
        await t.close();
      }
    });

    it('a quarantined refund whose order turns out to be another customer’s, or too small, stays out of the numbers', async () => {
      const t = await engineWith(backend);
      try {
        const e = t.engine;
        expect(await e.events.ingest({ events: [refund('q1', bob, 'o9', 100), refund('q2', alice, 'o9', 5000), refund('q3', alice, 'o9', 400)] })).toMatchObject({ accepted: 0, quarantined: 3 });
        expect(await e.events.ingest({ events: [order('a9', alice, 'o9', 1000)] })).toMatchObject({ accepted: 1 });
        expect(await e.features('alice')).toMatchObject({ orders: 1, refunded: 400, monetary: 600 });
        expect(await e.features('bob')).toMatchObject({ refunded: 0 });
        expect(await t.store.eventCounts('c:alice')).toEqual({ order: 1, refund: 1 });
      } finally {
        await t.close();
      }
    });

    it('concurrent batches refunding one order cannot refund more than was paid', async () => {
      const t = await engineWith(backend);
      try {
        const e = t.engine;
        await e.events.ingest({ events: [order('c1', alice, 'oc', 2000)] });
        const rs = await Promise.all([0, 1, 2, 3].map((k) => e.events.ingest({ events: [refund(`cr${k}`, alice, 'oc', 1500)] })));
        expect(rs.map((r) => r.accepted).reduce((a, b) => a + b, 0)).toBe(1);
        expect(rs.map((r) => r.rejected).reduce((a, b) => a + b, 0)).toBe(3);
        expect((await e.features('alice')).monetary).toBe(500);
        // A refund racing its own order is either applied with it or held back and released by it: never stuck.
        await Promise.all(
          Array.from({ length: 12 }, (_, k) => [order(`ro${k}`, alice, `race-${k}`, 1000), refund(`rr${k}`, alice, `race-${k}`, 100)]).flatMap((evs) => evs.map((ev) => e.events.ingest({ events: [ev] }))),
        );
        expect((await e.features('alice')).refunded).toBe(1500 + 12 * 100);
        // Orders too: one order id, two customers at once — one owns it, the other is refused.
        const os = await Promise.all([order('x1', alice, 'ox', 1000), order('x2', bob, 'ox', 1000)].map((ev) => e.events.ingest({ events: [ev] })));
        expect(os.map((r) => [r.accepted, r.rejected]).sort()).toEqual([[0, 1], [1, 0]]);
      } finally {
        await t.close();
      }
    });
  });
}

for (const backend of BACKENDS) {
  it(`erasure removes the customer's quarantined refunds [${backend}]`, async () => {
    const t = await engineWith(backend);
    try {
      await t.engine.putCustomer('erin', { traits: {} });
      expect(await t.engine.events.ingest({ events: [refund('qe', { customerId: 'erin' }, 'o-none', 100)] })).toMatchObject({ quarantined: 1 });
      await t.engine.eraseCustomer('erin');
      // Gone: the order arriving later under another customer finds nothing waiting.
      expect(await t.engine.events.ingest({ events: [order('oe', { customerId: 'erin' }, 'o-none', 1000)] })).toMatchObject({ accepted: 1 });
      expect((await t.engine.features('erin')).refunded).toBe(0);
    } finally {
      await t.close();
    }
  });
}
