/**
 * Every benchmark of `npm run bench`, and the figures `npm run bench:check` guards. Each figure
 * is a speed divided by a baseline measured in the same run (the SHA-256 reference workload, or
 * a Fastify hello-world for HTTP), because these machines are shared and noisy.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { runDecideBench } from './decide-inprocess.js';
import { runHttpBench } from './http-decide.js';
import { runLearningBench } from './learning.js';
import { runMeasureBench } from './measure.js';
import { pgReachable, runOutcomeBenches } from './outcomes.js';
import { runSimBench } from './sim.js';

export interface Figure {
  label: string;
  value: number;
  unit: string;
  /** value / baseline, both from the same run: what the check compares. */
  ratio: number;
  baseline: 'reference' | 'hello-world' | 'static policy' | 'no state writes';
}

export type Figures = Record<string, Figure>;

/** Runs the whole suite (about eight minutes here) and returns the raw results and the figures. */
export async function runSuite() {
  const decide = await runDecideBench();
  const http = await runHttpBench();
  const outcomes = await runOutcomeBenches();
  const sim = await runSimBench();
  const reportSqlite = await runMeasureBench('sqlite');
  const reportPg = (await pgReachable()) ? await runMeasureBench('postgres') : null;
  const learning = await runLearningBench();
  const ref = decide.reference;
  const outRef = outcomes.reference;
  const figures: Figures = {};
  const put = (key: string, label: string, value: number | undefined, unit: string, baseline: Figure['baseline'], base: number) => {
    if (value !== undefined) figures[key] = { label, value: Math.round(value), unit, ratio: value / base, baseline };
  };
  put('pure_decide', 'pure decide(), 50 offers', decide.pureDecide, 'decisions/s', 'reference', ref);
  put('decide_commit_sqlite', 'engine.decide() + commit, SQLite, sequential', decide.decideAndCommitSqlite, 'decisions/s', 'reference', ref);
  put('http_decide_sqlite', 'POST /v1/decide, SQLite, max', http.decideMax.rps, 'req/s', 'hello-world', http.helloMax.rps);
  put('ingest_sqlite', 'event ingestion, SQLite, in process', outcomes.ingestSqlite.eventsPerSec, 'events/s', 'reference', outRef);
  put('ingest_pg', 'event ingestion, PostgreSQL, in process', outcomes.ingestPg?.eventsPerSec, 'events/s', 'reference', outRef);
  put('http_ingest_sqlite', 'POST /v1/events, SQLite', outcomes.httpIngestSqlite.eventsPerSec, 'events/s', 'reference', outRef);
  put('http_ingest_pg', 'POST /v1/events, PostgreSQL', outcomes.httpIngestPg?.eventsPerSec, 'events/s', 'reference', outRef);
  put('redeem_sqlite', 'redemptions, SQLite', outcomes.redeemSqlite.redemptionsPerSec, 'redemptions/s', 'reference', outRef);
  put('redeem_pg', 'redemptions, PostgreSQL', outcomes.redeemPg?.redemptionsPerSec, 'redemptions/s', 'reference', outRef);
  put('sim_sessions', 'simulator, apparel, in process', sim.sessionsPerSec, 'sessions/s', 'reference', ref);
  // A report's speed as the sessions it covers per second of computing it (1M sessions / its time).
  put('report_sqlite', 'full incrementality report, 1M sessions, SQLite', reportSqlite.sessions / reportSqlite.fullSeconds, 'sessions/s', 'reference', ref);
  const pgReport = reportPg?.vacuumed ?? reportPg;
  put('report_pg', 'full incrementality report, 1M sessions, PostgreSQL (vacuumed)', pgReport ? reportPg!.sessions / pgReport.fullSeconds : undefined, 'sessions/s', 'reference', ref);
  // Learning (issue 12): updates against the reference; contextual against static in the same run;
  // latency as p99 with no state writes / p99 while refreshing, so a worse tail lowers the figure.
  const lc = learning.catalogs;
  put('learner_updates', 'learner updates, 160-token vocabulary', learning.updates.perSec, 'updates/s', 'reference', learning.reference);
  put('contextual_pure_8', 'pure decide(), contextual, 8 offers', lc.offers8.pureContextual, 'decisions/s', 'static policy', lc.offers8.pureStatic);
  put('contextual_pure_50', 'pure decide(), contextual, 50 offers', lc.offers50.pureContextual, 'decisions/s', 'static policy', lc.offers50.pureStatic);
  put('contextual_commit_8', 'engine.decide() + commit, contextual, SQLite, 8 offers', lc.offers8.commitContextual, 'decisions/s', 'static policy', lc.offers8.commitStatic);
  put('contextual_commit_50', 'engine.decide() + commit, contextual, SQLite, 50 offers', lc.offers50.commitContextual, 'decisions/s', 'static policy', lc.offers50.commitStatic);
  const rf = learning.refresh;
  figures.refresh_p99 = { label: 'decide p99 while states refresh (value ms; ratio p99 alone / p99 refreshing)', value: Number(rf.refreshing.p99.toFixed(2)), unit: 'ms', ratio: rf.quiet.p99 / rf.refreshing.p99, baseline: 'no state writes' };
  return { decide, http, outcomes, sim, reportSqlite, reportPg, learning, figures };
}

const START = '<!-- bench-figures:start -->';
const END = '<!-- bench-figures:end -->';

/** The figures committed in BENCHMARKS.md (the block `npm run bench -- --update` writes). */
export function committedFigures(file = 'BENCHMARKS.md'): { measured: string; figures: Figures } {
  const text = readFileSync(file, 'utf8');
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${file} has no ${START} … ${END} block: run \`npm run bench -- --update\` first`);
  const body = text.slice(a + START.length, b).replace(/```(json)?/g, '');
  return JSON.parse(body) as { measured: string; figures: Figures };
}

/** Rewrites the figures block of BENCHMARKS.md (appending one if missing). */
export function writeFigures(figures: Figures, file = 'BENCHMARKS.md'): void {
  const text = readFileSync(file, 'utf8');
  const rounded = Object.fromEntries(Object.entries(figures).map(([k, f]) => [k, { ...f, ratio: Number(f.ratio.toPrecision(4)) }]));
  const block = `${START}\n\`\`\`json\n${JSON.stringify({ measured: new Date().toISOString().slice(0, 10), figures: rounded }, null, 2)}\n\`\`\`\n${END}`;
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  writeFileSync(file, a >= 0 && b > a ? text.slice(0, a) + block + text.slice(b + END.length) : `${text.trimEnd()}\n\n${block}\n`);
}

/** How each figure compares with the committed one: a fall of more than `tolerance` fails. */
export function compareFigures(committed: Figures, now: Figures, tolerance = 0.3) {
  return Object.entries(committed).map(([key, was]) => {
    const cur = now[key];
    if (!cur) return { key, label: was.label, was: was.ratio, now: null, change: null, ok: true, note: 'not measured in this run' };
    const change = cur.ratio / was.ratio - 1;
    return { key, label: was.label, was: was.ratio, now: cur.ratio, change, ok: change >= -tolerance, note: '' };
  });
}
