import { describe, expect, it } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import { BACKENDS, createTestEngine, type TestEngine } from './helpers/backends.js';

// Issue 10, item 21: an order event whose order id was redeemed must report the discount the
// engine applied (and only the redemption's tokens); finance reads incremental margin from it.
const catalog = {
  products: [{ sku: 'TEE', category: 'tops', price: 3000, unitCost: 1000, fulfilmentCost: 200 }],
  offers: [{ id: 'ofr_tee', status: 'live', name: '$5 off', type: 'amount_off', value: 500, expectedLift: 2, channels: ['web'] }],
  campaigns: [{ id: 'cmp_tee', status: 'live', name: 'Tee', placements: ['cart'], offers: ['ofr_tee'], policy: { type: 'static' }, holdoutPct: 0 }],
};
const cart = { lines: [{ sku: 'TEE', quantity: 2, unitPrice: 3000 }], shipping: 450 };
const at = (ms = 0) => new Date(Date.parse('2026-11-23T12:00:00Z') + ms).toISOString();
const order = (id: string, customerId: string, orderId: string, discount: number, tokens: string[] = []) => ({
  id, type: 'order', customerId, occurredAt: at(), orderId, lines: cart.lines, shipping: cart.shipping, discount, tokens,
});

async function engineWith(backend: (typeof BACKENDS)[number]): Promise<TestEngine> {
  const t = await createTestEngine(backend);
  await importCatalog(t.engine.catalog, catalog);
  return t;
}

async function tokenFor(t: TestEngine, customerId: string): Promise<string> {
  const d = await t.engine.decide({ customerId, placement: 'cart', channel: 'web', cart });
  return d.offers[0]!.token!;
}

async function refusalOf(p: Promise<unknown>): Promise<{ code: string; paths: string[] } | null> {
  try {
    await p;
    return null;
  } catch (e) {
    const err = e as { code?: string; details?: Array<{ path: string }> };
    return { code: err.code ?? String(e), paths: (err.details ?? []).map((d) => d.path) };
  }
}

