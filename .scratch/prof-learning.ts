/**
 * Learning benchmarks (issue 12), each against a baseline measured in the same run:
 *   - learner updates/s: what the trainer does per logged decision (encode the tokens over the
 *     vocabulary, add to the action's purchase model, and to its value model for a purchase), on
 *     traces the engine logged; plus a whole training round of the real Trainer (rows/s);
 *   - decide throughput with `contextual` (a state the real Trainer fitted) against `static`, same
 *     catalog and requests: pure decide() and engine.decide() on SQLite, catalogs of 8 and 50 offers;
 *   - engine.decide latency with no state writes against while another process writes a new
 *     policy state version every 200 ms and this one refreshes every 100 ms.
 *   node --import tsx bench/learning.ts [--quick] [--json]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { importCatalog } from '../src/catalog/import.js';
import { decide, type SubjectState } from '../src/core/decide.js';
import { NONE } from '../src/core/learn/actions.js';
import { encodeTokens } from '../src/core/learn/features.js';
import { addRidge, emptyRidge, type RidgeStats } from '../src/core/learn/linear.js';
import type { LinearState } from '../src/core/learn/state.js';
import type { LearningTrace, PolicyState, PolicyStates } from '../src/core/policy.js';
import { DecideRequestSchema, type DecideRequest } from '../src/core/request.js';
import { createEngine, fixedClock, openStore, PolicyStateSource, seededRandom, type Engine } from '../src/index.js';
import type { LearningPort, LearningRow, StoredPolicyState, StoredStats } from '../src/learning/port.js';
import { Trainer } from '../src/learning/trainer.js';
import { benchCatalog } from '../bench/fixtures.js';
import { fmt, measure, median, referenceWorkload } from '../bench/stats.js';

const CMP = 'cmp_bench';
const DAY = 86_400_000;
const NOW = Date.parse('2026-11-23T12:00:00Z');
const COHORTS = ['first_time', 'engaged_30', 'engaged_90', 'lapsed'];
const CONTEXT = { device: ['mobile', 'desktop', 'tablet'], country: ['de', 'fr', 'nl', 'it', 'es'], source: ['search', 'email', 'social', 'direct'] };

/** The bench catalog with its campaign under `policy`. */
function catalogWith(offers: number, policy: unknown) {
  const c = benchCatalog(offers);
  c.campaigns[0]!.policy = policy;
  return c;
}

/**
 * Decide requests varied enough that the learners' vocabulary fills (cohort × placement × cart
 * size × margin × context values give several hundred distinct tokens; the trainer keeps 160):
 * carts of 0–4 lines, three placements, three context keys.
 */
export function learningRequests(n: number, customers = 100_000): Array<Record<string, unknown>> {
  const placements = ['cart', 'pdp', 'home_hero'];
  return Array.from({ length: n }, (_, i) => {
    const lines = Array.from({ length: i % 7 === 0 ? 0 : 1 + (i % 4) }, (_, j) => {
      const sku = (i * 31 + j * 17) % 200;
      return { sku: `SKU-${sku}`, quantity: 1 + ((i + j) % 3), unitPrice: 1000 + ((sku * 737) % 14000) };
    });
    return {
      customerId: `c${(i * 7919) % customers}`,
      placement: placements[(i * 5) % 3]!,
      channel: i % 2 ? 'web' : 'app',
      context: { device: CONTEXT.device[i % 3]!, country: CONTEXT.country[(i >> 1) % 5]!, source: CONTEXT.source[(i >> 2) % 4]! },
      consent: { personalization: i % 4 !== 0 },
      traits: { segment: i % 10 === 0 ? 'vip' : 'regular' },
      ...(lines.length ? { cart: { lines } } : {}),
    };
  });
}

/** What the store would give pure decide() for a request: features with a cohort and an order count. */
function subjectOf(r: DecideRequest, i: number): SubjectState {
  return {
    subjectId: `c:${r.customerId}`,
    customerId: r.customerId!,
    anonymousId: null,
    traits: r.traits ?? {},
    consent: r.consent ?? {},
    features: { cohort: COHORTS[(i * 13) % COHORTS.length]!, frequency: (i * 7) % 10 },
    issuances: [],
  };
}

