import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS, type ErrorCode } from '../src/core/errors.js';
import { BACKENDS } from './helpers/backends.js';
import { createApiHarness, errorBodyProblem, json, type ApiHarness, type ErrorJson } from './helpers/http.js';

/**
 * Fuzz of the outcome endpoints: POST /v1/events, POST /v1/redemptions and POST /v1/redemptions/quote.
 *
 * For near-valid bodies (a valid body with one field mutated) and for arbitrary JSON:
 *   - never a 5xx;
 *   - every rejection is {error: {code, message, details: [{path, message}]}} with a registered code
 *     whose status matches, and resending the same body gives the same status and code;
 *   - a VALIDATION_FAILED names the mutated field in a detail path (e.g. events.3.occurredAt,
 *     tokens.0, cart.lines.0.quantity); token problems name tokens.N;
 *   - targeted mutations (expired / forged / foreign tokens, future dates, unknown SKUs…) get their own code;
 *   - valid batches and redemptions are accepted, and resending them is idempotent.
 */

/** Runs per property; raise it (HTTP_FUZZ_RUNS=2000) for a longer hunt. */
const RUNS = Number(process.env.HTTP_FUZZ_RUNS ?? 150);
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

type Json = Record<string, any>;
type Res = LightMyRequestResponse;

const CATALOG = {
  products: [
    { sku: 'TEE', category: 'tops', price: 2000, unitCost: 600, fulfilmentCost: 300 },
    { sku: 'HOOD', category: 'tops', price: 6000, unitCost: 2200, fulfilmentCost: 400 },
    { sku: 'JEANS', category: 'bottoms', price: 8000, unitCost: 3000, fulfilmentCost: 400 },
    { sku: 'GIFT-TOTE', category: 'gifts', price: 1500, unitCost: 350 },
  ],
  offers: [
    { id: 'ofr_fz_pct', status: 'live', name: '10% off', type: 'percent_off', value: 10, placements: ['cart'], stackingGroup: 'discount', expectedLift: 1 },
    { id: 'ofr_fz_ship', status: 'live', name: 'Free shipping', type: 'free_shipping', placements: ['cart'], stackingGroup: 'shipping', expectedLift: 1 },
    { id: 'ofr_fz_pts', status: 'live', name: '100 points', type: 'loyalty_points', pointsMode: 'fixed', value: 100, placements: ['cart'], stackingGroup: 'points', expectedLift: 1 },
    { id: 'ofr_fz_short', status: 'live', name: 'Flash 5%', type: 'percent_off', value: 5, expiresAfter: '30m', placements: ['short_slot'], expectedLift: 1 },
    { id: 'ofr_fz_min', status: 'live', name: '$5 off $500', type: 'amount_off', value: 500, minCartValue: 50_000, placements: ['min_slot'], expectedLift: 1 },
    { id: 'ofr_fz_content', status: 'live', name: 'Lookbook', type: 'content', placements: ['content_slot'], expectedLift: 1 },
    { id: 'ofr_fz_app', status: 'live', name: 'App only 15%', type: 'percent_off', value: 15, channels: ['app'], placements: ['app_slot'], expectedLift: 1 },
  ],
  campaigns: [
    { id: 'cmp_fz_cart', status: 'live', name: 'Cart', placements: ['cart'], offers: ['ofr_fz_pct', 'ofr_fz_ship', 'ofr_fz_pts'], holdoutPct: 0, maxOffers: 3, policy: { mode: 'priority' } },
    {
      id: 'cmp_fz_other',
      status: 'live',
      name: 'Other slots',
      placements: ['short_slot', 'min_slot', 'content_slot', 'app_slot'],
      offers: ['ofr_fz_short', 'ofr_fz_min', 'ofr_fz_content', 'ofr_fz_app'],
      holdoutPct: 0,
      policy: { mode: 'priority' },
    },
  ],
};
const KNOWN_SKUS = ['TEE', 'HOOD', 'JEANS', 'GIFT-TOTE'];

/** Codes a redemption answers about one of its tokens; their details name tokens.N. */
const TOKEN_CODES = new Set<string>([
  'TOKEN_INVALID',
  'TOKEN_EXPIRED',
  'TOKEN_ALREADY_REDEEMED',
  'TOKEN_NOT_FOR_CUSTOMER',
  'CHANNEL_NOT_ALLOWED',
  'MIN_CART_NOT_MET',
  'SCOPE_NOT_IN_CART',
  'BUNDLE_INCOMPLETE',
  'NOT_STACKABLE',
  'OFFER_NOT_REDEEMABLE',
  'REDEMPTION_CAP_REACHED',
  'BUDGET_EXHAUSTED',
  'DAILY_LIABILITY_EXCEEDED',
]);

// ---------------------------------------------------------------------------------------------
// Mutations

const clone = <T>(v: T): T => structuredClone(v);

/** Values that break validators: wrong types, boundaries, negative / huge / fractional numbers. */
const nasty = fc.oneof(
  fc.anything({ maxDepth: 2 }),
  fc.constantFrom(0, -1, -0, 1.5, 1e11 + 1, 1e12, 1e21, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, 100_000, 100_001, -1e11, '', ' ', '1', 'web', 'order', null, true, false, [], {}, [null], { a: 1 }),
  fc.string({ maxLength: 250 }),
  fc.integer(),
  fc.double(),
);
/** Strings a schema may accept but a database may not: control characters (NUL), lone surrogates, RTL marks. */
const oddString = fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }), fc.constantFrom('\u0000', 'a\u0000b', '\ud800', 'x\udfff', '\u202e', ' ', 'ñ', '%00', "'; DROP TABLE events; --"));

/** A path with placeholders resolved against the body: `$ev` picks an event, `$line` a line of it, `$tok` a token. */
type RelPath = string[];
interface Pick {
  ev: number;
  line: number;
  tok: number;
}

function resolvePath(body: Json, rel: RelPath, p: Pick): string[] {
  const out: string[] = [];
  let node: any = body;
  for (const seg of rel) {
    let k = seg;
    if (seg === '$ev') k = String(p.ev % Math.max(1, (node as unknown[])?.length ?? 1));
    else if (seg === '$line') k = String(p.line % Math.max(1, Array.isArray(node) ? node.length : 1));
    else if (seg === '$tok') k = String(p.tok % Math.max(1, Array.isArray(node) ? node.length : 1));
    out.push(k);
    node = node && typeof node === 'object' ? node[k] : undefined;
  }
  return out;
}

function setAt(body: Json, path: string[], value: unknown, del = false): Json {
  const out = clone(body);
  let node: any = out;
  path.slice(0, -1).forEach((k, i) => {
    // Create what is missing: an array when the next key is an index.
    if (node[k] === undefined || node[k] === null || typeof node[k] !== 'object') node[k] = /^\d+$/.test(path[i + 1]!) ? [] : {};
    node = node[k];
  });
  const last = path[path.length - 1]!;
  if (del) delete node[last];
  else node[last] = value;
  return out;
}

/**
 * Whether some detail names the field at `path`: the path itself or a field inside it; an unknown key
 * that holds it; or a parent (object-level issue such as the cart-subtotal rule on `lines`) or a sibling
 * (customerId / anonymousId rule) whose message mentions the field.
 */
function namesField(details: ErrorJson['error']['details'], path: string): boolean {
  const segs = path.split('.');
  const parentOf = (p: string) => (p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '');
  return details.some((d) => {
    if (d.path === path || d.path.startsWith(`${path}.`)) return true;
    // An unknown key is named at its own path: everything inside it is named with it.
    if (path.startsWith(`${d.path}.`) && d.message.startsWith('unknown field')) return true;
    const anc = d.path === '(body)' ? '' : d.path;
    if (anc === '' || path.startsWith(`${anc}.`)) {
      const next = (anc === '' ? path : path.slice(anc.length + 1)).split('.')[0]!;
      if (d.message.includes(next)) return true;
      if (anc.endsWith('lines') && /subtotal/.test(d.message)) return true;
    }
    if (parentOf(d.path) === parentOf(path) && d.message.toLowerCase().includes(segs[segs.length - 1]!.toLowerCase())) return true;
    // Changing an event's type changes which fields it needs: any issue within that event names it.
    if (segs[segs.length - 1] === 'type' && (d.path === parentOf(path) || d.path.startsWith(`${parentOf(path)}.`))) return true;
    return false;
  });
}

