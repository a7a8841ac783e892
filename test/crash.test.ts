/**
 * Crash durability, for real: a server process is killed with SIGKILL in the middle of an
 * ingestion + redemption load. After a restart on the same database, every acknowledged event
 * and redemption is there exactly once, nothing is counted twice (orders, features, redemption
 * counters, budget), and resending everything (acknowledged or not) changes nothing that was
 * already stored.
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import { createEngine, openStore } from '../src/index.js';
import { BACKENDS, createTestDb, type Backend, type TestDb } from './helpers/backends.js';
import { startServerProcess, type ServerProcess } from './helpers/server-process.js';

/** Shipping charged on every order and cart of the workload. */
const SHIPPING = 499;

const CUSTOMERS = 150;
const OFFER = 'ofr_crash10';
const ORDERS_PER_CUSTOMER = 6;
const DUP_ORDERS = [1, 4]; // also sent under a second event id: stored as events, counted once
/** Customers whose duplicate order events ride in the same batch as the original (the rest: another batch, often concurrent). */
const sameBatchDups = (i: number) => i % 10 === 0;
const REFUNDED = [1, 2];
const IMPRESSIONS_PER_CUSTOMER = 40;
const BATCH_SIZES = [50, 120, 200, 80, 150, 60, 180, 100];
const EVENT_CLIENTS = 6;
const REDEMPTION_CLIENTS = 3;
/** The server is killed once this share of the event batches has been acknowledged. */
const KILL_AFTER = 0.35;

const catalog = {
  products: [
    { sku: 'SKU-1', category: 'tops', price: 10000, unitCost: 4000, fulfilmentCost: 500 },
    { sku: 'SKU-2', category: 'home', price: 2500, unitCost: 1000, fulfilmentCost: 200 },
  ],
  offers: [
    // The redemption cap equals the number of tokens: a redemption counted twice would make a
    // later legitimate redemption fail with REDEMPTION_CAP_REACHED.
    { id: OFFER, status: 'live', name: '10% off', type: 'percent_off', value: 10, expectedLift: 2, caps: { redemptions: CUSTOMERS } },
  ],
  campaigns: [{ id: 'cmp_crash', status: 'live', name: 'Crash', placements: ['cart'], offers: [OFFER], policy: { type: 'static' }, holdoutPct: 0 }],
};

const cid = (i: number) => `crash_${i}`;
const cartOf = (i: number) => ({ lines: [{ sku: 'SKU-1', quantity: 1, unitPrice: 10000 }, { sku: 'SKU-2', quantity: 1 + (i % 3), unitPrice: 2500 }] });

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Ev = Record<string, unknown> & { id: string; type: string };
interface OrderDef {
  subject: string;
  subtotal: number;
  discount: number;
  at: number;
}
interface Workload {
  batches: Ev[][];
  /** Batch indexes in the order they are sent during the load (some appear twice: a client retry racing the original). */
  schedule: number[];
  eventsById: Map<string, Ev>;
  orders: Map<string, OrderDef>;
  redemptions: Array<{ orderId: string; customerId: string; channel: 'web'; tokens: string[]; cart: ReturnType<typeof cartOf> & { shipping: number } }>;
}

