#!/usr/bin/env node
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { SCOPES, type Scope } from '../auth/index.js';
import { importCatalog } from '../catalog/import.js';
import { loadConfig, type Config } from '../config/index.js';
import { createEngine, type Engine } from '../engine/index.js';
import { isOfferpilotError } from '../errors/index.js';
import { buildServer } from '../http/server.js';
import { openStore } from '../store/index.js';
import { csvReport, formatCsvReport, formatIncrementality, readCsv, sampleSize } from '../measure/index.js';
import { SHIPPED_SCENARIOS, formatReport, httpClient, inProcessClient, loadScenario, progressBar, simulate } from '../sim/index.js';

const DEMO_CATALOG = new URL('../../examples/demo-catalog.json', import.meta.url);

interface CommonFlags {
  db?: string;
  logLevel?: string;
}

async function withEngine<T>(flags: CommonFlags & Record<string, unknown>, fn: (engine: Engine, config: Config) => Promise<T>): Promise<T> {
  // Commander defaults a --no-… flag to true: only an explicit --no-access-log overrides the env var.
  const config = loadConfig({ db: flags.db, logLevel: flags.logLevel, host: flags.host, port: flags.port, accessLog: flags.accessLog === false ? false : undefined });
  const store = openStore(config.db, { poolSize: config.pgPoolSize, writerThread: config.sqliteWriterThread });
  await store.migrate();
  const engine = await createEngine({ store, config });
  try {
    return await fn(engine, config);
  } finally {
    if (!flags.keepOpen) await engine.close();
  }
}

const dbOption = () => new Option('--db <url>', 'SQLite file or postgres:// URL (env OFFERPILOT_DB)');
const logOption = () => new Option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (env OFFERPILOT_LOG_LEVEL)');

const program = new Command()
  .name('offerpilot')
  .description('Offer personalization engine: decides which offer to show, or none, for incremental margin');

