import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createEngine, openStore } from '../src/index.js';
import { inHoldout } from '../src/core/holdout.js';
import { pgAvailable, PG_ADMIN_URL } from './helpers/backends.js';
import { startServerProcess } from './helpers/server-process.js';
import { describeStore, exitCodeOf, formatCliError, isoTimeOption, listOfOption, numberOption, storeOpenError } from '../src/cli/options.js';
import { OfferpilotError } from '../src/core/errors.js';
import { sampleSize } from '../src/measure/index.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env } });
/** Runs the CLI to completion, failed or not. */
const outcome = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, OFFERPILOT_LOG_LEVEL: 'silent', ...env } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
/** At most `n` at once: each run is a Node process on a shared 2-core machine. */
async function limited<T, R>(xs: T[], n: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(xs.length);
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < xs.length) {
      const i = next++;
      out[i] = await f(xs[i]!);
    }
  }));
  return out;
}
/** A failure as the CLI promises it: the exit code, and one `offerpilot: CODE: message` line on stderr with no stack trace. */
const expectOneLine = (r: { code: number; stderr: string }, exit: number, code: string, names: RegExp) => {
  expect(r.code, r.stderr).toBe(exit);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^offerpilot: ${code}: `));
  expect(lines[0]).toMatch(names);
  expect(r.stderr).not.toMatch(/\n\s+at |NaN|Infinity/);
};

// Each CLI call is a fresh Node process loading the TypeScript sources (about 4 s of start-up on
// this 2-core machine when quiet, twice that when busy): a test of five calls needs more than the
// default minute on a loaded machine, though its work is seconds.
describe('the offerpilot CLI', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'offerpilot-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serve --demo on an empty database seeds the demo, prints a working key and curl, and answers a decision', async () => {
    const db = join(dir, 'demo.db');
    const started = Date.now();
    const server = await startServerProcess(['--demo', '--db', db]);
    try {
      const out = server.stdout;
      const key = /Dev API key \(admin, demo only\): (\S+)/.exec(out)?.[1];
      expect(key).toMatch(/^opk_/);
      const body = /-d '([^']+)'/.exec(out)?.[1];
      expect(body).toBeDefined();
      const r = await fetch(`${server.url}/v1/decide`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body! });
      expect(r.status).toBe(200);
      const d = (await r.json()) as { decisionId: string; campaignId: string; candidates: unknown[] };
      expect(d.decisionId).toMatch(/^dec_/);
      expect(d.campaignId).toBe('cmp_storefront');
      expect(d.candidates.length).toBe(10);
      expect(Date.now() - started).toBeLessThan(30_000);
    } finally {
      await server.stop();
    }
    // A restart keeps the catalog (no second import) and prints the same dev key.
    const again = await startServerProcess(['--demo', '--db', db]);
    try {
      const key = /Dev API key \(admin, demo only\): (\S+)/.exec(again.stdout)?.[1];
      const r = await fetch(`${again.url}/v1/offers`, { headers: { authorization: `Bearer ${key}` } });
      expect(r.status).toBe(200);
      const offers = ((await r.json()) as { offers: Array<{ version: number }> }).offers;
      expect(offers).toHaveLength(10);
      expect(offers.every((o) => o.version === 1)).toBe(true);
    } finally {
      await again.stop();
    }
  });

  it('migrate, offers import and keys create work against a fresh database', async () => {
    const db = join(dir, 'cli.db');
    expect((await cli('migrate', '--db', db)).stdout).toMatch(/migrated \(sqlite\)/);
    const file = join(dir, 'catalog.json');
    writeFileSync(
      file,
      JSON.stringify({
        products: [{ sku: 'A', price: 1000, unitCost: 400 }],
        offers: [{ id: 'ofr_cli', status: 'live', name: 'CLI', type: 'content' }],
        campaigns: [{ id: 'cmp_cli', status: 'live', name: 'CLI', placements: ['home_hero'], offers: ['ofr_cli'], policy: { type: 'static' }, holdoutPct: 0 }],
      }),
    );
    const first = JSON.parse((await cli('offers', 'import', file, '--db', db)).stdout) as { offers: { created: number } };
    expect(first.offers.created).toBe(1);
    const second = JSON.parse((await cli('offers', 'import', file, '--db', db)).stdout) as { offers: { unchanged: number } };
    expect(second.offers.unchanged).toBe(1);
    const key = (await cli('keys', 'create', '--scopes', 'decide,read', '--db', db)).stdout.trim();
    expect(key).toMatch(/^opk_/);
    const server = await startServerProcess(['--db', db]);
    try {
      const r = await fetch(`${server.url}/v1/decide`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ anonymousId: 'a1', placement: 'home_hero', channel: 'web' }),
      });
      expect(r.status).toBe(200);
      expect(((await r.json()) as { offers: Array<{ offerId: string }> }).offers.map((o) => o.offerId)).toEqual(['ofr_cli']);
      const denied = await fetch(`${server.url}/v1/offers`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{}' });
      expect(denied.status).toBe(403);
    } finally {
      await server.stop();
    }
  });

  it('a broken catalog file fails with the offending field named', async () => {
    const db = join(dir, 'bad.db');
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ offers: [{ id: 'ofr_bad', name: 'Bad', type: 'percent_off', value: 10, eligibility: 'cart.subtotal >=' }] }));
    const err = await cli('offers', 'import', file, '--db', db).then(
      () => null,
      (e: { stderr: string; code: number }) => e,
    );
    expect(err?.code).toBe(2);
    expect(err?.stderr).toMatch(/^offerpilot: INVALID_RULE: /);
    expect(err?.stderr).toMatch(/offers\.0\.eligibility/);
  });

  /** Runs each refused command line and checks its one coded line, empty stdout and that no database was created. */
  async function expectRefused(db: string, cases: Array<[string[], string, RegExp]>) {
    const results = await limited(cases, 3, ([args]) => outcome(args));
    results.forEach((r, i) => {
      const [args, code, names] = cases[i]!;
      expectOneLine(r, 2, code, names);
      expect(r.stdout, args.join(' ')).toBe('');
    });
    // Refused before any work: no database was created.
    expect(existsSync(db)).toBe(false);
  }

  it('plan and simulate refuse bad numbers, ranges and scenarios before any work: one coded line naming the option, exit 2', async () => {
    const db = join(dir, 'untouched-1.db');
    await expectRefused(db, [
      [['plan', '--sd', 'abc', '--holdout-pct', '10', '--customers', '1000'], 'USAGE_ERROR', /--sd .*'abc'.* a number > 0/],
      [['plan', '--sd', '100', '--holdout-pct', '0', '--customers', '1000'], 'USAGE_ERROR', /--holdout-pct .*'0'.*> 0 and < 100/],
      [['plan', '--sd', '100', '--holdout-pct', '150', '--customers', '1000'], 'USAGE_ERROR', /--holdout-pct .*'150'/],
      [['simulate', '--sessions', 'abc', '--db', db], 'USAGE_ERROR', /--sessions .*'abc'.*integer/],
      [['simulate', '--scenario', 'bogus', '--db', db], 'USAGE_ERROR', /--scenario .*'bogus'.*apparel/],
    ]);
  });

  it('report, offers import and keys create refuse bad dates, missing files and unknown scopes: one coded line, exit 2; --verbose adds the stack', async () => {
    const db = join(dir, 'untouched-2.db');
    await expectRefused(db, [
      [['report', '--from', 'yesterday', '--db', db], 'USAGE_ERROR', /--from .*'yesterday'.*ISO 8601/],
      [['offers', 'import', join(dir, 'missing.json'), '--db', db], 'FILE_NOT_READABLE', /missing\.json: no such file/],
      [['keys', 'create', '--scopes', 'decide,bogus', '--db', db], 'USAGE_ERROR', /--scopes .*"bogus"/],
      [['report', '--csv', join(dir, 'missing.csv'), '--arm', 'a', '--treatment', 't', '--control', 'c', '--outcome', 'y'], 'FILE_NOT_READABLE', /missing\.csv: no such file/],
    ]);
    const verbose = await outcome(['offers', 'import', join(dir, 'missing.json'), '--db', db, '--verbose']);
    expect(verbose.code).toBe(2);
    expect(verbose.stderr).toMatch(/^offerpilot: FILE_NOT_READABLE: .*\n[\s\S]*\n\s+at /);
  });

  it('a store that cannot be opened is named: the SQLite path, or PostgreSQL host, port, database and user (never the password); exit 1', async () => {
    const folder = join(dir, 'a-folder.db');
    mkdirSync(folder);
    {
      const pg = new URL(PG_ADMIN_URL);
      const pgUrl = (change: (u: URL) => void) => {
        const u = new URL(pg.toString());
        u.password = 'hunter2secret';
        change(u);
        return u.toString();
      };
      const cases: Array<{ args: string[]; env?: Record<string, string>; exit: number; code: string; names: RegExp; pg?: boolean }> = [
        // A path that cannot be opened (here a folder; a read-only folder fails the same way): the driver's own words ("unable to open
        // database file", or EISDIR from the 0600 create) do not name the path, the line does.
        { args: ['migrate', '--db', folder], exit: 1, code: 'STORE_UNAVAILABLE', names: new RegExp(`SQLite database at ${folder.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (unable to open database file|EISDIR)`) },
        { pg: true, args: ['migrate', '--db', pgUrl((u) => (u.port = '1'))], exit: 1, code: 'STORE_UNAVAILABLE', names: new RegExp(`PostgreSQL at ${pg.hostname}:1, database ${pg.pathname.slice(1)}, user ${pg.username}: .*ECONNREFUSED`) },
        { pg: true, args: ['migrate', '--db', pgUrl((u) => (u.pathname = '/offerpilot_no_such_db'))], exit: 1, code: 'STORE_UNAVAILABLE', names: /database offerpilot_no_such_db, user .*: database "offerpilot_no_such_db" does not exist/ },
        { pg: true, args: ['migrate', '--db', pgUrl((u) => (u.username = 'offerpilot_no_such_user'))], exit: 1, code: 'STORE_UNAVAILABLE', names: /user offerpilot_no_such_user: .*offerpilot_no_such_user/ },
      ].filter((c) => !c.pg || pgAvailable);
      const results = await limited(cases, 3, (c) => outcome(c.args, c.env));
      results.forEach((r, i) => {
        const c = cases[i]!;
        expectOneLine(r, c.exit, c.code, c.names);
        expect(r.stderr).not.toMatch(/hunter2secret/);
      });
    }
  });

  it('configuration and runtime failures: a bad OFFERPILOT_TOKEN_KEYS, an unknown key to revoke, a port in use', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = String((blocker.address() as AddressInfo).port);
    const keysDb = join(dir, 'keys.db');
    try {
      const cases: Array<{ args: string[]; env?: Record<string, string>; exit: number; code: string; names: RegExp }> = [
        { args: ['migrate', '--db', keysDb], env: { OFFERPILOT_TOKEN_KEYS: 'k1-no-colon-secretvalue' }, exit: 2, code: 'CONFIG_INVALID', names: /tokenKeys \(OFFERPILOT_TOKEN_KEYS\): expected "kid:secret/ },
        { args: ['keys', 'revoke', 'key_nope', '--db', keysDb], exit: 2, code: 'KEY_NOT_FOUND', names: /key_nope/ },
        { args: ['serve', '--db', keysDb, '--port', port, '--host', '127.0.0.1'], exit: 1, code: 'LISTEN_FAILED', names: new RegExp(`127\\.0\\.0\\.1:${port} \\(--host, --port.*\\): the address is already in use`) },
      ];
      const results = await limited(cases, 3, (c) => outcome(c.args, c.env));
      results.forEach((r, i) => {
        const c = cases[i]!;
        expectOneLine(r, c.exit, c.code, c.names);
        expect(r.stderr).not.toMatch(/secretvalue/);
      });
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('report in the terminal, as JSON and on a CSV: an empty holdout or zero variance says insufficient data, never NaN or Infinity', async () => {
    const db = join(dir, 'report.db');
    const store = openStore(db);
    await store.migrate();
    const engine = await createEngine({ store, config: { logLevel: 'silent', tokenKeys: 'test:test-secret', stopLossCheckMs: 0, expirySweepMs: 0 } });
    try {
      const { importCatalog } = await import('../src/catalog/import.js');
      await importCatalog(engine.catalog, {
        products: [{ sku: 'A', price: 1000, unitCost: 400 }],
        offers: [{ id: 'ofr_cli', status: 'live', name: 'CLI', type: 'content' }],
        campaigns: [{ id: 'cmp_cli', status: 'live', name: 'CLI', placements: ['home_hero'], offers: ['ofr_cli'], policy: { type: 'static' }, holdoutPct: 0 }],
      });
      for (const id of ['c1', 'c2', 'c3']) await engine.decide({ customerId: id, placement: 'home_hero', channel: 'web' });
    } finally {
      await engine.close();
    }
    const env = { OFFERPILOT_MEASURE_MIN_CUSTOMERS_PER_ARM: '1', OFFERPILOT_MEASURE_MIN_DAYS: '0' };
    const csv = join(dir, 'flat.csv');
    // Every unit has the same outcome: zero variance, so no z and no p-value.
    writeFileSync(csv, `arm,y\n${['t', 't', 't', 'c', 'c', 'c'].map((a) => `${a},1`).join('\n')}\n`);
    const [text, asJson, flat] = await limited(
      [['report', '--db', db, '--campaign', 'cmp_cli'], ['report', '--db', db, '--campaign', 'cmp_cli', '--json'], ['report', '--csv', csv, '--arm', 'arm', '--treatment', 't', '--control', 'c', '--outcome', 'y']],
      3,
      (args) => outcome(args, env),
    );
    expect(text!.code, text!.stderr).toBe(0);
    expect(text!.stdout).not.toMatch(/NaN|Infinity/);
    expect(text!.stdout).toMatch(/Incremental contribution margin: insufficient data · verdict: insufficient_data/);
    expect(text!.stdout).toMatch(/No interval for CM per session: an arm has no customers \(insufficient data\)/);
    expect(asJson!.code, asJson!.stderr).toBe(0);
    const r = JSON.parse(asJson!.stdout) as { reason: string; incrementalCm: unknown; metrics: { cmPerSession: { status: string; reason: string; difference: unknown } } };
    expect(r).toMatchObject({ reason: 'empty_arm', incrementalCm: null, metrics: { cmPerSession: { status: 'insufficient_data', reason: 'empty_arm', difference: null } } });
    expect(flat!.code, flat!.stderr).toBe(0);
    expect(flat!.stdout).not.toMatch(/NaN|Infinity/);
    expect(flat!.stdout).toMatch(/^y\s+1\.00000\s+1\.00000\s+0\.0000 \[0\.0000, 0\.0000\]\s+n\/a\s/m);
    // Sanity: these ids are outside a 0% holdout, so the holdout really is empty.
    expect(['c1', 'c2', 'c3'].some((id) => inHoldout('cmp_cli', id, 0))).toBe(false);
  });

  it('the option parsers and the error line, in process: ranges, ISO dates, lists, no password, no stack, exit codes', () => {
    const pct = numberOption({ gt: 0, lt: 100 });
    expect(pct('10')).toBe(10);
    for (const bad of ['0', '100', '150', '-1', 'abc', '', ' ', 'NaN', 'Infinity', '1e999']) expect(() => pct(bad), bad).toThrow(/expected a number > 0 and < 100/);
    const count = numberOption({ integer: true, min: 1 });
    expect(count('20000')).toBe(20000);
    for (const bad of ['0', '1.5', 'abc', '1e30']) expect(() => count(bad), bad).toThrow(/expected an integer ≥ 1/);
    expect(isoTimeOption('2026-11-01')).toBe('2026-11-01T00:00:00.000Z');
    expect(isoTimeOption('2026-11-01T12:00:00+01:00')).toBe('2026-11-01T11:00:00.000Z');
    for (const bad of ['yesterday', '2026-02-30', '2026-13-01', '2026-11-01T12:00:00', '1700000000000']) expect(() => isoTimeOption(bad), bad).toThrow(/ISO 8601/);
    expect(listOfOption(['decide', 'read'])('decide, read')).toEqual(['decide', 'read']);
    expect(() => listOfOption(['decide', 'read'])('decide,bogus')).toThrow(/unknown "bogus"/);
    expect(describeStore('postgres://u:pw@db.example:6543/shop')).toBe('PostgreSQL at db.example:6543, database shop, user u');
    expect(storeOpenError('postgres://u:pw@db.example:6543/shop', new Error('boom postgres://u:pw@db.example/shop')).message).not.toMatch(/pw/);
    expect(describeStore('data/x.db')).toBe('the SQLite database at data/x.db');
    const line = formatCliError(new Error('kaput'), false);
    expect(line).toBe('offerpilot: INTERNAL: kaput\n');
    expect(formatCliError(new Error('kaput'), true)).toMatch(/\n\s+at /);
    expect(exitCodeOf(new OfferpilotError('VALIDATION_FAILED'))).toBe(2);
    expect(exitCodeOf(new OfferpilotError('CONFIG_INVALID'))).toBe(2);
    expect(exitCodeOf(new OfferpilotError('STORE_UNAVAILABLE'))).toBe(1);
    expect(exitCodeOf(new Error('x'))).toBe(1);
    // plan's arithmetic: inputs with no finite answer are refused, not answered with Infinity.
    expect(() => sampleSize({ sd: 1e308, holdoutShare: 0.1, units: 1000 })).toThrow(/No finite answer for sd/);
  });
});

describe('offerpilot simulate --dump', () => {
  it('writes one JSON line per session beside the report, and a dump path it cannot open is a coded error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'op-dump-'));
    try {
      const file = join(dir, 'sessions.jsonl');
      const r = await outcome(['simulate', '--scenario', 'grocery', '--sessions', '150', '--policy', '{"type":"static"}', '--json', '--db', join(dir, 'sim.db'), '--dump', file]);
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout) as { engine: { decisions: number } };
      const lines = (await import('node:fs')).readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { index: number; action: string; options: Record<string, number> });
      expect(lines).toHaveLength(150);
      expect(report.engine.decisions).toBe(150);
      expect(lines[149]!.index).toBe(149);
      expect(Object.keys(lines[0]!.options).length).toBeGreaterThan(0);
      expectOneLine(await outcome(['simulate', '--scenario', 'grocery', '--sessions', '10', '--db', join(dir, 'sim2.db'), '--dump', join(dir, 'missing', 'x.jsonl')]), 2, 'USAGE_ERROR', /missing/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