function buildWorkload(tokens: string[], base: number): Workload {
  const events: Ev[] = [];
  const coBatched: Ev[] = [];
  const orders = new Map<string, OrderDef>();
  const iso = (t: number) => new Date(t).toISOString();
  for (let i = 0; i < CUSTOMERS; i++) {
    const customerId = cid(i);
    for (let j = 0; j < ORDERS_PER_CUSTOMER; j++) {
      const orderId = `ord-${i}-${j}`;
      const lines = [
        { sku: 'SKU-1', quantity: 1 + (j % 2), unitPrice: 10000 },
        { sku: 'SKU-2', quantity: 1 + ((i + j) % 3), unitPrice: 2500 },
      ];
      const subtotal = lines.reduce((s, l) => s + l.quantity * l.unitPrice, 0);
      const discount = j === 0 ? subtotal / 10 : 0;
      const at = base + j * 60_000 + i * 1000;
      const ev: Ev = { id: `ev-${i}-o${j}`, type: 'order', customerId, occurredAt: iso(at), orderId, lines, shipping: SHIPPING, discount };
      // Order 0 is the redeemed one; half of them also name the token on the order event.
      if (j === 0 && i % 2 === 0) ev.tokens = [tokens[i]!];
      events.push(ev);
      if (DUP_ORDERS.includes(j)) (sameBatchDups(i) ? coBatched : events).push({ ...ev, id: `${ev.id}-dup` });
      orders.set(orderId, { subject: `c:${customerId}`, subtotal, discount, at });
    }
    for (const j of REFUNDED) {
      events.push({ id: `ev-${i}-r${j}`, type: 'refund', customerId, occurredAt: iso(base + j * 60_000 + i * 1000 + 30_000), orderId: `ord-${i}-${j}`, amount: 700 + i });
    }
    for (let k = 0; k < IMPRESSIONS_PER_CUSTOMER; k++) {
      events.push({ id: `ev-${i}-i${k}`, type: k % 4 === 3 ? 'click' : 'impression', customerId, occurredAt: iso(base + k * 5000 + i), offerId: OFFER, placement: 'cart' });
    }
    events.push({ id: `ev-${i}-s`, type: 'session_start', anonymousId: `anon-${i}`, occurredAt: iso(base + i) });
  }
  // Shuffle so every batch mixes customers and concurrent batches touch the same subjects.
  const rand = rng(42);
  for (let i = events.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [events[i], events[j]] = [events[j]!, events[i]!];
  }
  const batches: Ev[][] = [];
  for (let at = 0, b = 0; at < events.length; b++) {
    const n = BATCH_SIZES[b % BATCH_SIZES.length]!;
    batches.push(events.slice(at, at + n));
    at += n;
  }
  const batchOf = (id: string) => batches.findIndex((b) => b.some((e) => e.id === id));
  // Duplicates of other customers that the shuffle put next to their original move one batch on.
  for (let b = 0; b < batches.length; b++) {
    for (const dup of batches[b]!.filter((e) => e.id.endsWith('-dup') && batchOf(e.id.slice(0, -4)) === b)) {
      batches[b] = batches[b]!.filter((e) => e !== dup);
      batches[(b + 1) % batches.length]!.push(dup);
    }
  }
  for (const dup of coBatched) batches[batchOf(dup.id.slice(0, -4))]!.push(dup);
  const all = batches.flat();
  const schedule: number[] = [];
  batches.forEach((_, b) => {
    schedule.push(b);
    if (b >= 3 && b % 7 === 0) schedule.push(b - 3); // a retry of an earlier batch, likely still in flight
  });
  const redemptions = tokens.map((token, i) => ({
    orderId: `ord-${i}-0`,
    customerId: cid(i),
    channel: 'web' as const,
    tokens: [token],
    cart: { ...cartOf(i), shipping: SHIPPING },
  }));
  return { batches, schedule, eventsById: new Map(all.map((e) => [e.id, e])), orders, redemptions };
}

interface Reply {
  status: number;
  body: any;
}

async function post(url: string, key: string, path: string, body: unknown): Promise<Reply> {
  const r = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  // The status line is the acknowledgement; a body cut off by the kill does not undo it.
  let parsed: unknown = null;
  try {
    parsed = await r.json();
  } catch {
    parsed = null;
  }
  return { status: r.status, body: parsed };
}

async function getJson(url: string, key: string, path: string): Promise<Reply> {
  const r = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: r.status, body: await r.json() };
}

/** Runs `f` over `items` with `n` workers. */
async function pool<T, R>(items: T[], n: number, f: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]!, i);
      }
    }),
  );
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Read-only access to the database, bypassing the engine. */
interface RawDb {
  all(sql: string): Promise<Array<Record<string, unknown>>>;
  close(): Promise<void>;
}

async function openRaw(backend: Backend, url: string): Promise<RawDb> {
  if (backend === 'sqlite') {
    const db = new Database(url, { fileMustExist: true });
    return {
      all: async (sql) => db.prepare(sql).all() as Array<Record<string, unknown>>,
      close: async () => {
        db.close();
      },
    };
  }
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return { all: async (sql) => (await c.query(sql)).rows, close: () => c.end() };
}