/** What a targeted mutation must get: a status, a code and (optionally) a detail path. */
interface Expectation {
  status: number;
  code: ErrorCode;
  path?: string;
}
interface Mutated {
  body: unknown;
  /** The mutated field, for the "names the field" check. */
  field?: string;
  expect?: Expectation;
  /** Body sent raw (not JSON-encoded). */
  raw?: boolean;
}

/** Answers seen, by label and status/code (print with FUZZ_TALLY=1 to see what the fuzz reached). */
const tally = new Map<string, number>();
function count(label: string, res: Res): void {
  let code = '';
  try {
    code = res.statusCode >= 400 ? ` ${JSON.parse(res.body).error.code}` : '';
  } catch {
    code = ' ?';
  }
  const k = `${label.replace(/#\d+$/, '')} → ${res.statusCode}${code}`;
  tally.set(k, (tally.get(k) ?? 0) + 1);
}

/** Checks the invariants every answer satisfies; returns the parsed error body for 4xx. */
function checkAnswer(res: Res, m: Mutated, label: string): ErrorJson | null {
  count(label, res);
  const problem = errorBodyProblem(res);
  if (problem) throw new Error(`${label}: ${problem}\nbody sent: ${JSON.stringify(m.body)?.slice(0, 600)}`);
  if (res.statusCode < 400) return null;
  const e = json<ErrorJson>(res);
  for (const d of e.error.details) {
    expect(typeof d.path, res.body).toBe('string');
    expect(d.path.length, res.body).toBeGreaterThan(0);
    expect(typeof d.message, res.body).toBe('string');
  }
  if (e.error.code === 'VALIDATION_FAILED' && m.field !== undefined) {
    if (!namesField(e.error.details, m.field)) throw new Error(`${label}: VALIDATION_FAILED does not name ${m.field}: ${res.body.slice(0, 600)}\nbody sent: ${JSON.stringify(m.body)?.slice(0, 600)}`);
  }
  return e;
}

function checkExpectation(res: Res, x: Expectation | undefined, label: string): void {
  if (!x) return;
  expect(res.statusCode, `${label}: ${res.body}`).toBe(x.status);
  const e = json<ErrorJson>(res);
  expect(e.error.code, `${label}: ${res.body}`).toBe(x.code);
  expect(ERRORS[x.code].status).toBe(x.status);
  if (x.path !== undefined) expect(e.error.details.map((d) => d.path), `${label}: ${res.body}`).toContain(x.path);
}

// ---------------------------------------------------------------------------------------------
// Events

/** An event without its id and time (the property assigns fresh ids and times relative to the test clock). */
type EventTemplate = Json & { _at: { dt: number } | { iso: string } };

const who = fc.oneof(fc.record({ customerId: fc.constantFrom('fz_cust_a', 'fz_cust_b', 'fz_cust_c') }), fc.record({ anonymousId: fc.constantFrom('fz_anon_a', 'fz_anon_b') }));
const at = fc.oneof(
  { weight: 9, arbitrary: fc.integer({ min: -30 * DAY, max: 4 * MIN }).map((dt) => ({ dt })) },
  // Outcome data before 2000 is refused (it was accepted, year 0000 included): the edge is valid.
  { weight: 1, arbitrary: fc.constantFrom('2000-01-01T00:00:00Z', '2000-01-01T01:00:00.000+01:00', '2026-11-22T12:00:00+23:59', '2000-02-29T23:59:59.999999999-12:00').map((iso) => ({ iso })) },
);
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const commonArb = fc.record({
  who,
  at,
  sessionId: opt(fc.string({ minLength: 1, maxLength: 40 })),
  placement: opt(fc.constantFrom('cart', 'pdp', 'home_hero')),
  channel: opt(fc.constantFrom('web', 'app', 'email', 'sms', 'push')),
  offerId: opt(fc.constantFrom('ofr_fz_pct', 'ofr_fz_ship', 'ofr_unknown')),
  decisionId: opt(fc.constantFrom('dec_does_not_exist', 'dec_x-1')),
  tokenPick: opt(fc.nat()),
  // Keys __proto__ / constructor.prototype anywhere in a body are refused by the JSON parser's
  // prototype-poisoning guard (INVALID_JSON, see the test below), so valid batches avoid them.
  properties: opt(fc.dictionary(fc.string({ maxLength: 20 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }).filter((p) => !/"(__proto__|constructor)"/.test(JSON.stringify(p)))),
});
const orderLine = fc.oneof(
  fc.record({ sku: fc.constantFrom(...KNOWN_SKUS), quantity: fc.integer({ min: 1, max: 100_000 }), unitPrice: fc.integer({ min: 0, max: 2_000_000 }), unitCost: opt(fc.integer({ min: 0, max: 1e11 })) }),
  // SKUs outside the catalog are fine when the line says what they cost.
  fc.record({ sku: fc.constantFrom('NOT-IN-CATALOG', 'x'), quantity: fc.integer({ min: 1, max: 100 }), unitPrice: fc.integer({ min: 0, max: 10_000 }), unitCost: fc.integer({ min: 0, max: 10_000 }) }),
);
const specificArb = fc.oneof(
  fc.record({ type: fc.constantFrom('impression', 'click', 'session_start') }),
  fc.record({ type: fc.constant('add_to_cart'), sku: fc.constantFrom(...KNOWN_SKUS, 'ANY-SKU'), quantity: opt(fc.integer({ min: 1, max: 100_000 })), unitPrice: opt(fc.integer({ min: 0, max: 1e11 })) }),
  fc.record({ type: fc.constant('checkout_started'), cartValue: opt(fc.integer({ min: 0, max: 1e11 })) }),
  fc.record({
    type: fc.constant('order'),
    orderId: fc.integer({ min: 1, max: 1_000_000 }).map((n) => `fz-order-${n}`),
    currency: opt(fc.constantFrom('USD', 'EUR', 'JPY')),
    lines: fc.array(orderLine, { minLength: 1, maxLength: 4 }), // ≤ 4 × 1e5 × 2e6 = 8e11, inside the 9e11 cap
    shipping: opt(fc.integer({ min: 0, max: 1e11 })),
    discount: opt(fc.integer({ min: 0, max: 1e11 })),
    tokenPicks: opt(fc.array(fc.nat(), { maxLength: 3 })),
  })
    // A valid order's discount is at most what it charged (subtotal + shipping).
    .map((o) => (o.discount === undefined ? o : { ...o, discount: Math.min(o.discount, o.lines.reduce((s, l) => s + l.unitPrice * l.quantity, 0) + (o.shipping ?? 0)) })),
  fc.record({ type: fc.constantFrom('refund', 'return'), orderId: fc.integer({ min: 1, max: 1_000_000 }).map((n) => `fz-order-${n}`), amount: fc.integer({ min: 1, max: 1e11 }), reason: opt(fc.string({ maxLength: 100 })) }),
);
const eventTemplate: fc.Arbitrary<EventTemplate> = fc.tuple(commonArb, specificArb).map(([c, s]) => {
  const e: Json = { ...s, ...c.who, _at: c.at };
  for (const k of ['sessionId', 'placement', 'channel', 'offerId', 'decisionId', 'properties'] as const) if (c[k] !== undefined) e[k] = c[k];
  if (c.tokenPick !== undefined) e._tokenPick = c.tokenPick;
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  return e as EventTemplate;
});

const EVENT_FIELDS = ['id', 'type', 'occurredAt', 'customerId', 'anonymousId', 'sessionId', 'decisionId', 'token', 'offerId', 'placement', 'channel', 'properties', 'sku', 'quantity', 'unitPrice', 'cartValue', 'orderId', 'currency', 'lines', 'shipping', 'discount', 'tokens', 'amount', 'reason', 'unexpectedField'];
const LINE_FIELDS = ['sku', 'quantity', 'unitPrice', 'unitCost', 'unexpectedField'];
const EVENT_STRING_FIELDS = ['id', 'customerId', 'anonymousId', 'sessionId', 'token', 'placement', 'orderId', 'reason', 'sku'];

type EventMutation =
  | { kind: 'generic'; rel: RelPath; del: boolean; value: unknown; pick: Pick }
  | { kind: 'semantic'; name: string; pick: Pick; n: number; s: string };

const pickArb = fc.record({ ev: fc.nat(), line: fc.nat(), tok: fc.nat() });
const EVENT_SEMANTIC = [
  'futureDate',
  'badDate',
  'dateAsNumber',
  'unknownSkuNoCost',
  'tooMany',
  'empty',
  'nulField',
  'nulPropertyKey',
  'unknownType',
  'switchType',
  'bothSubjects',
  'noSubject',
  'badDecisionId',
  'badOfferId',
  'tooManyTokens',
  'negativeAmount',
  'hugeQuantity',
  'subtotalCap',
  'longId',
  'extraTopLevel',
  'dupIdInBatch',
  'garbageToken',
  'notAnArray',
  'missingId',
  'missingOrderId',
] as const;

const eventMutation: fc.Arbitrary<EventMutation> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('generic' as const),
      rel: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...EVENT_FIELDS).map((f) => ['events', '$ev', f]) },
        { weight: 2, arbitrary: fc.constantFrom(...LINE_FIELDS).map((f) => ['events', '$ev', 'lines', '$line', f]) },
        { weight: 1, arbitrary: fc.constantFrom<RelPath>(['events'], ['events', '$ev'], ['events', '$ev', 'properties', 'k'], ['events', '$ev', 'lines', '$line'], ['events', '$ev', 'tokens', '0']) },
      ),
      del: fc.boolean(),
      value: nasty,
      pick: pickArb,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('generic' as const), rel: fc.constantFrom(...EVENT_STRING_FIELDS).map((f) => ['events', '$ev', f]), del: fc.constant(false), value: oddString, pick: pickArb }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('semantic' as const), name: fc.constantFrom(...EVENT_SEMANTIC), pick: pickArb, n: fc.nat(), s: oddString }) },
);

