import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fastParseEvent } from '../src/events/fast-validate.js';
import { EventSchema } from '../src/events/schema.js';

// The fast path may only accept what zod accepts, with the same data; zod owns every error.
const clone = <T>(x: T): T => structuredClone(x);

const str = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.string({ unit: 'binary', maxLength: 140 }),
  fc.constantFrom('', 'dec_x', 'ofr_y', 'dec_', 'x'.repeat(128), 'x'.repeat(129), '😀'.repeat(64), '😀'.repeat(65), '\ud800', 'ABCD-EFGH-JKMN'),
);
const num = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom(0, 1, 1e11, 1e11 + 1, 100_000, 100_001, 1.5, -0, 2 ** 53), fc.double({ noNaN: true }));
const time = fc.oneof(
  fc.date({ min: new Date('2000-01-01'), max: new Date('2030-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('2026-11-23T10:00:00Z', '2026-11-23T10:00:00+01:00', '2026-11-23t10:00:00z', '2026-02-29T10:00:00Z', '2028-02-29T10:00:00Z', '2026-11-23T24:00:00Z', '2026-11-23 10:00:00Z', '2026-11-23T10:00:00', 'yesterday'),
);
const line = fc.record({ sku: str, quantity: num, unitPrice: num, unitCost: fc.option(num, { nil: undefined }) }, { requiredKeys: [] });
const anyEvent = fc.record(
  {
    id: str,
    type: fc.constantFrom('impression', 'click', 'session_start', 'add_to_cart', 'checkout_started', 'order', 'refund', 'return', 'purchase'),
    occurredAt: time,
    customerId: str,
    anonymousId: str,
    sessionId: str,
    decisionId: str,
    token: str,
    offerId: str,
    channel: fc.constantFrom('web', 'email', 'fax'),
    placement: str,
    properties: fc.dictionary(str, fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }),
    sku: str,
    quantity: num,
    unitPrice: num,
    cartValue: num,
    orderId: str,
    lines: fc.array(line, { maxLength: 3 }),
    shipping: num,
    discount: num,
    tokens: fc.array(str, { maxLength: 2 }),
    amount: num,
    reason: str,
    extra: str,
  },
  { requiredKeys: [] },
);

const sorted = (x: unknown): unknown =>
  Array.isArray(x) ? x.map(sorted) : x && typeof x === 'object' ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, sorted((x as Record<string, unknown>)[k])])) : x;

const T = '2026-11-23T10:00:00.000Z';
const VALID = [
  { id: 'a', type: 'impression', customerId: 'c', occurredAt: T, decisionId: 'dec_1', properties: { k: 1 } },
  { id: 'b', type: 'add_to_cart', anonymousId: 'v', occurredAt: T, sku: 'S', unitPrice: 100 },
  { id: 'c', type: 'order', customerId: 'c', occurredAt: T, orderId: 'o', lines: [{ sku: 'S', quantity: 2, unitPrice: 100 }], tokens: ['ABCD-EFGH-JKMN'] },
  { id: 'd', type: 'refund', customerId: 'c', occurredAt: T, orderId: 'o', amount: 5 },
  { id: 'e', type: 'checkout_started', customerId: 'c', occurredAt: T, cartValue: 10, channel: 'app' },
];
// A valid event with one field replaced by (or added as) a random value, or removed.
const nearValid = fc
  .tuple(fc.constantFrom(...VALID), fc.constantFrom(...Object.keys(anyEventKeys())), fc.oneof(str, num, time, fc.constant(undefined), fc.array(line, { maxLength: 2 })))
  .map(([e, k, v]) => {
    const x: Record<string, unknown> = { ...clone(e) };
    if (v === undefined) delete x[k];
    else x[k] = v;
    return x;
  });
function anyEventKeys() {
  return { id: 1, type: 1, occurredAt: 1, customerId: 1, anonymousId: 1, sessionId: 1, decisionId: 1, token: 1, offerId: 1, channel: 1, placement: 1, properties: 1, sku: 1, quantity: 1, unitPrice: 1, cartValue: 1, orderId: 1, lines: 1, shipping: 1, discount: 1, tokens: 1, amount: 1, reason: 1, extra: 1 };
}

describe('event validation fast path', () => {
  it('accepts only what zod accepts, with the same data (defaults included)', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(anyEvent, nearValid, nearValid, fc.jsonValue({ maxDepth: 2 })), (raw) => {
        const fast = fastParseEvent(clone(raw));
        const z = EventSchema.safeParse(clone(raw));
        if (fast !== null) {
          accepted++;
          expect(z.success, JSON.stringify(raw)).toBe(true);
          expect(sorted(fast)).toEqual(sorted(z.data));
        }
      }),
      { numRuns: 4000 },
    );
    // The property is only worth something if the fast path accepted a good share.
    expect(accepted).toBeGreaterThan(200); // about 600 on average
  });

  it('takes the fast path for ordinary valid events', () => {
    const t = '2026-11-23T10:00:00.000Z';
    const valid = [
      { id: 'a', type: 'impression', customerId: 'c', occurredAt: t, decisionId: 'dec_1' },
      { id: 'b', type: 'add_to_cart', anonymousId: 'v', occurredAt: t, sku: 'S' },
      { id: 'c', type: 'order', customerId: 'c', occurredAt: t, orderId: 'o', lines: [{ sku: 'S', quantity: 2, unitPrice: 100 }] },
      { id: 'd', type: 'refund', customerId: 'c', occurredAt: t, orderId: 'o', amount: 5 },
    ];
    for (const e of valid) {
      const fast = fastParseEvent(clone(e));
      expect(fast, e.id).not.toBeNull();
      expect(sorted(fast)).toEqual(sorted(EventSchema.parse(clone(e))));
    }
    // Refinements JSON Schema cannot express are left to zod.
    expect(fastParseEvent({ ...valid[0]!, anonymousId: 'v' })).toBeNull();
    expect(fastParseEvent({ ...valid[3]!, amount: 0 })).toBeNull();
    expect(fastParseEvent({ ...valid[2]!, lines: [{ sku: 'S', quantity: 100_000, unitPrice: 1e11 }] })).toBeNull();
  });
});
