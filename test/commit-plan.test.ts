import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { ChosenOffer, Decision } from '../src/core/decide.js';
import { buildCommitPlan, offerKey, type CommitMeta } from '../src/decisions/commit-plan.js';
import { openStore } from '../src/index.js';
import { BACKENDS, createTestDb, type TestDb } from './helpers/backends.js';

// The decide loop builds the commit plan from a pure decision; the store only executes it.
// The builder needs no store, so its rules are checked here on hand-made decisions.

const DAY = '2026-11-23';
const NOW = Date.parse('2026-11-23T12:00:00Z');

function chosen(offerId: string, over: Partial<ChosenOffer> = {}): ChosenOffer {
  return {
    offerId,
    version: 1,
    name: offerId,
    type: 'percent_off',
    value: 10,
    discount: 800,
    cost: 500,
    points: 0,
    reserve: 500,
    score: 120,
    expiresAt: NOW + 86_400_000,
    held: null,
    guard: { globalCap: null, budgetTotal: null, dailyLiability: null, perCustomer: null, frequency: null, day: DAY },
    ...over,
  };
}

function decision(offers: ChosenOffer[], over: Partial<Decision> = {}): Decision {
  return {
    campaign: { id: 'cmp_web', version: 3 },
    subjectId: 'c:cus_1',
    customerId: 'cus_1',
    anonymousId: null,
    placement: 'cart',
    channel: 'web',
    holdout: false,
    globalHoldout: false,
    personalized: true,
    policy: 'static',
    policyVersion: null,
    probability: 1,
    trace: null,
    estimates: null,
    reasons: [],
    chosen: offers,
    counterfactual: [],
    candidates: [],
    basket: { basis: 'cart', subtotal: 8000, margin: 3000 },
    decidedAt: NOW,
    ...over,
  };
}

const meta = (n: number, over: Partial<CommitMeta> = {}): CommitMeta => ({
  decisionId: 'dec_1',
  issuanceIds: Array.from({ length: n }, (_, i) => `iss_${i + 1}`),
  catalogVersion: 7,
  body: '{}',
  ...over,
});

describe('commit plan builder', () => {
  it('sorts counter ops by key so concurrent commits lock counters in one order', () => {
    const d = decision([
      chosen('ofr_z', { guard: { globalCap: 100, budgetTotal: 50_000, dailyLiability: 5_000, perCustomer: null, frequency: null, day: DAY } }),
      chosen('ofr_a', { reserve: 0 }),
    ]);
    const plan = buildCommitPlan(d, meta(2));
    const keys = plan.counterOps.map((o) => o.key);
    expect(keys).toEqual([...keys].sort());
    expect(plan.counterOps).toEqual([
      { key: 'b:ofr_z', amount: 500, limit: 50_000, offerId: 'ofr_z', reason: 'BUDGET_EXHAUSTED' },
      { key: `d:ofr_z:${DAY}`, amount: 500, limit: 5_000, offerId: 'ofr_z', reason: 'DAILY_LIABILITY' },
      // Nothing reserved: only the issue count moves, and without a cap the limit is unbounded.
      { key: 'g:ofr_a', amount: 1, limit: Number.MAX_SAFE_INTEGER, offerId: 'ofr_a', reason: 'GLOBAL_CAP' },
      { key: 'g:ofr_z', amount: 1, limit: 100, offerId: 'ofr_z', reason: 'GLOBAL_CAP' },
    ]);
  });

  it('reserves and issues nothing for an entry presented again from the wallet, but still checks its version', () => {
    const held = { issuanceId: 'iss_old', offerId: 'ofr_a', version: 1, value: 10, expiresAt: NOW + 1000, code: 'CODE1' };
    const plan = buildCommitPlan(decision([chosen('ofr_a', { held, guard: { ...chosen('x').guard, perCustomer: 1 } })]), meta(0, { issuanceIds: ['iss_old'] }));
    expect(plan.counterOps).toEqual([]);
    expect(plan.issuances).toEqual([]);
    expect(plan.subjectChecks).toEqual([]);
    expect(plan.versionChecks).toEqual({ campaign: { id: 'cmp_web', version: 3 }, offers: [{ offerId: 'ofr_a', version: 1 }] });
    expect(plan.decision.offerKey).toBe('ofr_a@10');
  });

  it('gives content no code and no wallet entry, and checks it against the subject only when capped', () => {
    const content = chosen('ofr_banner', { type: 'content', value: null, reserve: 0, cost: 0, discount: 0 });
    const capped = chosen('ofr_tip', { type: 'content', value: null, reserve: 0, guard: { ...content.guard, frequency: { count: 2, windowMs: 60_000 } } });
    const coupon = chosen('ofr_p10');
    const plan = buildCommitPlan(decision([content, capped, coupon], { channel: 'email' }), meta(3, { codes: ['C-1', 'C-2', 'C-3'] }));
    expect(plan.issuances.map((i) => [i.offerId, i.status, i.code])).toEqual([
      ['ofr_banner', 'shown', null],
      ['ofr_tip', 'shown', null],
      ['ofr_p10', 'issued', 'C-3'],
    ]);
    expect(plan.subjectChecks).toEqual([
      { offerId: 'ofr_tip', perCustomer: null, frequency: { count: 2, windowMs: 60_000 }, notHeld: false },
      // A holdable offer is always checked: a concurrent decision may have issued it first.
      { offerId: 'ofr_p10', perCustomer: null, frequency: null, notHeld: true },
    ]);
  });

  it('records the issuance and the decision log entry as domain records', () => {
    const plan = buildCommitPlan(decision([chosen('ofr_a')]), meta(1, { requestId: '["c:cus_1","r1"]' }));
    expect(plan.issuances).toEqual([
      {
        id: 'iss_1', decisionId: 'dec_1', offerId: 'ofr_a', offerVersion: 1, campaignId: 'cmp_web', subjectId: 'c:cus_1', customerId: 'cus_1',
        channel: 'web', placement: 'cart', value: 10, discount: 800, cost: 500, reserved: 500, points: 0, liabilityDay: DAY,
        issuedAt: NOW, expiresAt: NOW + 86_400_000, status: 'issued', code: null,
      },
    ]);
    expect(plan.decision).toEqual({
      id: 'dec_1', requestId: '["c:cus_1","r1"]', createdAt: NOW, campaignId: 'cmp_web', campaignVersion: 3, subjectId: 'c:cus_1',
      customerId: 'cus_1', anonymousId: null, placement: 'cart', channel: 'web', holdout: false, personalized: true, probability: 1,
      policy: 'static', catalogVersion: 7, body: '{}', offerKey: 'ofr_a@10', globalHoldout: false,
    });
  });

  it('writes nothing but the log for a holdout decision, keyed by what it withheld', () => {
    const plan = buildCommitPlan(decision([], { holdout: true, globalHoldout: true, counterfactual: [chosen('ofr_a'), chosen('ofr_c', { value: null })] }), meta(0));
    expect(plan.counterOps).toEqual([]);
    expect(plan.issuances).toEqual([]);
    expect(plan.versionChecks).toEqual({ campaign: null, offers: [] });
    expect(plan.decision).toMatchObject({ holdout: true, globalHoldout: true, offerKey: 'ofr_a@10+ofr_c', requestId: null });
  });

  it('keys offers with their values', () => {
    expect(offerKey([])).toBeNull();
    expect(offerKey([{ offerId: 'ofr_a', value: 10 }, { offerId: 'ofr_b', value: null }])).toBe('ofr_a@10+ofr_b');
  });
});