interface Snapshot {
  events: Map<string, { type: string; subject: string; orderId: string | null; amount: number | null }>;
  eventRows: number;
  orders: Map<string, { eventId: string; subject: string; subtotal: number; discount: number; withOffer: number; at: number }>;
  orderRows: number;
  features: Map<string, { orders: number; revenue: number; refunded: number; offerOrders: number; offerDiscount: number; offerSubtotal: number; first: number | null; last: number | null }>;
  redemptions: Array<{ id: string; orderId: string; status: string; subject: string }>;
  items: Array<{ redemptionId: string; issuanceId: string; offerId: string; cost: number }>;
  issuances: Map<string, { status: string; reserved: number; subject: string }>;
  counters: Map<string, number>;
  redeemLedger: number;
  /** Refunds held back until their order arrives: event id → order id. */
  quarantined: Map<string, string>;
}

const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));

async function snapshot(db: RawDb): Promise<Snapshot> {
  const ev = await db.all('SELECT id, type, subject_id, order_id, amount FROM events');
  const ord = await db.all('SELECT order_id, event_id, subject_id, subtotal, discount, with_offer, occurred_at FROM orders');
  const feat = await db.all('SELECT subject_id, orders, revenue, refunded, offer_orders, offer_discount, offer_subtotal, first_order_at, last_order_at FROM customer_features');
  const red = await db.all('SELECT id, order_id, status, subject_id FROM redemptions');
  const items = await db.all('SELECT redemption_id, issuance_id, offer_id, cost FROM redemption_items');
  const iss = await db.all('SELECT id, status, reserved, subject_id FROM issuances');
  const counters = await db.all('SELECT key, used FROM guard_counters');
  const ledger = await db.all(`SELECT count(*) AS n FROM liability_ledger WHERE kind = 'redeem'`);
  const held = await db.all('SELECT id, order_id FROM event_quarantine');
  return {
    events: new Map(ev.map((r) => [String(r.id), { type: String(r.type), subject: String(r.subject_id), orderId: r.order_id === null ? null : String(r.order_id), amount: n(r.amount) }])),
    eventRows: ev.length,
    orders: new Map(
      ord.map((r) => [
        String(r.order_id),
        { eventId: String(r.event_id), subject: String(r.subject_id), subtotal: Number(r.subtotal), discount: Number(r.discount), withOffer: Number(r.with_offer), at: Number(r.occurred_at) },
      ]),
    ),
    orderRows: ord.length,
    features: new Map(
      feat.map((r) => [
        String(r.subject_id),
        {
          orders: Number(r.orders),
          revenue: Number(r.revenue),
          refunded: Number(r.refunded),
          offerOrders: Number(r.offer_orders),
          offerDiscount: Number(r.offer_discount),
          offerSubtotal: Number(r.offer_subtotal),
          first: n(r.first_order_at),
          last: n(r.last_order_at),
        },
      ]),
    ),
    redemptions: red.map((r) => ({ id: String(r.id), orderId: String(r.order_id), status: String(r.status), subject: String(r.subject_id) })),
    items: items.map((r) => ({ redemptionId: String(r.redemption_id), issuanceId: String(r.issuance_id), offerId: String(r.offer_id), cost: Number(r.cost) })),
    issuances: new Map(iss.map((r) => [String(r.id), { status: String(r.status), reserved: Number(r.reserved), subject: String(r.subject_id) }])),
    counters: new Map(counters.map((r) => [String(r.key), Number(r.used)])),
    redeemLedger: Number(ledger[0]!.n),
    quarantined: new Map(held.map((r) => [String(r.id), String(r.order_id)])),
  };
}

type FeatureRow = Snapshot['features'] extends Map<string, infer V> ? V : never;

/**
 * Invariants that must hold in any state the database can be in, crash or not: every stored
 * row is one the clients sent, stored once; orders, features and counters agree with the rows
 * they are derived from (so nothing was applied twice or half applied).
 */
