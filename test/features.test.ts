import { describe, expect, it } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import { cohortOf } from '../src/customers/index.js';
import { BACKENDS, createTestEngine } from './helpers/backends.js';

const DAY = 86_400_000;
const NOW = '2026-11-23T12:00:00.000Z';
const lines = (n: number, price: number) => [{ sku: 'MUG', quantity: n, unitPrice: price }];

// A hand-computed fixture. Orders of customer "cf":
//   A 2026-08-01  10,000 (no offer)      refunded 2,000 later
//   B 2026-10-30   5,000 − 500 discount (used an offer)
//   C 2026-09-15   3,000 (2 × 1,500)
// Revenue 10,000 + 4,500 + 3,000 = 17,500; monetary 17,500 − 2,000 = 15,500;
// AOV 17,500 / 3 = 5,833.33 → 5,833; recency Nov 23 − Oct 30 = 24 days → engaged_30;
// coupon affinity 1/3 = 0.33; discount depth 500 / 5,000 = 10%; impressions in 30 days: 3 of 4.
const events = [
  { id: 'A', type: 'order', customerId: 'cf', occurredAt: '2026-08-01T12:00:00Z', orderId: 'ord-A', lines: lines(1, 10_000) },
  { id: 'B', type: 'order', customerId: 'cf', occurredAt: '2026-10-30T12:00:00Z', orderId: 'ord-B', lines: lines(1, 5_000), discount: 500, tokens: ['ABCD-EFGH-JKMN'] },
  { id: 'C', type: 'order', customerId: 'cf', occurredAt: '2026-09-15T12:00:00Z', orderId: 'ord-C', lines: lines(2, 1_500) },
  { id: 'R', type: 'refund', customerId: 'cf', occurredAt: '2026-08-10T12:00:00Z', orderId: 'ord-A', amount: 2_000 },
  { id: 'i1', type: 'impression', customerId: 'cf', occurredAt: '2026-11-20T12:00:00Z', offerId: 'ofr_x' },
  { id: 'i2', type: 'impression', customerId: 'cf', occurredAt: '2026-11-01T12:00:00Z', offerId: 'ofr_x' },
  { id: 'i3', type: 'impression', customerId: 'cf', occurredAt: '2026-10-25T12:00:00Z', offerId: 'ofr_x' },
  { id: 'i4', type: 'impression', customerId: 'cf', occurredAt: '2026-10-01T12:00:00Z', offerId: 'ofr_x' },
];

for (const backend of BACKENDS) {
  describe(`customer features [${backend}]`, () => {
    it('RFM, cohort, affinity and depth match the hand-computed fixture after out-of-order and duplicated events', async () => {
      const t = await createTestEngine(backend, { now: NOW });
      try {
        await importCatalog(t.engine.catalog, { products: [{ sku: 'MUG', price: 1500, unitCost: 500 }] });
        const e = t.engine;
        // Newest first, in three batches, with the refund before its order arrives.
        await e.events.ingest({ events: [events[3]!, events[1]!, events[4]!] });
        // Order C twice in one batch under two event ids: stored as two events, counted as one order.
        await e.events.ingest({ events: [events[2]!, events[5]!, { ...events[2]!, id: 'C-same-batch' }, events[7]!] });
        // Duplicates: a whole batch resent, an event id twice in one batch, and an order resent under a new event id.
        await e.events.ingest({ events: [events[3]!, events[1]!, events[4]!] });
        const last = await e.events.ingest({ events: [events[0]!, events[6]!, events[6]!, { ...events[1]!, id: 'B-again' }] });
        expect(last).toMatchObject({ accepted: 3, duplicates: 1 });
        expect((await e.snapshot()).readsFeatures).toBe(false);
        const f = await e.features('cf');
        expect(f).toEqual({
          orders: 3,
          firstOrderAt: '2026-08-01T12:00:00.000Z',
          lastOrderAt: '2026-10-30T12:00:00.000Z',
          recencyDays: 24,
          frequency: 3,
          monetary: 15_500,
          aov: 5_833,
          refunded: 2_000,
          cohort: 'engaged_30',
          couponAffinity: 0.33,
          discountDepthPct: 10,
          impressions30d: 3,
        });
        // Cohorts move with time: 30 days after the last order is engaged_90, more than 90 is lapsed.
        t.clock.set(Date.parse('2026-10-30T12:00:00Z') + 30 * DAY);
        expect((await e.features('cf')).cohort).toBe('engaged_90');
        t.clock.set(Date.parse('2026-10-30T12:00:00Z') + 90 * DAY);
        expect((await e.features('cf')).cohort).toBe('engaged_90');
        t.clock.set(Date.parse('2026-10-30T12:00:00Z') + 90 * DAY + 1);
        expect((await e.features('cf')).cohort).toBe('lapsed');
        expect(await e.features('nobody')).toMatchObject({ orders: 0, cohort: 'first_time', recencyDays: null, aov: 0, couponAffinity: 0 });
      } finally {
        await t.close();
      }
    });

    it('eligibility rules read features: a lapsed-customer offer reaches lapsed, consenting customers only', async () => {
      const t = await createTestEngine(backend, { now: NOW });
      try {
        await importCatalog(t.engine.catalog, {
          products: [{ sku: 'MUG', price: 1500, unitCost: 500 }],
          offers: [{ id: 'ofr_winback', status: 'live', name: 'Win back', type: 'amount_off', value: 300, expectedLift: 3, eligibility: "customer.features.cohort == 'lapsed' && customer.features.orders >= 1" }],
          campaigns: [{ id: 'cmp_w', status: 'live', name: 'W', placements: ['home'], offers: ['ofr_winback'], holdoutPct: 0 }],
        });
        const e = t.engine;
        // Decisions read features only because a live rule does.
        expect((await e.snapshot()).readsFeatures).toBe(true);
        await e.events.ingest({
          events: [
            { id: 'old', type: 'order', customerId: 'lapsed1', occurredAt: '2026-05-01T00:00:00Z', orderId: 'o1', lines: lines(1, 1500) },
            { id: 'new', type: 'order', customerId: 'active1', occurredAt: '2026-11-20T00:00:00Z', orderId: 'o2', lines: lines(1, 1500) },
          ],
        });
        for (const id of ['lapsed1', 'active1']) await e.putCustomer(id, { consent: { personalization: true } });
        const cart = { lines: lines(1, 1500) };
        expect((await e.decide({ customerId: 'lapsed1', placement: 'home', channel: 'web', cart })).offers.map((o) => o.offerId)).toEqual(['ofr_winback']);
        expect((await e.decide({ customerId: 'active1', placement: 'home', channel: 'web', cart })).offers).toEqual([]);
        expect((await e.decide({ customerId: 'newbie', placement: 'home', channel: 'web', cart })).offers).toEqual([]);
      } finally {
        await t.close();
      }
    });
  });
}

describe('cohort boundaries', () => {
  it('< 30 days engaged_30, 30–90 days engaged_90, > 90 days lapsed, none first_time', () => {
    const now = Date.parse(NOW);
    expect(cohortOf(null, now)).toBe('first_time');
    expect(cohortOf(now - 30 * DAY + 1, now)).toBe('engaged_30');
    expect(cohortOf(now - 30 * DAY, now)).toBe('engaged_90');
    expect(cohortOf(now - 90 * DAY, now)).toBe('engaged_90');
    expect(cohortOf(now - 90 * DAY - 1, now)).toBe('lapsed');
  });
});
