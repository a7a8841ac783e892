/**
 * Outcome benchmarks: event ingestion (events/s) on SQLite and PostgreSQL, and redemptions/s,
 * each with the SHA-256 reference workload measured in the same run.
 *   npm run bench:outcomes            (PostgreSQL at OFFERPILOT_BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { importCatalog } from '../src/catalog/import.js';
import { createEngine, openStore, seededRandom, type Engine } from '../src/index.js';
import { benchCatalog } from './fixtures.js';
import { fmt, measure, median, referenceWorkload } from './stats.js';
import autocannon from 'autocannon';
import { fileURLToPath } from 'node:url';
import { start, stop } from './http-decide.js';

const here = fileURLToPath(new URL('.', import.meta.url));

const PG_URL = process.env.OFFERPILOT_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export type Backend = 'sqlite' | 'postgres';

/** A throwaway database for one benchmark. */
export async function tempDb(backend: Backend): Promise<{ url: string; drop: () => Promise<void> }> {
  if (backend === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'offerpilot-bench-'));
    return { url: join(dir, 'bench.db'), drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const name = `offerpilot_bench_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(PG_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export async function pgReachable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

const CUSTOMERS = 5000;

/** A realistic mix: impressions, clicks, sessions, add-to-carts, orders (1–3 lines) and refunds, some linked to decisions. */
export function eventBatch(start: number, size: number, t0: number, decisions: Map<string, { decisionId: string; token: string | null }>) {
  return Array.from({ length: size }, (_, k) => {
    const i = start + k;
    const customerId = `c${(i * 7919) % CUSTOMERS}`;
    const base = { id: `ev-${i}`, customerId, occurredAt: new Date(t0 + (i % 3_000_000)).toISOString(), sessionId: `s${Math.floor(i / 7)}` };
    const d = decisions.get(customerId);
    const r = i % 100;
    if (r < 40) return { ...base, type: 'impression', ...(d && i % 2 ? { decisionId: d.decisionId } : {}) };
    if (r < 55) return { ...base, type: 'click', ...(d?.token && i % 3 === 0 ? { token: d.token } : {}) };
    if (r < 70) return { ...base, type: 'session_start', placement: 'home_hero', channel: 'web' };
    if (r < 90) return { ...base, type: 'add_to_cart', sku: `SKU-${i % 200}`, quantity: 1, unitPrice: 1000 + (((i % 200) * 737) % 14000) };
    if (r < 98) {
      const lines = Array.from({ length: 1 + (i % 3) }, (_, j) => {
        const sku = (i * 31 + j * 17) % 200;
        return { sku: `SKU-${sku}`, quantity: 1 + (j % 2), unitPrice: 1000 + ((sku * 737) % 14000) };
      });
      return { ...base, type: 'order', orderId: `order-${i}`, lines, shipping: 499, discount: i % 4 === 0 ? 500 : 0 };
    }
    return { ...base, type: 'refund', orderId: `order-${i - 5}`, amount: 700 };
  });
}

async function setupEngine(url: string, config: Record<string, unknown> = {}, writerThread = true): Promise<Engine> {
  const store = openStore(url, { writerThread });
  await store.migrate();
  const engine = await createEngine({ store, random: seededRandom(1), config: { logLevel: 'silent', expirySweepMs: 0, ...config } });
  await importCatalog(engine.catalog, benchCatalog(50));
  return engine;
}

/** Events/s through engine.events.ingest (validation, attribution, one transaction per batch). */
export async function runIngestBench(backend: Backend, opts: { rounds?: number; batch?: number; inFlight?: number; writerThread?: boolean } = {}) {
  const rounds = opts.rounds ?? 5;
  const batch = opts.batch ?? 500;
  const inFlight = opts.inFlight ?? 4;
  const db = await tempDb(backend);
  const engine = await setupEngine(db.url, { pgPoolSize: 12, ingestConcurrency: inFlight }, opts.writerThread ?? true);
  try {
    // Decisions to attribute to: one per customer for the first 2,000 customers.
    const decisions = new Map<string, { decisionId: string; token: string | null }>();
    for (let i = 0; i < 2000; i += 50) {
      const ds = await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          engine.decide({ customerId: `c${i + j}`, placement: 'cart', channel: 'web', cart: { lines: [{ sku: 'SKU-1', quantity: 1, unitPrice: 1737 }] } }),
        ),
      );
      ds.forEach((d, j) => decisions.set(`c${i + j}`, { decisionId: d.decisionId, token: d.offers[0]?.token ?? null }));
    }
    const t0 = Date.now() - 3_600_000;
    const perRound = 40 * batch;
    // The shop's side (building the batches) is prepared outside the timed rounds.
    const batches = Array.from({ length: (rounds + 1) * 40 }, (_, k) => eventBatch(k * batch, batch, t0, decisions));
    let next = 0;
    const busy: number[] = [];
    const round = async () => {
      const start = performance.now();
      const elu = performance.eventLoopUtilization();
      let sent = 0;
      const worker = async () => {
        while (sent < perRound) {
          const b = batches[next++]!;
          sent += batch;
          await engine.events.ingest({ events: b });
        }
      };
      await Promise.all(Array.from({ length: inFlight }, worker));
      busy.push(performance.eventLoopUtilization(elu).utilization);
      return sent / ((performance.now() - start) / 1000);
    };
    await round(); // warm-up
    busy.length = 0;
    const rates: number[] = [];
    for (let r = 0; r < rounds; r++) rates.push(await round());
    // How busy the one JavaScript thread was: near 1 means CPU-bound in this process.
    return { eventsPerSec: median(rates), rounds: rates, batch, inFlight, mainThreadBusy: median(busy) };
  } finally {
    await engine.close();
    await db.drop();
  }
}

/** Redemptions/s: distinct tokens redeemed on distinct orders, `inFlight` at once. */
export async function runRedeemBench(backend: Backend, opts: { tokens?: number; rounds?: number; inFlight?: number } = {}) {
  const n = opts.tokens ?? 20_000;
  const rounds = opts.rounds ?? 5;
  const inFlight = opts.inFlight ?? 32;
  const db = await tempDb(backend);
  const store = openStore(db.url, { poolSize: 24 });
  await store.migrate();
  const engine = await createEngine({ store, config: { logLevel: 'silent', expirySweepMs: 0, pgPoolSize: 24 } });
  try {
    await importCatalog(engine.catalog, {
      products: [{ sku: 'SKU-1', category: 'tops', price: 10000, unitCost: 4000, fulfilmentCost: 500 }],
      offers: [{ id: 'ofr_r', status: 'live', name: '$5 off', type: 'amount_off', value: 500, expectedLift: 2, caps: { redemptions: 10_000_000 }, budget: { total: 1e12, dailyLiability: 1e12 } }],
      campaigns: [{ id: 'cmp_r', status: 'live', name: 'R', placements: ['cart'], offers: ['ofr_r'], policy: { type: 'static' }, holdoutPct: 0, model: { redemptionRate: 0.5 } }],
    });
    const cart = { lines: [{ sku: 'SKU-1', quantity: 1, unitPrice: 10000 }], shipping: 300 };
    const tokens: string[] = [];
    for (let i = 0; i < n; i += 100) {
      const ds = await Promise.all(Array.from({ length: 100 }, (_, j) => engine.decide({ customerId: `r${i + j}`, placement: 'cart', channel: 'web', cart })));
      tokens.push(...ds.map((d) => d.offers[0]!.token!));
    }
    let next = 0;
    const per = Math.floor(n / (rounds + 1));
    const round = async () => {
      const end = next + per;
      const start = performance.now();
      let done = 0;
      const worker = async () => {
        while (next < end) {
          const i = next++;
          await engine.wallet.redeem({ orderId: `o${i}`, customerId: `r${i}`, channel: 'web', tokens: [tokens[i]!], cart });
          done++;
        }
      };
      await Promise.all(Array.from({ length: inFlight }, worker));
      return done / ((performance.now() - start) / 1000);
    };
    await round();
    const rates: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let r = 0; r < rounds; r++) rates.push(await round());
    const cpu = process.cpuUsage(cpu0);
    // Node's own CPU per redemption (the database's is on top), microseconds.
    const nodeCpuUs = (cpu.user + cpu.system) / (per * rounds);
    return { redemptionsPerSec: median(rates), rounds: rates, inFlight, nodeCpuUs };
  } finally {
    await engine.close();
    await db.drop();
  }
}

/**
 * Does ingestion slow decide? Latency of one-at-a-time decides (p50/p99, ms) alone and while
 * `inFlight` event batches are being ingested flat out in the same process.
 */
export async function runDecideUnderIngestBench(backend: Backend, opts: { decides?: number; writerThread?: boolean } = {}) {
  const n = opts.decides ?? 3000;
  const db = await tempDb(backend);
  const engine = await setupEngine(db.url, { pgPoolSize: 12 }, opts.writerThread ?? true);
  const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
  const cart = { lines: [{ sku: 'SKU-1', quantity: 1, unitPrice: 1737 }] };
  try {
    const decideLatencies = async (offset: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await engine.decide({ customerId: `d${offset + i}`, placement: 'cart', channel: 'web', cart });
        out.push(performance.now() - t);
      }
      return out;
    };
    await decideLatencies(1_000_000); // warm-up
    const alone = await decideLatencies(0);
    let stop = false;
    let ingested = 0;
    let next = 0;
    const t0 = Date.now() - 3_600_000;
    const none = new Map<string, { decisionId: string; token: string | null }>();
    const loader = async () => {
      while (!stop) {
        const b = eventBatch(next, 500, t0, none);
        next += 500;
        await engine.events.ingest({ events: b });
        ingested += 500;
      }
    };
    const loaders = [loader(), loader()];
    const started = performance.now();
    const loaded = await decideLatencies(n);
    const seconds = (performance.now() - started) / 1000;
    stop = true;
    await Promise.all(loaders);
    return {
      alone: { p50: quantile(alone, 0.5), p99: quantile(alone, 0.99) },
      underIngest: { p50: quantile(loaded, 0.5), p99: quantile(loaded, 0.99), eventsPerSec: ingested / seconds },
    };
  } finally {
    await engine.close();
    await db.drop();
  }
}

/** Events/s over HTTP: POST /v1/events with batches of 500 to a server process, 4 connections. */
export async function runHttpIngestBench(backend: Backend, opts: { batches?: number } = {}) {
  const count = opts.batches ?? 400;
  const db = await tempDb(backend);
  const engine = await setupEngine(db.url);
  const key = (await engine.keys.create(['decide'])).key;
  await engine.close();
  const t0 = Date.now() - 3_600_000;
  const bodies = Array.from({ length: count }, (_, k) => JSON.stringify({ events: eventBatch(k * 500, 500, t0, new Map()) }));
  const server = await start(join(here, '..', 'src', 'cli', 'main.js'), ['serve', '--db', db.url, '--port', '0', '--log-level', 'warn']);
  try {
    let n = 0;
    const began = performance.now();
    const r = await autocannon({
      url: `${server.url}/v1/events`,
      method: 'POST',
      connections: 4,
      amount: count,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      requests: [{ setupRequest: (req) => ({ ...req, body: bodies[n++ % bodies.length] }) }],
    });
    const ok = r['2xx'];
    const seconds = (performance.now() - began) / 1000;
    return { eventsPerSec: (ok * 500) / seconds, requests: ok, non2xx: r.non2xx, errors: r.errors, p50: r.latency.p50, p99: r.latency.p99 };
  } finally {
    await stop(server.child);
    await db.drop();
  }
}

export async function runOutcomeBenches() {
  const reference = median(await measure(referenceWorkload, 200_000, 5));
  const hasPg = await pgReachable();
  const ingestSqlite = await runIngestBench('sqlite');
  // The same with SQLite's writes on the request thread (the design before the writer thread).
  const ingestSqliteInline = await runIngestBench('sqlite', { writerThread: false });
  const ingestPg = hasPg ? await runIngestBench('postgres') : null;
  const httpIngestSqlite = await runHttpIngestBench('sqlite');
  const httpIngestPg = hasPg ? await runHttpIngestBench('postgres') : null;
  const redeemSqlite = await runRedeemBench('sqlite');
  const redeemPg = hasPg ? await runRedeemBench('postgres', { inFlight: 64 }) : null;
  const decideSqlite = await runDecideUnderIngestBench('sqlite');
  const decideSqliteInline = await runDecideUnderIngestBench('sqlite', { writerThread: false });
  const decidePg = hasPg ? await runDecideUnderIngestBench('postgres') : null;
  return { reference, ingestSqlite, ingestSqliteInline, ingestPg, httpIngestSqlite, httpIngestPg, redeemSqlite, redeemPg, decideSqlite, decideSqliteInline, decidePg };
}

/** The throughput rows of an outcome run: label, value (undefined when PostgreSQL is absent), unit. */
export function outcomeRows(r: Awaited<ReturnType<typeof runOutcomeBenches>>): Array<[string, number | undefined, string]> {
  return [
    ['event ingestion in process, SQLite (500/batch, 4 in flight)', r.ingestSqlite.eventsPerSec, 'events/s'],
    ['event ingestion in process, SQLite, writes on the request thread', r.ingestSqliteInline.eventsPerSec, 'events/s'],
    ['event ingestion in process, PostgreSQL', r.ingestPg?.eventsPerSec, 'events/s'],
    ['`POST /v1/events`, SQLite (500/batch, 4 connections)', r.httpIngestSqlite.eventsPerSec, 'events/s'],
    ['`POST /v1/events`, PostgreSQL', r.httpIngestPg?.eventsPerSec, 'events/s'],
    ['redemptions in process, SQLite (32 in flight)', r.redeemSqlite.redemptionsPerSec, 'redemptions/s'],
    ['redemptions in process, PostgreSQL (64 in flight)', r.redeemPg?.redemptionsPerSec, 'redemptions/s'],
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await runOutcomeBenches();
  if (process.argv.includes('--json')) console.log(JSON.stringify(r));
  else {
    const line = (name: string, v: number | undefined, unit: string) =>
      console.log(`${name.padEnd(66)} ${v === undefined ? 'skipped (no PostgreSQL)' : `${fmt(v)} ${unit}  (${(v / r.reference).toFixed(4)} x reference)`}`);
    console.log(`reference (sha256 1 KiB)                     ${fmt(r.reference)} ops/s`);
    for (const [name, v, unit] of outcomeRows(r)) line(name, v, unit);
    const lat = (name: string, x: Awaited<ReturnType<typeof runDecideUnderIngestBench>> | null) =>
      x && console.log(`${name.padEnd(44)} alone p50 ${x.alone.p50.toFixed(2)} / p99 ${x.alone.p99.toFixed(2)} ms; while ingesting ${fmt(x.underIngest.eventsPerSec)} events/s: p50 ${x.underIngest.p50.toFixed(2)} / p99 ${x.underIngest.p99.toFixed(2)} ms`);
    lat('decide latency, SQLite', r.decideSqlite);
    lat('decide latency, SQLite, writes on main thread', r.decideSqliteInline);
    lat('decide latency, PostgreSQL', r.decidePg);
  }
}