describe.each(BACKENDS)('commit plan execution (%s)', (backend) => {
  const dbs: TestDb[] = [];
  afterAll(async () => {
    for (const db of dbs) await db.drop();
  });

  async function rows(db: TestDb, sql: string): Promise<Array<Record<string, unknown>>> {
    if (backend === 'sqlite') {
      const raw = new Database(db.url, { readonly: true });
      try {
        return raw.prepare(sql).all() as Array<Record<string, unknown>>;
      } finally {
        raw.close();
      }
    }
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      return (await c.query(sql)).rows.map((r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v])));
    } finally {
      await c.end();
    }
  }

  it('stores the plan records in their columns, flags as 0/1', async () => {
    const db = await createTestDb(backend);
    dbs.push(db);
    const store = openStore(db.url, { writerThread: false });
    await store.migrate();
    try {
      // Each flag differs from its neighbours, so a flag bound to the wrong column shows.
      const shown = chosen('ofr_a', { type: 'content', value: null });
      const plan = buildCommitPlan(decision([shown], { holdout: true, personalized: false, globalHoldout: true, counterfactual: [shown] }), meta(1, { requestId: 'rq_1' }));
      // No catalog in this database: the version re-check is the concurrency tests' business.
      plan.versionChecks.offers = [];
      const r = await store.commitDecision(plan);
      expect(r).toEqual({ status: 'committed', counters: { 'g:ofr_a': 1, 'b:ofr_a': 500, [`d:ofr_a:${DAY}`]: 500 } });
      expect(await rows(db, 'SELECT id, request_id, campaign_id, campaign_version, holdout, personalized, global_holdout, offer_key, catalog_version FROM decisions')).toEqual([
        { id: 'dec_1', request_id: 'rq_1', campaign_id: 'cmp_web', campaign_version: 3, holdout: 1, personalized: 0, global_holdout: 1, offer_key: 'ofr_a', catalog_version: 7 },
      ]);
      expect(await rows(db, 'SELECT id, decision_id, offer_id, subject_id, customer_id, status, code, reserved, liability_day, expires_at FROM issuances')).toEqual([
        { id: 'iss_1', decision_id: 'dec_1', offer_id: 'ofr_a', subject_id: 'c:cus_1', customer_id: 'cus_1', status: 'shown', code: null, reserved: 500, liability_day: DAY, expires_at: NOW + 86_400_000 },
      ]);
      // The same request again answers with the stored decision.
      expect(await store.commitDecision(plan)).toEqual({ status: 'duplicate', decisionId: 'dec_1' });
    } finally {
      await store.close();
    }
  });
});
