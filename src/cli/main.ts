#!/usr/bin/env node
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CLI_ACTOR, SCOPES, type Scope } from '../auth/index.js';
import { loadConfig, type Config } from '../config/index.js';
import type { Engine } from '../app.js';
import { OfferpilotError } from '../core/errors.js';
import { SHIPPED_SCENARIOS, loadScenario } from '../sim/scenario.js';
import type { Store } from '../store/index.js';
import { exitCodeOf, formatCliError, fromFsError, isoTimeOption, listOfOption, numberOption, readJsonFile, storeOpenError, urlOption } from './options.js';

// The engine, HTTP server, database drivers, statistics and simulator are loaded by the commands
// that use them: --help and a refused option answer at once instead of after loading them all.
const lazy = {
  catalog: () => import('../catalog/import.js'),
  engine: () => import('../app.js'),
  http: () => import('../http/server.js'),
  measure: () => import('../measure/index.js'),
  ope: async () => ({ ...(await import('../learning/ope-csv.js')), ...(await import('../learning/ope-format.js')), ...(await import('../core/learn/ope.js')) }),
  sim: () => import('../sim/index.js'),
  store: () => import('../store/index.js'),
};

const DEMO_CATALOG = new URL('../../examples/demo-catalog.json', import.meta.url);

interface CommonFlags {
  db?: string;
  logLevel?: string;
}

async function withEngine<T>(flags: CommonFlags & Record<string, unknown>, fn: (engine: Engine, config: Config, store: Store) => Promise<T>): Promise<T> {
  // Commander defaults a --no-… flag to true: only an explicit --no-access-log overrides the env var.
  const config = loadConfig({ db: flags.db, logLevel: flags.logLevel, host: flags.host, port: flags.port, accessLog: flags.accessLog === false ? false : undefined });
  let store: Store | null = null;
  let engine: Engine;
  try {
    store = (await lazy.store()).openStore(config.db, { poolSize: config.pgPoolSize, writerThread: config.sqliteWriterThread });
    await store.migrate();
    engine = await (await lazy.engine()).createEngine({ store, config });
  } catch (e) {
    // The driver's message ("unable to open database file", "ECONNREFUSED") does not say which
    // database; the user needs to know which path or server to fix.
    await store?.close().catch(() => undefined);
    throw storeOpenError(config.db, e);
  }
  try {
    return await fn(engine, config, store);
  } finally {
    if (!flags.keepOpen) await engine.close();
  }
}

const dbOption = () => new Option('--db <url>', 'SQLite file or postgres:// URL (env OFFERPILOT_DB)');
const logOption = () => new Option('--log-level <level>', 'log level (env OFFERPILOT_LOG_LEVEL)').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** A shipped scenario's name or an existing file, checked before any work. */
const scenarioOption = (raw: string) => {
  if ((SHIPPED_SCENARIOS as readonly string[]).includes(raw) || existsSync(raw)) return raw;
  throw new InvalidArgumentError(`not a shipped scenario (${SHIPPED_SCENARIOS.join(', ')}) and no such file.`);
};

const program = new Command()
  .name('offerpilot')
  .description('Offer personalization engine: decides which offer to show, or none, for incremental margin')
  .option('--verbose', 'on failure, also print the stack trace (or set OFFERPILOT_LOG_LEVEL=debug)')
  // Failures are thrown to the one handler at the bottom, which prints one coded line and picks
  // the exit code; subcommands inherit both settings.
  .exitOverride()
  .configureOutput({ outputError: (str, write) => write(`offerpilot: USAGE_ERROR: ${str.replace(/^error: /, '')}`) });

