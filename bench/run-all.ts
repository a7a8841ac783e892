/**
 * Every benchmark in one run, printed as the table BENCHMARKS.md records.
 *   npm run bench               # prints the table and the figures
 *   npm run bench -- --update   # also rewrites the figures block bench:check compares against
 */
import { cpus } from 'node:os';
import { fmt } from './stats.js';
import { learningRows } from './learning.js';
import { outcomeRows } from './outcomes.js';
import { runSuite, writeFigures } from './suite.js';

const r = await runSuite();
const { decide: d, http: h, outcomes: o, sim, learning } = r;
const cpu = cpus()[0]?.model ?? 'unknown CPU';
console.log(`Machine: ${cpus().length} x ${cpu}, Node ${process.version}`);
console.log('');
console.log('| benchmark | result | ratio to same-run baseline |');
console.log('|---|---|---|');
console.log(`| reference workload (SHA-256 of 1 KiB) | ${fmt(d.reference)} ops/s | 1 |`);
console.log(`| pure decide(), 50 offers, guardrails, holdout | ${fmt(d.pureDecide)} decisions/s | ${(d.pureDecide / d.reference).toFixed(3)} x reference |`);
console.log(`| engine.decide() + atomic commit, SQLite, sequential | ${fmt(d.decideAndCommitSqlite)} decisions/s | ${(d.decideAndCommitSqlite / d.reference).toFixed(4)} x reference |`);
console.log(`| Fastify hello-world, max | ${fmt(h.helloMax.rps)} req/s, p99 ${h.helloMax.p99} ms | 1 |`);
console.log(`| POST /v1/decide, SQLite, max | ${fmt(h.decideMax.rps)} req/s, p50 ${h.decideMax.p50} ms, p99 ${h.decideMax.p99} ms | ${h.ratio.toFixed(3)} x hello-world |`);
console.log(`| POST /v1/decide, SQLite, max, writes on the request thread | ${fmt(h.decideMaxInline.rps)} req/s, p50 ${h.decideMaxInline.p50} ms, p99 ${h.decideMaxInline.p99} ms | ${(h.decideMaxInline.rps / h.helloMax.rps).toFixed(3)} x hello-world |`);
const ol = (l: { served: number; p50: number; p99: number }) => `${fmt(l.served)} req/s served, p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms`;
console.log(`| POST /v1/decide, 10k req/s offered (open loop) | ${ol(h.decideAt10k)} | |`);
console.log(`| POST /v1/decide, ${fmt(h.halfRate)} req/s offered (half of max) | ${ol(h.decideAtHalf)} | |`);
console.log(`| POST /v1/decide, 500 req/s offered | ${ol(h.decideAtLight)} | |`);
console.log(`| reference workload, outcome run | ${fmt(o.reference)} ops/s | 1 |`);
const row = (name: string, v: number | undefined, unit: string) =>
  console.log(`| ${name} | ${v === undefined ? 'skipped (no PostgreSQL)' : `${fmt(v)} ${unit}`} | ${v === undefined ? '' : `${(v / o.reference).toFixed(4)} x reference`} |`);
for (const [name, v, unit] of outcomeRows(o)) row(name, v, unit);
const lat = (name: string, x: { alone: { p50: number; p99: number }; underIngest: { p50: number; p99: number; eventsPerSec: number } } | null) =>
  x && console.log(`| ${name} | alone p50 ${x.alone.p50.toFixed(2)} / p99 ${x.alone.p99.toFixed(2)} ms; while ingesting ${fmt(x.underIngest.eventsPerSec)} events/s: p50 ${x.underIngest.p50.toFixed(2)} / p99 ${x.underIngest.p99.toFixed(2)} ms | |`);
lat('decide latency, SQLite', o.decideSqlite);
lat('decide latency, SQLite, writes on the request thread', o.decideSqliteInline);
lat('decide latency, PostgreSQL', o.decidePg);
console.log(`| simulator, ${sim.scenario}, in process (${fmt(sim.sessions)} sessions) | ${fmt(sim.sessionsPerSec)} sessions/s | ${(sim.sessionsPerSec / d.reference).toFixed(5)} x reference |`);
const rep = (name: string, sessions: number, x: { headlineSeconds: number; fullSeconds: number } | null | undefined) =>
  x && console.log(`| incrementality report over ${fmt(sessions)} sessions, ${name} | headline ${x.headlineSeconds.toFixed(2)} s, full ${x.fullSeconds.toFixed(2)} s | ${(sessions / x.fullSeconds / d.reference).toFixed(3)} x reference |`);
rep('SQLite', r.reportSqlite.sessions, r.reportSqlite);
if (r.reportPg) {
  rep('PostgreSQL, just loaded', r.reportPg.sessions, r.reportPg);
  rep('PostgreSQL, vacuumed', r.reportPg.sessions, r.reportPg.vacuumed);
}
console.log(`| reference workload, learning run | ${fmt(learning.reference)} ops/s | 1 |`);
for (const row of learningRows(learning)) console.log(row);
console.log('');
console.log('Figures (bench:check compares these ratios):');
for (const [k, f] of Object.entries(r.figures)) console.log(`  ${k.padEnd(22)} ${fmt(f.value).padStart(8)} ${f.unit.padEnd(14)} ${f.ratio.toPrecision(4)} x ${f.baseline}`);
if (process.argv.includes('--update')) {
  writeFigures(r.figures);
  console.log('BENCHMARKS.md figures block updated.');
}
