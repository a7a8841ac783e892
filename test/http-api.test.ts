import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers/backends.js';
import { createApiHarness, DEMO_CATALOG, errorBodyProblem, expectError, json, testServer, type ApiHarness, type Method } from './helpers/http.js';

/** A decide request the demo catalog answers with offers (cart placement, web). */
const validDecide = (customerId: string, extra: Record<string, unknown> = {}) => ({
  customerId,
  placement: 'cart',
  channel: 'web',
  context: { device: 'mobile', geo: { country: 'US' } },
  consent: { personalization: true },
  traits: { orderCount: 0, loyaltyMember: true },
  cart: {
    currency: 'USD',
    lines: [
      { sku: 'HOOD-001', quantity: 1, unitPrice: 6000 },
      { sku: 'JEANS-001', quantity: 1, unitPrice: 8000 },
    ],
  },
  ...extra,
});

const validOffer = (extra: Record<string, unknown> = {}) => ({ name: 'Ten percent', type: 'percent_off', value: 10, placements: ['cart'], ...extra });

/** Every endpoint that needs an API key, with a body that would pass validation where one is needed. */
const PROTECTED: Array<{ method: Method; url: string; body?: unknown }> = [
  { method: 'POST', url: '/v1/decide', body: validDecide('auth_probe') },
  { method: 'GET', url: '/v1/decisions' },
  { method: 'GET', url: '/v1/decisions/dec_x' },
  { method: 'PUT', url: '/v1/customers/c1', body: { traits: {} } },
  { method: 'GET', url: '/v1/customers/c1' },
  { method: 'POST', url: '/v1/offers', body: validOffer() },
  { method: 'GET', url: '/v1/offers' },
  { method: 'GET', url: '/v1/offers/ofr_first_order' },
  { method: 'PUT', url: '/v1/offers/ofr_first_order', body: validOffer() },
  { method: 'GET', url: '/v1/offers/ofr_first_order/versions' },
  { method: 'POST', url: '/v1/offers/ofr_first_order/status', body: { status: 'paused' } },
  { method: 'POST', url: '/v1/campaigns', body: { name: 'x', placements: ['cart'], offers: ['ofr_first_order'] } },
  { method: 'GET', url: '/v1/campaigns' },
  { method: 'GET', url: '/v1/campaigns/cmp_storefront' },
  { method: 'PUT', url: '/v1/campaigns/cmp_storefront', body: { name: 'x', placements: ['cart'], offers: ['ofr_first_order'] } },
  { method: 'GET', url: '/v1/campaigns/cmp_storefront/versions' },
  { method: 'POST', url: '/v1/campaigns/cmp_storefront/status', body: { status: 'paused' } },
  { method: 'POST', url: '/v1/rules/check', body: { expression: 'cart.subtotal > 1' } },
  { method: 'POST', url: '/v1/catalog/import', body: {} },
  { method: 'PUT', url: '/v1/products', body: [{ sku: 'X-1', price: 1, unitCost: 1 }] },
  { method: 'GET', url: '/v1/products' },
  { method: 'GET', url: '/v1/products/TEE-001' },
  { method: 'POST', url: '/v1/keys', body: { scopes: ['read'] } },
  { method: 'GET', url: '/v1/keys' },
  { method: 'DELETE', url: '/v1/keys/key_x' },
];

// ---------------------------------------------------------------------------------------------
// Arbitraries for the "bad input never gives a 5xx" properties.

/** Runs per property; raise it (HTTP_FUZZ_RUNS=5000) for a longer hunt. */
const FUZZ_RUNS = Number(process.env.HTTP_FUZZ_RUNS ?? 150);

type Json = Record<string, unknown>;
const clone = <T>(v: T): T => structuredClone(v);

/** Values that tend to break validators and arithmetic: boundaries, wrong types, huge and odd numbers. */
const nasty = fc.oneof(
  fc.anything({ maxDepth: 2 }),
  fc.constantFrom(0, -1, 1.5, -0, 1e12, 1e21, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, 100_000, 100_001, '', ' ', 'web', 'cmp_', 'ofr_', null, true, [], {}),
  fc.string({ maxLength: 300 }),
  // Any code point: control characters (NUL included) and lone surrogates arrive in real traffic.
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('\u0000', 'a\u0000b', '\ud800', '\u202e'),
  fc.integer(),
  fc.double(),
);

/** A path into a decide body, and which mutations make sense there. */
const DECIDE_PATHS: string[][] = [
  ['customerId'],
  ['anonymousId'],
  ['placement'],
  ['channel'],
  ['campaignId'],
  ['requestId'],
  ['context'],
  ['context', 'device'],
  ['context', 'geo'],
  ['context', 'geo', 'country'],
  ['context', 'time'],
  ['context', 'session'],
  ['traits'],
  ['traits', 'orderCount'],
  ['consent'],
  ['consent', 'personalization'],
  ['cart'],
  ['cart', 'currency'],
  ['cart', 'shipping'],
  ['cart', 'lines'],
  ['cart', 'lines', '0'],
  ['cart', 'lines', '0', 'sku'],
  ['cart', 'lines', '0', 'quantity'],
  ['cart', 'lines', '0', 'unitPrice'],
  ['cart', 'lines', '1', 'quantity'],
  ['cart', 'lines', '1', 'unitPrice'],
  ['unknownField'],
  ['cart', 'unknownField'],
];

/** Free-text fields of a decide request (ids, names, labels). */
const DECIDE_STRING_PATHS: string[][] = [['customerId'], ['anonymousId'], ['placement'], ['requestId'], ['context', 'device'], ['context', 'geo', 'city'], ['cart', 'lines', '0', 'sku'], ['traits', 'segment']];

const OFFER_STRING_PATHS: string[][] = [['id'], ['name'], ['description'], ['placements', '0'], ['stackingGroup'], ['giftSku'], ['eligibility'], ['metadata', 'note'], ['expiresAfter']];

const OFFER_PATHS: string[][] = [
  ['id'],
  ['status'],
  ['name'],
  ['type'],
  ['value'],
  ['valueLadder'],
  ['valueLadder', '0'],
  ['expectedLift'],
  ['scope'],
  ['scope', 'type'],
  ['scope', 'skus'],
  ['minCartValue'],
  ['maxDiscount'],
  ['startsAt'],
  ['endsAt'],
  ['expiresAfter'],
  ['channels'],
  ['channels', '0'],
  ['placements'],
  ['placements', '0'],
  ['priority'],
  ['exclusive'],
  ['eligibility'],
  ['caps'],
  ['caps', 'frequency'],
  ['caps', 'frequency', 'window'],
  ['budget', 'total'],
  ['marginFloorPct'],
  ['giftSku'],
  ['bundleSkus'],
  ['pointsMode'],
  ['metadata'],
  ['unknownField'],
];