const BAD_DATES = ['2026-13-01T00:00:00Z', '2026-02-30T00:00:00Z', 'yesterday', '2026-11-23', '2026-11-23T12:00:00', '2026-11-23T12:00:00+0530', '2026-11-23T24:00:00Z', '2026-11-23T12:00:60Z', '+275760-09-13T00:00:00Z', '', '0001-01-01T00:00:00Z', '1970-01-01T00:00:00.000Z', '1999-12-31T23:59:59.999Z'];

// ---------------------------------------------------------------------------------------------
// Redemptions

interface Tok {
  token: string;
  subject: { customerId: string } | { anonymousId: string };
}

const redemptionBase = fc.record({
  anonymous: fc.boolean(),
  channel: fc.constantFrom('web', 'app'),
  currency: opt(fc.constantFrom('USD', 'EUR', 'JPY')),
  lines: fc.array(fc.record({ sku: fc.constantFrom(...KNOWN_SKUS, 'UNLISTED-1'), quantity: fc.integer({ min: 1, max: 3 }), unitPrice: fc.integer({ min: 1, max: 5000 }) }), { minLength: 1, maxLength: 3 }),
  shipping: opt(fc.integer({ min: 0, max: 1500 })),
});

const REDEMPTION_FIELDS: RelPath[] = [
  ['orderId'],
  ['customerId'],
  ['anonymousId'],
  ['channel'],
  ['tokens'],
  ['tokens', '$tok'],
  ['cart'],
  ['cart', 'currency'],
  ['cart', 'lines'],
  ['cart', 'lines', '$line'],
  ['cart', 'lines', '$line', 'sku'],
  ['cart', 'lines', '$line', 'quantity'],
  ['cart', 'lines', '$line', 'unitPrice'],
  ['cart', 'lines', '$line', 'unexpectedField'],
  ['cart', 'shipping'],
  ['cart', 'unexpectedField'],
  ['unexpectedField'],
];
const REDEMPTION_STRING_FIELDS: RelPath[] = [['orderId'], ['customerId'], ['anonymousId'], ['tokens', '$tok'], ['cart', 'lines', '$line', 'sku'], ['cart', 'currency']];
const REDEMPTION_SEMANTIC = [
  'garbageToken',
  'tamperedSignature',
  'unknownKid',
  'swappedPayload',
  'forgedIssuance',
  'forgedOffer',
  'unknownCoupon',
  'expired',
  'alreadyRedeemed',
  'otherCustomer',
  'wrongChannel',
  'minCart',
  'content',
  'sameTokenTwice',
  'tooManyTokens',
  'noTokens',
  'emptyToken',
  'longToken',
  'badQuantity',
  'badUnitPrice',
  'subtotalCap',
  'badShipping',
  'tooManyLines',
  'noLines',
  'noSubject',
  'badChannel',
  'badCurrency',
  'nul',
  'orderConflict',
  'extraTopLevel',
  'missingOrderId',
  'missingChannel',
] as const;
type RedemptionMutation =
  | { kind: 'generic'; rel: RelPath; del: boolean; value: unknown; pick: Pick }
  | { kind: 'semantic'; name: (typeof REDEMPTION_SEMANTIC)[number]; pick: Pick; n: number; s: string };

/** Redemption strings may hold lone UTF-16 surrogates (refused at the edge); true would keep them well formed. */
const LONE_SURROGATE_BUG_ON_PG = false;

const redemptionMutation = (wellFormedOnly: boolean): fc.Arbitrary<RedemptionMutation> => {
  // String.prototype.toWellFormed, spelled out (the project's lib is ES2023).
  const strings = wellFormedOnly ? oddString.map((x) => x.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')) : oddString;
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('generic' as const), rel: fc.constantFrom(...REDEMPTION_FIELDS), del: fc.boolean(), value: nasty, pick: pickArb }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('generic' as const), rel: fc.constantFrom(...REDEMPTION_STRING_FIELDS), del: fc.constant(false), value: strings, pick: pickArb }) },
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('semantic' as const), name: fc.constantFrom(...REDEMPTION_SEMANTIC), pick: pickArb, n: fc.nat(), s: strings }) },
  );
};

/** Arbitrary JSON bodies, and raw strings that are rarely JSON. */
const arbitraryBody: fc.Arbitrary<Mutated> = fc.oneof(
  fc.anything({ maxDepth: 3 }).map((body) => ({ body })),
  fc.object({ maxDepth: 3 }).map((body) => ({ body })),
  fc.jsonValue({ maxDepth: 3 }).map((body) => ({ body })),
  fc.record({ events: fc.anything({ maxDepth: 2 }) }).map((body) => ({ body })),
  fc.record({ events: fc.array(fc.object({ maxDepth: 2 }), { maxLength: 3 }) }).map((body) => ({ body })),
  fc.record({ orderId: fc.anything(), channel: fc.anything(), tokens: fc.anything(), cart: fc.anything() }).map((body) => ({ body })),
  fc.oneof(fc.string({ maxLength: 80 }), fc.constantFrom('', '{', '[', 'null', '{"events": [', '{"events": [] ,}', '{"a":"\\ud800"}', '{"__proto__": {"x": 1}}', '{"constructor": {"prototype": {}}}', '\u0000', '{"events":[{"id":"\\u0000"}]}')).map((body) => ({ body, raw: true })),
);

// ---------------------------------------------------------------------------------------------