function checkConsistency(s: Snapshot, w: Workload, label: string): void {
  // Events: each stored once, each one we sent, with the content we sent.
  expect(s.events.size, `${label}: duplicate event ids`).toBe(s.eventRows);
  for (const [id, e] of s.events) {
    const sent = w.eventsById.get(id);
    expect(sent, `${label}: stored event ${id} was never sent`).toBeDefined();
    expect(e.type, `${label}: event ${id} type`).toBe(sent!.type);
  }
  // Orders: exactly the distinct order ids of the stored order events, one row each, as sent.
  const orderEvents = new Map<string, string[]>();
  for (const [id, e] of s.events) {
    if (e.type !== 'order') continue;
    const list = orderEvents.get(e.orderId!) ?? [];
    list.push(id);
    orderEvents.set(e.orderId!, list);
  }
  expect(s.orders.size, `${label}: duplicate order rows`).toBe(s.orderRows);
  expect([...s.orders.keys()].sort(), `${label}: orders vs stored order events`).toEqual([...orderEvents.keys()].sort());
  for (const [orderId, o] of s.orders) {
    const def = w.orders.get(orderId)!;
    expect(orderEvents.get(orderId), `${label}: order ${orderId} row points at a stored event of that order`).toContain(o.eventId);
    expect({ subject: o.subject, subtotal: o.subtotal, discount: o.discount, at: o.at }, `${label}: order ${orderId}`).toEqual(def);
  }
  // Features: recomputed from the stored orders and refunds, per subject.
  const expected = new Map<string, FeatureRow>();
  const row = (subject: string) => {
    let r = expected.get(subject);
    if (!r) expected.set(subject, (r = { orders: 0, revenue: 0, refunded: 0, offerOrders: 0, offerDiscount: 0, offerSubtotal: 0, first: null, last: null }));
    return r;
  };
  for (const o of s.orders.values()) {
    const r = row(o.subject);
    r.orders++;
    // Revenue is what the shopper paid (every order in this workload charges SHIPPING).
    r.revenue += o.subtotal + SHIPPING - o.discount;
    if (o.withOffer) {
      r.offerOrders++;
      r.offerDiscount += o.discount;
      r.offerSubtotal += o.subtotal + SHIPPING;
    }
    r.first = r.first === null ? o.at : Math.min(r.first, o.at);
    r.last = r.last === null ? o.at : Math.max(r.last, o.at);
  }
  for (const e of s.events.values()) if (e.type === 'refund' || e.type === 'return') row(e.subject).refunded += e.amount!;
  const stored = new Map([...s.features].filter(([, f]) => f.orders !== 0 || f.revenue !== 0 || f.refunded !== 0));
  expect([...stored.keys()].sort(), `${label}: subjects with features`).toEqual([...expected.keys()].sort());
  for (const [subject, f] of expected) expect(stored.get(subject), `${label}: features of ${subject}`).toEqual(f);

  // Redemptions: one per order, each applied one with its issuance redeemed exactly once.
  const applied = s.redemptions.filter((r) => r.status === 'applied');
  expect(applied.length, `${label}: only applied redemptions exist (no rollbacks in this test)`).toBe(s.redemptions.length);
  expect(new Set(s.redemptions.map((r) => r.orderId)).size, `${label}: one redemption per order id`).toBe(s.redemptions.length);
  const appliedIds = new Set(applied.map((r) => r.id));
  const items = s.items.filter((i) => appliedIds.has(i.redemptionId));
  expect(items.length, `${label}: redemption items belong to stored redemptions`).toBe(s.items.length);
  expect(items.length, `${label}: one item per redemption`).toBe(applied.length);
  expect(new Set(items.map((i) => i.issuanceId)).size, `${label}: an issuance redeemed twice`).toBe(items.length);
  const redeemedIss = [...s.issuances].filter(([, i]) => i.status === 'redeemed').map(([id]) => id);
  expect(redeemedIss.sort(), `${label}: redeemed issuances vs redemption items`).toEqual(items.map((i) => i.issuanceId).sort());
  for (const r of applied) {
    const item = items.find((i) => i.redemptionId === r.id)!;
    expect(s.issuances.get(item.issuanceId)!.subject, `${label}: redemption ${r.id} redeemed its own customer's issuance`).toBe(r.subject);
  }
  expect(s.redeemLedger, `${label}: liability ledger redeem entries`).toBe(items.length);
  // Counters: redemptions counted once, issues untouched, budget settled exactly once per redemption.
  expect(s.counters.get(`r:${OFFER}`) ?? 0, `${label}: r:${OFFER} counter vs applied redemptions`).toBe(applied.length);
  expect(s.counters.get(`g:${OFFER}`), `${label}: g:${OFFER} counter vs issuances`).toBe(s.issuances.size);
  const stillReserved = [...s.issuances.values()].filter((i) => i.status === 'issued').reduce((a, i) => a + i.reserved, 0);
  const settled = items.reduce((a, i) => a + i.cost, 0);
  expect(s.counters.get(`b:${OFFER}`) ?? 0, `${label}: b:${OFFER} budget counter vs reservations and settled costs`).toBe(stillReserved + settled);
}