type Mutation = { kind: 'delete'; path: string[] } | { kind: 'set'; path: string[]; value: unknown };

function applyMutation(body: Json, m: Mutation): Json {
  const out = clone(body);
  let node: any = out;
  for (const k of m.path.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return out;
    if (node[k] === undefined || node[k] === null || typeof node[k] !== 'object') node[k] = /^\d+$/.test(k) ? [] : {};
    node = node[k];
  }
  const last = m.path[m.path.length - 1]!;
  if (node === null || typeof node !== 'object') return out;
  if (m.kind === 'delete') delete node[last];
  else node[last] = m.value;
  return out;
}

/** Strings a schema may accept but a database or a downstream system may not. */
const oddString = fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }), fc.constantFrom('\u0000', 'a\u0000b', '\ud800', 'x\udfff', '\u202e', ' ', 'ñ'));

const mutation = (paths: string[][], stringPaths: string[][]): fc.Arbitrary<Mutation> =>
  fc.oneof(
    fc.record({ kind: fc.constant('delete' as const), path: fc.constantFrom(...paths) }),
    fc.record({ kind: fc.constant('set' as const), path: fc.constantFrom(...paths), value: nasty }),
    fc.record({ kind: fc.constant('set' as const), path: fc.constantFrom(...stringPaths), value: oddString }),
  );

/** Valid bodies with one to three mutations, mixed with arbitrary JSON and arbitrary objects; `undefined` means "no body". */
const bodies = (base: fc.Arbitrary<Json>, paths: string[][], stringPaths: string[][]): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 5, arbitrary: fc.tuple(base, fc.array(mutation(paths, stringPaths), { minLength: 1, maxLength: 3 })).map(([b, ms]) => ms.reduce(applyMutation, b)) },
    { weight: 1, arbitrary: base },
    { weight: 2, arbitrary: fc.object({ maxDepth: 2 }) },
    { weight: 2, arbitrary: fc.anything({ maxDepth: 2 }) },
  );

const decideBase = fc
  .record({
    id: fc.integer({ min: 0, max: 1_000_000 }),
    anonymous: fc.boolean(),
    placement: fc.constantFrom('cart', 'pdp', 'checkout', 'home_hero', 'email_weekly', 'nowhere'),
    channel: fc.constantFrom('web', 'app', 'email', 'sms', 'push'),
    sku: fc.constantFrom('HOOD-001', 'JEANS-001', 'SNEAK-001', 'JACKET-001', 'UNKNOWN-SKU'),
    quantity: fc.integer({ min: 1, max: 100_000 }),
    unitPrice: fc.oneof(fc.integer({ min: 0, max: 20_000 }), fc.constant(1e12)),
  })
  .map(({ id, anonymous, placement, channel, sku, quantity, unitPrice }) => {
    const b: Json = validDecide(`fuzz_${id}`, { placement, channel });
    if (anonymous) {
      delete b.customerId;
      b.anonymousId = `anon_${id}`;
    }
    (b.cart as { lines: unknown[] }).lines.push({ sku, quantity, unitPrice });
    return b;
  });

const offerBase = fc
  .record({
    type: fc.constantFrom('percent_off', 'amount_off', 'free_shipping', 'free_gift', 'bundle', 'loyalty_points', 'financing', 'content'),
    value: fc.integer({ min: 1, max: 100 }),
    eligibility: fc.constantFrom(undefined, 'cart.subtotal >= 5000', '"outerwear" in cart.categories', 'customer.traits.vip == true', 'cart.subtotal >='),
  })
  .map(({ type, value, eligibility }): Json => {
    const b: Json = { name: `fuzz ${type}`, type, placements: ['fuzz_slot'] };
    if (['percent_off', 'amount_off', 'bundle', 'loyalty_points', 'financing'].includes(type)) b.value = value;
    if (type === 'free_gift') b.giftSku = 'GIFT-TOTE';
    if (type === 'bundle') b.bundleSkus = ['HOOD-001', 'JEANS-001'];
    if (eligibility !== undefined) b.eligibility = eligibility;
    return b;
  });

// ---------------------------------------------------------------------------------------------

