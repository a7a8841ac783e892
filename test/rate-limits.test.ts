import { describe, expect, it } from 'vitest';
import { newCouponCode } from '../src/wallet/codes.js';
import { BACKENDS } from './helpers/backends.js';
import { createApiHarness, json, type ApiHarness } from './helpers/http.js';

const catalog = {
  products: [{ sku: 'TEE', category: 'tops', price: 3000, unitCost: 1000, fulfilmentCost: 200 }],
  offers: [{ id: 'ofr_tee', status: 'live', name: '$5 off', type: 'amount_off', value: 500, expectedLift: 2, channels: ['web', 'email'] }],
  campaigns: [{ id: 'cmp_tee', status: 'live', name: 'Tee', placements: ['cart', 'newsletter'], offers: ['ofr_tee'], policy: { type: 'static' }, holdoutPct: 0 }],
};
const cart = { lines: [{ sku: 'TEE', quantity: 2, unitPrice: 3000 }], shipping: 450 };

async function codeFor(h: ApiHarness, key: string, customerId: string): Promise<string> {
  const d = json(await h.req('POST', '/v1/decide', { customerId, placement: 'newsletter', channel: 'email', consent: { email: true, personalization: true }, cart }, key));
  if (!d.offers?.[0]?.code) throw new Error(`no code issued: ${JSON.stringify(d)}`);
  return d.offers[0].code as string;
}

const guess = (h: ApiHarness, key: string, customerId: string, orderId: string) =>
  h.req('POST', '/v1/redemptions', { orderId, customerId, channel: 'email', tokens: [newCouponCode()], cart }, key);

for (const backend of BACKENDS) {
  describe(`rate limits on code and token lookups [${backend}] (issue 10, item 16)`, () => {
    it('guessing codes gets 429 RATE_LIMITED with Retry-After after the failed-lookup budget; other customers are not affected', async () => {
      const h = await createApiHarness(backend);
      try {
        expect((await h.req('POST', '/v1/catalog/import', catalog)).statusCode).toBe(200);
        const key = await h.key(['decide']);
        const aliceCode = await codeFor(h, key, 'alice');
        const budget = h.t.engine.config.rateLimitFailedLookupsPerCustomer;
        const statuses: number[] = [];
        let limited = null as Awaited<ReturnType<typeof guess>> | null;
        const started = Date.now();
        for (let i = 0; i < 300; i++) {
          const res = await guess(h, key, 'mallory', `m-${i}`);
          statuses.push(res.statusCode);
          limited ??= res.statusCode === 429 ? res : null;
        }
        const elapsed = Date.now() - started;
        expect(statuses.slice(0, budget)).toEqual(Array(budget).fill(422));
        expect(statuses.slice(budget)).toEqual(Array(300 - budget).fill(429));
        const body = json(limited!);
        expect(body.error.code).toBe('RATE_LIMITED');
        expect(body.error.details[0].path).toBe('customerId');
        const retryAfter = Number(limited!.headers['retry-after']);
        expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);
        // Quotes look codes up too: the same budget holds there.
        expect((await h.req('POST', '/v1/redemptions/quote', { orderId: 'm-q', customerId: 'mallory', channel: 'email', tokens: [newCouponCode()], cart }, key)).statusCode).toBe(429);
        // Another customer on the same key checks out as usual.
        expect((await h.req('POST', '/v1/redemptions/quote', { orderId: 'a-1', customerId: 'alice', channel: 'email', tokens: [aliceCode], cart }, key)).statusCode).toBe(200);
        expect((await h.req('POST', '/v1/redemptions', { orderId: 'a-1', customerId: 'alice', channel: 'email', tokens: [aliceCode], cart }, key)).statusCode).toBe(201);
        expect(elapsed).toBeLessThan(20_000);
      } finally {
        await h.close();
      }
    });

    it('a normal checkout flow (decide, a typo, quote, redeem, a retried redeem) is never limited at the defaults', async () => {
      const h = await createApiHarness(backend);
      try {
        expect((await h.req('POST', '/v1/catalog/import', catalog)).statusCode).toBe(200);
        const key = await h.key(['decide']);
        const statuses = new Set<number>();
        for (let c = 0; c < 12; c++) {
          const customerId = `shopper-${c}`;
          const code = await codeFor(h, key, customerId);
          const order = { orderId: `o-${c}`, customerId, channel: 'email', cart };
          // The shopper mistypes the code once, then gets it right.
          const typo = await h.req('POST', '/v1/redemptions/quote', { ...order, tokens: [newCouponCode()] }, key);
          expect(typo.statusCode).toBe(422);
          for (const [url, expected] of [['/v1/redemptions/quote', 200], ['/v1/redemptions/quote', 200], ['/v1/redemptions', 201], ['/v1/redemptions', 200]] as const) {
            const res = await h.req('POST', url, { ...order, tokens: [code] }, key);
            statuses.add(res.statusCode);
            expect(res.statusCode, res.body).toBe(expected);
          }
        }
        expect(statuses.has(429)).toBe(false);
      } finally {
        await h.close();
      }
    });

    it('the per-key budget stops guessing spread over many customer ids; other keys are not affected', async () => {
      const h = await createApiHarness(backend, { config: { rateLimitFailedLookupsPerKey: 25 } });
      try {
        expect((await h.req('POST', '/v1/catalog/import', catalog)).statusCode).toBe(200);
        const stolen = await h.key(['decide']);
        const other = await h.key(['decide']);
        const statuses: number[] = [];
        // Three guesses per request, a fresh customer id each time.
        for (let i = 0; i < 12; i++) {
          const res = await h.req('POST', '/v1/redemptions/quote', { orderId: `x-${i}`, customerId: `victim-${i}`, channel: 'email', tokens: [newCouponCode(), newCouponCode(), newCouponCode()], cart }, stolen);
          statuses.push(res.statusCode);
          if (res.statusCode === 429) {
            expect(json(res).error).toMatchObject({ code: 'RATE_LIMITED', details: [{ path: 'authorization' }] });
            expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
          }
        }
        // 9 requests × 3 guesses = 27 ≥ 25: the tenth is refused.
        expect(statuses).toEqual([...Array(9).fill(422), 429, 429, 429]);
        const code = await codeFor(h, other, 'honest');
        expect((await h.req('POST', '/v1/redemptions', { orderId: 'h-1', customerId: 'honest', channel: 'email', tokens: [code], cart }, other)).statusCode).toBe(201);
      } finally {
        await h.close();
      }
    });

    it('the per-customer request limit counts every redemption and quote request', async () => {
      const h = await createApiHarness(backend, { config: { rateLimitRedeemPerCustomer: 5 } });
      try {
        expect((await h.req('POST', '/v1/catalog/import', catalog)).statusCode).toBe(200);
        const key = await h.key(['decide']);
        const code = await codeFor(h, key, 'busy');
        const statuses = [];
        for (let i = 0; i < 7; i++) statuses.push((await h.req('POST', '/v1/redemptions/quote', { orderId: 'b-1', customerId: 'busy', channel: 'email', tokens: [code], cart }, key)).statusCode);
        expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
        const code2 = await codeFor(h, key, 'calm');
        expect((await h.req('POST', '/v1/redemptions/quote', { orderId: 'c-1', customerId: 'calm', channel: 'email', tokens: [code2], cart }, key)).statusCode).toBe(200);
      } finally {
        await h.close();
      }
    });
  });
}
