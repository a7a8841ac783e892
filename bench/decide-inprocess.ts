/**
 * In-process decide benchmark: 50 offers with caps, budgets, rules, ladders and a 10% holdout.
 * Measures the pure decide() (compute only) and engine.decide() (decide + atomic commit on SQLite),
 * each against a reference workload measured in the same run.
 *   node --import tsx bench/decide-inprocess.ts [--json]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importCatalog } from '../src/catalog/import.js';
import { decide, type SubjectState } from '../src/core/decide.js';
import { DecideRequestSchema } from '../src/core/request.js';
import { createEngine, openStore, seededRandom } from '../src/index.js';
import { benchCatalog, benchRequests } from './fixtures.js';
import { fmt, measure, median, referenceWorkload } from './stats.js';

export async function runDecideBench(opts: { rounds?: number } = {}) {
  const rounds = opts.rounds ?? 7;
  const dir = mkdtempSync(join(tmpdir(), 'offerpilot-bench-'));
  const store = openStore(join(dir, 'bench.db'));
  await store.migrate();
  const engine = await createEngine({ store, random: seededRandom(1), config: { logLevel: 'silent' } });
  await importCatalog(engine.catalog, benchCatalog(50));
  const snapshot = await engine.snapshot();
  const requests = benchRequests(20_000).map((r) => DecideRequestSchema.parse(r));
  const defaults = { marginFloorPct: 0, shippingCost: 500, pointValue: 1, pointsPerMajorUnit: 1, merchantFeeBpsPerMonth: 50 };
  const counters = { get: () => 0 };
  const subjects: SubjectState[] = requests.map((r) => ({
    subjectId: `c:${r.customerId}`,
    customerId: r.customerId!,
    anonymousId: null,
    traits: r.traits ?? {},
    consent: r.consent ?? {},
    features: {},
    issuances: [{ offerId: 'ofr_bench_3', issuedAt: Date.parse('2026-11-23T10:00:00Z') }],
  }));
  const now = Date.parse('2026-11-23T12:00:00Z');
  const random = seededRandom(7);
  let chosen = 0;
  const pure = (i: number) => {
    const k = i % requests.length;
    const d = decide({ request: requests[k]!, snapshot, subject: subjects[k]!, counters, now, random, defaults });
    chosen += d.chosen.length;
  };
  const raw = benchRequests(200_000);
  const full = (i: number) => engine.decide(raw[i % raw.length]);

  for (let i = 0; i < 20_000; i++) pure(i); // warm-up
  const ref = await measure(referenceWorkload, 200_000, rounds);
  const pureOps = await measure(pure, 20_000, rounds);
  for (let i = 0; i < 2_000; i++) await full(i + 190_000);
  const fullOps = await measure(full, 4_000, rounds);
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    reference: median(ref),
    pureDecide: median(pureOps),
    decideAndCommitSqlite: median(fullOps),
    offersPerDecision: chosen / (20_000 * (rounds + 1)),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await runDecideBench();
  if (process.argv.includes('--json')) console.log(JSON.stringify(r));
  else {
    console.log(`reference (sha256 1 KiB)      ${fmt(r.reference)} ops/s`);
    console.log(`pure decide (50 offers)       ${fmt(r.pureDecide)} decisions/s  (${(r.pureDecide / r.reference).toFixed(3)} x reference)`);
    console.log(`decide + commit (SQLite)      ${fmt(r.decideAndCommitSqlite)} decisions/s  (${(r.decideAndCommitSqlite / r.reference).toFixed(3)} x reference)`);
  }
}
