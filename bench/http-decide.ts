/**
 * HTTP decide benchmark: a plain Fastify hello-world and Offerpilot's POST /v1/decide (50 offers,
 * guardrails, 10% holdout, SQLite commit per decision), each in its own process, loaded by
 * autocannon from this process, in the same run. Reports max throughput (closed loop) and the
 * ratio, then latency under constant offered load (open loop: 10k req/s, half of max, 500 req/s).
 *   npm run bench:http            (builds to .bench-build first)
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importCatalog } from '../src/catalog/import.js';
import { createEngine, openStore } from '../src/index.js';
import { benchCatalog, benchRequests } from './fixtures.js';
import { fmt } from './stats.js';
import { openLoop, type OpenLoopResult } from './open-loop.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const DURATION = Number(process.env.BENCH_SECONDS ?? 10);

export function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

export function start(script: string, args: string[], env: Record<string, string> = {}): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on (http:\/\/[\d.:]+)/.exec(out);
      if (m) resolve({ url: m[1]!, child });
    });
    child.once('exit', (c) => reject(new Error(`${script} exited ${c}: ${out}`)));
  });
}

export interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function load(opts: autocannon.Options): Promise<Load> {
  const r = await autocannon({ duration: DURATION, connections: 64, pipelining: 1, ...opts });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx };
}

export async function runHttpBench() {
  const dir = mkdtempSync(join(tmpdir(), 'offerpilot-httpbench-'));
  const db = join(dir, 'bench.db');
  const store = openStore(db);
  await store.migrate();
  const engine = await createEngine({ store, config: { logLevel: 'silent' } });
  await importCatalog(engine.catalog, benchCatalog(50));
  const key = (await engine.keys.create(['decide'])).key;
  await engine.close();

  const bodies = benchRequests(10_000).map((r) => JSON.stringify(r));
  let n = 0;
  const decideOpts = (url: string): autocannon.Options => ({
    url: `${url}/v1/decide`,
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    requests: [{ setupRequest: (req) => ({ ...req, body: bodies[n++ % bodies.length] }) }],
  });

  const hello = await start(join(here, 'hello-server.js'), []);
  const helloOpts = { url: `${hello.url}/hello`, method: 'POST' as const, headers: { 'content-type': 'application/json' }, body: bodies[0] };
  await load({ ...helloOpts, duration: 2 }); // warm-up
  const helloMax = await load(helloOpts);
  await stop(hello.child);

  const server = await start(join(here, '..', 'src', 'cli', 'main.js'), ['serve', '--db', db, '--port', '0', '--log-level', 'warn']);
  await load({ ...decideOpts(server.url), duration: 2 });
  const decideMax = await load(decideOpts(server.url));
  const open = (rate: number) =>
    openLoop({ url: `${server.url}/v1/decide`, rate, seconds: DURATION, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: (i) => bodies[i % bodies.length]! });
  // Lightest first: an overload run leaves a backlog (and a long log to checkpoint) behind it.
  const decideAtLight = await open(500);
  const halfRate = Math.round(decideMax.rps / 2);
  const decideAtHalf = await open(halfRate);
  const decideAt10k = await open(10_000);
  await stop(server.child);
  // The same server with SQLite's writes on the request thread (before the writer thread).
  const inline = await start(join(here, '..', 'src', 'cli', 'main.js'), ['serve', '--db', db, '--port', '0', '--log-level', 'warn'], { OFFERPILOT_SQLITE_WRITER_THREAD: 'false' });
  await load({ ...decideOpts(inline.url), duration: 2 });
  const decideMaxInline = await load(decideOpts(inline.url));
  await stop(inline.child);
  rmSync(dir, { recursive: true, force: true });
  return { helloMax, decideMax, ratio: decideMax.rps / helloMax.rps, decideMaxInline, decideAt10k, decideAtHalf, decideAtLight, halfRate };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await runHttpBench();
  if (process.argv.includes('--json')) console.log(JSON.stringify(r));
  else {
    const row = (name: string, l: Load) => console.log(`${name.padEnd(34)} ${fmt(l.rps).padStart(8)} req/s   p50 ${l.p50} ms   p99 ${l.p99} ms   errors ${l.errors}  non-2xx ${l.non2xx}`);
    row('hello-world (max)', r.helloMax);
    row('decide (max)', r.decideMax);
    console.log(`ratio decide / hello-world: ${r.ratio.toFixed(3)}`);
    row('decide (max), writes on main thread', r.decideMaxInline);
    const open = (name: string, l: OpenLoopResult) =>
      console.log(`${name.padEnd(34)} ${fmt(l.served).padStart(8)} req/s served   p50 ${l.p50.toFixed(1)} ms   p99 ${l.p99.toFixed(1)} ms   max ${l.max.toFixed(0)} ms   errors ${l.errors}`);
    open('decide at 10k req/s (open loop)', r.decideAt10k);
    open(`decide at ${fmt(r.halfRate)} req/s (half max)`, r.decideAtHalf);
    open('decide at 500 req/s', r.decideAtLight);
  }
}