const DEFAULTS = { marginFloorPct: 0, shippingCost: 500, pointValue: 1, pointsPerMajorUnit: 1, merchantFeeBpsPerMonth: 50 };
const COUNTERS = { get: () => 0 };

/** A SQLite engine with the bench catalog of `offers` offers under `policy` (no training timer: the state stays the one given). */
async function engineWith(dir: string, name: string, offers: number, policy: unknown, config: Record<string, unknown> = {}) {
  const url = join(dir, `${name}.db`);
  const store = openStore(url);
  await store.migrate();
  const engine = await createEngine({ store, random: seededRandom(1), config: { logLevel: 'silent', learnEveryMs: 0, ...config } });
  await importCatalog(engine.catalog, catalogWith(offers, policy));
  return { engine, url };
}

/**
 * Logged decisions as the trainer reads them: traces from decide() under `contextual` with no
 * state (uniform exploration, so every action is tried), and seeded outcomes — a purchase more
 * likely for engaged cohorts, full carts and any offer; its CM the basket margin less the cost, ± noise.
 */
function loggedRows(engineSnapshot: Parameters<typeof decide>[0]['snapshot'], n: number): LearningRow[] {
  const requests = learningRequests(n).map((r) => DecideRequestSchema.parse(r));
  const random = seededRandom(11);
  const outcome = seededRandom(12);
  const rows: LearningRow[] = [];
  for (let i = 0; i < n; i++) {
    const r = requests[i]!;
    const d = decide({ request: r, snapshot: engineSnapshot, subject: subjectOf(r, i), counters: COUNTERS, now: NOW, random, defaults: DEFAULTS });
    const t = d.trace as LearningTrace | null;
    if (!t) continue;
    const action = d.holdout ? NONE : t.a;
    const engaged = t.k.some((k) => k.startsWith('co:engaged'));
    const p = 0.03 + (engaged ? 0.04 : 0) + (r.cart ? 0.03 : 0) + (action === NONE ? 0 : 0.02 + 0.01 * (i % 3));
    const buys = outcome() < p;
    const cost = action === NONE ? 0 : (t.acts.find((a) => a[0] === action)?.[1] ?? 0);
    const createdAt = NOW - 30 * DAY + Math.floor((i / n) * 20 * DAY);
    rows.push({
      decisionId: `d${i}`,
      createdAt,
      holdout: d.holdout,
      probability: d.probability,
      policyVersion: null,
      trace: t,
      orders: buys ? 1 : 0,
      cm: buys ? Math.round(t.m - cost + (outcome() - 0.5) * 0.4 * Math.max(1, t.m)) : 0,
      firstOrderReceivedAt: buys ? createdAt + Math.floor(outcome() * 2 * DAY) : null,
    });
  }
  return rows;
}

/** The learning port over memory: the rows given, statistics and states kept in the process. */
function memoryPort(rows: LearningRow[]) {
  let stats: StoredStats | null = null;
  const states = new Map<string, StoredPolicyState>();
  const port: LearningPort = {
    readPolicyStateVersions: async () => [...states.values()].map((s) => ({ campaignId: s.campaignId, version: s.version })),
    readPolicyState: async (id) => states.get(id) ?? null,
    writePolicyState: async (campaignId, state, at) => {
      const version = (states.get(campaignId)?.version ?? 0) + 1;
      states.set(campaignId, { campaignId, version, state, updatedAt: at });
      return version;
    },
    readLearningRows: async (_id, from, to) => rows.filter((r) => r.createdAt > from && r.createdAt <= to),
    readLearningStats: async () => stats,
    writeLearningStats: async (_id, expected, watermark, body) => {
      if ((stats?.version ?? 0) !== expected) return false;
      stats = { version: expected + 1, watermark, body };
      return true;
    },
    readCounters: async (keys) => new Map(keys.map((k) => [k, 0])),
  };
  return { port, state: (id: string) => states.get(id)?.state as LinearState | undefined };
}