program
  .command('serve')
  .description('Run the HTTP API (migrates the database first)')
  .addOption(dbOption())
  .addOption(logOption())
  .option('--host <host>', 'listen address (env OFFERPILOT_HOST)')
  .option('--port <port>', 'listen port (env OFFERPILOT_PORT)', numberOption({ integer: true, min: 0, max: 65535 }))
  .option('--demo', 'seed the demo catalog into an empty database and print a dev API key')
  .option('--no-access-log', 'do not log one line per request (env OFFERPILOT_ACCESS_LOG=false)')
  .action(async (flags: CommonFlags & { host?: string; port?: number; demo?: boolean; accessLog?: boolean }) => {
    await withEngine({ ...flags, keepOpen: true }, async (engine, config, store) => {
      let demoKey: string | null = null;
      if (flags.demo) {
        const empty = (await engine.catalog.listOffers()).length === 0;
        if (empty) await (await lazy.catalog()).importCatalog(engine.catalog, readJsonFile(fileURLToPath(DEMO_CATALOG)), CLI_ACTOR);
        // Demo only: the dev key is kept in plain text so every restart can print it again.
        demoKey = await store.getSetting('demo.dev_api_key');
        if (!demoKey) {
          demoKey = (await engine.keys.create(['admin'], 'demo dev key', undefined, CLI_ACTOR)).key;
          await store.putSetting('demo.dev_api_key', demoKey);
        }
      }
      const app = await (await lazy.http()).buildServer(engine, { accessLog: config.accessLog });
      let address: string;
      try {
        address = await app.listen({ host: config.host, port: config.port });
      } catch (e) {
        await app.close().catch(() => undefined);
        await engine.close().catch(() => undefined);
        const reason = (e as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'the address is already in use (another server running?)' : (e as Error).message;
        throw new OfferpilotError('LISTEN_FAILED', `Cannot listen on ${config.host}:${config.port} (--host, --port; OFFERPILOT_HOST, OFFERPILOT_PORT): ${reason}`);
      }
      const url = address.replace('[::1]', 'localhost');
      const lines = [`Offerpilot listening on ${url}  (store: ${engine.dialect} ${engine.dialect === 'sqlite' ? config.db : ''})`, `API docs:   ${url}/docs`];
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
      process.stdout.write(`migrated (${engine.dialect}); catalog version ${(await engine.snapshot()).version}\n`);
    });
  });

const offers = program.command('offers').description('Offer catalog');
offers
  .command('import <file>')
  .description('Import products, offers and campaigns from a JSON file (idempotent; see examples/demo-catalog.json)')
  .addOption(dbOption())
  .action(async (file: string, flags: CommonFlags) => {
    const data = readJsonFile(file);
    await withEngine({ ...flags, logLevel: 'silent' }, async (engine) => {
      const { importCatalog } = await lazy.catalog();
      process.stdout.write(`${JSON.stringify(await importCatalog(engine.catalog, data, CLI_ACTOR), null, 2)}\n`);
    });
  });

const keys = program.command('keys').description('API keys');
keys
  .command('create')
  .description('Create an API key; it is printed once')
  .requiredOption('--scopes <list>', `comma-separated: ${SCOPES.join(', ')}`, listOfOption(SCOPES))
  .option('--name <name>', 'a label for the key')
  .addOption(dbOption())
  .action(async (flags: CommonFlags & { scopes: Scope[]; name?: string }) => {
    await withEngine({ ...flags, logLevel: 'silent' }, async (engine) => {
      const k = await engine.keys.create(flags.scopes, flags.name, undefined, CLI_ACTOR);
      process.stdout.write(`${k.key}\n`);
      process.stderr.write(`created ${k.id} with scopes ${k.scopes.join(', ')}; store it now, it is not shown again\n`);
    });
  });
keys
  .command('list')
  .addOption(dbOption())
  .action(async (flags: CommonFlags) => {
    await withEngine({ ...flags, logLevel: 'silent' }, async (engine) => {
      for (const k of await engine.keys.list()) {
        process.stdout.write(`${k.id}\t${k.scopes.join(',')}\t${k.name}\t${k.revokedAt ? 'revoked' : 'live'}\n`);
      }
    });
  });
keys
  .command('revoke <id>')
  .addOption(dbOption())
  .action(async (id: string, flags: CommonFlags) => {
    await withEngine({ ...flags, logLevel: 'silent' }, async (engine) => {
      if (!(await engine.keys.revoke(id, undefined, CLI_ACTOR))) throw new OfferpilotError('KEY_NOT_FOUND', `No live API key ${id} (see offerpilot keys list)`);
      process.stdout.write(`revoked ${id}\n`);
    });
  });

program
  .command('simulate')
  .description('Run a simulated shop with a known true response model against the engine and compare policies')
  .option('--scenario <name|file>', `a shipped scenario (${SHIPPED_SCENARIOS.join(', ')}) or a .json/.yaml file`, scenarioOption, 'apparel')
  .option('--sessions <n>', 'sessions to simulate', numberOption({ integer: true, min: 1 }), 20000)
  .option('--seed <n>', 'random seed (same seed, same run)', numberOption({ integer: true }), 1)
  .option('--concurrency <n>', 'sessions in flight at once', numberOption({ integer: true, min: 1, max: 10_000 }), 16)
  .option('--db <path>', 'SQLite file for the in-process engine (default: a temporary one)')
  .option('--url <url>', 'drive a running server over HTTP instead (needs --key with the admin scope)', urlOption)
  .option('--key <key>', 'API key for --url (env OFFERPILOT_API_KEY)')
  .option('--window <n>', 'also report every policy over the last n sessions', numberOption({ integer: true, min: 1 }), 10_000)
  .option('--policy <json>', 'replace the scenario campaign\'s policy, e.g. \'{"type":"static"}\' (the engine validates it)')
  .option('--json', 'print the report as JSON')
  .option('--dump <file>', 'also write every session as a JSON line: the engine\'s action, the latent segment and the true values (diagnostics)')
  .action(async (flags: { scenario: string; sessions: number; seed: number; concurrency: number; window: number; policy?: string; db?: string; url?: string; key?: string; json?: boolean; dump?: string }) => {
    const key = flags.key ?? process.env.OFFERPILOT_API_KEY;
    let policy: Record<string, unknown> | undefined;
    if (flags.policy !== undefined) {
      try {
        policy = JSON.parse(flags.policy) as Record<string, unknown>;
      } catch (e) {
        throw new OfferpilotError('USAGE_ERROR', `--policy is not JSON: ${(e as Error).message}`);
      }
      if (policy === null || typeof policy !== 'object' || Array.isArray(policy)) throw new OfferpilotError('USAGE_ERROR', '--policy must be a JSON object, e.g. {"type":"static"}');
    }
    if (flags.url && !key) throw new OfferpilotError('USAGE_ERROR', '--url needs --key (or OFFERPILOT_API_KEY)');
    let scenario: ReturnType<typeof loadScenario>;
    try {
      scenario = loadScenario(flags.scenario);
    } catch (e) {
      throw fromFsError(e) ?? (e instanceof SyntaxError || (e as Error).name === 'YAMLParseError' ? new OfferpilotError('VALIDATION_FAILED', `${flags.scenario} does not parse: ${(e as Error).message}`) : e);
    }
    const seed = flags.seed;
    const { formatReport, httpClient, inProcessClient, progressBar, simulate } = await lazy.sim();
    // Before the engine opens: a path that cannot be written fails with nothing to close.
    let dump: number | null = null;
    try {
      if (flags.dump !== undefined) dump = openSync(flags.dump, 'w');
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new OfferpilotError('USAGE_ERROR', `--dump: cannot write ${flags.dump}: ${err.code ?? err.message}`, [{ path: flags.dump!, message: err.code ?? err.message }]);
    }
    const client = flags.url
      ? httpClient(flags.url, key!)
      : await inProcessClient({ start: Date.parse('2026-11-01T00:00:00Z'), seed, db: flags.db, scenario });
    try {
      const report = await simulate(scenario, client, {
        sessions: flags.sessions,
        seed,
        concurrency: flags.concurrency,
        window: flags.window,
        policy,
        onProgress: process.stderr.isTTY && !flags.json ? progressBar() : undefined,
        ...(dump !== null ? { onSession: (r: object) => writeSync(dump, `${JSON.stringify(r)}\n`) } : {}),
      });
      console.log(flags.json ? JSON.stringify(report, null, 2) : formatReport(report));
    } finally {
      if (dump !== null) closeSync(dump);
      await client.close();
    }
  });

const collect = (v: string, prev: string[]) => [...prev, ...v.split(',').map((x) => x.trim()).filter(Boolean)];
program
  .command('report')
  .description('Incrementality: treatment against holdout in contribution margin per session, with honest intervals; or the same statistics for an external experiment in a CSV file')
  .addOption(dbOption())
  .option('--campaign <id>', 'one campaign (default: the whole program)')
  .option('--from <iso>', 'window start, ISO 8601 (default: 30 days before --to)', isoTimeOption)
  .option('--to <iso>', 'window end, ISO 8601 (default: now)', isoTimeOption)
  .option('--sequential', 'also give always-valid intervals')
  .option('--global', 'the program-level holdout against everyone else (OFFERPILOT_GLOBAL_HOLDOUT_PCT)')
  .option('--readout', 'the verdict rule over the last two 30-day windows instead')
  .option('--csv <file>', 'an external randomized experiment: a .csv or .csv.gz file, one row per randomized unit')
  .option('--arm <column>', 'CSV: the column holding the arm')
  .option('--treatment <values>', 'CSV: arm value(s) of the treatment (repeat or comma-separate)', collect, [])
  .option('--control <values>', 'CSV: arm value(s) of the control', collect, [])
  .option('--outcome <columns>', 'CSV: outcome column(s) to compare', collect, [])
  .option('--expected-share <x>', 'CSV: designed treatment share of treatment + control units, for the sample-ratio check', numberOption({ gt: 0, lt: 1 }))
  .option('--json', 'print JSON')
  .action(
    async (flags: CommonFlags & { campaign?: string; from?: string; to?: string; sequential?: boolean; global?: boolean; readout?: boolean; csv?: string; arm?: string; treatment: string[]; control: string[]; outcome: string[]; expectedShare?: number; json?: boolean }) => {
      if (flags.csv) {
        if (!flags.arm || flags.treatment.length === 0 || flags.control.length === 0 || flags.outcome.length === 0) {
          throw new OfferpilotError('USAGE_ERROR', '--csv needs --arm, --treatment, --control and at least one --outcome');
        }
        const { csvReport, formatCsvReport, readCsv } = await lazy.measure();
        const r = csvReport(readCsv(flags.csv), {
          arm: flags.arm,
          treatment: flags.treatment,
          control: flags.control,
          outcomes: flags.outcome,
          expectedTreatmentShare: flags.expectedShare,
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
        console.log(flags.json ? JSON.stringify(r, null, 2) : (await lazy.measure()).formatIncrementality(r));
      });
    },
  );

program
  .command('evaluate')
  .description('Off-policy evaluation: what a candidate policy would have earned on logged decisions with their propensities (IPS, SNIPS, doubly robust; 95% intervals; differences to the logging policy and the best constant action) — on a CSV file of logged bandit feedback, or on a campaign\'s own decision log')
  .option('--csv <file>', 'logged bandit feedback, a .csv or .csv.gz file with a header row, one row per logged decision')
  .option('--campaign <id>', 'instead of --csv: the campaign\'s own logged decisions (those of a learning policy, with their trace) and their attributed CM')
  .option('--action-col <column>', 'CSV: the column of the action taken')
  .option('--reward-col <column>', 'CSV: the column of the reward')
  .option('--propensity-col <column>', 'CSV: the column of the logged probability of the action taken')
  .option('--propensity <p>', 'CSV: instead of --propensity-col, one probability for every row, e.g. 1/3 for a three-arm randomized test')
  .option('--context-cols <columns>', 'CSV: comma-separated context columns for the doubly robust reward model (numeric columns as values, others one-hot)', (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean))
  .requiredOption(
    '--policy <candidate>',
    'constant:<action> | uniform | probs:<file.csv> (CSV: long format, columns row,action,probability; row = 0-based data row of --csv) | current | engine:\'<policy config JSON>\' (campaign: replayed on each logged decision with the campaign\'s current state)',
  )
  .addOption(dbOption())
  .option('--from <iso>', 'campaign: window start (default: 30 days before --to)', isoTimeOption)
  .option('--to <iso>', 'campaign: window end (default: now less the attribution window)', isoTimeOption)
  .option('--include-open', 'campaign: include decisions whose attribution window is still open (their CM may still grow)')
  .option('--state-version <n>', 'campaign: the stored state version to replay (only the current one is kept)', numberOption({ integer: true, min: 1 }))
  .option('--state-file <file>', 'campaign: replay this state instead of the stored one (a `offerpilot train --out` file)')
  .option('--clip <w>', 'largest importance weight kept (larger weights are capped)', numberOption({ gt: 0 }), 100)
  .option('--folds <k>', 'cross-fitting folds of the reward model', numberOption({ integer: true, min: 2, max: 100 }), 5)
  .option('--seed <n>', 'seed of the fold assignment', numberOption({ integer: true }), 1)
  .option('--json', 'print the report as JSON')
  .action(
    async (
      flags: CommonFlags & {
        csv?: string;
        campaign?: string;
        actionCol?: string;
        rewardCol?: string;
        propensityCol?: string;
        propensity?: string;
        contextCols?: string[];
        policy: string;
        from?: string;
        to?: string;
        includeOpen?: boolean;
        stateVersion?: number;
        stateFile?: string;
        clip: number;
        folds: number;
        seed: number;
        json?: boolean;
      },
    ) => {
      if ((flags.csv === undefined) === (flags.campaign === undefined)) throw new OfferpilotError('USAGE_ERROR', 'give exactly one of --csv <file> or --campaign <id>');
      const ope = await lazy.ope();
      const json = (r: object) => JSON.stringify(r, (_, v: unknown) => (v === Infinity ? 'Infinity' : v), 2);
      if (flags.campaign !== undefined) {
        let state: { version: number; state: unknown } | undefined;
        if (flags.stateFile !== undefined) {
          const raw = readJsonFile(flags.stateFile) as { version?: unknown; state?: unknown } | null;
          // A `train --out` file holds the state itself; a { version, state } wrapper is accepted too.
          state = raw && typeof raw === 'object' && 'state' in raw && typeof raw.version === 'number' ? { version: raw.version, state: raw.state } : { version: 0, state: raw };
        }
        await withEngine({ ...flags, logLevel: 'silent' }, async (engine) => {
          const r = await engine.learningOps.evaluate({
            campaignId: flags.campaign!,
            policy: flags.policy,
            from: flags.from,
            to: flags.to,
            includeOpen: flags.includeOpen,
            stateVersion: flags.stateVersion,
            state,
            clip: flags.clip,
            folds: flags.folds,
            seed: flags.seed,
          });
          const title = `Off-policy evaluation of ${r.policy} on ${r.campaignId}'s decisions from ${r.from} to ${r.to} (state version ${r.stateVersion ?? 'none'}${r.skipped ? `; ${r.skipped} decisions without a learner's trace skipped` : ''}; reward: CM per decision, minor units)`;
          console.log(flags.json ? json(r) : ope.formatOpeReport(r, title));
        });
        return;
      }
      if (flags.actionCol === undefined || flags.rewardCol === undefined) throw new OfferpilotError('USAGE_ERROR', '--csv needs --action-col and --reward-col');
      if ((flags.propensityCol === undefined) === (flags.propensity === undefined)) throw new OfferpilotError('USAGE_ERROR', 'give exactly one of --propensity-col or --propensity');
      const propensity = flags.propensityCol ?? ope.parseProbability(flags.propensity!);
      const data = ope.readBanditCsv(flags.csv!, { action: flags.actionCol, reward: flags.rewardCol, propensity, context: flags.contextCols });
      const candidate = ope.parseCandidate(flags.policy, data);
      const r = ope.evaluatePolicy(data.rows, candidate, { clip: flags.clip, folds: flags.folds, seed: flags.seed });
      console.log(flags.json ? json({ file: flags.csv, policy: flags.policy, features: data.features, ...r }) : ope.formatOpeReport(r, `Off-policy evaluation of ${flags.policy} on ${flags.csv}`));
    },
  );

program
  .command('train')
  .description('Train the uplift T-learner (per action: an IPS-weighted ridge purchase model and a residual value model) on a campaign\'s logged decisions whose outcome is final, and publish it as the campaign\'s next policy state version; re-run on a schedule (cron) to refresh')
  .requiredOption('--campaign <id>', 'the campaign (its policy must be {"type":"uplift"} to publish)')
  .addOption(dbOption())
  .option('--all', 'also decisions whose attribution window is still open (tests, demos)')
  .option('--out <file>', 'write the fitted state to this file instead of publishing it (evaluate it first: offerpilot evaluate --campaign … --policy engine:\'{"type":"uplift"}\' --state-file <file>)')
  .option('--seed <n>', 'seed of the 20% validation split', numberOption({ integer: true }), 1)
  .option('--json', 'print the summary as JSON')
  .action(async (flags: CommonFlags & { campaign: string; all?: boolean; out?: string; seed: number; json?: boolean }) => {
    await withEngine({ ...flags, logLevel: 'silent' }, async (engine) => {
      const r = await engine.learningOps.train({ campaignId: flags.campaign, all: flags.all, seed: flags.seed, publish: flags.out === undefined });
      if (flags.out !== undefined) {
        const { writeFileSync } = await import('node:fs');
        try {
          writeFileSync(flags.out, `${JSON.stringify(r.state)}\n`);
        } catch (e) {
          throw fromFsError(e) ?? e;
        }
      }
      const { state: _state, ...summary } = r;
      if (flags.json) {
        console.log(JSON.stringify(summary, null, 2));
        return;
      }
      const v = r.validation;
      const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2));
      const lines = [
        `trained uplift model for ${r.campaignId} on ${r.rows} decisions made up to ${r.to} (${r.holdoutRows} holdout${r.skipped ? `, ${r.skipped} without a learner's trace skipped` : ''})`,
        `actions: ${r.actions.map((a) => `${a.action} (${a.rows} decisions, ${a.purchases} purchases)`).join(', ')}`,
        v
          ? `held-out quality on ${v.rows} decisions (${v.treated} with an offer, ${v.control} without): Qini coefficient ${fmt(v.qini.coefficient)} (AUUC ${fmt(v.qini.auuc)} vs random ${fmt(v.qini.randomAuuc)}); uplift-curve gain over random ${fmt(v.uplift.coefficient)} (CM, minor units; > 0: the model ranks better than random)`
          : 'held-out quality: too few decisions with and without an offer for a validation split',
        r.version !== null ? `published as policy state version ${r.version} (every process loads it within its refresh)` : `not published; state written to ${flags.out}`,
      ];
      console.log(lines.join('\n'));
    });
  });