/** Features as computed from everything the clients sent (every event stored once). */
function expectedFinalFeatures(w: Workload): Map<string, { orders: number; revenue: number; refunded: number }> {
  const m = new Map<string, { orders: number; revenue: number; refunded: number }>();
  for (let i = 0; i < CUSTOMERS; i++) m.set(cid(i), { orders: 0, revenue: 0, refunded: 0 });
  for (const [orderId, o] of w.orders) {
    const r = m.get(o.subject.slice(2))!;
    r.orders++;
    r.revenue += o.subtotal + SHIPPING - o.discount;
    void orderId;
  }
  for (const e of w.eventsById.values()) if (e.type === 'refund') m.get(e.customerId as string)!.refunded += e.amount as number;
  return m;
}

async function checkHttpFeatures(url: string, key: string, expected: Map<string, { orders: number; revenue: number; refunded: number }>, label: string) {
  await pool([...expected], 8, async ([customerId, e]) => {
    const r = await getJson(url, key, `/v1/customers/${customerId}/features`);
    expect(r.status, `${label}: features of ${customerId}`).toBe(200);
    expect({ orders: r.body.orders, monetary: r.body.monetary, refunded: r.body.refunded }, `${label}: features of ${customerId}`).toEqual({
      orders: e.orders,
      monetary: e.revenue - e.refunded,
      refunded: e.refunded,
    });
  });
}

interface LoadResult {
  batchAcks: Map<number, Reply>; // by position in the schedule
  batchFailed: number[];
  redemptionAcks: Map<number, Reply>;
  redemptionFailed: number[];
  inFlightAtKill: { batches: number; redemptions: number };
  sentBatches: number;
  sentRedemptions: number;
  killedAfterMs: number;
}

/**
 * The load: EVENT_CLIENTS clients send the scheduled batches while REDEMPTION_CLIENTS clients
 * redeem, paced so redemptions are spread over the whole event load. Once KILL_AFTER of the
 * batches are acknowledged the server is killed with SIGKILL; requests in flight fail and the
 * clients stop.
 */
