/**
 * Every benchmark in one run, printed as the table BENCHMARKS.md records.
 *   npm run bench
 */
import { cpus } from 'node:os';
import { runDecideBench } from './decide-inprocess.js';
import { runHttpBench } from './http-decide.js';
import { fmt } from './stats.js';

const d = await runDecideBench();
const h = await runHttpBench();
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
const ol = (l: { served: number; p50: number; p99: number }) => `${fmt(l.served)} req/s served, p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms`;
console.log(`| POST /v1/decide, 10k req/s offered (open loop) | ${ol(h.decideAt10k)} | |`);
console.log(`| POST /v1/decide, ${fmt(h.halfRate)} req/s offered (half of max) | ${ol(h.decideAtHalf)} | |`);
console.log(`| POST /v1/decide, 500 req/s offered | ${ol(h.decideAtLight)} | |`);
