import { describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers/backends.js';
import { createApiHarness, expectError, json } from './helpers/http.js';

const catalog = {
  products: [{ sku: 'TEE', category: 'tops', price: 3000, unitCost: 1000, fulfilmentCost: 200 }],
  offers: [{ id: 'ofr_tee', status: 'live', name: '$5 off', type: 'amount_off', value: 500, expectedLift: 2, channels: ['web', 'email'] }],
  campaigns: [{ id: 'cmp_tee', status: 'live', name: 'Tee', placements: ['cart', 'newsletter'], offers: ['ofr_tee'], holdoutPct: 0 }],
};
const cart = { lines: [{ sku: 'TEE', quantity: 2, unitPrice: 3000 }], shipping: 450 };
const now = () => new Date('2026-11-23T12:00:00Z').toISOString();

for (const backend of BACKENDS) {
  describe(`outcome endpoints over HTTP [${backend}]`, () => {
    it('events, wallet, redemption, replay, rollback, features, liabilities and erasure', async () => {
      const h = await createApiHarness(backend);
      try {
        expect((await h.req('POST', '/v1/catalog/import', catalog)).statusCode).toBe(200);
        const decideKey = await h.key(['decide']);
        const readKey = await h.key(['read']);
        const d = json(await h.req('POST', '/v1/decide', { customerId: 'u1', placement: 'cart', channel: 'web', cart }, decideKey));
        const token = d.offers[0].token as string;

        const wallet = json(await h.req('GET', '/v1/customers/u1/wallet', undefined, decideKey));
        expect(wallet.entries.map((e: { offerId: string }) => e.offerId)).toEqual(['ofr_tee']);
        // A read-only key cannot redeem.
        expectError(await h.req('POST', '/v1/redemptions', { orderId: 'o1', customerId: 'u1', channel: 'web', tokens: [token], cart }, readKey), 403, 'FORBIDDEN_SCOPE');

        const quote = json(await h.req('POST', '/v1/redemptions/quote', { orderId: 'o1', customerId: 'u1', channel: 'web', tokens: [token], cart }, decideKey));
        expect(quote.discountTotal).toBe(500);
        const r1 = await h.req('POST', '/v1/redemptions', { orderId: 'o1', customerId: 'u1', channel: 'web', tokens: [token], cart }, decideKey);
        expect(r1.statusCode).toBe(201);
        const red = json(r1);
        expect(red).toMatchObject({ status: 'applied', discountTotal: 500, total: 6000 - 500 + 450 });
        const r2 = await h.req('POST', '/v1/redemptions', { orderId: 'o1', customerId: 'u1', channel: 'web', tokens: [token], cart }, decideKey);
        expect(r2.statusCode).toBe(200);
        expect(json(r2)).toMatchObject({ redemptionId: red.redemptionId, replayed: true });
        expectError(await h.req('POST', '/v1/redemptions', { orderId: 'o2', customerId: 'u1', channel: 'web', tokens: [token], cart }, decideKey), 409, 'TOKEN_ALREADY_REDEEMED', 'tokens.0');
        expect(json(await h.req('GET', `/v1/redemptions/${red.redemptionId}`, undefined, readKey)).status).toBe('applied');

        const ev = await h.req(
          'POST',
          '/v1/events',
          { events: [{ id: 'e1', type: 'order', customerId: 'u1', occurredAt: now(), orderId: 'o1', lines: cart.lines, shipping: 450, discount: 500, tokens: [token] }] },
          decideKey,
        );
        expect(ev.statusCode).toBe(200);
        expect(json(ev)).toEqual({ accepted: 1, duplicates: 0, rejected: 0, quarantined: 0, attributed: 1, results: [] });
        expect(json(await h.req('GET', '/v1/customers/u1/features', undefined, readKey))).toMatchObject({ orders: 1, monetary: 6000 + 450 - 500, couponAffinity: 1, cohort: 'engaged_30' });

        const rb = json(await h.req('POST', `/v1/redemptions/${red.redemptionId}/rollback`, undefined, decideKey));
        expect(rb.status).toBe('rolled_back');
        expectError(await h.req('POST', '/v1/redemptions/red_nope/rollback', undefined, decideKey), 404, 'REDEMPTION_NOT_FOUND');

        const liab = json(await h.req('GET', '/v1/reports/liabilities?offerId=ofr_tee', undefined, readKey));
        expect(liab.offers).toHaveLength(1);
        expect(liab.offers[0]).toMatchObject({ offerId: 'ofr_tee', outstanding: 500 });
        expectError(await h.req('GET', '/v1/reports/liabilities?from=yesterday', undefined, readKey), 400, 'VALIDATION_FAILED', 'query.from');

        expectError(await h.req('DELETE', '/v1/customers/u1', undefined, decideKey), 403, 'FORBIDDEN_SCOPE');
        expect(json(await h.req('DELETE', '/v1/customers/u1'))).toEqual({ customerId: 'u1', erased: true });
        expectError(await h.req('DELETE', '/v1/customers/u1'), 404, 'CUSTOMER_NOT_FOUND');
        expect(json(await h.req('GET', '/v1/customers/u1/features', undefined, readKey)).orders).toBe(0);
        // The OpenAPI document describes the new endpoints.
        const spec = json(await h.req('GET', '/openapi.json', undefined, null));
        for (const p of ['/v1/events', '/v1/redemptions', '/v1/redemptions/{id}/rollback', '/v1/customers/{id}/wallet', '/v1/reports/liabilities']) expect(Object.keys(spec.paths)).toContain(p);
      } finally {
        await h.close();
      }
    });

    it('an overloaded ingester answers 503 with Retry-After and stores nothing of that batch', async () => {
      const h = await createApiHarness(backend, { config: { ingestMaxPending: 1000 } });
      try {
        const batch = (prefix: string) => ({
          events: Array.from({ length: 600 }, (_, i) => ({ id: `${prefix}${i}`, type: 'impression', anonymousId: `v${i}`, occurredAt: now() })),
        });
        // Four batches of 600 at once against a limit of 1,000 in flight: some must be refused
        // (how many depends on how far the first ones got before the others arrived).
        const prefixes = ['a', 'b', 'c', 'd'];
        const replies = await Promise.all(prefixes.map((p) => h.req('POST', '/v1/events', batch(p))));
        const refused = prefixes.filter((_, i) => replies[i]!.statusCode === 503);
        expect(replies.every((r) => r.statusCode === 200 || r.statusCode === 503)).toBe(true);
        expect(refused.length).toBeGreaterThan(0);
        expect(refused.length).toBeLessThan(4);
        for (const r of replies.filter((x) => x.statusCode === 503)) {
          expectError(r, 503, 'INGEST_OVERLOADED');
          expect(r.headers['retry-after']).toBe('1');
        }
        // Nothing of a refused batch was stored: resending it stores all 600.
        for (const p of refused) expect(json(await h.req('POST', '/v1/events', batch(p)))).toMatchObject({ accepted: 600, duplicates: 0 });
      } finally {
        await h.close();
      }
    });

    it('bad events name the event index and field; the whole batch is refused', async () => {
      const h = await createApiHarness(backend);
      try {
        const ok = { id: 'ok1', type: 'click', customerId: 'u', occurredAt: now() };
        expectError(await h.req('POST', '/v1/events', { events: [ok, { ...ok, id: 'x', occurredAt: 'yesterday' }] }), 400, 'VALIDATION_FAILED', 'events.1.occurredAt');
        expectError(
          await h.req('POST', '/v1/events', { events: [{ id: 'o', type: 'order', customerId: 'u', occurredAt: now(), orderId: 'o', lines: [{ sku: 'UNKNOWN', quantity: 1, unitPrice: 100 }] }] }),
          400,
          'VALIDATION_FAILED',
          'events.0.lines.0.unitCost',
        );
        expectError(await h.req('POST', '/v1/events', { events: [{ ...ok, occurredAt: '2030-01-01T00:00:00Z' }] }), 400, 'VALIDATION_FAILED', 'events.0.occurredAt');
        expectError(await h.req('POST', '/v1/events', { events: [{ ...ok, customerId: undefined }] }), 400, 'VALIDATION_FAILED', 'events.0.customerId');
        // Nothing from the refused batches was stored.
        expect(json(await h.req('POST', '/v1/events', { events: [ok] }))).toMatchObject({ accepted: 1 });
      } finally {
        await h.close();
      }
    });
  });
}