for (const backend of BACKENDS) {
  describe(`HTTP API [${backend}]`, () => {
    let h: ApiHarness;

    beforeAll(async () => {
      h = await createApiHarness(backend);
      const r = await h.req('POST', '/v1/catalog/import', DEMO_CATALOG);
      expect(r.statusCode, r.body).toBe(200);
    });
    afterAll(async () => {
      await h?.close();
    });

    describe('authentication and scopes', () => {
      it('serves /health, /docs and /openapi.json without a key', async () => {
        const health = await h.req('GET', '/health', undefined, null);
        expect(health.statusCode, health.body).toBe(200);
        expect(json(health)).toMatchObject({ status: 'ok', store: expect.any(String) });
        expect((await h.req('GET', '/openapi.json', undefined, null)).statusCode).toBe(200);
        const docs = await h.req('GET', '/docs', undefined, null);
        expect(docs.statusCode === 200 || (docs.statusCode >= 300 && docs.statusCode < 400), `${docs.statusCode}`).toBe(true);
      });

      it('answers 401 UNAUTHENTICATED on every other endpoint without a key, with a bogus key, and with a malformed Authorization header', async () => {
        for (const e of PROTECTED) {
          const what = `${e.method} ${e.url}`;
          const none = await h.req(e.method, e.url, e.body, null);
          expect(none.statusCode, `${what} without a key: ${none.body}`).toBe(401);
          expectError(none, 401, 'UNAUTHENTICATED');

          const bogusBearer = await h.req(e.method, e.url, e.body, 'opk_not_a_real_key');
          expect(bogusBearer.statusCode, `${what} with a bogus bearer key`).toBe(401);
          expectError(bogusBearer, 401, 'UNAUTHENTICATED');

          const bogusHeader = await h.req(e.method, e.url, e.body, null, { 'x-api-key': 'opk_not_a_real_key' });
          expect(bogusHeader.statusCode, `${what} with a bogus x-api-key`).toBe(401);
          expectError(bogusHeader, 401, 'UNAUTHENTICATED');

          // The admin key is only sent in the wrong scheme: it must not count.
          const basic = await h.req(e.method, e.url, e.body, null, { authorization: `Basic ${Buffer.from(`x:${h.adminKey}`).toString('base64')}` });
          expect(basic.statusCode, `${what} with Basic auth`).toBe(401);
        }
      });

      it('accepts the key as "Authorization: Bearer <key>" and as "x-api-key"', async () => {
        const bearer = await h.req('GET', '/v1/offers', undefined, h.adminKey);
        expect(bearer.statusCode, bearer.body).toBe(200);
        const header = await h.req('GET', '/v1/offers', undefined, null, { 'x-api-key': h.adminKey });
        expect(header.statusCode, header.body).toBe(200);
        expect(json(header)).toEqual(json(bearer));
        const decide = await h.req('POST', '/v1/decide', validDecide('auth_xapikey'), null, { 'x-api-key': h.adminKey });
        expect(decide.statusCode, decide.body).toBe(200);
      });

      it('a read-only key can read but not decide or change the catalog', async () => {
        const read = await h.key(['read']);
        expectError(await h.req('POST', '/v1/decide', validDecide('scope_read'), read), 403, 'FORBIDDEN_SCOPE');
        expectError(await h.req('POST', '/v1/offers', validOffer(), read), 403, 'FORBIDDEN_SCOPE');
        expectError(await h.req('PUT', '/v1/offers/ofr_first_order', validOffer(), read), 403, 'FORBIDDEN_SCOPE');
        expectError(await h.req('POST', '/v1/offers/ofr_first_order/status', { status: 'paused' }, read), 403, 'FORBIDDEN_SCOPE');
        expectError(await h.req('PUT', '/v1/products', [{ sku: 'RO-1', price: 1, unitCost: 1 }], read), 403, 'FORBIDDEN_SCOPE');
        expectError(await h.req('POST', '/v1/keys', { scopes: ['admin'] }, read), 403, 'FORBIDDEN_SCOPE');
        expectError(await h.req('GET', '/v1/keys', undefined, read), 403, 'FORBIDDEN_SCOPE');

        expect((await h.req('GET', '/v1/offers', undefined, read)).statusCode).toBe(200);
        expect((await h.req('GET', '/v1/offers/ofr_first_order', undefined, read)).statusCode).toBe(200);
        expect((await h.req('GET', '/v1/products/TEE-001', undefined, read)).statusCode).toBe(200);
        expect((await h.req('GET', '/v1/decisions', undefined, read)).statusCode).toBe(200);
        // Forbidden requests changed nothing.
        expect(json(await h.req('GET', '/v1/offers/ofr_first_order', undefined, read)).status).toBe('live');
      });

      it('a decide key can decide but not create offers (decide does not imply read or admin)', async () => {
        const dk = await h.key(['decide']);
        const d = await h.req('POST', '/v1/decide', validDecide('scope_decide'), dk);
        expect(d.statusCode, d.body).toBe(200);
        expect(json(d).decisionId).toMatch(/^dec_/);
        expect((await h.req('PUT', '/v1/customers/scope_decide', { traits: { orderCount: 3 } }, dk)).statusCode).toBe(200);
        expectError(await h.req('POST', '/v1/offers', validOffer(), dk), 403, 'FORBIDDEN_SCOPE');
        expectError(await h.req('POST', '/v1/catalog/import', {}, dk), 403, 'FORBIDDEN_SCOPE');
        expectError(await h.req('GET', '/v1/offers', undefined, dk), 403, 'FORBIDDEN_SCOPE');
      });

      it('an admin key can do everything, including managing keys', async () => {
        expect((await h.req('POST', '/v1/decide', validDecide('scope_admin'))).statusCode).toBe(200);
        expect((await h.req('GET', '/v1/decisions', undefined)).statusCode).toBe(200);
        expect((await h.req('POST', '/v1/offers', validOffer({ id: 'ofr_admin_can', name: 'Admin made' }))).statusCode).toBe(201);
        expect((await h.req('POST', '/v1/rules/check', { expression: 'cart.subtotal >= 5000' })).statusCode).toBe(200);
        expect((await h.req('PUT', '/v1/products', [{ sku: 'ADMIN-1', price: 100, unitCost: 50 }])).statusCode).toBe(200);
        const created = await h.req('POST', '/v1/keys', { scopes: ['read'], name: 'reporting' });
        expect(created.statusCode, created.body).toBe(201);
        const list = json(await h.req('GET', '/v1/keys'));
        expect(list.keys.length).toBeGreaterThanOrEqual(2);
        // Only hashes are stored, and not even those are shown.
        expect(JSON.stringify(list)).not.toMatch(/"hash"|opk_/);
        // A combination of scopes works for each of them.
        const both = await h.key(['decide', 'read']);
        expect((await h.req('POST', '/v1/decide', validDecide('scope_both'), both)).statusCode).toBe(200);
        expect((await h.req('GET', '/v1/offers', undefined, both)).statusCode).toBe(200);
      });

      it('a revoked key stops working at once (even though it was just cached)', async () => {
        const created = await h.req('POST', '/v1/keys', { scopes: ['decide'], name: 'to revoke' });
        expect(created.statusCode, created.body).toBe(201);
        const { id, key, scopes } = json(created) as { id: string; key: string; scopes: string[] };
        expect(id).toMatch(/^key_/);
        expect(key).toMatch(/^opk_/);
        expect(scopes).toEqual(['decide']);
        expect((await h.req('POST', '/v1/decide', validDecide('revoke_me'), key)).statusCode).toBe(200);
        expect((await h.req('POST', '/v1/decide', validDecide('revoke_me'), null, { 'x-api-key': key })).statusCode).toBe(200);

        const del = await h.req('DELETE', `/v1/keys/${id}`);
        expect(del.statusCode, del.body).toBe(204);
        expectError(await h.req('POST', '/v1/decide', validDecide('revoke_me'), key), 401, 'UNAUTHENTICATED');
        expectError(await h.req('POST', '/v1/decide', validDecide('revoke_me'), null, { 'x-api-key': key }), 401, 'UNAUTHENTICATED');
        // Revoking twice, or a key that never existed: 404.
        expectError(await h.req('DELETE', `/v1/keys/${id}`), 404, 'NOT_FOUND');
        expectError(await h.req('DELETE', '/v1/keys/key_never_existed'), 404, 'NOT_FOUND');
        // Other keys are unaffected.
        expect((await h.req('GET', '/v1/offers')).statusCode).toBe(200);
      });

      it('rejects key creation with an unknown scope, naming the field', async () => {
        const r = await h.req('POST', '/v1/keys', { scopes: ['superuser'] });
        const body = expectError(r, 400, 'VALIDATION_FAILED');
        expect(body.error.details.some((d) => d.path.startsWith('scopes'))).toBe(true);
        expectError(await h.req('POST', '/v1/keys', { scopes: [] }), 400, 'VALIDATION_FAILED', 'scopes');
      });
    });

    describe('bad input is a 4xx that names the field', () => {
      it('decide: quantity 0 → cart.lines.0.quantity', async () => {
        const body = validDecide('bad_qty');
        body.cart.lines[0]!.quantity = 0;
        const r = await h.req('POST', '/v1/decide', body);
        const e = expectError(r, 400, 'VALIDATION_FAILED', 'cart.lines.0.quantity');
        expect(e.error.message).toContain('cart.lines.0.quantity');
      });

      it('decide: neither customerId nor anonymousId → customerId', async () => {
        const { customerId: _c, ...body } = validDecide('x');
        expectError(await h.req('POST', '/v1/decide', body), 400, 'VALIDATION_FAILED', 'customerId');
        // anonymousId alone is fine.
        expect((await h.req('POST', '/v1/decide', { ...body, anonymousId: 'anon_ok' })).statusCode).toBe(200);
      });

      it('decide: unknown channel, missing placement, unknown field, bad context time', async () => {
        expectError(await h.req('POST', '/v1/decide', validDecide('bad_channel', { channel: 'fax' })), 400, 'VALIDATION_FAILED', 'channel');
        const { placement: _p, ...noPlacement } = validDecide('no_placement');
        expectError(await h.req('POST', '/v1/decide', noPlacement), 400, 'VALIDATION_FAILED', 'placement');
        expectError(await h.req('POST', '/v1/decide', validDecide('bad_time', { context: { time: 'yesterday' } })), 400, 'VALIDATION_FAILED', 'context.time');
        expectError(await h.req('POST', '/v1/decide', validDecide('bad_price', { cart: { lines: [{ sku: 'TEE-001', quantity: 1, unitPrice: -5 }] } })), 400, 'VALIDATION_FAILED', 'cart.lines.0.unitPrice');
        const unknown = expectError(await h.req('POST', '/v1/decide', validDecide('unknown_field', { coupon: 'SAVE10' })), 400, 'VALIDATION_FAILED');
        expect(unknown.error.details.length).toBeGreaterThan(0);
        expect(unknown.error.details.every((d) => d.path.length > 0)).toBe(true);
        expect(JSON.stringify(unknown.error)).toContain('coupon');
      });

      it('malformed, empty or non-JSON bodies → INVALID_JSON / UNSUPPORTED_MEDIA_TYPE, never 5xx', async () => {
        expectError(await h.req('POST', '/v1/decide', '{"customerId": "c1", '), 400, 'INVALID_JSON');
        expectError(await h.req('POST', '/v1/offers', '{not json}'), 400, 'INVALID_JSON');
        expectError(await h.req('PUT', '/v1/products', '[{"sku": "A",]'), 400, 'INVALID_JSON');
        expectError(await h.req('POST', '/v1/decide', ''), 400, 'INVALID_JSON');
        // Prototype poisoning attempts are refused, not processed: valid JSON, so the key is named.
        expectError(await h.req('POST', '/v1/offers', '{"name":"x","type":"content","__proto__":{"admin":true}}'), 400, 'VALIDATION_FAILED', '__proto__');
        expectError(await h.req('POST', '/v1/decide', '<decide/>', h.adminKey, { 'content-type': 'application/xml' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
        // Only JSON is accepted: text/plain is refused as a media type.
        expectError(await h.req('POST', '/v1/decide', 'customerId=c1', h.adminKey, { 'content-type': 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
        // JSON of the wrong shape is a validation error on the whole body.
        expectError(await h.req('POST', '/v1/decide', '[1,2,3]'), 400, 'VALIDATION_FAILED');
        expectError(await h.req('POST', '/v1/offers', 'null'), 400, 'VALIDATION_FAILED');
      });

      it('an over-large body → 413 PAYLOAD_TOO_LARGE', async () => {
        const big = validDecide('big', { traits: { blob: 'x'.repeat(1_200_000) } });
        expectError(await h.req('POST', '/v1/decide', big), 413, 'PAYLOAD_TOO_LARGE');
      });

      it('offer: percent value 150 → value; broken and non-boolean CEL → INVALID_RULE on eligibility', async () => {
        expectError(await h.req('POST', '/v1/offers', validOffer({ value: 150 })), 400, 'VALIDATION_FAILED', 'value');
        expectError(await h.req('POST', '/v1/offers', validOffer({ type: 'percent_off', valueLadder: [10, 5] })), 400, 'VALIDATION_FAILED', 'valueLadder.1');
        expectError(await h.req('POST', '/v1/offers', { ...validOffer(), type: 'teleport' }), 400, 'VALIDATION_FAILED', 'type');
        expectError(await h.req('POST', '/v1/offers', validOffer({ eligibility: 'cart.subtotal >=' })), 400, 'INVALID_RULE', 'eligibility');
        expectError(await h.req('POST', '/v1/offers', validOffer({ eligibility: 'cart.subtotal + 1' })), 400, 'INVALID_RULE', 'eligibility');
        expectError(await h.req('POST', '/v1/offers', validOffer({ eligibility: 'shopper.vip == true' })), 400, 'INVALID_RULE', 'eligibility');
        // The same check is available without saving.
        expectError(await h.req('POST', '/v1/rules/check', { expression: 'cart.subtotal >=' }), 400, 'INVALID_RULE', 'expression');
        expect(json(await h.req('POST', '/v1/rules/check', { expression: 'customer.traits.vip == true' }))).toEqual({ valid: true, personalized: true });
        // Nothing was created by the rejected requests.
        const names = (json(await h.req('GET', '/v1/offers')).offers as Array<{ name: string }>).map((o) => o.name);
        expect(names).not.toContain('Ten percent');
      });

      it('an invalid rule in an edit is rejected and the offer keeps its version', async () => {
        const c = await h.req('POST', '/v1/offers', validOffer({ id: 'ofr_rule_edit', eligibility: 'cart.subtotal >= 100' }));
        expect(c.statusCode, c.body).toBe(201);
        expectError(await h.req('PUT', '/v1/offers/ofr_rule_edit', validOffer({ eligibility: 'cart.subtotal >=' })), 400, 'INVALID_RULE', 'eligibility');
        expect(json(await h.req('GET', '/v1/offers/ofr_rule_edit')).version).toBe(1);
      });

      it('campaign with an unknown offer → 422 UNKNOWN_OFFER_REFERENCE at offers.N', async () => {
        const r = await h.req('POST', '/v1/campaigns', { name: 'Bad refs', placements: ['cart'], offers: ['ofr_does_not_exist'] });
        expectError(r, 422, 'UNKNOWN_OFFER_REFERENCE', 'offers.0');
        const r2 = await h.req('POST', '/v1/campaigns', { name: 'Bad refs', placements: ['cart'], offers: ['ofr_first_order', 'ofr_nope'] });
        expectError(r2, 422, 'UNKNOWN_OFFER_REFERENCE', 'offers.1');
        expectError(await h.req('PUT', '/v1/campaigns/cmp_storefront', { name: 'x', placements: ['cart'], offers: ['ofr_nope'] }), 422, 'UNKNOWN_OFFER_REFERENCE', 'offers.0');
      });

      it('free_gift with an unknown giftSku → 422 UNKNOWN_PRODUCT_REFERENCE; bundle with an unknown SKU names it', async () => {
        expectError(await h.req('POST', '/v1/offers', { name: 'Gift', type: 'free_gift', giftSku: 'NO-SUCH-SKU' }), 422, 'UNKNOWN_PRODUCT_REFERENCE', 'giftSku');
        expectError(await h.req('POST', '/v1/offers', { name: 'Bundle', type: 'bundle', value: 10, bundleSkus: ['HOOD-001', 'NO-SUCH-SKU'] }), 422, 'UNKNOWN_PRODUCT_REFERENCE', 'bundleSkus.1');
        const ok = await h.req('POST', '/v1/offers', { name: 'Gift', type: 'free_gift', giftSku: 'GIFT-TOTE' });
        expect(ok.statusCode, ok.body).toBe(201);
      });

      it('unknown route → 404 NOT_FOUND; unknown offer, campaign, product, decision, customer → their own 404 codes', async () => {
        expectError(await h.req('GET', '/v1/nope'), 404, 'NOT_FOUND');
        expectError(await h.req('POST', '/v2/decide', validDecide('x')), 404, 'NOT_FOUND');
        expectError(await h.req('GET', '/v1/offers/ofr_missing'), 404, 'OFFER_NOT_FOUND');
        expectError(await h.req('GET', '/v1/offers/ofr_missing/versions'), 404, 'OFFER_NOT_FOUND');
        expectError(await h.req('PUT', '/v1/offers/ofr_missing', validOffer()), 404, 'OFFER_NOT_FOUND');
        expectError(await h.req('POST', '/v1/offers/ofr_missing/status', { status: 'live' }), 404, 'OFFER_NOT_FOUND');
        expectError(await h.req('GET', '/v1/offers/ofr_first_order?version=99'), 404, 'OFFER_NOT_FOUND');
        expectError(await h.req('GET', '/v1/campaigns/cmp_missing'), 404, 'CAMPAIGN_NOT_FOUND');
        expectError(await h.req('GET', '/v1/products/NOPE-404'), 404, 'PRODUCT_NOT_FOUND');
        expectError(await h.req('GET', '/v1/decisions/dec_missing'), 404, 'DECISION_NOT_FOUND');
        expectError(await h.req('GET', '/v1/customers/nobody'), 404, 'CUSTOMER_NOT_FOUND');
      });

      it('bad query strings and params name the query field', async () => {
        expectError(await h.req('GET', '/v1/offers/ofr_first_order?version=abc'), 400, 'VALIDATION_FAILED', 'query.version');
        expectError(await h.req('GET', '/v1/offers/ofr_first_order?version=0'), 400, 'VALIDATION_FAILED', 'query.version');
        expectError(await h.req('GET', '/v1/offers?status=deleted'), 400, 'VALIDATION_FAILED', 'query.status');
        expectError(await h.req('GET', '/v1/decisions?limit=0'), 400, 'VALIDATION_FAILED', 'query.limit');
        expectError(await h.req('GET', '/v1/products?limit=5000'), 400, 'VALIDATION_FAILED', 'query.limit');
        expectError(await h.req('POST', '/v1/offers/ofr_first_order/status', { status: 'gone' }), 400, 'VALIDATION_FAILED', 'status');
      });

      it('property: POST /v1/decide never answers 5xx and every error names a registered code (and a path for VALIDATION_FAILED)', async () => {
        await fc.assert(
          fc.asyncProperty(bodies(decideBase, DECIDE_PATHS, DECIDE_STRING_PATHS), async (body) => {
            const res = await h.req('POST', '/v1/decide', body === undefined ? '' : body);
            const problem = errorBodyProblem(res);
            if (problem) throw new Error(problem);
            if (res.statusCode === 200) {
              const d = json(res);
              expect(d.decisionId).toMatch(/^dec_/);
              expect(Array.isArray(d.offers) && Array.isArray(d.candidates)).toBe(true);
            }
          }),
          { numRuns: FUZZ_RUNS },
        );
      });

      it('property: POST /v1/offers never answers 5xx and every error names a registered code (and a path for VALIDATION_FAILED)', async () => {
        await fc.assert(
          fc.asyncProperty(bodies(offerBase, OFFER_PATHS, OFFER_STRING_PATHS), async (body) => {
            const res = await h.req('POST', '/v1/offers', body === undefined ? '' : body);
            const problem = errorBodyProblem(res);
            if (problem) throw new Error(problem);
            if (res.statusCode === 201) {
              const o = json(res);
              expect(o.id).toMatch(/^ofr_/);
              expect(o.version).toBe(1);
            }
          }),
          { numRuns: FUZZ_RUNS },
        );
      });
    });

    describe('robustness beyond the body schemas: odd ids, query values and URLs', () => {
      /** A 4xx in the API's error shape (a registered code matching the status), never a 5xx. */
      const expectClientError = (res: Awaited<ReturnType<ApiHarness['req']>>, codes: string[]) => {
        expect(errorBodyProblem(res), res.body).toBeNull();
        expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
        expect(res.statusCode, res.body).toBeLessThan(500);
        expect(codes, res.body).toContain(json(res).error.code);
      };

      it('a version number beyond the database integer range is "not found" (or invalid), not a 500', async () => {
        for (const v of ['2147483648', '9007199254740991']) {
          expectClientError(await h.req('GET', `/v1/offers/ofr_first_order?version=${v}`), ['OFFER_NOT_FOUND', 'VALIDATION_FAILED']);
          expectClientError(await h.req('GET', `/v1/campaigns/cmp_storefront?version=${v}`), ['CAMPAIGN_NOT_FOUND', 'VALIDATION_FAILED']);
        }
      });

      it('strings holding a NUL character are rejected or handled, never a 500', async () => {
        const ok = (res: Awaited<ReturnType<ApiHarness['req']>>, codes: string[]) => {
          if (res.statusCode >= 200 && res.statusCode < 300) return;
          expectClientError(res, codes);
        };
        ok(await h.req('POST', '/v1/decide', validDecide('nul\u0000customer')), ['VALIDATION_FAILED']);
        ok(await h.req('POST', '/v1/decide', { ...validDecide('nul_anon'), customerId: undefined, anonymousId: 'a\u0000' }), ['VALIDATION_FAILED']);
        ok(await h.req('POST', '/v1/decide', validDecide('nul_placement', { placement: 'ca\u0000rt' })), ['VALIDATION_FAILED']);
        ok(await h.req('POST', '/v1/decide', validDecide('nul_request', { requestId: 'r\u0000' })), ['VALIDATION_FAILED']);
        ok(await h.req('PUT', '/v1/products', [{ sku: 'NUL-NAME', name: 'Tee\u0000', price: 100, unitCost: 10 }]), ['VALIDATION_FAILED']);
        ok(await h.req('PUT', '/v1/customers/%00', { traits: {} }), ['VALIDATION_FAILED']);
        expectClientError(await h.req('GET', '/v1/offers/%00'), ['OFFER_NOT_FOUND', 'VALIDATION_FAILED']);
        expectClientError(await h.req('GET', '/v1/products/%00'), ['PRODUCT_NOT_FOUND', 'VALIDATION_FAILED']);
        expectClientError(await h.req('GET', '/v1/decisions/dec_%00'), ['DECISION_NOT_FOUND', 'VALIDATION_FAILED']);
        ok(await h.req('GET', '/v1/decisions?customerId=%00'), ['VALIDATION_FAILED']);
      });

      it('ids up to the documented 200 characters work in paths, as they do in decide', async () => {
        const id = `cust_${'x'.repeat(145)}`; // 150 characters: IdParams and DecideRequest allow 200
        expect((await h.req('POST', '/v1/decide', validDecide(id))).statusCode).toBe(200);
        const put = await h.req('PUT', `/v1/customers/${id}`, { traits: { orderCount: 2 } });
        expect(put.statusCode, put.body).toBe(200);
        const got = await h.req('GET', `/v1/customers/${id}`);
        expect(got.statusCode, got.body).toBe(200);
        expect(json(got).traits).toEqual({ orderCount: 2 });
        expectClientError(await h.req('GET', `/v1/decisions/dec_${'y'.repeat(150)}`), ['DECISION_NOT_FOUND']);
      });

      it('URL-level errors (bad percent-encoding, over-long path parameters) use the API error shape', async () => {
        expectClientError(await h.req('GET', '/v1/offers/%E0%A4%A'), ['VALIDATION_FAILED', 'NOT_FOUND', 'OFFER_NOT_FOUND']);
        expectClientError(await h.req('GET', `/v1/products/${'S'.repeat(300)}`), ['VALIDATION_FAILED', 'PRODUCT_NOT_FOUND']);
        expectClientError(await h.req('GET', `/v1/offers/ofr_${'z'.repeat(300)}`), ['VALIDATION_FAILED', 'OFFER_NOT_FOUND']);
      });
    });

    describe('offer lifecycle and versions', () => {
      it('edits create immutable versions; status moves draft → live → paused → live → archived; archived is final', async () => {
        const id = 'ofr_lifecycle';
        const created = await h.req('POST', '/v1/offers', validOffer({ id, name: 'Life v1', value: 10 }));
        expect(created.statusCode, created.body).toBe(201);
        const v1 = json(created);
        expect(v1).toMatchObject({ id, status: 'draft', version: 1, name: 'Life v1', value: 10, type: 'percent_off' });

        const e2 = await h.req('PUT', `/v1/offers/${id}`, validOffer({ name: 'Life v2', value: 12 }));
        expect(e2.statusCode, e2.body).toBe(200);
        expect(json(e2)).toMatchObject({ id, status: 'draft', version: 2, value: 12 });
        const e3 = await h.req('PUT', `/v1/offers/${id}`, validOffer({ name: 'Life v3', value: 15, maxDiscount: 2000 }));
        expect(e3.statusCode, e3.body).toBe(200);
        expect(json(e3)).toMatchObject({ id, version: 3, name: 'Life v3', value: 15, maxDiscount: 2000 });

        const versions = json(await h.req('GET', `/v1/offers/${id}/versions`)).versions as Array<Record<string, unknown>>;
        expect(versions).toHaveLength(3);
        const byVersion = new Map(versions.map((v) => [v.version, v]));
        expect([...byVersion.keys()].sort()).toEqual([1, 2, 3]);
        expect(byVersion.get(1)).toMatchObject({ name: 'Life v1', value: 10 });
        expect(byVersion.get(1)).not.toHaveProperty('maxDiscount');
        expect(byVersion.get(2)).toMatchObject({ name: 'Life v2', value: 12 });
        expect(byVersion.get(3)).toMatchObject({ name: 'Life v3', value: 15, maxDiscount: 2000 });

        const old = json(await h.req('GET', `/v1/offers/${id}?version=1`));
        expect(old).toMatchObject({ id, version: 1, name: 'Life v1', value: 10, type: 'percent_off', placements: ['cart'] });
        expect(old).not.toHaveProperty('maxDiscount');
        expect(json(await h.req('GET', `/v1/offers/${id}`))).toMatchObject({ version: 3, name: 'Life v3' });

        const move = async (status: string) => {
          const r = await h.req('POST', `/v1/offers/${id}/status`, { status });
          expect(r.statusCode, `→ ${status}: ${r.body}`).toBe(200);
          expect(json(r)).toMatchObject({ id, status, version: 3 });
        };
        await move('live');
        expect((json(await h.req('GET', '/v1/offers?status=live')).offers as Array<{ id: string }>).map((o) => o.id)).toContain(id);
        await move('paused');
        await move('live');
        await move('archived');
        expect(json(await h.req('GET', `/v1/offers/${id}`)).status).toBe('archived');

        const back = expectError(await h.req('POST', `/v1/offers/${id}/status`, { status: 'live' }), 409, 'INVALID_TRANSITION');
        expect(back.error.details.map((d) => d.path)).toContain('status');
        expectError(await h.req('POST', `/v1/offers/${id}/status`, { status: 'draft' }), 409, 'INVALID_TRANSITION');
        expectError(await h.req('PUT', `/v1/offers/${id}`, validOffer({ name: 'Life v4' })), 409, 'ARCHIVED');

        // Neither refused request changed anything; old versions are still intact.
        expect(json(await h.req('GET', `/v1/offers/${id}`))).toMatchObject({ status: 'archived', version: 3, name: 'Life v3' });
        expect(json(await h.req('GET', `/v1/offers/${id}/versions`)).versions).toHaveLength(3);
        expect(json(await h.req('GET', `/v1/offers/${id}?version=1`))).toMatchObject({ name: 'Life v1', value: 10 });
      });

      it('a draft cannot go straight to paused; creating with a taken id is a 409 CONFLICT', async () => {
        const c = await h.req('POST', '/v1/offers', validOffer({ id: 'ofr_draft_only' }));
        expect(c.statusCode, c.body).toBe(201);
        expectError(await h.req('POST', '/v1/offers/ofr_draft_only/status', { status: 'paused' }), 409, 'INVALID_TRANSITION');
        expectError(await h.req('POST', '/v1/offers', validOffer({ id: 'ofr_draft_only' })), 409, 'CONFLICT', 'id');
      });

      it('a decision made after an edit records the new offer version', async () => {
        const offerId = 'ofr_versioned_decision';
        const campaignId = 'cmp_versioned_decision';
        const o = await h.req('POST', '/v1/offers', { id: offerId, status: 'live', name: 'Gift v1', type: 'free_gift', giftSku: 'GIFT-TOTE', placements: ['versioned_slot'], expectedLift: 0.5 });
        expect(o.statusCode, o.body).toBe(201);
        const c = await h.req('POST', '/v1/campaigns', { id: campaignId, status: 'live', name: 'Versioned', placements: ['versioned_slot'], offers: [offerId], policy: { type: 'static' }, holdoutPct: 0 });
        expect(c.statusCode, c.body).toBe(201);

        const ask = (customerId: string) =>
          h.req('POST', '/v1/decide', {
            customerId,
            placement: 'versioned_slot',
            channel: 'web',
            campaignId,
            cart: { lines: [{ sku: 'JACKET-001', quantity: 2, unitPrice: 15000 }] },
          });
        const d1r = await ask('versioned_1');
        expect(d1r.statusCode, d1r.body).toBe(200);
        const d1 = json(d1r);
        expect(d1.campaignId).toBe(campaignId);
        expect(d1.candidates.find((x: { offerId: string }) => x.offerId === offerId)?.version).toBe(1);
        expect(d1.offers.map((x: { offerId: string; version: number }) => [x.offerId, x.version])).toEqual([[offerId, 1]]);

        const edit = await h.req('PUT', `/v1/offers/${offerId}`, { name: 'Gift v2', type: 'free_gift', giftSku: 'GIFT-TOTE', placements: ['versioned_slot'], expectedLift: 0.6 });
        expect(edit.statusCode, edit.body).toBe(200);
        expect(json(edit)).toMatchObject({ version: 2, status: 'live' });

        const d2r = await ask('versioned_2');
        expect(d2r.statusCode, d2r.body).toBe(200);
        const d2 = json(d2r);
        expect(d2.candidates.find((x: { offerId: string }) => x.offerId === offerId)?.version).toBe(2);
        expect(d2.offers.map((x: { offerId: string; version: number; name: string }) => [x.offerId, x.version, x.name])).toEqual([[offerId, 2, 'Gift v2']]);
        expect(d2.catalogVersion).toBeGreaterThan(d1.catalogVersion);
        // The first decision's log keeps the version it was made with.
        expect(json(await h.req('GET', `/v1/decisions/${d1.decisionId}`)).offers[0].version).toBe(1);
      });
    });

    describe('products', () => {
      it('bulk upsert, derived unit margin, margin % and days of cover; a second upsert updates', async () => {
        const put = await h.req('PUT', '/v1/products', [
          { sku: 'P-COAT', name: 'Coat', category: 'outerwear', price: 10000, unitCost: 4000, fulfilmentCost: 500, inventoryOnHand: 300, dailySalesRate: 12 },
          { sku: 'P-SCARF', price: 3000, unitCost: 1000 },
          { sku: 'P-FREE', price: 0, unitCost: 100, inventoryOnHand: 10, dailySalesRate: 0 },
        ]);
        expect(put.statusCode, put.body).toBe(200);
        expect(json(put)).toEqual({ upserted: 3 });

        const coat = json(await h.req('GET', '/v1/products/P-COAT'));
        expect(coat).toMatchObject({ sku: 'P-COAT', name: 'Coat', category: 'outerwear', price: 10000, unitCost: 4000, fulfilmentCost: 500, inventoryOnHand: 300, dailySalesRate: 12 });
        expect(coat.unitMargin).toBe(10000 - 4000 - 500);
        expect(coat.marginPct).toBe(55);
        expect(coat.daysOfCover).toBe(25);

        const scarf = json(await h.req('GET', '/v1/products/P-SCARF'));
        expect(scarf).toMatchObject({ price: 3000, unitCost: 1000, fulfilmentCost: 0, unitMargin: 2000, daysOfCover: null });
        expect(scarf.marginPct).toBeCloseTo(66.67, 2);

        const free = json(await h.req('GET', '/v1/products/P-FREE'));
        expect(free).toMatchObject({ unitMargin: -100, marginPct: null, daysOfCover: null });

        const again = await h.req('PUT', '/v1/products', [{ sku: 'P-COAT', name: 'Coat', category: 'outerwear', price: 12000, unitCost: 4000, fulfilmentCost: 500, inventoryOnHand: 150, dailySalesRate: 10 }]);
        expect(again.statusCode, again.body).toBe(200);
        expect(json(again)).toEqual({ upserted: 1 });
        const coat2 = json(await h.req('GET', '/v1/products/P-COAT'));
        expect(coat2).toMatchObject({ price: 12000, unitMargin: 7500, marginPct: 62.5, daysOfCover: 15 });

        const listed = json(await h.req('GET', '/v1/products?limit=1000')).products as Array<{ sku: string; unitMargin: number }>;
        expect(listed.find((p) => p.sku === 'P-COAT')?.unitMargin).toBe(7500);
        expect(listed.filter((p) => p.sku === 'P-COAT')).toHaveLength(1);
      });

      it('a duplicate SKU in one batch is a 400 naming the entry, and nothing in the batch is stored', async () => {
        const r = await h.req('PUT', '/v1/products', [
          { sku: 'P-DUP-NEW', price: 100, unitCost: 10 },
          { sku: 'P-DUP', price: 100, unitCost: 10 },
          { sku: 'P-DUP', price: 200, unitCost: 10 },
        ]);
        expectError(r, 400, 'VALIDATION_FAILED', '2.sku');
        expectError(await h.req('GET', '/v1/products/P-DUP-NEW'), 404, 'PRODUCT_NOT_FOUND');
        expectError(await h.req('GET', '/v1/products/P-DUP'), 404, 'PRODUCT_NOT_FOUND');
      });

      it('invalid products name the entry and field', async () => {
        expectError(await h.req('PUT', '/v1/products', [{ sku: 'OK-1', price: 1, unitCost: 1 }, { sku: 'BAD-1', price: -1, unitCost: 1 }]), 400, 'VALIDATION_FAILED', '1.price');
        expectError(await h.req('PUT', '/v1/products', [{ sku: 'has space', price: 1, unitCost: 1 }]), 400, 'VALIDATION_FAILED', '0.sku');
        expectError(await h.req('PUT', '/v1/products', []), 400, 'VALIDATION_FAILED');
        expectError(await h.req('GET', '/v1/products/OK-1'), 404, 'PRODUCT_NOT_FOUND');
      });
    });

    describe('idempotency and the decision log', () => {
      it('a retried decide with the same requestId returns the same decision, logged once', async () => {
        const customerId = `idem_${backend}`;
        const body = validDecide(customerId, { requestId: `req-idem-${backend}` });
        const r1 = await h.req('POST', '/v1/decide', body);
        const r2 = await h.req('POST', '/v1/decide', body);
        expect(r1.statusCode, r1.body).toBe(200);
        expect(r2.statusCode, r2.body).toBe(200);
        const d1 = json(r1);
        const d2 = json(r2);
        expect(d1.decisionId).toMatch(/^dec_/);
        expect(d2.decisionId).toBe(d1.decisionId);
        expect(d2).toEqual(d1);
        expect(d1.requestId).toBe(`req-idem-${backend}`);

        const logged = json(await h.req('GET', `/v1/decisions?customerId=${customerId}`)).decisions as Array<{ decisionId: string }>;
        expect(logged.map((d) => d.decisionId)).toEqual([d1.decisionId]);

        // A new requestId is a new decision.
        const r3 = json(await h.req('POST', '/v1/decide', { ...body, requestId: `req-idem-${backend}-2` }));
        expect(r3.decisionId).not.toBe(d1.decisionId);
        const after = json(await h.req('GET', `/v1/decisions?customerId=${customerId}`)).decisions as Array<{ decisionId: string }>;
        expect(after.map((d) => d.decisionId).sort()).toEqual([d1.decisionId, r3.decisionId].sort());
      });

      it('concurrent retries with one requestId (a client timing out and retrying) also get one decision', async () => {
        const customerId = `idem_conc_${backend}`;
        const body = validDecide(customerId, { requestId: `req-conc-${backend}` });
        const rs = await Promise.all([1, 2, 3, 4].map(() => h.req('POST', '/v1/decide', body)));
        for (const r of rs) expect(r.statusCode, r.body).toBe(200);
        const ids = new Set(rs.map((r) => json(r).decisionId));
        expect(ids.size).toBe(1);
        for (const r of rs) expect(json(r)).toEqual(json(rs[0]!));
        const logged = json(await h.req('GET', `/v1/decisions?customerId=${customerId}`)).decisions as Array<{ decisionId: string }>;
        expect(logged.map((d) => d.decisionId)).toEqual([...ids]);
      });

      it('GET /v1/decisions/:id returns the decision with its logged request and probability', async () => {
        const body = validDecide(`log_${backend}`, { context: { device: 'tablet', geo: { country: 'DE', city: 'Berlin' }, session: { utm: 'spring' } } });
        const r = await h.req('POST', '/v1/decide', body);
        expect(r.statusCode, r.body).toBe(200);
        const d = json(r);
        expect(d.probability).toBeGreaterThan(0);
        expect(d.probability).toBeLessThanOrEqual(1);

        const read = await h.key(['read']);
        const got = await h.req('GET', `/v1/decisions/${d.decisionId}`, undefined, read);
        expect(got.statusCode, got.body).toBe(200);
        const logged = json(got);
        expect(logged.decisionId).toBe(d.decisionId);
        expect(logged.probability).toBe(d.probability);
        expect(logged.offers).toEqual(d.offers);
        expect(logged.candidates).toEqual(d.candidates);
        expect(logged.log.request).toMatchObject({ placement: 'cart', channel: 'web', context: body.context, cart: body.cart });

        const listed = json(await h.req('GET', `/v1/decisions?customerId=log_${backend}`, undefined, read)).decisions as Array<{ decisionId: string }>;
        expect(listed.map((x) => x.decisionId)).toEqual([d.decisionId]);
      });
    });

    describe('OpenAPI and docs', () => {
      it('GET /openapi.json is an OpenAPI 3 document describing /v1/decide with a request body schema', async () => {
        const r = await h.req('GET', '/openapi.json', undefined, null);
        expect(r.statusCode, r.body).toBe(200);
        const doc = json(r);
        expect(String(doc.openapi)).toMatch(/^3\./);
        expect(doc.info?.title).toEqual(expect.any(String));
        const decide = doc.paths?.['/v1/decide']?.post;
        expect(decide, Object.keys(doc.paths ?? {}).join(', ')).toBeDefined();
        const schema = decide.requestBody?.content?.['application/json']?.schema;
        expect(schema).toBeDefined();
        // The schema describes the real fields (possibly behind a $ref to components).
        const resolved = typeof schema.$ref === 'string' ? doc.components.schemas[schema.$ref.split('/').pop()] : schema;
        expect(Object.keys(resolved.properties ?? {})).toEqual(expect.arrayContaining(['customerId', 'placement', 'channel', 'cart']));
        expect(resolved.required ?? []).toEqual(expect.arrayContaining(['placement', 'channel']));
        for (const p of ['/v1/offers', '/v1/offers/{id}', '/v1/products', '/v1/decisions/{id}']) expect(Object.keys(doc.paths)).toContain(p);
      });

      it('GET /docs serves the UI (200 or a redirect to it)', async () => {
        const r = await h.req('GET', '/docs', undefined, null);
        expect(r.statusCode === 200 || (r.statusCode >= 300 && r.statusCode < 400), `status ${r.statusCode}`).toBe(true);
        if (r.statusCode >= 300) {
          expect(r.headers.location).toBeTruthy();
          const next = await h.req('GET', new URL(String(r.headers.location), 'http://localhost/docs').pathname, undefined, null);
          expect(next.statusCode).toBe(200);
        } else {
          expect(r.body.toLowerCase()).toContain('<html');
        }
      });
    });
  });
}

describe('decide preview', () => {
  it('explains the decision without reserving, issuing or logging anything', async () => {
    const { createTestEngine } = await import('./helpers/backends.js');
    const { importCatalog } = await import('../src/catalog/import.js');
    const t = await createTestEngine('sqlite');
    const app = await testServer(t.engine);
    try {
      await importCatalog(t.engine.catalog, {
        offers: [{ id: 'ofr_once', status: 'live', name: 'Once', type: 'content', caps: { global: 1 } }],
        campaigns: [{ id: 'cmp_p', status: 'live', name: 'P', placements: ['home_hero'], offers: ['ofr_once'], policy: { type: 'static' }, holdoutPct: 0 }],
      });
      const { key } = await t.engine.keys.create(['read']);
      const body = { customerId: 'c1', placement: 'home_hero', channel: 'web' };
      for (let i = 0; i < 3; i++) {
        const r = await app.inject({ method: 'POST', url: '/v1/decide/preview', headers: { authorization: `Bearer ${key}` }, payload: body });
        expect(r.statusCode, r.body).toBe(200);
        expect(r.json().chosen.map((c: { offerId: string }) => c.offerId)).toEqual(['ofr_once']);
      }
      expect((await t.store.readCounters(['g:ofr_once'])).get('g:ofr_once') ?? 0).toBe(0);
      expect(await t.store.listDecisions({ limit: 10 })).toHaveLength(0);
    } finally {
      await app.close();
      await t.close();
    }
  });
});