/** One round of the real Trainer over `rows` from empty statistics: the published state and the round's time. */
async function trainOnce(engine: Engine, rows: LearningRow[]) {
  const mem = memoryPort(rows);
  const trainer = new Trainer({ port: mem.port, states: new PolicyStateSource(mem.port, 0), clock: fixedClock(NOW), logger: pino({ level: 'silent' }), snapshot: () => engine.snapshot() });
  const t = performance.now();
  const [round] = await trainer.train();
  const seconds = (performance.now() - t) / 1000;
  const state = mem.state(CMP);
  if (!round?.written || !state) throw new Error('the training round published no state');
  return { state, seconds };
}

/**
 * The trainer's per-decision update for `contextual` (trainer.ts, `add`, a final decision: weight
 * 1), over the given vocabulary. Kept in step with the trainer by hand: `add` is a closure of a
 * training round, and timing the whole round (trainOnce) would time the fits, not the updates.
 */
function updater(rows: LearningRow[], vocab: string[], vvocab: string[]) {
  const pIndex = new Map(vocab.map((v, i) => [v, i]));
  const vIndex = new Map(vvocab.map((v, i) => [v, i]));
  const actions: Record<string, { p: RidgeStats; v: RidgeStats }> = {};
  return (i: number) => {
    const r = rows[i % rows.length]!;
    const t = r.trace as LearningTrace;
    const action = r.holdout ? NONE : t.a;
    const y = r.orders > 0 ? 1 : 0;
    const a = (actions[action] ??= { p: emptyRidge(vocab.length), v: emptyRidge(vvocab.length) });
    addRidge(a.p, encodeTokens(t.k, pIndex), y);
    if (y === 1) {
      const cost = action === NONE ? 0 : (t.acts.find((x) => x[0] === action)?.[1] ?? 0);
      addRidge(a.v, encodeTokens(t.k, vIndex), r.cm - (t.m - cost));
    }
  };
}

/** Iterations of `fn` that take about `ms` (it runs for a fifth of that: also the warm-up). */
async function iterationsFor(fn: (i: number) => unknown, ms: number): Promise<number> {
  const end = performance.now() + ms / 5;
  let n = 0;
  while (performance.now() < end) {
    const v = fn(n++);
    if (v instanceof Promise) await v;
  }
  return Math.max(10, n * 5);
}

/**
 * Alternates rounds of `a` and `b` (each about `roundMs`) so drift on a shared machine falls on
 * both alike; the median ops/s of each. Round sizes follow each one's speed: contextual on 50
 * offers is an order of magnitude slower than static.
 */
async function paired(a: (i: number) => unknown, b: (i: number) => unknown, roundMs: number, rounds: number) {
  const na = await iterationsFor(a, roundMs);
  const nb = await iterationsFor(b, roundMs);
  const ra: number[] = [];
  const rb: number[] = [];
  for (let r = 0; r < rounds; r++) {
    ra.push(...(await measure(a, na, 1)));
    rb.push(...(await measure(b, nb, 1)));
  }
  return { a: median(ra), b: median(rb) };
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

/** engine.decide() one at a time for `ms`: latencies (ms) and the policy versions the decisions named. */
async function latencies(engine: Engine, raw: Array<Record<string, unknown>>, from: number, ms: number) {
  const out: number[] = [];
  const versions = new Set<number>();
  const end = performance.now() + ms;
  for (let i = from; performance.now() < end; i++) {
    const t = performance.now();
    const d = await engine.decide(raw[i % raw.length]);
    out.push(performance.now() - t);
    if (d.policyVersion != null) versions.add(d.policyVersion);
  }
  return { n: out.length, p50: quantile(out, 0.5), p99: quantile(out, 0.99), versions: versions.size, next: from + out.length };
}

/** Starts the writer process (this file, `--writer`): another engine on the database writing a state version every `everyMs`. */
function startWriter(url: string, stateFile: string, everyMs: number): Promise<ChildProcess> {
  const child = fork(fileURLToPath(import.meta.url), ['--writer', url, stateFile, String(everyMs)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`state writer exited (${code})`)));
  });
}

