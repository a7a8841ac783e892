import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { OrderRecord } from '../src/events/port.js';
import { quarantineRow, releasedEvent } from '../src/store/outcome-plan.js';
import {
  EVENT_COLUMNS,
  eventOf,
  eventRow,
  eventValues,
  issuanceOf,
  ITEM_COLUMNS,
  itemRow,
  itemValues,
  LEDGER_COLUMNS,
  ledgerRow,
  ledgerValues,
  ORDER_COLUMNS,
  orderOf,
  orderValues,
  REDEMPTION_COLUMNS,
  redemptionOf,
  redemptionRow,
  redemptionValues,
  type Column,
} from '../src/store/outcome-rows.js';
import type { DB } from '../src/store/schema.js';
import type { LedgerEntry } from '../src/wallet/port.js';

const inColumnOrder = (columns: readonly Column[], row: object) => columns.map(([name]) => (row as Record<string, unknown>)[name] ?? null);

const EVENT: DB['events'] = {
  id: 'ev1', type: 'refund', subject_id: 'c:ann', customer_id: 'ann', session_id: 's1', occurred_at: 1000, received_at: 2000, order_id: 'o1',
  offer_id: null, decision_id: null, campaign_id: null, holdout: null, attribution: null, amount: 700, body: '{"x":1}',
};
const ORDER: DB['orders'] = {
  order_id: 'o1', event_id: 'ev0', subject_id: 'c:ann', customer_id: 'ann', occurred_at: 900, subtotal: 5000, shipping: 450, discount: 500, cogs: 2000,
  margin: 2500, with_offer: 1, decision_id: 'dec_1', campaign_id: 'cmp_1', offer_id: 'ofr_1', holdout: 0, attribution: 'token',
};

describe('outcome rows ↔ domain records (one column list for both dialects)', () => {
  it('an event, order and redemption read back give their values in the column order both dialects insert', () => {
    expect(eventValues(eventOf(EVENT))).toEqual(inColumnOrder(EVENT_COLUMNS, EVENT));
    expect(eventRow(eventOf(EVENT))).toEqual(EVENT);
    expect(orderValues(orderOf(ORDER))).toEqual(inColumnOrder(ORDER_COLUMNS, ORDER));
    const red: DB['redemptions'] = {
      id: 'red_1', order_id: 'o1', subject_id: 'c:ann', customer_id: null, channel: 'web', status: 'applied', created_at: 5, rolled_back_at: null,
      discount: 500, cost: 500, points: 0, body: '{}', fingerprint: null,
    };
    expect(redemptionValues(redemptionOf(red))).toEqual(inColumnOrder(REDEMPTION_COLUMNS, red));
    expect(redemptionRow(redemptionOf(red))).toEqual(red);
  });

  it('ledger entries and redemption items give the same values as rows and as column lists', () => {
    const l: LedgerEntry = { id: 'red_1:iss_1:redeem', issuanceId: 'iss_1', offerId: 'ofr_1', kind: 'redeem', day: '2026-01-01', at: 5, liability: -500, cost: 450, points: 0, redemptionId: 'red_1' };
    expect(ledgerValues(l)).toEqual(inColumnOrder(LEDGER_COLUMNS, ledgerRow(l)));
    const item = { issuanceId: 'iss_1', offerId: 'ofr_1', discount: 500, cost: 450, points: 3 };
    expect(itemValues('red_1', item)).toEqual(inColumnOrder(ITEM_COLUMNS, itemRow('red_1', item)));
  });

  it('numbers a driver hands back as strings (PostgreSQL BIGINT) become numbers, flags become booleans', () => {
    const o = orderOf({ ...ORDER, subtotal: '5000' as unknown as number, with_offer: '1' as unknown as number, holdout: null });
    expect(o).toMatchObject({ subtotal: 5000, withOffer: true, holdout: null });
    const iss = issuanceOf({
      id: 'iss_1', decision_id: 'dec_1', offer_id: 'ofr_1', offer_version: 2, campaign_id: 'cmp_1', subject_id: 'c:ann', customer_id: 'ann', channel: 'web',
      placement: 'home', value: null, discount: 500, cost: '450' as unknown as number, reserved: 450, points: 0, liability_day: '2026-01-01',
      issued_at: 1, expires_at: '99' as unknown as number, status: 'issued',
    });
    expect(iss).toMatchObject({ decisionId: 'dec_1', offerVersion: 2, cost: 450, expiresAt: 99, code: null, liabilityDay: '2026-01-01' });
  });

  it('a quarantined refund is kept as the event row it would have stored, and released onto its order’s decision', () => {
    const refund = eventOf(EVENT);
    const q = quarantineRow(refund, { status: 'quarantined', code: 'REFUND_ORDER_UNKNOWN', field: 'orderId', message: '' });
    // Rows quarantined before this format existed are read back the same way: the stored JSON is the row.
    expect(JSON.parse(q.event)).toEqual(EVENT);
    const order: OrderRecord = orderOf(ORDER);
    const w = releasedEvent(q, order);
    expect(w.event).toMatchObject({ id: 'ev1', decisionId: 'dec_1', campaignId: 'cmp_1', holdout: false, offerId: 'ofr_1', attribution: 'order', amount: 700 });
    expect(w.delta).toMatchObject({ subjectId: 'c:ann', refunded: 700, orders: 0 });
  });
});

describe('ports', () => {
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
    });

  it('no DB row type outside src/store, and no feature port imports the store', () => {
    const outside = files('src').filter((f) => !f.startsWith(join('src', 'store')));
    expect(outside.filter((f) => /from '[./]*store\/schema(\.js)?'/.test(readFileSync(f, 'utf8')))).toEqual([]);
    const ports = outside.filter((f) => f.endsWith('port.ts') && !f.startsWith(join('src', 'decisions')));
    expect(ports.length).toBeGreaterThanOrEqual(7);
    expect(ports.filter((f) => /from '[./]*store\//.test(readFileSync(f, 'utf8')))).toEqual([]);
  });
});