async function runLoadAndKill(server: ServerProcess, key: string, w: Workload): Promise<LoadResult> {
  const res: LoadResult = {
    batchAcks: new Map(),
    batchFailed: [],
    redemptionAcks: new Map(),
    redemptionFailed: [],
    inFlightAtKill: { batches: 0, redemptions: 0 },
    sentBatches: 0,
    sentRedemptions: 0,
    killedAfterMs: 0,
  };
  const unexpected: string[] = [];
  let killed = false;
  let nextBatch = 0;
  let nextRedemption = 0;
  let ackedBatches = 0;
  const inFlight = { batches: 0, redemptions: 0 };
  const started = Date.now();

  const eventClient = async () => {
    while (!killed && nextBatch < w.schedule.length) {
      const pos = nextBatch++;
      res.sentBatches++;
      inFlight.batches++;
      try {
        const r = await post(server.url, key, '/v1/events', { events: w.batches[w.schedule[pos]!] });
        if (r.status === 200) {
          res.batchAcks.set(pos, r);
          ackedBatches++;
        } else if (r.status !== 503) unexpected.push(`batch ${pos}: ${r.status} ${JSON.stringify(r.body)}`);
        else res.batchFailed.push(pos);
      } catch {
        res.batchFailed.push(pos);
        return; // the server is gone
      } finally {
        inFlight.batches--;
      }
    }
  };
  const redemptionClient = async () => {
    while (!killed && nextRedemption < w.redemptions.length) {
      // Pace: redemption k goes out once k/R of the event schedule has been sent.
      if (nextBatch < (nextRedemption * w.schedule.length) / w.redemptions.length) {
        await sleep(1);
        continue;
      }
      const k = nextRedemption++;
      res.sentRedemptions++;
      inFlight.redemptions++;
      try {
        const r = await post(server.url, key, '/v1/redemptions', w.redemptions[k]);
        if (r.status === 201) res.redemptionAcks.set(k, r);
        else unexpected.push(`redemption ${k}: ${r.status} ${JSON.stringify(r.body)}`);
      } catch {
        res.redemptionFailed.push(k);
        return;
      } finally {
        inFlight.redemptions--;
      }
    }
  };
  const clients = [...Array.from({ length: EVENT_CLIENTS }, eventClient), ...Array.from({ length: REDEMPTION_CLIENTS }, redemptionClient)];
  const loadDone = Promise.all(clients);
  let finished = false;
  void loadDone.then(() => (finished = true));

  const killAt = Math.ceil(w.schedule.length * KILL_AFTER);
  while (!finished && (ackedBatches < killAt || res.redemptionAcks.size < 5)) await sleep(1);
  expect(finished, 'the load finished before the server could be killed').toBe(false);
  killed = true;
  res.inFlightAtKill = { ...inFlight };
  res.killedAfterMs = Date.now() - started;
  await server.stop('SIGKILL');
  await loadDone;
  expect(unexpected, 'no request was refused during the load').toEqual([]);
  return res;
}