function stopWriter(child: ChildProcess): Promise<{ writes: number; p50: number; max: number }> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.once('message', (m) => resolve(m as { writes: number; p50: number; max: number }));
    child.send('stop');
  });
}

async function writerMain(url: string, stateFile: string, everyMs: number): Promise<void> {
  const store = openStore(url);
  const engine = await createEngine({ store, config: { logLevel: 'silent', learnEveryMs: 0 } });
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as LinearState;
  const took: number[] = [];
  let stop = false;
  process.on('message', () => (stop = true));
  process.send!('ready');
  // A fixed cadence (not back to back): a write that overruns its slot delays the next one.
  while (!stop) {
    const t = performance.now();
    state.trials += 1;
    state.trainedAt = Date.now();
    await engine.policyStates.write(CMP, state, Date.now());
    const spent = performance.now() - t;
    took.push(spent);
    await new Promise((r) => setTimeout(r, Math.max(0, everyMs - spent)));
  }
  await engine.close();
  process.send!({ writes: took.length, p50: quantile(took, 0.5), max: Math.max(...took) }, () => process.exit(0));
}

export interface LearningBenchOptions {
  /** Rounds per throughput figure (median taken); default 7. */
  rounds?: number;
  /** Length of one throughput round, ms; default 500. */
  roundMs?: number;
  /** Logged decisions the trainer fits the state from; default 6000. */
  trainRows?: number;
  /** Seconds per latency phase; default 8. */
  phaseSeconds?: number;
  /** Catalog (offers) of the latency benchmark; default 50. */
  refreshOffers?: 8 | 50;
}