program
  .command('plan')
  .description('Sample size: the minimum detectable effect for a number of customers, or the customers needed for an effect')
  .requiredOption('--sd <x>', 'standard deviation of the per-customer outcome (> 0)', numberOption({ gt: 0 }))
  .requiredOption('--holdout-pct <p>', 'holdout percent (between 0 and 100, exclusive)', numberOption({ gt: 0, lt: 100 }))
  .option('--customers <n>', 'customers in the test (an integer ≥ 2)', numberOption({ integer: true, min: 2 }))
  .option('--mde <x>', 'smallest difference worth detecting (same unit as --sd, > 0)', numberOption({ gt: 0 }))
  .option('--power <p>', 'power (between 0.5 and 1, exclusive)', numberOption({ gt: 0.5, lt: 1 }), 0.8)
  .action(async (flags: { sd: number; holdoutPct: number; customers?: number; mde?: number; power: number }) => {
    if ((flags.customers === undefined) === (flags.mde === undefined)) throw new OfferpilotError('USAGE_ERROR', 'give exactly one of --customers or --mde');
    const { sampleSize } = await lazy.measure();
    const r = sampleSize({ sd: flags.sd, holdoutShare: flags.holdoutPct / 100, power: flags.power, units: flags.customers, mde: flags.mde });
    console.log(`${r.units.toLocaleString('en-US')} customers detect a difference of ${r.mde.toPrecision(4)} (95% two-sided, ${flags.power * 100}% power, ${flags.holdoutPct}% holdout)`);
  });

program
  .command('stop-loss')
  .description('Pause every live campaign whose incremental contribution margin is surely below zero (also runs inside serve)')
  .addOption(dbOption())
  .action(async (flags: CommonFlags) => {
    await withEngine({ ...flags, logLevel: 'silent' }, async (engine) => {
      for (const r of await engine.measure.stopLoss(CLI_ACTOR)) console.log(`${r.campaignId}: ${r.verdict}${r.action === 'paused' ? ' — PAUSED' : ''}`);
    });
  });

program.parseAsync().catch((e: unknown) => {
  const code = exitCodeOf(e);
  // Commander has already printed its own errors (as one USAGE_ERROR line) and help.
  if (!(e instanceof CommanderError)) {
    const verbose = program.opts().verbose === true || process.argv.includes('--verbose') || process.env.OFFERPILOT_LOG_LEVEL === 'debug' || process.env.OFFERPILOT_LOG_LEVEL === 'trace';
    process.stderr.write(formatCliError(e, verbose));
  }
  process.exit(code);
});