program
  .command('serve')
  .description('Run the HTTP API (migrates the database first)')
  .addOption(dbOption())
  .addOption(logOption())
  .option('--host <host>', 'listen address (env OFFERPILOT_HOST)')
  .option('--port <port>', 'listen port (env OFFERPILOT_PORT)')
  .option('--demo', 'seed the demo catalog into an empty database and print a dev API key')
  .option('--no-access-log', 'do not log one line per request (env OFFERPILOT_ACCESS_LOG=false)')
  .action(async (flags: CommonFlags & { host?: string; port?: string; demo?: boolean; accessLog?: boolean }) => {
    await withEngine({ ...flags, keepOpen: true }, async (engine, config) => {
      let demoKey: string | null = null;
      if (flags.demo) {
        const empty = (await engine.catalog.listOffers()).length === 0;
        if (empty) await importCatalog(engine.catalog, JSON.parse(readFileSync(DEMO_CATALOG, 'utf8')));
        // Demo only: the dev key is kept in plain text so every restart can print it again.
        demoKey = await engine.store.getSetting('demo.dev_api_key');
        if (!demoKey) {
          demoKey = (await engine.keys.create(['admin'], 'demo dev key')).key;
          await engine.store.putSetting('demo.dev_api_key', demoKey);
        }
      }
      const app = await buildServer(engine, { accessLog: config.accessLog });
      const address = await app.listen({ host: config.host, port: config.port });
      const url = address.replace('[::1]', 'localhost');
      const lines = [`Offerpilot listening on ${url}  (store: ${engine.store.dialect} ${engine.store.dialect === 'sqlite' ? config.db : ''})`, `API docs:   ${url}/docs`];
      if (demoKey) {
        lines.push(
          `Dev API key (admin, demo only): ${demoKey}`,
          'Get a decision:',
          `  curl -s -X POST ${url}/v1/decide -H 'Authorization: Bearer ${demoKey}' -H 'Content-Type: application/json' \\`,
          `    -d '{"customerId":"cust_42","placement":"cart","channel":"web","consent":{"personalization":true},"traits":{"orderCount":0},"cart":{"lines":[{"sku":"HOOD-001","quantity":1,"unitPrice":6000},{"sku":"JEANS-001","quantity":1,"unitPrice":8000}]}}'`,
        );
      }
      process.stdout.write(`${lines.join('\n')}\n`);
      const stop = async () => {
        await app.close();
        await engine.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  });

program
  .command('migrate')
  .description('Apply pending database migrations')
  .addOption(dbOption())
  .action(async (flags: CommonFlags) => {
    await withEngine({ ...flags, logLevel: 'silent' }, async (engine) => {
      process.stdout.write(`migrated (${engine.store.dialect}); catalog version ${await engine.store.catalogVersion()}\n`);
    });
  });

const offers = program.command('offers').description('Offer catalog');
offers
  .command('import <file>')
  .description('Import products, offers and campaigns from a JSON file (idempotent; see examples/demo-catalog.json)')
  .addOption(dbOption())
  .action(async (file: string, flags: CommonFlags) => {
    const data = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    await withEngine({ ...flags, logLevel: 'silent' }, async (engine) => {
      process.stdout.write(`${JSON.stringify(await importCatalog(engine.catalog, data), null, 2)}\n`);
    });
  });

const keys = program.command('keys').description('API keys');
keys
  .command('create')
  .description('Create an API key; it is printed once')
  .requiredOption('--scopes <list>', `comma-separated: ${SCOPES.join(', ')}`)
  .option('--name <name>', 'a label for the key')
  .addOption(dbOption())
  .action(async (flags: CommonFlags & { scopes: string; name?: string }) => {
    await withEngine({ ...flags, logLevel: 'silent' }, async (engine) => {
      const k = await engine.keys.create(flags.scopes.split(',').map((s) => s.trim()) as Scope[], flags.name);
      process.stdout.write(`${k.key}\n`);
      process.stderr.write(`created ${k.id} with scopes ${k.scopes.join(', ')}; store it now, it is not shown again\n`);
    });
  });
keys
  .command('list')
  .addOption(dbOption())
  .action(async (flags: CommonFlags) => {
    await withEngine({ ...flags, logLevel: 'silent' }, async (engine) => {
      for (const k of await engine.store.listKeys()) {
        process.stdout.write(`${k.id}\t${k.scopes.join(',')}\t${k.name}\t${k.revokedAt ? 'revoked' : 'live'}\n`);
      }
    });
  });
keys
  .command('revoke <id>')
  .addOption(dbOption())
  .action(async (id: string, flags: CommonFlags) => {
    await withEngine({ ...flags, logLevel: 'silent' }, async (engine) => {
      process.stdout.write((await engine.keys.revoke(id)) ? `revoked ${id}\n` : `no live key ${id}\n`);
    });
  });

program
  .command('simulate')
  .description('Run a simulated shop with a known true response model against the engine and compare policies')
  .option('--scenario <name|file>', `a shipped scenario (${SHIPPED_SCENARIOS.join(', ')}) or a .json/.yaml file`, 'apparel')
  .option('--sessions <n>', 'sessions to simulate', '20000')
  .option('--seed <n>', 'random seed (same seed, same run)', '1')
  .option('--concurrency <n>', 'sessions in flight at once', '16')
  .option('--db <path>', 'SQLite file for the in-process engine (default: a temporary one)')
  .option('--url <url>', 'drive a running server over HTTP instead (needs --key with the admin scope)')
  .option('--key <key>', 'API key for --url (env OFFERPILOT_API_KEY)')
  .option('--json', 'print the report as JSON')
  .action(async (flags: { scenario: string; sessions: string; seed: string; concurrency: string; db?: string; url?: string; key?: string; json?: boolean }) => {
    const scenario = loadScenario(flags.scenario);
    const seed = Number(flags.seed);
    const key = flags.key ?? process.env.OFFERPILOT_API_KEY;
    if (flags.url && !key) throw new Error('--url needs --key (or OFFERPILOT_API_KEY)');
    const client = flags.url
      ? httpClient(flags.url, key!)
      : await inProcessClient({ start: Date.parse('2026-11-01T00:00:00Z'), seed, db: flags.db, scenario });
    try {
      const report = await simulate(scenario, client, {
        sessions: Number(flags.sessions),
        seed,
        concurrency: Number(flags.concurrency),
        onProgress: process.stderr.isTTY && !flags.json ? progressBar() : undefined,
      });
      console.log(flags.json ? JSON.stringify(report, null, 2) : formatReport(report));
    } finally {
      await client.close();
    }
  });

const collect = (v: string, prev: string[]) => [...prev, ...v.split(',').map((x) => x.trim()).filter(Boolean)];
program
  .command('report')
  .description('Incrementality: treatment against holdout in contribution margin per session, with honest intervals; or the same statistics for an external experiment in a CSV file')
  .addOption(dbOption())
  .option('--campaign <id>', 'one campaign (default: the whole program)')
  .option('--from <iso>', 'window start (default: 30 days before --to)')
  .option('--to <iso>', 'window end (default: now)')
  .option('--sequential', 'also give always-valid intervals')
  .option('--global', 'the program-level holdout against everyone else (OFFERPILOT_GLOBAL_HOLDOUT_PCT)')
  .option('--readout', 'the verdict rule over the last two 30-day windows instead')
  .option('--csv <file>', 'an external randomized experiment: a .csv or .csv.gz file, one row per randomized unit')
  .option('--arm <column>', 'CSV: the column holding the arm')
  .option('--treatment <values>', 'CSV: arm value(s) of the treatment (repeat or comma-separate)', collect, [])
  .option('--control <values>', 'CSV: arm value(s) of the control', collect, [])
  .option('--outcome <columns>', 'CSV: outcome column(s) to compare', collect, [])
  .option('--expected-share <x>', 'CSV: designed treatment share of treatment + control units, for the sample-ratio check')
  .option('--json', 'print JSON')
  .action(
    async (flags: CommonFlags & { campaign?: string; from?: string; to?: string; sequential?: boolean; global?: boolean; readout?: boolean; csv?: string; arm?: string; treatment: string[]; control: string[]; outcome: string[]; expectedShare?: string; json?: boolean }) => {
      if (flags.csv) {
        if (!flags.arm || flags.treatment.length === 0 || flags.control.length === 0 || flags.outcome.length === 0) {
          throw new Error('--csv needs --arm, --treatment, --control and at least one --outcome');
        }
        const r = csvReport(readCsv(flags.csv), {
          arm: flags.arm,
          treatment: flags.treatment,
          control: flags.control,
          outcomes: flags.outcome,
          expectedTreatmentShare: flags.expectedShare !== undefined ? Number(flags.expectedShare) : undefined,
        });
        console.log(flags.json ? JSON.stringify(r, null, 2) : formatCsvReport(r, flags.csv));
        return;
      }
      await withEngine({ ...flags, logLevel: 'silent' }, async (engine) => {
        if (flags.readout) {
          const r = await engine.measure.readout({ campaignId: flags.campaign, to: flags.to });
          console.log(flags.json ? JSON.stringify(r, null, 2) : `${r.verdict}: ${r.explanation}`);
          return;
        }
        const r = await engine.measure.incrementality({ campaignId: flags.campaign, from: flags.from, to: flags.to, sequential: flags.sequential, arm: flags.global ? 'global' : 'campaign' });
        console.log(flags.json ? JSON.stringify(r, null, 2) : formatIncrementality(r));
      });
    },
  );

program
  .command('plan')
  .description('Sample size: the minimum detectable effect for a number of customers, or the customers needed for an effect')
  .requiredOption('--sd <x>', 'standard deviation of the per-customer outcome')
  .requiredOption('--holdout-pct <p>', 'holdout percent')
  .option('--customers <n>', 'customers in the test')
  .option('--mde <x>', 'smallest difference worth detecting (same unit as --sd)')
  .option('--power <p>', 'power', '0.8')
  .action((flags: { sd: string; holdoutPct: string; customers?: string; mde?: string; power: string }) => {
    if ((flags.customers === undefined) === (flags.mde === undefined)) throw new Error('give exactly one of --customers or --mde');
    const r = sampleSize({ sd: Number(flags.sd), holdoutShare: Number(flags.holdoutPct) / 100, power: Number(flags.power), units: flags.customers ? Number(flags.customers) : undefined, mde: flags.mde ? Number(flags.mde) : undefined });
    console.log(`${r.units.toLocaleString('en-US')} customers detect a difference of ${r.mde.toPrecision(4)} (95% two-sided, ${Number(flags.power) * 100}% power, ${flags.holdoutPct}% holdout)`);
  });

program
  .command('stop-loss')
  .description('Pause every live campaign whose incremental contribution margin is surely below zero (also runs inside serve)')
  .addOption(dbOption())
  .action(async (flags: CommonFlags) => {
    await withEngine({ ...flags, logLevel: 'silent' }, async (engine) => {
      for (const r of await engine.measure.stopLoss()) console.log(`${r.campaignId}: ${r.verdict}${r.action === 'paused' ? ' — PAUSED' : ''}`);
    });
  });

program.parseAsync().catch((e: unknown) => {
  if (isOfferpilotError(e)) {
    process.stderr.write(`error ${e.code}: ${e.message}\n${e.details.map((d) => `  ${d.path}: ${d.message}`).join('\n')}\n`);
  } else {
    process.stderr.write(`error: ${(e as Error).stack ?? String(e)}\n`);
  }
  process.exit(1);
});