/** Runs every learning benchmark; see the file's header. */
export async function runLearningBench(opts: LearningBenchOptions = {}) {
  const rounds = opts.rounds ?? 7;
  const trainRows = opts.trainRows ?? 6000;
  const phaseMs = (opts.phaseSeconds ?? 8) * 1000;
  const roundMs = opts.roundMs ?? 500;
  const refreshOffers = opts.refreshOffers ?? 50;
  const dir = mkdtempSync(join(tmpdir(), 'offerpilot-lbench-'));
  const ref = await measure(referenceWorkload, 200_000, rounds);
  const raw = learningRequests(200_000);
  const parsed = learningRequests(20_000).map((r) => DecideRequestSchema.parse(r));
  const subjects = parsed.map(subjectOf);
  const contextual = { type: 'contextual' };
  try {
    const catalogs: Record<string, ReturnType<typeof catalogResult>> = {};
    let updates: { perSec: number; rows: number; tokensPerRow: number; purchases: number; vocab: number; vvocab: number } | null = null;
    let stateFor50: LinearState | null = null;
    let stateFor8: LinearState | null = null;
    for (const offers of [8, 50] as const) {
      const st = await engineWith(dir, `static${offers}`, offers, { type: 'static' });
      const cx = await engineWith(dir, `contextual${offers}`, offers, contextual);
      const cxSnapshot = await cx.engine.snapshot();
      const rows = loggedRows(cxSnapshot, trainRows);
      const trained = await trainOnce(cx.engine, rows);
      const state = trained.state;
      if (offers === 50) stateFor50 = state;
      else stateFor8 = state;
      if (offers === 50) {
        // Updates on the larger catalog's log (more actions: more models to touch, as in production).
        const up = updater(rows, state.vocab, state.vvocab);
        for (let i = 0; i < 50_000; i++) up(i);
        const ops = await measure(up, 200_000, rounds);
        updates = {
          perSec: median(ops),
          rows: rows.length,
          tokensPerRow: rows.reduce((s, r) => s + (r.trace as LearningTrace).k.length, 0) / rows.length,
          purchases: rows.filter((r) => r.orders > 0).length / rows.length,
          vocab: state.vocab.length,
          vvocab: state.vvocab.length,
        };
      }
      const version = await cx.engine.policyStates.write(CMP, state, Date.now());
      const policies: PolicyStates = { get: (id) => (id === CMP ? ({ version, state } satisfies PolicyState) : undefined) };
      const stSnapshot = await st.engine.snapshot();
      const random = seededRandom(7);
      let actions = 0;
      let traced = 0;
      const pure = (snapshot: typeof stSnapshot, withState: boolean) => (i: number) => {
        const k = i % parsed.length;
        const d = decide({ request: parsed[k]!, snapshot, subject: subjects[k]!, counters: COUNTERS, now: NOW, random, defaults: DEFAULTS, ...(withState ? { policies } : {}) });
        if (withState && d.trace) {
          actions += (d.trace as LearningTrace).acts.length;
          traced++;
        }
      };
      const pureStatic = pure(stSnapshot, false);
      const pureCx = pure(cxSnapshot, true);
      const p = await paired(pureStatic, pureCx, roundMs, rounds);
      const actionsPerDecision = actions / Math.max(1, traced);
      const full = (e: Engine) => (i: number) => e.decide(raw[i % raw.length]);
      const f = await paired(full(st.engine), full(cx.engine), roundMs, rounds);
      catalogs[`offers${offers}`] = catalogResult(p, f, trained.seconds, rows.length, state, actionsPerDecision);
      await st.engine.close();
      await cx.engine.close();
    }

    // Latency: one engine refreshing every 100 ms; a second process writes state versions.
    const state = refreshOffers === 50 ? stateFor50! : stateFor8!;
    const stateFile = join(dir, 'state.json');
    writeFileSync(stateFile, JSON.stringify(state));
    const lat = await engineWith(dir, 'refresh', refreshOffers, contextual, { catalogRefreshMs: 100 });
    await lat.engine.policyStates.write(CMP, state, Date.now());
    let at = (await latencies(lat.engine, raw, 0, Math.min(2000, phaseMs))).next; // warm-up
    const quiet = await latencies(lat.engine, raw, at, phaseMs);
    at = quiet.next;
    const writer = await startWriter(lat.url, stateFile, 200);
    const refreshing = await latencies(lat.engine, raw, at, phaseMs);
    const writes = await stopWriter(writer);
    await lat.engine.close();
    return {
      reference: median(ref),
      updates: updates!,
      catalogs: catalogs as { offers8: ReturnType<typeof catalogResult>; offers50: ReturnType<typeof catalogResult> },
      refresh: { offers: refreshOffers, stateBytes: Buffer.byteLength(JSON.stringify(state)), quiet, refreshing, writer: writes, p99Ratio: refreshing.p99 / quiet.p99 },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function catalogResult(
  pure: { a: number; b: number },
  full: { a: number; b: number },
  trainSeconds: number,
  rows: number,
  state: LinearState,
  actionsPerDecision: number,
) {
  return {
    pureStatic: pure.a,
    pureContextual: pure.b,
    pureRatio: pure.b / pure.a,
    commitStatic: full.a,
    commitContextual: full.b,
    commitRatio: full.b / full.a,
    actionsPerDecision,
    stateActions: Object.keys(state.actions).length,
    vocab: state.vocab.length,
    stateBytes: Buffer.byteLength(JSON.stringify(state)),
    trainSeconds,
    trainRowsPerSec: rows / trainSeconds,
  };
}

export type LearningBenchResult = Awaited<ReturnType<typeof runLearningBench>>;

/** The table rows `npm run bench` and `bench:learning` print. */
export function learningRows(r: LearningBenchResult): string[] {
  const u = r.updates;
  const out = [
    `| learner updates (encode ${u.tokensPerRow.toFixed(1)} tokens over a ${u.vocab}-token vocabulary, purchase model; value model on ${(u.purchases * 100).toFixed(1)}% purchases) | ${fmt(u.perSec)} updates/s | ${(u.perSec / r.reference).toFixed(3)} x reference |`,
  ];
  for (const [name, c] of Object.entries(r.catalogs)) {
    const n = name.slice(6);
    out.push(`| training round, real Trainer, ${fmt(c.trainSeconds * c.trainRowsPerSec)} decisions from empty, ${n} offers (${c.stateActions} actions, state ${(c.stateBytes / 1e6).toFixed(1)} MB) | ${c.trainSeconds.toFixed(2)} s, ${fmt(c.trainRowsPerSec)} decisions/s | ${(c.trainRowsPerSec / r.reference).toFixed(4)} x reference |`);
    out.push(`| pure decide(), ${n} offers: static / contextual (${c.actionsPerDecision.toFixed(1)} actions per decision) | ${fmt(c.pureStatic)} / ${fmt(c.pureContextual)} decisions/s | contextual ${c.pureRatio.toFixed(3)} x static |`);
    out.push(`| engine.decide() + commit, SQLite, ${n} offers: static / contextual | ${fmt(c.commitStatic)} / ${fmt(c.commitContextual)} decisions/s | contextual ${c.commitRatio.toFixed(3)} x static |`);
  }
  const f = r.refresh;
  const l = (x: { p50: number; p99: number; n: number }) => `p50 ${x.p50.toFixed(2)} / p99 ${x.p99.toFixed(2)} ms (${fmt(x.n)} decisions)`;
  out.push(`| decide latency, SQLite, contextual, ${f.offers} offers, refresh 100 ms: no state writes / another process writing a ${(f.stateBytes / 1e6).toFixed(1)} MB state every 200 ms (${f.writer.writes} writes, ${f.refreshing.versions} versions seen) | ${l(f.quiet)}; ${l(f.refreshing)} | p99 ${f.p99Ratio.toFixed(2)} x no writes |`);
  return out;
}

if (process.argv[2] === '--writer') {
  await writerMain(process.argv[3]!, process.argv[4]!, Number(process.argv[5]));
} else if (false as boolean) {
  const quick = process.argv.includes('--quick');
  const r = await runLearningBench(quick ? { rounds: 2, roundMs: 250, trainRows: 2000, phaseSeconds: 3 } : {});
  if (process.argv.includes('--json')) console.log(JSON.stringify(r));
  else {
    console.log(`reference (sha256 1 KiB)  ${fmt(r.reference)} ops/s`);
    for (const row of learningRows(r)) console.log(row);
  }
}

// Scratch: profile contextual decide on 50 offers.
const MODE = process.env.MODE ?? 'pure';
{
  const dir = mkdtempSync(join(tmpdir(), 'op-prof-'));
  const raw = learningRequests(20_000);
  const parsed = raw.map((r) => DecideRequestSchema.parse(r));
  const subjects = parsed.map(subjectOf);
  const cx = await engineWith(dir, 'cx', 50, { type: 'contextual' });
  const snap = await cx.engine.snapshot();
  const rows = loggedRows(snap, 20_000);
  const { state } = await trainOnce(cx.engine, rows);
  const version = await cx.engine.policyStates.write(CMP, state, Date.now());
  const policies: PolicyStates = { get: (id) => (id === CMP ? ({ version, state } satisfies PolicyState) : undefined) };
  const random = seededRandom(7);
  const N = Number(process.env.N ?? 20000);
  const t = performance.now();
  if (MODE === 'pure') for (let i = 0; i < N; i++) { const k = i % parsed.length; decide({ request: parsed[k]!, snapshot: snap, subject: subjects[k]!, counters: COUNTERS, now: NOW, random, defaults: DEFAULTS, policies }); }
  else for (let i = 0; i < N; i++) await cx.engine.decide(raw[i % raw.length]);
  console.log(MODE, 'per s', N / ((performance.now() - t) / 1000));
  await cx.engine.close();
}
