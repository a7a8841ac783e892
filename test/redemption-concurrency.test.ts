import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import { createEngine, openStore, type DecisionResponse, type Store } from '../src/index.js';
import { BACKENDS, createTestDb, type TestDb } from './helpers/backends.js';
import { startServerProcess, type ServerProcess } from './helpers/server-process.js';

const N = 1000;
const CAP = 100;
// Offer B reserves 25% of its 400 cost (100) at issue; each redemption settles 300 more.
// Budget: 1000 issues × 100 + 50 × 300; daily liability: 1000 × 100 + 40 × 300 → 40 redemptions fit.
const B_BUDGET = N * 100 + 50 * 300;
const B_DAILY = N * 100 + 40 * 300;

const catalog = {
  products: [{ sku: 'SKU-1', category: 'tops', price: 10000, unitCost: 4000, fulfilmentCost: 500 }],
  offers: [
    { id: 'ofr_a', status: 'live', name: '$5 off, 100 redemptions', type: 'amount_off', value: 500, expectedLift: 2, caps: { redemptions: CAP } },
    { id: 'ofr_b', status: 'live', name: '$4 off, tight budget', type: 'amount_off', value: 400, expectedLift: 2, budget: { total: B_BUDGET, dailyLiability: B_DAILY } },
    { id: 'ofr_c', status: 'live', name: 'Free shipping', type: 'free_shipping', shippingCost: 300, expectedLift: 2 },
  ],
  campaigns: [
    { id: 'cmp_r', status: 'live', name: 'R', placements: ['cart'], offers: ['ofr_a', 'ofr_b', 'ofr_c'], policy: { type: 'static' }, holdoutPct: 0, maxOffers: 3, model: { redemptionRate: 0.25 } },
  ],
};
const cart = { lines: [{ sku: 'SKU-1', quantity: 1, unitPrice: 10000 }], shipping: 300 };

for (const backend of BACKENDS) {
  describe(`${N} concurrent redemptions across two server processes [${backend}]`, () => {
    let db: TestDb;
    let servers: ServerProcess[] = [];
    let key = '';
    let store: Store;
    const tokens: Array<Record<string, string>> = [];

    beforeAll(async () => {
      db = await createTestDb(backend);
      store = openStore(db.url);
      await store.migrate();
      const engine = await createEngine({ store, config: { logLevel: 'silent', tokenKeys: 'k1:shared-secret' } });
      await importCatalog(engine.catalog, catalog);
      key = (await engine.keys.create(['decide'])).key;
      for (let i = 0; i < N; i += 100) {
        const ds: DecisionResponse[] = await Promise.all(
          Array.from({ length: 100 }, (_, j) => engine.decide({ customerId: `shopper_${i + j}`, placement: 'cart', channel: 'web', cart })),
        );
        for (const d of ds) tokens.push(Object.fromEntries(d.offers.map((o) => [o.offerId, o.token!])));
      }
      // 1,000 attempts by one shopper at once is what the per-customer rate limit is for (test/rate-limits.test.ts);
      // here the guardrails themselves must hold under that load, so the limit is off.
      servers = await Promise.all(
        [0, 1].map(() => startServerProcess(['--db', db.url], { OFFERPILOT_TOKEN_KEYS: 'k1:shared-secret', OFFERPILOT_RATE_LIMIT_REDEEM_PER_CUSTOMER: '0' })),
      );
    }, 120_000);

    afterAll(async () => {
      await Promise.all(servers.map((s) => s.stop()));
      await store?.close();
      await db?.drop();
    });

    const redeem = async (i: number, body: unknown) => {
      const r = await fetch(`${servers[i % 2]!.url}/v1/redemptions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: r.status, body: (await r.json()) as { error?: { code: string }; redemptionId?: string } };
    };

    it('every decision issued all three offers', () => {
      expect(tokens).toHaveLength(N);
      for (const t of tokens) expect(Object.keys(t).sort()).toEqual(['ofr_a', 'ofr_b', 'ofr_c']);
    });

    it('the same single-use token 1,000 times at once: exactly one succeeds', async () => {
      const token = tokens[0]!.ofr_c!;
      const rs = await Promise.all(Array.from({ length: N }, (_, i) => redeem(i, { orderId: `single-${i}`, customerId: 'shopper_0', channel: 'web', tokens: [token], cart })));
      expect(rs.filter((r) => r.status === 201)).toHaveLength(1);
      expect(rs.filter((r) => r.status === 409 && r.body.error?.code === 'TOKEN_ALREADY_REDEEMED')).toHaveLength(N - 1);
      const c = await store.readCounters(['r:ofr_c']);
      expect(c.get('r:ofr_c')).toBe(1);
    });

    it('1,000 distinct tokens of an offer capped at 100 redemptions: exactly 100', async () => {
      const rs = await Promise.all(tokens.map((t, i) => redeem(i, { orderId: `cap-${i}`, customerId: `shopper_${i}`, channel: 'web', tokens: [t.ofr_a], cart })));
      expect(rs.filter((r) => r.status === 201)).toHaveLength(CAP);
      expect(rs.filter((r) => r.status === 409 && r.body.error?.code === 'REDEMPTION_CAP_REACHED')).toHaveLength(N - CAP);
      expect((await store.readCounters(['r:ofr_a'])).get('r:ofr_a')).toBe(CAP);
      // Both processes took part (which one wins each slot depends on how redemptions group into commits).
      for (const s of [0, 1]) expect(rs.filter((r, i) => i % 2 === s && [201, 409].includes(r.status))).toHaveLength(N / 2);
      // Exactly the winners' wallet entries are redeemed; refused ones stay in the wallets.
      const issuanceOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[2]!, 'base64url').toString()) as { iss: string }).iss;
      const rows = await store.issuancesByIds(tokens.map((t) => issuanceOf(t.ofr_a!)));
      const redeemed = new Set(rows.filter((r) => r.status === 'redeemed').map((r) => r.id));
      expect(redeemed.size).toBe(CAP);
      expect(rows.filter((r) => r.status === 'issued')).toHaveLength(N - CAP);
      tokens.forEach((t, i) => expect(redeemed.has(issuanceOf(t.ofr_a!))).toBe(rs[i]!.status === 201));
    });

    it('budget and daily liability are never exceeded: exactly the 40 that fit', async () => {
      const rs = await Promise.all(tokens.map((t, i) => redeem(i, { orderId: `budget-${i}`, customerId: `shopper_${i}`, channel: 'web', tokens: [t.ofr_b], cart })));
      expect(rs.filter((r) => r.status === 201)).toHaveLength(40);
      expect(rs.filter((r) => r.status === 409 && ['DAILY_LIABILITY_EXCEEDED', 'BUDGET_EXHAUSTED'].includes(r.body.error!.code))).toHaveLength(N - 40);
      const day = new Date().toISOString().slice(0, 10);
      const c = await store.readCounters(['b:ofr_b', `d:ofr_b:${day}`, 'r:ofr_b']);
      expect(c.get('r:ofr_b')).toBe(40);
      expect(c.get('b:ofr_b')).toBe(N * 100 + 40 * 300);
      expect(c.get('b:ofr_b')!).toBeLessThanOrEqual(B_BUDGET);
      expect(c.get(`d:ofr_b:${day}`)!).toBeLessThanOrEqual(B_DAILY);
    });
  });
}
