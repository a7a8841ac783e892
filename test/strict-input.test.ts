import { connect, type AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { importCatalog } from '../src/catalog/import.js';
import { BudgetSchema, CampaignCreateSchema, CapsSchema, OfferCreateSchema, PolicyConfigSchema, ResponseModelSchema } from '../src/core/catalog.js';
import { DecideRequestSchema } from '../src/core/request.js';
import { EventBatchSchema } from '../src/events/index.js';
import { isOfferpilotError } from '../src/core/errors.js';
import { RedemptionRequestSchema } from '../src/wallet/service.js';
import { BACKENDS } from './helpers/backends.js';
import { createApiHarness, DEMO_CATALOG, expectError, json, type ApiHarness, type ErrorJson } from './helpers/http.js';

type Body = Record<string, unknown>;
const clone = <T>(v: T): T => structuredClone(v);
const demoOffers = DEMO_CATALOG.offers as Body[];
const demoCampaigns = DEMO_CATALOG.campaigns as Body[];
const paths = (r: { body: string }) => (JSON.parse(r.body) as ErrorJson).error.details.map((d) => d.path);

/** The misspellings the issue found silently dropped on create. */
const MISSPELLED_OFFER: Array<[string, unknown]> = [
  ['budgets', { total: 1000 }],
  ['minCartvalue', 5000],
  ['maxDiscont', 1000],
  ['eligibilty', 'cart.subtotal > 100'],
  ['cap', { perCustomer: 1 }],
];
const offerBody = (): Body => ({ name: 'Ten off', type: 'amount_off', value: 1000 });
const campaignBody = (): Body => ({ name: 'Home', placements: ['home_hero'], offers: ['ofr_10_off_75'] });

for (const backend of BACKENDS) {
  describe(`strict input: unknown keys are a 400 naming the key [${backend}]`, () => {
    let h: ApiHarness;
    beforeAll(async () => {
      h = await createApiHarness(backend);
      expect((await h.req('POST', '/v1/catalog/import', DEMO_CATALOG)).statusCode).toBe(200);
    });
    afterAll(() => h?.close());

    it('POST /v1/offers and PUT refuse a misspelled top-level field, naming it, and store nothing', async () => {
      const before = json(await h.req('GET', '/v1/offers')).offers.length;
      for (const [key, value] of MISSPELLED_OFFER) {
        for (const status of [undefined, 'live']) {
          const body = { ...offerBody(), ...(status ? { status } : {}), [key]: value };
          const e = expectError(await h.req('POST', '/v1/offers', body), 400, 'VALIDATION_FAILED', key);
          expect(e.error.message).toContain(key);
        }
        expectError(await h.req('PUT', '/v1/offers/ofr_10_off_75', { ...offerBody(), [key]: value }), 400, 'VALIDATION_FAILED', key);
      }
      expect(json(await h.req('GET', '/v1/offers')).offers.length).toBe(before);
      expect(json(await h.req('GET', '/v1/offers/ofr_10_off_75')).version).toBe(1);
    });

    it('a campaign with "holdoutPercent" is refused on create and PUT (the holdout never silently stays at 10%)', async () => {
      const before = json(await h.req('GET', '/v1/campaigns')).campaigns.length;
      expectError(await h.req('POST', '/v1/campaigns', { ...campaignBody(), holdoutPercent: 50 }), 400, 'VALIDATION_FAILED', 'holdoutPercent');
      expectError(await h.req('POST', '/v1/campaigns', { ...campaignBody(), id: 'cmp_x', status: 'live', holdoutPercent: 50 }), 400, 'VALIDATION_FAILED', 'holdoutPercent');
      expectError(await h.req('PUT', '/v1/campaigns/cmp_storefront', { ...campaignBody(), holdoutPercent: 50 }), 400, 'VALIDATION_FAILED', 'holdoutPercent');
      expect(json(await h.req('GET', '/v1/campaigns')).campaigns.length).toBe(before);
    });

    it('nested unknown keys are named at their dotted path (scope variants and caps.frequency are strict too)', async () => {
      expectError(await h.req('POST', '/v1/offers', { ...offerBody(), scope: { type: 'order', skus: ['TEE-001'] } }), 400, 'VALIDATION_FAILED', 'scope.skus');
      expectError(await h.req('POST', '/v1/offers', { ...offerBody(), caps: { frequency: { count: 1, window: '1d', windw: '2d' } } }), 400, 'VALIDATION_FAILED', 'caps.frequency.windw');
      expectError(await h.req('POST', '/v1/offers', { ...offerBody(), budget: { totl: 5 } }), 400, 'VALIDATION_FAILED', 'budget.totl');
    });

    it('catalog import refuses a misspelled key on its first run, naming offers.N.key, and writes nothing of the file', async () => {
      const file = { products: [{ sku: 'NEW-1', price: 100, unitCost: 10 }], offers: [{ id: 'ofr_imp_ok', name: 'Ok', type: 'content' }, { id: 'ofr_imp_bad', name: 'Bad', type: 'amount_off', value: 100, budgets: { total: 10 } }], campaigns: [{ id: 'cmp_imp', name: 'C', placements: ['x'], offers: ['ofr_imp_ok'], holdoutPercent: 5 }] };
      const e = expectError(await h.req('POST', '/v1/catalog/import', file), 400, 'VALIDATION_FAILED', 'offers.1.budgets');
      const at = e.error.details.map((d) => d.path);
      expect(at).toContain('campaigns.0.holdoutPercent');
      expect(at.some((p) => p.includes('(body)'))).toBe(false);
      expect((await h.req('GET', '/v1/offers/ofr_imp_ok')).statusCode).toBe(404);
      expect((await h.req('GET', '/v1/products/NEW-1')).statusCode).toBe(404);
      // The library entry point (the CLI's `offers import`) refuses it the same way.
      const err = await importCatalog(h.t.engine.catalog, file).then(() => null, (x: unknown) => x);
      expect(isOfferpilotError(err) && err.details.map((d) => d.path)).toContain('offers.1.budgets');
      // An offer without an id in a file is refused too (nothing would make a second run idempotent).
      expectError(await h.req('POST', '/v1/catalog/import', { offers: [{ name: 'No id', type: 'content' }] }), 400, 'VALIDATION_FAILED', 'offers.0.id');
    });

    it('importing the same valid file twice is idempotent: the second run changes nothing and makes no version', async () => {
      const file = clone(DEMO_CATALOG) as { offers: Body[]; campaigns: Body[] };
      file.offers = file.offers.map((o) => ({ ...o, id: `${o.id as string}_twice` }));
      file.campaigns = file.campaigns.map((c) => ({ ...c, id: `${c.id as string}_twice`, offers: (c.offers as string[]).map((id) => `${id}_twice`) }));
      const first = json(await h.req('POST', '/v1/catalog/import', file));
      expect(first.offers).toEqual({ created: file.offers.length, updated: 0, unchanged: 0 });
      const snapshot = async () => ({
        offers: json(await h.req('GET', '/v1/offers')).offers.filter((o: Body) => String(o.id).endsWith('_twice')),
        campaigns: json(await h.req('GET', '/v1/campaigns')).campaigns.filter((c: Body) => String(c.id).endsWith('_twice')),
      });
      const before = await snapshot();
      const second = json(await h.req('POST', '/v1/catalog/import', file));
      expect(second.offers).toEqual({ created: 0, updated: 0, unchanged: file.offers.length });
      expect(second.campaigns).toEqual({ created: 0, updated: 0, unchanged: file.campaigns.length });
      expect(await snapshot()).toEqual(before);
      expect(before.offers.every((o: Body) => o.version === 1)).toBe(true);
    });

    it('every other body names an unknown key at its own path', async () => {
      const cart = { lines: [{ sku: 'TEE-001', quantity: 1, unitPrice: 2000 }] };
      const cases: Array<[string, string, unknown, string]> = [
        ['POST', '/v1/decide', { customerId: 'c1', placement: 'cart', channel: 'web', cartt: cart }, 'cartt'],
        ['POST', '/v1/decide/preview', { customerId: 'c1', placement: 'cart', channel: 'web', cart: { ...cart, totl: 1 } }, 'cart.totl'],
        ['POST', '/v1/events', { events: [{ id: 'e1', type: 'click', customerId: 'c1', occurredAt: '2026-11-01T00:00:00Z' }], batchId: 1 }, 'batchId'],
        ['POST', '/v1/events', { events: [{ id: 'e1', type: 'click', customerId: 'c1', occurredAt: '2026-11-01T00:00:00Z', ocurredAt: 'x' }] }, 'events.0.ocurredAt'],
        ['POST', '/v1/redemptions', { orderId: 'o1', customerId: 'c1', channel: 'web', tokens: ['X'], cart, coupon: 'SAVE10' }, 'coupon'],
        ['POST', '/v1/redemptions/quote', { orderId: 'o1', customerId: 'c1', channel: 'web', tokens: ['X'], cart: { ...cart, lines: [{ ...cart.lines[0], skuu: 'x' }] } }, 'cart.lines.0.skuu'],
        ['PUT', '/v1/customers/c1', { traits: {}, consnt: {} }, 'consnt'],
        ['PUT', '/v1/products', [{ sku: 'A', price: 1, unitCost: 1, prce: 2 }], '0.prce'],
        ['POST', '/v1/keys', { scopes: ['read'], nam: 'x' }, 'nam'],
        ['POST', '/v1/rules/check', { expression: 'true', strict: true }, 'strict'],
        ['POST', '/v1/offers/ofr_10_off_75/status', { status: 'paused', reason: 'x' }, 'reason'],
        ['POST', '/v1/catalog/import', { offer: [] }, 'offer'],
        // Routes that take no body refuse one with fields instead of ignoring it.
        ['POST', '/v1/campaigns/stop-loss', { dryRun: true }, 'dryRun'],
        ['POST', '/v1/redemptions/red_nope/rollback', { reason: 'x' }, 'reason'],
      ];
      for (const [method, url, body, path] of cases) expectError(await h.req(method as 'POST', url, body), 400, 'VALIDATION_FAILED', path);
    });
  });
}

describe('strict input: query strings and request-level errors [sqlite]', () => {
  // Storage plays no part here: query parsing, routing and HTTP-level errors happen before any read.
  let h: ApiHarness;
  beforeAll(async () => {
    h = await createApiHarness('sqlite');
  });
  afterAll(() => h?.close());

  it('an unknown query key is named query.<key> on every GET, not query.querystring', async () => {
    const urls = [
      '/health', '/v1/offers', '/v1/offers/ofr_x', '/v1/offers/ofr_x/versions', '/v1/campaigns', '/v1/decisions', '/v1/decisions/dec_x',
      '/v1/customers/c1', '/v1/customers/c1/features', '/v1/customers/c1/wallet', '/v1/redemptions/red_x', '/v1/products', '/v1/products/A',
      '/v1/keys', '/v1/reports/liabilities', '/v1/reports/incrementality', '/v1/reports/readout', '/v1/reports/sample-size?sd=1&holdoutPct=10&customers=100',
      '/v1/campaigns/cmp_x/guard-log',
    ];
    for (const u of urls) {
      const r = await h.req('GET', `${u}${u.includes('?') ? '&' : '?'}bogusKey=1`);
      expectError(r, 400, 'VALIDATION_FAILED', 'query.bogusKey');
      expect(paths(r)).not.toContain('query.querystring');
    }
    // A query key on a POST route is refused as well (events and redemptions validate their bodies themselves).
    expectError(await h.req('POST', '/v1/events?dryRun=1', { events: [] }), 400, 'VALIDATION_FAILED', 'query.dryRun');
  });

  it('report windows: real ISO 8601 dates only, from not after to, on every endpoint taking from/to', async () => {
    for (const bad of ['2026-13-45', '2026-02-30', 'yesterday', '2026-11-01T25:00:00Z', '1700000000000']) {
      expectError(await h.req('GET', `/v1/reports/liabilities?from=${bad}`), 400, 'VALIDATION_FAILED', 'query.from');
      expectError(await h.req('GET', `/v1/reports/liabilities?to=${bad}`), 400, 'VALIDATION_FAILED', 'query.to');
      expectError(await h.req('GET', `/v1/reports/incrementality?from=${bad}`), 400, 'VALIDATION_FAILED', 'query.from');
      expectError(await h.req('GET', `/v1/reports/readout?to=${bad}`), 400, 'VALIDATION_FAILED', 'query.to');
    }
    expectError(await h.req('GET', '/v1/reports/liabilities?from=2026-11-02&to=2026-11-01'), 400, 'VALIDATION_FAILED', 'query.from');
    expectError(await h.req('GET', '/v1/reports/incrementality?from=2026-11-02T00:00:00Z&to=2026-11-01'), 400, 'VALIDATION_FAILED', 'query.from');
    expectError(await h.req('GET', '/v1/reports/incrementality?from=2026-11-01&to=2026-11-01T00:00:00Z'), 400, 'VALIDATION_FAILED', 'query.from');
  });

  it('report windows accept both a date and a timestamp with offset, everywhere', async () => {
    const l = await h.req('GET', `/v1/reports/liabilities?from=2026-11-01&to=${encodeURIComponent('2026-11-03T23:30:00-02:00')}`);
    expect(l.statusCode, l.body).toBe(200);
    // A timestamp selects its UTC day: 23:30 at −02:00 is 01:30 UTC the next day.
    expect(json(l)).toMatchObject({ from: '2026-11-01', to: '2026-11-04' });
    const same = await h.req('GET', '/v1/reports/liabilities?from=2026-11-01&to=2026-11-01');
    expect(same.statusCode, same.body).toBe(200);
    const i = await h.req('GET', `/v1/reports/incrementality?from=2026-10-01&to=${encodeURIComponent('2026-11-01T02:00:00+02:00')}&breakdowns=false`);
    expect(i.statusCode, i.body).toBe(200);
    expect(json(i)).toMatchObject({ from: '2026-10-01T00:00:00.000Z', to: '2026-11-01T00:00:00.000Z' });
    expect((await h.req('GET', '/v1/reports/readout?to=2026-11-01')).statusCode).toBe(200);
  });

  it('a __proto__ (or constructor.prototype) key is a VALIDATION_FAILED naming the key, not "not valid JSON"', async () => {
    const r = await h.req('POST', '/v1/decide', '{"customerId":"c1","placement":"cart","channel":"web","traits":{"a":{"__proto__":{"admin":true}}}}');
    const e = expectError(r, 400, 'VALIDATION_FAILED', 'traits.a.__proto__');
    expect(e.error.message).not.toMatch(/not valid JSON/i);
    expectError(await h.req('POST', '/v1/events', '{"__proto__":{"x":1},"events":[]}'), 400, 'VALIDATION_FAILED', '__proto__');
    expectError(await h.req('POST', '/v1/offers', '{"name":"x","constructor":{"prototype":{"y":1}}}'), 400, 'VALIDATION_FAILED', 'constructor.prototype');
    // Malformed JSON is still INVALID_JSON.
    expectError(await h.req('POST', '/v1/decide', '{"customerId": '), 400, 'INVALID_JSON');
  });

  it('a method the route does not support is a 405 METHOD_NOT_ALLOWED with an Allow header; an unknown path stays 404', async () => {
    const get = await h.req('GET', '/v1/decide');
    expectError(get, 405, 'METHOD_NOT_ALLOWED', 'method');
    expect(get.headers.allow).toBe('POST');
    const del = await h.req('DELETE', '/v1/offers/ofr_x');
    expectError(del, 405, 'METHOD_NOT_ALLOWED');
    expect(String(del.headers.allow).split(', ')).toEqual(expect.arrayContaining(['GET', 'PUT']));
    expect(String(del.headers.allow)).not.toContain('DELETE');
    const put = await h.req('PUT', '/v1/redemptions/red_x/rollback');
    expectError(put, 405, 'METHOD_NOT_ALLOWED');
    expect(put.headers.allow).toBe('POST');
    expectError(await h.req('GET', '/v1/nothing-here'), 404, 'NOT_FOUND');
    expectError(await h.req('GET', '/v1/offers/ofr_x/nothing'), 404, 'NOT_FOUND');
  });

  it('sample-size refuses inputs outside a sane range, naming the field, so every number it returns is finite', async () => {
    for (const [q, field] of [
      ['sd=1e308&holdoutPct=10&customers=1000', 'query.sd'],
      ['sd=2500&holdoutPct=10&customers=1e300', 'query.customers'],
      ['sd=2500&holdoutPct=10&mde=1e-300', 'query.mde'],
      ['sd=2500&holdoutPct=1e-300&mde=10', 'query.holdoutPct'],
      ['sd=Infinity&holdoutPct=10&mde=10', 'query.sd'],
    ] as const) {
      expectError(await h.req('GET', `/v1/reports/sample-size?${q}`), 400, 'VALIDATION_FAILED', field);
    }
    // The extremes of the accepted range still give finite figures.
    for (const q of ['sd=1e12&holdoutPct=0.01&mde=0.01&level=0.999999&power=0.999999', 'sd=1e12&holdoutPct=99.99&customers=1&level=0.999999&power=0.999999', 'sd=0.000001&holdoutPct=50&mde=1e12']) {
      const r = await h.req('GET', `/v1/reports/sample-size?${q}`);
      expect(r.statusCode, r.body).toBe(200);
      for (const v of Object.values(json(r))) expect(Number.isFinite(v), `${q}: ${r.body}`).toBe(true);
    }
  });

  it('a request whose headers are too large gets 431 HEADERS_TOO_LARGE in the usual error body', async () => {
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = h.app.server.address() as AddressInfo;
    const raw = await new Promise<string>((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      let out = '';
      s.on('data', (d) => (out += d.toString()));
      s.on('close', () => resolve(out));
      s.on('error', (e) => (out ? resolve(out) : reject(e)));
      s.write(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 431 /);
    const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as ErrorJson;
    expect(body.error.code).toBe('HEADERS_TOO_LARGE');
    expect(body.error.details).toEqual([]);
  });

  it('every object in the request schemas is strict (except decide context, free-form by design, and records)', () => {
    const schemas: Record<string, z.ZodType> = { offer: OfferCreateSchema, campaign: CampaignCreateSchema, decide: DecideRequestSchema, events: EventBatchSchema, redemption: RedemptionRequestSchema };
    const loose: string[] = [];
    const walk = (v: unknown, at: string) => {
      if (!v || typeof v !== 'object') return;
      const o = v as Record<string, unknown>;
      if (o.type === 'object' && o.properties && o.additionalProperties !== false) loose.push(at);
      for (const [k, x] of Object.entries(o)) walk(x, `${at}/${k}`);
    };
    for (const [name, s] of Object.entries(schemas)) walk(z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }), name);
    expect(loose).toEqual(['decide/properties/context']);
  });
});

describe('timestamps in replies are ISO 8601 strings', () => {
  for (const backend of BACKENDS) {
    it(`customers and API keys [${backend}]`, async () => {
      const h = await createApiHarness(backend);
      try {
        const isoString = expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
        const put = json(await h.req('PUT', '/v1/customers/c1', { traits: { a: 1 } }));
        expect(put).toMatchObject({ createdAt: isoString, updatedAt: isoString });
        expect(json(await h.req('GET', '/v1/customers/c1'))).toMatchObject({ createdAt: isoString, updatedAt: isoString });
        const k = json(await h.req('POST', '/v1/keys', { scopes: ['read'] }));
        await h.req('DELETE', `/v1/keys/${k.id}`);
        const keys = json(await h.req('GET', '/v1/keys')).keys as Body[];
        expect(keys.length).toBeGreaterThan(0);
        for (const key of keys) expect(key.createdAt).toEqual(isoString);
        expect(keys.find((x) => x.id === k.id)?.revokedAt).toEqual(isoString);
      } finally {
        await h.close();
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Acceptance property: any valid offer or campaign body with one key renamed to a misspelling is
// refused by create, PUT and import with a 400 whose details name the renamed key.
// ---------------------------------------------------------------------------------------------

/** Every field name a body may carry at any depth: a misspelling must not land on one of them. */
const shapeKeys = (s: z.ZodType) => Object.keys((s as z.ZodObject).shape ?? {});
const KNOWN = new Set([
  ...shapeKeys(OfferCreateSchema), ...shapeKeys(CampaignCreateSchema), ...shapeKeys(CapsSchema), ...shapeKeys(BudgetSchema),
  ...shapeKeys(ResponseModelSchema), ...shapeKeys(PolicyConfigSchema), 'categories', 'skus', 'count', 'window', 'subtotal', 'marginPct',
]);

/** Paths of the keys of a body, top level and nested objects (not record values, which take any key, nor the scope's discriminator). */
function keyPaths(v: unknown, at: string[] = []): string[][] {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return [];
  return Object.entries(v).flatMap(([k, x]) => {
    const here = [...at, k];
    if (k === 'metadata' || k === 'baseConversionByPlacement') return [here];
    // An unknown discriminator value cannot pick a branch, so zod reports it, not the sibling keys.
    if (at.length === 1 && at[0] === 'scope' && k === 'type') return [];
    return [here, ...keyPaths(x, here)];
  });
}

const misspell = (key: string, how: number, pos: number): string => {
  const i = pos % key.length;
  switch (how % 5) {
    case 0: return key.slice(0, i) + key.slice(i + 1); // drop a letter
    case 1: return key.slice(0, i) + key[i] + key.slice(i); // double a letter
    case 2: return i + 1 < key.length ? key.slice(0, i) + key[i + 1] + key[i] + key.slice(i + 2) : `${key}s`; // swap two
    case 3: return key.slice(0, i) + (key[i] === key[i]!.toUpperCase() ? key[i]!.toLowerCase() : key[i]!.toUpperCase()) + key.slice(i + 1); // change case
    default: return `${key}s`;
  }
};

function renameAt(body: Body, path: string[], to: string): Body {
  const out = clone(body);
  let node = out;
  for (const k of path.slice(0, -1)) node = node[k] as Body;
  const from = path[path.length - 1]!;
  const entries = Object.entries(node).map(([k, x]) => [k === from ? to : k, x] as const);
  for (const k of Object.keys(node)) delete node[k];
  Object.assign(node, Object.fromEntries(entries));
  return out;
}

// A campaign with every optional section, so nested keys are renamed too.
const richCampaign: Body = {
  id: 'cmp_rich', status: 'draft', name: 'Rich', description: 'd', placements: ['cart'], channels: ['web'], offers: ['ofr_10_off_75'], holdoutPct: 20, salt: 's',
  objective: 'incremental_margin', policy: { type: 'static', mode: 'priority' }, marginFloorPct: 5, maxOffers: 2, priority: 1,
  startsAt: '2026-01-01T00:00:00Z', endsAt: '2027-01-01T00:00:00Z', attributionWindow: '3d',
  model: { baseConversion: 0.1, baseConversionByPlacement: { cart: 0.2 }, elasticity: 1, redemptionRate: 0.5, expectedBasket: { subtotal: 4000, marginPct: 30 } },
};

for (const backend of BACKENDS) {
  // Refusal is schema-level, but PUT and import read the store first, so both backends run it.
  describe(`property: a renamed key is refused by create, PUT and import [${backend}]`, () => {
    let h: ApiHarness;
    beforeAll(async () => {
      h = await createApiHarness(backend);
      expect((await h.req('POST', '/v1/catalog/import', DEMO_CATALOG)).statusCode).toBe(200);
    });
    afterAll(() => h?.close());

    const cases = fc
      .record({
        kind: fc.constantFrom('offers' as const, 'campaigns' as const),
        pick: fc.nat(),
        keyPick: fc.nat(),
        how: fc.nat(),
        pos: fc.nat(),
      })
      .map(({ kind, pick, keyPick, how, pos }) => {
        const pool = kind === 'offers' ? demoOffers : [...demoCampaigns, richCampaign];
        const base = pool[pick % pool.length]!;
        const candidates = keyPaths(base);
        const path = candidates[keyPick % candidates.length]!;
        const to = misspell(path[path.length - 1]!, how, pos);
        return { kind, base, path, to, body: renameAt(base, path, to) };
      })
      .filter(({ to, path }) => to !== path[path.length - 1] && !KNOWN.has(to) && to !== '__proto__');

    it('every surface names the renamed key', async () => {
      const target = { offers: 'ofr_10_off_75', campaigns: 'cmp_storefront' };
      await fc.assert(
        fc.asyncProperty(cases, async ({ kind, path, to, body }) => {
          const renamed = [...path.slice(0, -1), to].join('.');
          const label = `${kind} ${path.join('.')} → ${to}`;
          const post = await h.req('POST', `/v1/${kind}`, body);
          expect(post.statusCode, `${label}: ${post.body}`).toBe(400);
          expect(paths(post), label).toContain(renamed);
          // PUT takes the spec alone: the create-only keys (under their original names) are left out.
          const { id: _i, status: _s, ...spec } = body;
          const put = await h.req('PUT', `/v1/${kind}/${target[kind]}`, spec);
          expect(put.statusCode, `${label}: ${put.body}`).toBe(400);
          expect(paths(put), label).toContain(renamed);
          const imp = await h.req('POST', '/v1/catalog/import', { [kind]: [body] });
          expect(imp.statusCode, `${label}: ${imp.body}`).toBe(400);
          expect(paths(imp), label).toContain(`${kind}.0.${renamed}`);
        }),
        { numRuns: 60 },
      );
      // Nothing was stored by any refused request.
      expect(json(await h.req('GET', '/v1/offers/ofr_10_off_75')).version).toBe(1);
      expect(json(await h.req('GET', '/v1/campaigns/cmp_storefront')).version).toBe(1);
    });
  });
}