for (const backend of BACKENDS) {
  describe(`SIGKILL during ingestion and redemption load [${backend}]`, () => {
    it('loses no acknowledged event or redemption, double-counts nothing, and a full resend is a no-op for what was stored', async () => {
      const db: TestDb = await createTestDb(backend);
      const servers: ServerProcess[] = [];
      let raw: RawDb | null = null;
      try {
        // Catalog and API key, written through the library before any server runs.
        const store = openStore(db.url);
        await store.migrate();
        const engine = await createEngine({ store, config: { logLevel: 'silent' } });
        await importCatalog(engine.catalog, catalog);
        const key = (await engine.keys.create(['decide', 'read'], 'crash test')).key;
        await engine.close();

        const a = await startServerProcess(['--db', db.url]);
        servers.push(a);

        // Issue one token per customer.
        const decisions = await pool(Array.from({ length: CUSTOMERS }, (_, i) => i), 8, async (i) => {
          const r = await post(a.url, key, '/v1/decide', { customerId: cid(i), placement: 'cart', channel: 'web', cart: cartOf(i) });
          expect(r.status).toBe(200);
          expect(r.body.offers.map((o: { offerId: string }) => o.offerId), `offer issued to ${cid(i)}`).toEqual([OFFER]);
          return r.body.offers[0] as { token: string; issuanceId: string };
        });
        const w = buildWorkload(
          decisions.map((d) => d.token),
          Date.now() - 2 * 3_600_000,
        );
        // The workload has both kinds of resent orders: in the original's batch and in another one.
        const together = w.batches.filter((batch) => batch.some((e) => e.id.endsWith('-dup') && batch.some((o) => `${o.id}-dup` === e.id))).length;
        expect(together).toBeGreaterThan(0);
        expect(w.eventsById.size).toBe(w.batches.reduce((a, batch) => a + batch.length, 0));

        // 1–2. Load, then SIGKILL in the middle of it.
        const load = await runLoadAndKill(a, key, w);
        expect(a.child.signalCode, 'server A died of SIGKILL').toBe('SIGKILL');
        const ackedBatchPositions = [...load.batchAcks.keys()];
        const ackedRedemptions = [...load.redemptionAcks.keys()];
        // The kill really happened mid-load: some work acknowledged, some not.
        expect(ackedBatchPositions.length).toBeGreaterThan(0);
        expect(ackedBatchPositions.length).toBeLessThan(w.schedule.length);
        expect(ackedRedemptions.length).toBeGreaterThan(0);
        expect(ackedRedemptions.length).toBeLessThan(w.redemptions.length);
        // Requests were outstanding at the kill. Each either failed or was answered just before it
        // (the server often writes responses faster than this process reads them), and either way
        // every request sent is accounted for exactly once.
        expect(load.inFlightAtKill.batches + load.inFlightAtKill.redemptions, 'requests in flight when the server was killed').toBeGreaterThan(0);
        expect(load.batchAcks.size + load.batchFailed.length).toBe(load.sentBatches);
        expect(load.redemptionAcks.size + load.redemptionFailed.length).toBe(load.sentRedemptions);
        for (const [pos, r] of load.batchAcks) {
          const batch = w.batches[w.schedule[pos]!]!;
          // The shuffle sends some refunds before their order: those are held back (quarantined)
          // and stored when the order arrives; nothing of this workload is rejected.
          expect(r.body.rejected, `batch at ${pos}: rejected`).toBe(0);
          expect(r.body.accepted + r.body.duplicates + r.body.quarantined, `batch at ${pos}: accepted + duplicates + quarantined`).toBe(batch.length);
        }

        // 3. Restart on the same database and check what survived.
        const b = await startServerProcess(['--db', db.url]);
        servers.push(b);
        raw = await openRaw(backend, db.url);
        const afterCrash = await snapshot(raw);
        checkConsistency(afterCrash, w, 'after crash');
        // Every acknowledged event is stored (exactly once: ids are checked unique above).
        const ackedEventIds = new Set(ackedBatchPositions.flatMap((pos) => w.batches[w.schedule[pos]!]!.map((e) => e.id)));
        // (or, a refund whose order has not arrived, held back: then its order is indeed not stored).
        const lostEvents = [...ackedEventIds].filter((id) => !afterCrash.events.has(id) && !afterCrash.quarantined.has(id));
        expect(lostEvents, 'acknowledged events lost in the crash').toEqual([]);
        expect([...afterCrash.quarantined.values()].filter((o) => afterCrash.orders.has(o)), 'held-back refunds whose order is stored').toEqual([]);
        // Every acknowledged order is in orders (and so in the customer's features, checked above).
        for (const id of ackedEventIds) {
          const e = w.eventsById.get(id)!;
          if (e.type === 'order') expect(afterCrash.orders.has(e.orderId as string), `acknowledged order ${String(e.orderId)}`).toBe(true);
        }
        // Every acknowledged redemption is stored, applied, under the id it was acknowledged with.
        for (const [k, r] of load.redemptionAcks) {
          const orderId = w.redemptions[k]!.orderId;
          const stored = afterCrash.redemptions.find((x) => x.orderId === orderId);
          expect(stored, `acknowledged redemption of ${orderId}`).toBeDefined();
          expect(stored!.status).toBe('applied');
          if (r.body) {
            expect(r.body.status).toBe('applied');
            expect(stored!.id, `redemption id of ${orderId}`).toBe(r.body.redemptionId);
          }
          const item = afterCrash.items.find((i) => i.redemptionId === stored!.id)!;
          expect(item.issuanceId, `issuance redeemed on ${orderId}`).toBe(decisions[k]!.issuanceId);
        }
        // Only what was sent can be stored: nothing from batches or redemptions never sent.
        const sentPositions = new Set(Array.from({ length: load.sentBatches }, (_, p) => p));
        const sentIds = new Set([...sentPositions].flatMap((pos) => w.batches[w.schedule[pos]!]!.map((e) => e.id)));
        expect([...afterCrash.events.keys()].filter((id) => !sentIds.has(id)), 'stored events that were never sent').toEqual([]);
        expect(afterCrash.redemptions.length).toBeLessThanOrEqual(load.sentRedemptions);
        await checkHttpFeatures(
          b.url,
          key,
          new Map(
            Array.from({ length: CUSTOMERS }, (_, i) => {
              const f = afterCrash.features.get(`c:${cid(i)}`);
              return [cid(i), { orders: f?.orders ?? 0, revenue: f?.revenue ?? 0, refunded: f?.refunded ?? 0 }];
            }),
          ),
          'after crash (HTTP)',
        );

        // 4. Resend everything, acknowledged or not, to the restarted server.
        const storedRedemptionByOrder = new Map(afterCrash.redemptions.map((r) => [r.orderId, r]));
        const [eventReplies, redemptionReplies] = await Promise.all([
          pool(w.batches, EVENT_CLIENTS, (batch) => post(b.url, key, '/v1/events', { events: batch })),
          pool(w.redemptions, REDEMPTION_CLIENTS, (req) => post(b.url, key, '/v1/redemptions', req)),
        ]);
        w.batches.forEach((batch, i) => {
          const r = eventReplies[i]!;
          expect(r.status, `resent batch ${i}: ${JSON.stringify(r.body)}`).toBe(200);
          // What survived the crash is a duplicate; only what was lost is accepted now.
          const fresh = batch.filter((e) => !afterCrash.events.has(e.id)).length;
          // (A refund not stored yet is accepted now, or held back again until its order is resent.)
          expect({ accepted: r.body.accepted + r.body.quarantined, duplicates: r.body.duplicates, rejected: r.body.rejected }, `resent batch ${i}`).toEqual({ accepted: fresh, duplicates: batch.length - fresh, rejected: 0 });
        });
        w.redemptions.forEach((req, k) => {
          const r = redemptionReplies[k]!;
          const prior = storedRedemptionByOrder.get(req.orderId);
          if (prior) {
            expect({ status: r.status, replayed: r.body.replayed, redemptionId: r.body.redemptionId }, `resent redemption of ${req.orderId}`).toEqual({
              status: 200,
              replayed: true,
              redemptionId: prior.id,
            });
          } else {
            expect(r.status, `resent redemption of ${req.orderId}: ${JSON.stringify(r.body)}`).toBe(201);
            expect(r.body.status).toBe('applied');
          }
        });

        const final = await snapshot(raw);
        checkConsistency(final, w, 'after resend');
        expect(final.events.size, 'every distinct event id stored once').toBe(w.eventsById.size);
        expect([...final.quarantined.keys()], 'every held-back refund released once its order arrived').toEqual([]);
        expect(final.orders.size, 'every distinct order stored once').toBe(w.orders.size);
        expect(final.redemptions.length, 'every order redeemed once').toBe(w.redemptions.length);
        expect(final.counters.get(`r:${OFFER}`)).toBe(w.redemptions.length);
        for (const r of afterCrash.redemptions) expect(final.redemptions.find((x) => x.orderId === r.orderId)!.id, `redemption of ${r.orderId} kept`).toBe(r.id);
        const want = expectedFinalFeatures(w);
        for (const [customerId, e] of want) {
          const f = final.features.get(`c:${customerId}`)!;
          expect({ orders: f.orders, revenue: f.revenue, refunded: f.refunded }, `final features of ${customerId}`).toEqual(e);
        }
        await checkHttpFeatures(b.url, key, want, 'after resend (HTTP)');

        console.log(
          `[${backend}] ${w.eventsById.size} events in ${w.batches.length} batches (${w.schedule.length} sends), ${w.redemptions.length} redemptions; ` +
            `killed after ${load.killedAfterMs} ms with ${load.batchAcks.size} batches and ${load.redemptionAcks.size} redemptions acknowledged, ` +
            `${load.inFlightAtKill.batches} batches and ${load.inFlightAtKill.redemptions} redemptions in flight; ` +
            `after restart ${afterCrash.events.size} events, ${afterCrash.redemptions.length} redemptions stored ` +
            `(${afterCrash.events.size - ackedEventIds.size} events and ${afterCrash.redemptions.length - load.redemptionAcks.size} redemptions committed but not acknowledged)`,
        );
      } finally {
        await raw?.close();
        for (const s of servers) await s.stop();
        await db.drop();
      }
    }, 90_000);
  });
}