for (const backend of BACKENDS) {
  describe(`order events are reconciled with their redemption [${backend}]`, () => {
    it('another discount, or a token the redemption did not use, is refused one by one; the matching order and the rest of the batch are stored', async () => {
      const t = await engineWith(backend);
      try {
        const e = t.engine;
        const mine = await tokenFor(t, 'u1');
        const other = await tokenFor(t, 'u2');
        expect((await e.wallet.redeem({ orderId: 'o1', customerId: 'u1', channel: 'web', tokens: [mine], cart })).discountTotal).toBe(500);

        const r = await e.events.ingest({
          events: [
            { id: 'imp', type: 'impression', customerId: 'u1', occurredAt: at() },
            order('hardcoded', 'u1', 'o1', 1400, [mine]),
            order('not-its-token', 'u1', 'o1', 500, [other]),
            order('undercount', 'u1', 'o1', 0),
            order('right', 'u1', 'o1', 500, [mine]),
            order('unredeemed', 'u2', 'o9', 1000),
          ],
        });
        expect(r).toMatchObject({ accepted: 3, duplicates: 0, rejected: 3, quarantined: 0 });
        expect(r.results).toEqual([
          { index: 1, id: 'hardcoded', status: 'rejected', code: 'ORDER_DISCOUNT_MISMATCH', field: 'events.1.discount', message: expect.stringContaining('500') },
          { index: 2, id: 'not-its-token', status: 'rejected', code: 'ORDER_TOKEN_MISMATCH', field: 'events.2.tokens.0', message: expect.any(String) },
          { index: 3, id: 'undercount', status: 'rejected', code: 'ORDER_DISCOUNT_MISMATCH', field: 'events.3.discount', message: expect.any(String) },
        ]);
        // The order counted is the one with the redemption's discount, once.
        expect(await e.features('u1')).toMatchObject({ orders: 1, monetary: 6450 - 500 });
        // An order id nobody redeemed is not reconciled (its discount is only bounded by the order).
        expect(await e.features('u2')).toMatchObject({ orders: 1, monetary: 6450 - 1000 });
        // Refused events are not stored: resent, they are checked (and refused) again.
        const again = await e.events.ingest({ events: [order('hardcoded', 'u1', 'o1', 1400, [mine])] });
        expect(again).toMatchObject({ accepted: 0, duplicates: 0, rejected: 1 });
        expect(again.results[0]).toMatchObject({ code: 'ORDER_DISCOUNT_MISMATCH', field: 'events.0.discount' });
      } finally {
        await t.close();
      }
    });

    it('a rolled-back redemption applies no discount any more: its order id is not reconciled with it', async () => {
      const t = await engineWith(backend);
      try {
        const e = t.engine;
        const tok = await tokenFor(t, 'u3');
        const red = await e.wallet.redeem({ orderId: 'o2', customerId: 'u3', channel: 'web', tokens: [tok], cart });
        await e.wallet.rollback(red.redemptionId);
        expect(await e.events.ingest({ events: [order('full-price', 'u3', 'o2', 0)] })).toMatchObject({ accepted: 1, rejected: 0 });
        expect(await e.features('u3')).toMatchObject({ orders: 1, monetary: 6450 });
      } finally {
        await t.close();
      }
    });

    it('an order reported before its redemption: the redemption must compute the discount the order reported, else 409 ORDER_DISCOUNT_MISMATCH and nothing is redeemed', async () => {
      const t = await engineWith(backend);
      try {
        const e = t.engine;
        const tok = await tokenFor(t, 'u4');
        expect(await e.events.ingest({ events: [order('early-wrong', 'u4', 'o4', 1400, [tok])] })).toMatchObject({ accepted: 1 });
        expect(await refusalOf(e.wallet.redeem({ orderId: 'o4', customerId: 'u4', channel: 'web', tokens: [tok], cart }))).toEqual({ code: 'ORDER_DISCOUNT_MISMATCH', paths: ['orderId'] });
        expect(await t.store.redemptionsByOrderIds(['o4'])).toEqual([]);
        // Nothing was spent: the wallet entry is still there and redeems on a matching order.
        expect((await e.wallet.list('u4')).entries).toHaveLength(1);
        expect(await e.events.ingest({ events: [order('early-right', 'u4', 'o5', 500, [tok])] })).toMatchObject({ accepted: 1 });
        expect(await e.wallet.redeem({ orderId: 'o5', customerId: 'u4', channel: 'web', tokens: [tok], cart })).toMatchObject({ status: 'applied', discountTotal: 500 });
        // The order and its redemption now agree, so the order resent is a duplicate, not a refusal.
        expect(await e.events.ingest({ events: [order('early-right', 'u4', 'o5', 500, [tok])] })).toMatchObject({ duplicates: 1, rejected: 0 });
      } finally {
        await t.close();
      }
    });

    it('an order and the redemption of its id written at once never both stand with different discounts', async () => {
      const t = await engineWith(backend);
      try {
        const e = t.engine;
        const ids = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
        const toks = await Promise.all(ids.map((id) => tokenFor(t, `race-${id}`)));
        const outcomes = await Promise.all(
          ids.map(async (id, k) => {
            const customerId = `race-${id}`;
            const [ev, red] = await Promise.all([
              e.events.ingest({ events: [order(`ev-${id}`, customerId, id, 1400, [toks[k]!])] }),
              refusalOf(e.wallet.redeem({ orderId: id, customerId, channel: 'web', tokens: [toks[k]!], cart })),
            ]);
            return { orderStored: ev.accepted === 1, redeemed: red === null, code: ev.results[0]?.code ?? red?.code };
          }),
        );
        for (const o of outcomes) {
          // Exactly one of the two stands, refused under the one code.
          expect(o.orderStored !== o.redeemed).toBe(true);
          expect(o.code).toBe('ORDER_DISCOUNT_MISMATCH');
        }
      } finally {
        await t.close();
      }
    });
  });
}