for (const backend of BACKENDS) {
  describe(`outcome endpoints under fuzz [${backend}]`, () => {
    let h: ApiHarness;
    const pools = {
      expired: [] as Tok[],
      minCart: [] as Tok[],
      content: [] as Tok[],
      appOnly: [] as Tok[],
      quote: [] as Tok[][],
      eventTokens: [] as string[],
      redeemed: [] as Tok[],
      orderIds: [] as string[],
    };
    let seq = 0;
    const next = (p: string) => `${p}_${backend}_${++seq}`;
    const subjectOf = (anonymous: boolean, id: string): Tok['subject'] => (anonymous ? { anonymousId: `anon_${id}` } : { customerId: `cust_${id}` });

    /** Decides for a subject and returns the issued tokens. */
    async function issue(subject: Tok['subject'], placement: string, channel: string, cart: { lines: unknown[]; shipping?: number }): Promise<Tok[]> {
      const r = await h.req('POST', '/v1/decide', { ...subject, placement, channel, cart });
      expect(r.statusCode, r.body).toBe(200);
      type Offer = { token: string | null; issuanceId: string; offerId: string; version: number; value: number | null; expiresAt: string };
      const sub = 'customerId' in subject ? `c:${subject.customerId}` : `a:${subject.anonymousId}`;
      // Content gets no token any more (nothing to redeem); sign one from its claims, as a token
      // minted before that change would be, to check redemption still refuses it.
      const tokenOf = (o: Offer) =>
        o.token ?? h.t.engine.tokens.sign({ iss: o.issuanceId, ofr: o.offerId, ver: o.version, sub, val: o.value, exp: Math.floor(Date.parse(o.expiresAt) / 1000) });
      return (json(r).offers as Offer[]).map((o) => ({ token: tokenOf(o), subject }));
    }
    const smallCart = { lines: [{ sku: 'HOOD', quantity: 1, unitPrice: 6000 }], shipping: 500 };

    beforeAll(async () => {
      // Thousands of deliberately bad tokens for a handful of customers: the rate limits (tested
      // in rate-limits.test.ts) would answer 429 and hide the validation this fuzz checks.
      h = await createApiHarness(backend, { config: { rateLimitFailedLookupsPerCustomer: 0, rateLimitFailedLookupsPerKey: 0, rateLimitRedeemPerCustomer: 0 } });
      const imp = await h.req('POST', '/v1/catalog/import', CATALOG);
      expect(imp.statusCode, imp.body).toBe(200);
      for (let i = 0; i < 3; i++) pools.expired.push(...(await issue(subjectOf(i % 2 === 1, `short_${i}`), 'short_slot', 'web', smallCart)));
      expect(pools.expired.length).toBe(3);
      // The flash offers live 30 minutes: an hour later their tokens have expired.
      h.t.clock.advance(HOUR);
      for (let i = 0; i < 3; i++) {
        pools.minCart.push(...(await issue(subjectOf(i % 2 === 1, `min_${i}`), 'min_slot', 'web', { lines: [{ sku: 'HOOD', quantity: 10, unitPrice: 6000 }] })));
        pools.content.push(...(await issue(subjectOf(i % 2 === 1, `content_${i}`), 'content_slot', 'web', smallCart)));
        pools.appOnly.push(...(await issue(subjectOf(i % 2 === 1, `app_${i}`), 'app_slot', 'app', smallCart)));
      }
      expect([pools.minCart.length, pools.content.length, pools.appOnly.length]).toEqual([3, 3, 3]);
      for (let i = 0; i < 6; i++) {
        const toks = await issue(subjectOf(i % 2 === 1, `quote_${i}`), 'cart', 'web', smallCart);
        expect(toks.length).toBeGreaterThanOrEqual(1);
        pools.quote.push(toks);
      }
      for (let i = 0; i < 3; i++) pools.eventTokens.push(...(await issue(subjectOf(false, `evtok_${i}`), 'cart', 'web', smallCart)).map((t) => t.token));
    });
    afterAll(async () => {
      await h?.close();
      if (process.env.FUZZ_TALLY) console.log([...tally].sort().map(([k, n]) => `${String(n).padStart(5)}  ${k}`).join('\n'));
    });

    // -------------------------------------------------------------------------------------------
    // Events

    const iso = (dtMs: number) => new Date(h.t.clock.now() + dtMs).toISOString();
    const someToken = (k: number) => (k % 5 === 4 ? 'not-a-token' : pools.eventTokens[k % pools.eventTokens.length]!);

    function materialize(t: EventTemplate, id: string): Json {
      const { _at, _tokenPick, tokenPicks, ...rest } = t as Json;
      const e: Json = { id, ...rest, occurredAt: 'iso' in _at ? _at.iso : iso(_at.dt) };
      // Every generated order has its own order id (one id from two customers is refused); refunds
      // name orders never sent, so they are quarantined (see outcome-hardening.test.ts).
      if (e.type === 'order') e.orderId = next('fz-order');
      if (_tokenPick !== undefined) e.token = someToken(_tokenPick);
      if (tokenPicks !== undefined) e.tokens = (tokenPicks as number[]).map(someToken);
      return e;
    }
    const batchOf = (ts: EventTemplate[]) => ({ events: ts.map((t) => materialize(t, next('ev'))) });

    function mutateEvents(body: Json, m: EventMutation): Mutated {
      if (m.kind === 'generic') {
        const path = resolvePath(body, m.rel, m.pick);
        return { body: setAt(body, path, m.value, m.del), field: path.join('.') };
      }
      const events = body.events as Json[];
      const i = m.pick.ev % events.length;
      const p = `events.${i}`;
      const withEvent = (e: Json): Json => ({ events: events.map((x, j) => (j === i ? e : x)) });
      const ev = events[i]!;
      const V = (path: string): Expectation => ({ status: 400, code: 'VALIDATION_FAILED', path });
      switch (m.name) {
        case 'futureDate':
          return { body: withEvent({ ...ev, occurredAt: iso(5 * MIN + 1000 + (m.n % (365 * DAY))) }), field: `${p}.occurredAt`, expect: V(`${p}.occurredAt`) };
        case 'badDate':
          return { body: withEvent({ ...ev, occurredAt: BAD_DATES[m.n % BAD_DATES.length] }), field: `${p}.occurredAt`, expect: V(`${p}.occurredAt`) };
        case 'dateAsNumber':
          return { body: withEvent({ ...ev, occurredAt: h.t.clock.now() }), field: `${p}.occurredAt`, expect: V(`${p}.occurredAt`) };
        case 'unknownSkuNoCost': {
          const order = { id: ev.id, type: 'order', customerId: 'fz_cust_a', occurredAt: iso(-MIN), orderId: next('o'), lines: [{ sku: 'HOOD', quantity: 1, unitPrice: 6000 }, { sku: `NOPE-${m.n}`, quantity: 2, unitPrice: 100 }] };
          return { body: withEvent(order), field: `${p}.lines.1.unitCost`, expect: V(`${p}.lines.1.unitCost`) };
        }
        case 'tooMany': {
          const many = Array.from({ length: 1001 }, (_, k) => ({ ...events[k % events.length]!, id: `${String(events[0]!.id)}-many-${k}` }));
          return { body: { events: many }, field: 'events', expect: V('events') };
        }
        case 'empty':
          return { body: { events: [] }, field: 'events', expect: V('events') };
        case 'nulField': {
          const f = ['id', 'customerId' in ev ? 'customerId' : 'anonymousId', 'sessionId', 'placement'][m.n % 4]!;
          return { body: withEvent({ ...ev, [f]: `a\u0000${m.n}` }), field: `${p}.${f}`, expect: V(`${p}.${f}`) };
        }
        case 'nulPropertyKey':
          return { body: withEvent({ ...ev, properties: { ok: 1, [`k\u0000${m.n}`]: 'v' } }), field: `${p}.properties.k\u0000${m.n}`, expect: V(`${p}.properties.k\u0000${m.n}`) };
        case 'unknownType':
          return { body: withEvent({ ...ev, type: ['teleport', 'Order', 'purchase', ''][m.n % 4] }), field: `${p}.type`, expect: V(`${p}.type`) };
        case 'switchType': {
          const types = ['impression', 'order', 'refund', 'add_to_cart', 'checkout_started'].filter((x) => x !== ev.type);
          return { body: withEvent({ ...ev, type: types[m.n % types.length] }), field: `${p}.type` };
        }
        case 'bothSubjects':
          return { body: withEvent({ ...ev, customerId: 'c1', anonymousId: 'a1' }), field: `${p}.anonymousId`, expect: V(`${p}.customerId`) };
        case 'noSubject': {
          const { customerId: _c, anonymousId: _a, ...rest } = ev;
          return { body: withEvent(rest), field: `${p}.customerId`, expect: V(`${p}.customerId`) };
        }
        case 'badDecisionId':
          return { body: withEvent({ ...ev, decisionId: ['dec_', 'dec_a b', 'decision_1', `dec_${'x'.repeat(101)}`][m.n % 4] }), field: `${p}.decisionId`, expect: V(`${p}.decisionId`) };
        case 'badOfferId':
          return { body: withEvent({ ...ev, offerId: ['ofr_', 'offer_1', 'ofr_a/b'][m.n % 3] }), field: `${p}.offerId`, expect: V(`${p}.offerId`) };
        case 'tooManyTokens': {
          const order = { id: ev.id, type: 'order', customerId: 'fz_cust_b', occurredAt: iso(-MIN), orderId: next('o'), lines: [{ sku: 'TEE', quantity: 1, unitPrice: 2000 }], tokens: Array.from({ length: 21 }, (_, k) => `t${k}`) };
          return { body: withEvent(order), field: `${p}.tokens`, expect: V(`${p}.tokens`) };
        }
        case 'negativeAmount': {
          const refund = { id: ev.id, type: m.n % 2 ? 'refund' : 'return', customerId: 'fz_cust_b', occurredAt: iso(-MIN), orderId: 'fz-order-1', amount: [0, -1, -1e11, 1.5, 1e11 + 1][m.n % 5] };
          return { body: withEvent(refund), field: `${p}.amount`, expect: V(`${p}.amount`) };
        }
        case 'hugeQuantity': {
          const add = { id: ev.id, type: 'add_to_cart', anonymousId: 'fz_anon_a', occurredAt: iso(-MIN), sku: 'TEE', quantity: [0, 100_001, 1e21, -3, 2.5][m.n % 5] };
          return { body: withEvent(add), field: `${p}.quantity`, expect: V(`${p}.quantity`) };
        }
        case 'subtotalCap': {
          const order = { id: ev.id, type: 'order', customerId: 'fz_cust_c', occurredAt: iso(-MIN), orderId: next('o'), lines: [{ sku: 'TEE', quantity: 100_000, unitPrice: 1e11 }] };
          return { body: withEvent(order), field: `${p}.lines.0.unitPrice`, expect: V(`${p}.lines`) };
        }
        case 'longId':
          return { body: withEvent({ ...ev, id: 'i'.repeat(129) }), field: `${p}.id`, expect: V(`${p}.id`) };
        case 'extraTopLevel':
          return { body: { ...body, batchId: m.n }, field: 'batchId', expect: V('batchId') };
        case 'dupIdInBatch':
          return { body: { events: [...events, { ...ev }] } };
        case 'garbageToken':
          return { body: withEvent({ ...ev, token: m.s.replace(/\u0000/g, '') || 'x' }) };
        case 'notAnArray':
          return { body: { events: { 0: ev } }, field: 'events', expect: V('events') };
        case 'missingId': {
          const { id: _id, ...rest } = ev;
          return { body: withEvent(rest), field: `${p}.id`, expect: V(`${p}.id`) };
        }
        case 'missingOrderId': {
          const refund = { id: ev.id, type: ['order', 'refund', 'return'][m.n % 3], customerId: 'fz_cust_a', occurredAt: iso(-MIN), lines: [{ sku: 'TEE', quantity: 1, unitPrice: 2000 }], amount: 100 };
          const { lines: _l, amount: _a, ...base } = refund;
          const e = refund.type === 'order' ? { ...base, lines: refund.lines } : { ...base, amount: refund.amount };
          return { body: withEvent(e), field: `${p}.orderId`, expect: V(`${p}.orderId`) };
        }
      }
      throw new Error(`unhandled ${m.name}`);
    }

    /** Sends a batch; checks the answer, stability on resend and, for 200, idempotency. */
    async function sendEvents(m: Mutated, label: string): Promise<Res> {
      const send = () => h.req('POST', '/v1/events', m.raw ? (m.body as string) : m.body === undefined ? '' : m.body);
      const res = await send();
      checkAnswer(res, m, label);
      checkExpectation(res, m.expect, label);
      const again = await send();
      if (res.statusCode === 200) {
        const n = (m.body as { events: unknown[] }).events.length;
        const first = json(res);
        expect(first.accepted + first.duplicates + first.rejected + first.quarantined, res.body).toBe(n);
        expect(again.statusCode, again.body).toBe(200);
        const second = json(again);
        // What was stored is a duplicate now; what was refused or held back is so again.
        expect(second).toMatchObject({ accepted: 0, duplicates: n - first.rejected - first.quarantined, rejected: first.rejected, quarantined: first.quarantined });
      } else {
        expect(again.statusCode, `${label} resent: ${again.body}`).toBe(res.statusCode);
        expect(json(again).error.code, `${label} resent: ${again.body}`).toBe(json(res).error.code);
      }
      return res;
    }

    describe('POST /v1/events', () => {
      it('property: valid batches are accepted whole (200, accepted n) and resending is a no-op (accepted 0, duplicates n)', async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(eventTemplate, { minLength: 1, maxLength: 20 }), async (ts) => {
            const body = batchOf(ts);
            const res = await h.req('POST', '/v1/events', body);
            expect(res.statusCode, `${res.body}\nsent: ${JSON.stringify(body).slice(0, 800)}`).toBe(200);
            const first = json(res);
            const refunds = body.events.filter((e: Json) => e.type === 'refund' || e.type === 'return').length;
            expect(first).toMatchObject({ accepted: ts.length - refunds, duplicates: 0, rejected: 0, quarantined: refunds });
            expect(first.attributed).toBeGreaterThanOrEqual(0);
            expect(first.attributed).toBeLessThanOrEqual(ts.length);
            const again = await h.req('POST', '/v1/events', body);
            expect(again.statusCode, again.body).toBe(200);
            expect(json(again)).toMatchObject({ accepted: 0, duplicates: ts.length - refunds, rejected: 0, quarantined: refunds, attributed: first.attributed });
            // What was stored reads back: features of every customer in the batch.
            const customers = new Set(body.events.flatMap((e: Json) => (typeof e.customerId === 'string' ? [e.customerId] : [])));
            for (const c of customers) {
              const f = await h.req('GET', `/v1/customers/${encodeURIComponent(c)}/features`);
              expect(f.statusCode, f.body).toBe(200);
            }
          }),
          { numRuns: RUNS },
        );
      });

      it('property: near-valid batches (one field mutated) are never a 5xx; rejections are stable and name the field', async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(eventTemplate, { minLength: 1, maxLength: 6 }), eventMutation, async (ts, mut) => {
            const m = mutateEvents(batchOf(ts), mut);
            await sendEvents(m, `events ${mut.kind === 'semantic' ? mut.name : mut.rel.join('.')}`);
          }),
          { numRuns: RUNS * 2 },
        );
      });

      it('property: arbitrary JSON and non-JSON bodies are never a 5xx', async () => {
        await fc.assert(
          fc.asyncProperty(arbitraryBody, async (m) => {
            await sendEvents(m, 'events arbitrary');
          }),
          { numRuns: RUNS },
        );
      });

      it('every targeted mutation gets its code and names its field (each kind at least once)', async () => {
        for (const name of EVENT_SEMANTIC) {
          for (const k of [0, 1, 2, 3]) {
            const ts = fc.sample(fc.array(eventTemplate, { minLength: 2, maxLength: 4 }), { numRuns: 1, seed: k * 31 + name.length })[0]!;
            const m = mutateEvents(batchOf(ts), { kind: 'semantic', name, pick: { ev: k, line: k, tok: k }, n: k, s: 'garbage' });
            await sendEvents(m, `events ${name}#${k}`);
          }
        }
      });

      it('a bad event names its index and field (events.3.occurredAt) and nothing in the batch is stored', async () => {
        const events = [0, 1, 2, 3, 4].map((k) => ({ id: next('atomic'), type: 'impression', customerId: 'fz_atomic', occurredAt: iso(-k * MIN) }));
        const bad = { events: events.map((e, k) => (k === 3 ? { ...e, occurredAt: iso(10 * MIN) } : e)) };
        const r = await h.req('POST', '/v1/events', bad);
        const e = json<ErrorJson>(r);
        expect(r.statusCode, r.body).toBe(400);
        expect(e.error.code).toBe('VALIDATION_FAILED');
        expect(e.error.details.map((d) => d.path)).toEqual(['events.3.occurredAt']);
        expect(e.error.message).toContain('events.3.occurredAt');
        // Nothing was stored: the corrected batch is accepted whole.
        expect(json(await h.req('POST', '/v1/events', { events }))).toMatchObject({ accepted: 5, duplicates: 0 });
      });

      it('the clock-skew allowance is exactly 5 minutes', async () => {
        const ok = await h.req('POST', '/v1/events', { events: [{ id: next('skew'), type: 'click', anonymousId: 'fz_skew', occurredAt: iso(5 * MIN) }] });
        expect(ok.statusCode, ok.body).toBe(200);
        const late = await h.req('POST', '/v1/events', { events: [{ id: next('skew'), type: 'click', anonymousId: 'fz_skew', occurredAt: iso(5 * MIN + 1) }] });
        checkExpectation(late, { status: 400, code: 'VALIDATION_FAILED', path: 'events.0.occurredAt' }, 'skew');
      });

      it('an unknown SKU needs unitCost; every offending line is named', async () => {
        const order = (lines: unknown[]) => ({ events: [{ id: next('sku'), type: 'impression', customerId: 'fz_sku', occurredAt: iso(-MIN) }, { id: next('sku'), type: 'order', customerId: 'fz_sku', occurredAt: iso(-MIN), orderId: next('o'), lines }] });
        const r = await h.req('POST', '/v1/events', order([{ sku: 'NOPE-1', quantity: 1, unitPrice: 100 }, { sku: 'TEE', quantity: 1, unitPrice: 2000 }, { sku: 'NOPE-2', quantity: 1, unitPrice: 100 }]));
        expect(r.statusCode, r.body).toBe(400);
        expect(json<ErrorJson>(r).error.details.map((d) => d.path)).toEqual(['events.1.lines.0.unitCost', 'events.1.lines.2.unitCost']);
        const ok = await h.req('POST', '/v1/events', order([{ sku: 'NOPE-1', quantity: 1, unitPrice: 100, unitCost: 40 }]));
        expect(json(ok)).toMatchObject({ accepted: 2, duplicates: 0 });
      });

      it('a full batch of 1000 orders is accepted in one request; 1001 events are refused naming `events`', async () => {
        const events = Array.from({ length: 1000 }, (_, k) => ({
          id: next('bulk'),
          type: 'order',
          customerId: `fz_bulk_${k % 50}`,
          occurredAt: iso(-k * 1000),
          orderId: next('bulk-order'),
          lines: [{ sku: KNOWN_SKUS[k % 4]!, quantity: 100_000, unitPrice: 2_000_000, unitCost: 1e11 }],
          discount: 1e11,
          shipping: 1e11,
        }));
        const r = await h.req('POST', '/v1/events', { events });
        expect(r.statusCode, r.body.slice(0, 500)).toBe(200);
        expect(json(r)).toMatchObject({ accepted: 1000, duplicates: 0 });
        const f = await h.req('GET', '/v1/customers/fz_bulk_0/features');
        expect(f.statusCode, f.body).toBe(200);
        expect(json(f).orders).toBe(20);
        const tooMany = await h.req('POST', '/v1/events', { events: [...events, { ...events[0]!, id: next('bulk') }] });
        checkExpectation(tooMany, { status: 400, code: 'VALIDATION_FAILED', path: 'events' }, '1001 events');
      });

      // Regression: on PostgreSQL, two order events with different event ids but the same orderId in ONE
      // batch were both credited to the customer's features (writeEvents matched inserted order rows
      // by order id, which both events share). SQLite always counted the order once.
      it('the same order under two event ids in one batch is counted once', async () => {
        const customerId = next('dup_order_cust');
        const order = { type: 'order', customerId, occurredAt: iso(-MIN), orderId: next('dup-order'), lines: [{ sku: 'TEE', quantity: 1, unitPrice: 2000 }] };
        const r = await h.req('POST', '/v1/events', { events: [{ ...order, id: next('dup') }, { ...order, id: next('dup') }] });
        expect(json(r)).toMatchObject({ accepted: 2, duplicates: 0 });
        const f = json(await h.req('GET', `/v1/customers/${customerId}/features`));
        expect(f).toMatchObject({ orders: 1, monetary: 2000 });
      });

      it('a __proto__ key inside free-form properties is a 4xx in the error shape, VALIDATION_FAILED naming the key', async () => {
        // Valid JSON: the prototype-poisoning guard refuses it before validation, and the answer names the key.
        const raw = `{"events":[{"id":"${next('proto')}","type":"click","customerId":"fz_proto","occurredAt":"${iso(-MIN)}","properties":{"a":{"__proto__":{"admin":true}}}}]}`;
        const r = await h.req('POST', '/v1/events', raw);
        expect(errorBodyProblem(r)).toBeNull();
        expect(r.statusCode).toBe(400);
        expect(json(r).error.code).toBe('VALIDATION_FAILED');
        expect(json(r).error.details.map((d: { path: string }) => d.path)).toEqual(['events.0.properties.a.__proto__']);
      });

      it('non-JSON content types and malformed JSON are 4xx in the error shape', async () => {
        const text = await h.req('POST', '/v1/events', 'hello', undefined, { 'content-type': 'text/plain' });
        expect(errorBodyProblem(text)).toBeNull();
        expect(json(text).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
        const bad = await h.req('POST', '/v1/events', '{"events": [');
        expect(errorBodyProblem(bad)).toBeNull();
        expect(json(bad).error.code).toBe('INVALID_JSON');
      });
    });

    // -------------------------------------------------------------------------------------------
    // Redemptions

    const pickFrom = <T>(xs: T[], k: number): T => xs[k % xs.length]!;
    const withSubject = (body: Json, subject: Tok['subject']): Json => {
      const { customerId: _c, anonymousId: _a, ...rest } = body;
      return { ...rest, ...subject };
    };

    function mutateRedemption(body: Json, m: RedemptionMutation, endpoint: 'redeem' | 'quote'): Mutated {
      if (m.kind === 'generic') {
        const path = resolvePath(body, m.rel, m.pick);
        return { body: setAt(body, path, m.value, m.del), field: path.join('.') };
      }
      const tokens = body.tokens as string[];
      const t = m.pick.tok % tokens.length;
      const lines = body.cart.lines as Json[];
      const l = m.pick.line % lines.length;
      const V = (path: string): Expectation => ({ status: 400, code: 'VALIDATION_FAILED', path });
      const T = (code: ErrorCode, index = t): Expectation => ({ status: ERRORS[code].status, code, path: `tokens.${index}` });
      const setToken = (value: string) => ({ ...body, tokens: tokens.map((x, k) => (k === t ? value : x)) });
      const setLine = (patch: Json) => ({ ...body, cart: { ...body.cart, lines: lines.map((x, k) => (k === l ? { ...x, ...patch } : x)) } });
      const parts = tokens[t]!.split('.');
      switch (m.name) {
        case 'garbageToken': {
          // Well formed: ill-formed text is a VALIDATION_FAILED at the edge (the generic mutations cover it).
          const g = m.s.replace(/\u0000/g, '').replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd').trim() || 'x';
          return { body: setToken(g), field: `tokens.${t}`, expect: g.length <= 2000 ? T('TOKEN_INVALID') : undefined };
        }
        case 'tamperedSignature': {
          const sig = parts[3]!;
          const c = sig[5] === 'A' ? 'B' : 'A';
          return { body: setToken([...parts.slice(0, 3), sig.slice(0, 5) + c + sig.slice(6)].join('.')), expect: T('TOKEN_INVALID') };
        }
        case 'unknownKid':
          return { body: setToken(['v1', 'nokid', parts[2], parts[3]].join('.')), expect: T('TOKEN_INVALID') };
        case 'swappedPayload': {
          const other = pickFrom(pools.expired, m.n).token.split('.');
          return { body: setToken([parts[0], parts[1], other[2], parts[3]].join('.')), expect: T('TOKEN_INVALID') };
        }
        case 'forgedIssuance': {
          // Validly signed (the test knows the key) but for an issuance that never existed.
          const subject = 'customerId' in body ? `c:${body.customerId}` : `a:${body.anonymousId}`;
          const forged = h.t.engine.tokens.sign({ iss: `iss_forged_${m.n}`, ofr: 'ofr_fz_pct', ver: 1, sub: subject, val: 90, exp: Math.floor(h.t.clock.now() / 1000) + 3600 });
          return { body: setToken(forged), expect: T('TOKEN_INVALID') };
        }
        case 'forgedOffer': {
          // A real issuance, re-signed claiming another offer: the claims must match the issuance.
          const claims = JSON.parse(Buffer.from(parts[2]!, 'base64url').toString());
          const forged = h.t.engine.tokens.sign({ ...claims, ofr: claims.ofr === 'ofr_fz_app' ? 'ofr_fz_pct' : 'ofr_fz_app', val: 99 });
          return { body: setToken(forged), expect: T('TOKEN_INVALID') };
        }
        case 'unknownCoupon':
          return { body: setToken(['ABCD-EFGH-JKMN', 'abcd efgh jkmn', '0000-0000-0000'][m.n % 3]!), expect: T('TOKEN_INVALID') };
        case 'expired': {
          const x = pickFrom(pools.expired, m.n);
          return { body: withSubject({ ...body, tokens: [x.token] }, x.subject), expect: T('TOKEN_EXPIRED', 0) };
        }
        case 'alreadyRedeemed': {
          if (pools.redeemed.length === 0) return { body };
          const x = pickFrom(pools.redeemed, m.n);
          return { body: withSubject({ ...body, tokens: [x.token] }, x.subject), expect: T('TOKEN_ALREADY_REDEEMED', 0) };
        }
        case 'otherCustomer':
          return { body: withSubject(body, { customerId: `someone_else_${m.n}` }), expect: T('TOKEN_NOT_FOR_CUSTOMER', 0) };
        case 'wrongChannel': {
          const x = pickFrom(pools.appOnly, m.n);
          return { body: withSubject({ ...body, channel: 'web', tokens: [x.token] }, x.subject), expect: T('CHANNEL_NOT_ALLOWED', 0) };
        }
        case 'minCart': {
          const x = pickFrom(pools.minCart, m.n);
          return { body: withSubject({ ...body, tokens: [x.token] }, x.subject), expect: T('MIN_CART_NOT_MET', 0) };
        }
        case 'content': {
          const x = pickFrom(pools.content, m.n);
          return { body: withSubject({ ...body, tokens: [x.token] }, x.subject), expect: T('OFFER_NOT_REDEEMABLE', 0) };
        }
        case 'sameTokenTwice':
          return { body: { ...body, tokens: [tokens[t], tokens[t]] }, expect: T('NOT_STACKABLE', 1) };
        case 'tooManyTokens':
          return { body: { ...body, tokens: Array.from({ length: 11 }, (_, k) => tokens[k % tokens.length]) }, field: 'tokens', expect: V('tokens') };
        case 'noTokens':
          return { body: { ...body, tokens: [] }, field: 'tokens', expect: V('tokens') };
        case 'emptyToken':
          return { body: setToken(''), field: `tokens.${t}`, expect: V(`tokens.${t}`) };
        case 'longToken':
          return { body: setToken('t'.repeat(2001)), field: `tokens.${t}`, expect: V(`tokens.${t}`) };
        case 'badQuantity':
          return { body: setLine({ quantity: [0, -1, 1.5, 100_001, '2', null][m.n % 6] }), field: `cart.lines.${l}.quantity`, expect: V(`cart.lines.${l}.quantity`) };
        case 'badUnitPrice':
          return { body: setLine({ unitPrice: [-1, 1e11 + 1, 0.5, '100', 1e21][m.n % 5] }), field: `cart.lines.${l}.unitPrice`, expect: V(`cart.lines.${l}.unitPrice`) };
        case 'subtotalCap':
          return { body: setLine({ quantity: 100_000, unitPrice: 1e10 }), field: `cart.lines.${l}.unitPrice`, expect: V('cart.lines') };
        case 'badShipping':
          return { body: { ...body, cart: { ...body.cart, shipping: [-1, 1e10 + 1, 1.5, '0'][m.n % 4] } }, field: 'cart.shipping', expect: V('cart.shipping') };
        case 'tooManyLines':
          return { body: { ...body, cart: { ...body.cart, lines: Array.from({ length: 501 }, () => lines[0]) } }, field: 'cart.lines', expect: V('cart.lines') };
        case 'noLines':
          return { body: { ...body, cart: { ...body.cart, lines: [] } }, field: 'cart.lines', expect: V('cart.lines') };
        case 'noSubject': {
          const { customerId: _c, anonymousId: _a, ...rest } = body;
          return { body: rest, field: 'customerId', expect: V('customerId') };
        }
        case 'badChannel':
          return { body: { ...body, channel: ['fax', 'WEB', '', 'pos'][m.n % 4] }, field: 'channel', expect: V('channel') };
        case 'badCurrency':
          return { body: { ...body, cart: { ...body.cart, currency: ['EURO', 'U', '', 'usd$'][m.n % 4] } }, field: 'cart.currency', expect: V('cart.currency') };
        case 'nul': {
          const where = [['orderId'], ['customerId' in body ? 'customerId' : 'anonymousId'], ['tokens', String(t)], ['cart', 'lines', String(l), 'sku']][m.n % 4]!;
          return { body: setAt(body, where, `x\u0000${m.n}`), field: where.join('.'), expect: V(where.join('.')) };
        }
        case 'orderConflict': {
          if (pools.orderIds.length === 0) return { body };
          const orderId = pickFrom(pools.orderIds, m.n);
          // A quote does not look at order ids; a redemption for an order already redeemed with other tokens conflicts.
          return { body: { ...body, orderId }, expect: endpoint === 'redeem' ? { status: 409, code: 'ORDER_CONFLICT' } : undefined };
        }
        case 'extraTopLevel':
          return { body: { ...body, coupon: 'SAVE10' }, field: 'coupon', expect: V('coupon') };
        case 'missingOrderId': {
          const { orderId: _o, ...rest } = body;
          return { body: rest, field: 'orderId', expect: V('orderId') };
        }
        case 'missingChannel': {
          const { channel: _c, ...rest } = body;
          return { body: rest, field: 'channel', expect: V('channel') };
        }
      }
      throw new Error(`unhandled ${m.name}`);
    }

    /** Invariants of a priced checkout (quote or redemption). */
    function expectPriced(r: Json, sent: Json): void {
      const lines = r.lines as Array<{ quantity: number; unitPrice: number; discount: number }>;
      expect(lines).toHaveLength(sent.cart.lines.length);
      let sum = 0;
      for (const l of lines) {
        expect(Number.isInteger(l.discount)).toBe(true);
        expect(l.discount).toBeGreaterThanOrEqual(0);
        expect(l.discount).toBeLessThanOrEqual(l.unitPrice * l.quantity);
        sum += l.discount;
      }
      expect(r.subtotal).toBe(lines.reduce((s, l) => s + l.unitPrice * l.quantity, 0));
      expect(r.shipping).toBe(sent.cart.shipping ?? 0);
      expect(r.discountTotal).toBe(sum + r.shippingDiscount);
      expect(r.total).toBe(r.subtotal - sum + r.shipping - r.shippingDiscount);
      expect(r.offers).toHaveLength(sent.tokens.length);
    }

    /** Sends a redemption (or quote); checks the answer, stability and idempotency; records what was redeemed. */
    async function sendRedemption(url: '/v1/redemptions' | '/v1/redemptions/quote', m: Mutated, label: string, tokSubject?: Tok['subject']): Promise<Res> {
      const send = () => h.req('POST', url, m.raw ? (m.body as string) : m.body === undefined ? '' : m.body);
      const res = await send();
      const err = checkAnswer(res, m, label);
      checkExpectation(res, m.expect, label);
      if (err && TOKEN_CODES.has(err.error.code)) {
        expect(err.error.details.some((d) => /^tokens\.\d+$/.test(d.path)), `${label}: ${res.body}`).toBe(true);
      }
      // What the server saw (JSON drops undefined and turns -0 into 0).
      const sent = (m.raw || m.body === undefined ? m.body : JSON.parse(JSON.stringify(m.body))) as Json;
      if (url === '/v1/redemptions' && res.statusCode === 201) {
        const r = json(res);
        expect(r).toMatchObject({ status: 'applied', orderId: sent.orderId });
        expect(r.redemptionId).toMatch(/^red/);
        expectPriced(r, sent);
        // Idempotent per order id.
        const again = await send();
        expect(again.statusCode, again.body).toBe(200);
        expect(json(again)).toMatchObject({ redemptionId: r.redemptionId, replayed: true, discountTotal: r.discountTotal, total: r.total });
        // The tokens are spent: another order cannot use them.
        const reuse = await h.req('POST', url, { ...sent, orderId: next('reuse') });
        checkExpectation(reuse, { status: 409, code: 'TOKEN_ALREADY_REDEEMED', path: 'tokens.0' }, `${label} reuse`);
        pools.orderIds.push(sent.orderId);
        if (tokSubject) pools.redeemed.push({ token: sent.tokens[0], subject: tokSubject });
        return res;
      }
      if (url === '/v1/redemptions/quote' && res.statusCode === 200) {
        expectPriced(json(res), sent);
      }
      const again = await send();
      if (res.statusCode >= 400) {
        expect(again.statusCode, `${label} resent: ${again.body}`).toBe(res.statusCode);
        expect(json(again).error.code, `${label} resent: ${again.body}`).toBe(json(res).error.code);
      } else {
        expect(again.statusCode, `${label} resent: ${again.body}`).toBe(res.statusCode);
        if (url === '/v1/redemptions/quote') expect(json(again)).toEqual(json(res));
      }
      return res;
    }

    type Base = { anonymous: boolean; channel: string; currency?: string; lines: Json[]; shipping?: number };
    const cartOf = (b: Base) => ({ ...(b.currency !== undefined ? { currency: b.currency } : {}), lines: b.lines, ...(b.shipping !== undefined ? { shipping: b.shipping } : {}) });

    /** A valid redemption body with freshly issued tokens. */
    async function freshRedemption(b: Base): Promise<{ body: Json; subject: Tok['subject'] }> {
      const subject = subjectOf(b.anonymous, next('rz'));
      const toks = await issue(subject, 'cart', b.channel, cartOf(b));
      expect(toks.length).toBeGreaterThanOrEqual(1);
      return { body: { orderId: next('order'), ...subject, channel: b.channel, tokens: toks.map((x) => x.token), cart: cartOf(b) }, subject };
    }

    describe('POST /v1/redemptions and /v1/redemptions/quote', () => {
      it('property: valid redemptions are applied (201), replayed on resend (200) and spend their tokens', async () => {
        await fc.assert(
          fc.asyncProperty(redemptionBase, async (b) => {
            const { body, subject } = await freshRedemption(b);
            const res = await sendRedemption('/v1/redemptions', { body }, 'valid redemption', subject);
            expect(res.statusCode, res.body).toBe(201);
          }),
          { numRuns: Math.ceil(RUNS / 2) },
        );
      });

      it('property: near-valid redemptions are never a 5xx; rejections are stable, name the field or the token', async () => {
        await fc.assert(
          fc.asyncProperty(redemptionBase, redemptionMutation(backend === 'postgres' && LONE_SURROGATE_BUG_ON_PG), async (b, mut) => {
            const { body, subject } = await freshRedemption(b);
            const m = mutateRedemption(body, mut, 'redeem');
            await sendRedemption('/v1/redemptions', m, `redeem ${mut.kind === 'semantic' ? mut.name : mut.rel.join('.')}`, subject);
          }),
          { numRuns: RUNS },
        );
      });

      it('property: near-valid quotes are never a 5xx; quotes are stable and redeem nothing', async () => {
        await fc.assert(
          fc.asyncProperty(redemptionBase, fc.option(redemptionMutation(backend === 'postgres' && LONE_SURROGATE_BUG_ON_PG), { freq: 5 }), fc.nat(), async (b, mut, k) => {
            const toks = pickFrom(pools.quote, k);
            const body = { orderId: next('quote'), ...toks[0]!.subject, channel: 'web', tokens: toks.map((x) => x.token), cart: cartOf(b) };
            const m = mut ? mutateRedemption(body, mut, 'quote') : { body };
            const res = await sendRedemption('/v1/redemptions/quote', m, `quote ${mut ? (mut.kind === 'semantic' ? mut.name : mut.rel.join('.')) : 'valid'}`);
            if (!mut) expect(res.statusCode, res.body).toBe(200);
          }),
          { numRuns: RUNS },
        );
        // Quoting spent nothing: the pooled tokens are still in their owners' wallets.
        for (const toks of pools.quote) {
          const s = toks[0]!.subject;
          if (!('customerId' in s)) continue;
          const w = json(await h.req('GET', `/v1/customers/${s.customerId}/wallet`));
          expect(w.entries.map((e: { token: string }) => e.token).sort()).toEqual(toks.map((x) => x.token).sort());
        }
      });

      it('property: arbitrary JSON and non-JSON bodies are never a 5xx', async () => {
        await fc.assert(
          fc.asyncProperty(arbitraryBody, fc.boolean(), async (m, quote) => {
            await sendRedemption(quote ? '/v1/redemptions/quote' : '/v1/redemptions', m, 'redemption arbitrary');
          }),
          { numRuns: RUNS },
        );
      });

      // A lone surrogate is not valid Unicode: refused at the edge (it once broke a whole group commit on PostgreSQL).
      it('a lone surrogate in an orderId is refused or redeemed, never a 5xx, and never fails the redemptions committed with it', async () => {
        const bodies = [];
        for (let i = 0; i < 4; i++) {
          const { body } = await freshRedemption({ anonymous: false, channel: 'web', lines: [{ sku: 'TEE', quantity: 1, unitPrice: 2000 }] });
          bodies.push(i === 0 ? { ...body, orderId: `${body.orderId}\udfff` } : body);
        }
        const rs = await Promise.all(bodies.map((b) => h.req('POST', '/v1/redemptions', b)));
        for (const r of rs) expect(errorBodyProblem(r), r.body).toBeNull();
        for (const r of rs.slice(1)) expect(r.statusCode, r.body).toBe(201);
      });

      it('every targeted mutation gets its code and names its field or token (each kind at least once)', async () => {
        // Make sure the pools of redeemed tokens and used order ids are not empty.
        const seed = await freshRedemption({ anonymous: false, channel: 'web', lines: [{ sku: 'TEE', quantity: 1, unitPrice: 2000 }] });
        expect((await sendRedemption('/v1/redemptions', { body: seed.body }, 'seed', seed.subject)).statusCode).toBe(201);
        for (const name of REDEMPTION_SEMANTIC) {
          for (const k of [0, 1, 2]) {
            const b = fc.sample(redemptionBase, { numRuns: 1, seed: k * 17 + name.length })[0]!;
            const { body, subject } = await freshRedemption(b);
            const mut: RedemptionMutation = { kind: 'semantic', name, pick: { ev: k, line: k, tok: k }, n: k, s: '%%garbage%%' };
            await sendRedemption('/v1/redemptions', mutateRedemption(body, mut, 'redeem'), `redeem ${name}#${k}`, subject);
            await sendRedemption('/v1/redemptions/quote', mutateRedemption(body, mut, 'quote'), `quote ${name}#${k}`);
          }
        }
      });
    });
  });
}
