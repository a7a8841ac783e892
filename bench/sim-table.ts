/**
 * The policy table: every shipped scenario × a list of engine policy configurations × seeds,
 * each a full simulation in process, summarised as a markdown table of incremental CM/session
 * and its share of the observable and the true oracle, over all sessions and the last window,
 * mean over seeds ± their standard deviation; each blanket's, FCFS's and the oracles' rows too.
 *   npm run sim:table -- [--sessions 50000] [--seeds 1,2,3] [--window 10000]
 *                        [--scenarios apparel,budget] [--policies '[{"type":"static"}]'] [--json]
 * CPU-heavy at the default 50,000 sessions: one run at a time, minutes per run.
 */
import { parseArgs } from 'node:util';
import { CampaignSpecSchema } from '../src/core/catalog.js';
import { inProcessClient, loadScenario, simulate, SHIPPED_SCENARIOS, type PolicyReport, type SimReport } from '../src/sim/index.js';

const START = Date.parse('2026-11-01T00:00:00Z');
/** Policy types the table tries by default; those the engine's campaign schema accepts are run. */
const KNOWN_TYPES = ['static', 'ab', 'thompson', 'contextual', 'uplift'];

/** The default policy list: `{ type }` for every known type the campaign schema validates. */
export function validPolicies(): Array<Record<string, unknown>> {
  return KNOWN_TYPES.map((type) => ({ type })).filter((p) => CampaignSpecSchema.shape.policy.safeParse(p).success);
}

/** One table row's numbers for one run, minor units and fractions. */
interface Cell {
  incrAll: number;
  incrLast: number;
  obsAll: number | null;
  obsLast: number | null;
  trueAll: number | null;
  trueLast: number | null;
  /** Of the observable oracle within the daily caps (budgeted scenarios only). */
  capAll: number | null;
  capLast: number | null;
}

/** What a row shows of a policy: the engine and FCFS on the engine's treated sessions, the rest on all. */
function cellOf(p: PolicyReport): Cell {
  const treated = p.kind === 'engine' || p.kind === 'budget_baseline';
  return {
    incrAll: (treated ? p.treated : p.all).incrementalCmPerSession,
    incrLast: (treated ? p.treatedWindow : p.window).incrementalCmPerSession,
    obsAll: p.ofOracle.observable.all,
    obsLast: p.ofOracle.observable.window,
    trueAll: p.ofOracle.true.all,
    trueLast: p.ofOracle.true.window,
    capAll: p.ofOracle.withinCaps?.all ?? null,
    capLast: p.ofOracle.withinCaps?.window ?? null,
  };
}

const meanSd = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : 0;
  return { m, sd };
};
const fmtMoney = (xs: number[]) => {
  const { m, sd } = meanSd(xs);
  return `${(m / 100).toFixed(2)}${xs.length > 1 ? ` ± ${(sd / 100).toFixed(2)}` : ''}`;
};
const fmtShare = (xs: Array<number | null>) => {
  if (xs.some((x) => x === null)) return '—';
  const { m, sd } = meanSd(xs as number[]);
  return `${(m * 100).toFixed(0)}%${xs.length > 1 ? ` ± ${(sd * 100).toFixed(0)}` : ''}`;
};

/** Rows of one scenario: label → cells over seeds. */
export type ScenarioRows = Map<string, Cell[]>;

/** Runs the grid; returns rows per scenario and any runs that failed (a policy the engine refused, say). */
export async function runTable(opts: { scenarios: string[]; policies: Array<Record<string, unknown>>; seeds: number[]; sessions: number; window: number; concurrency?: number; log?: (line: string) => void }) {
  const tables = new Map<string, ScenarioRows>();
  const failures: Array<{ scenario: string; policy: string; seed: number; error: string }> = [];
  const reports: SimReport[] = [];
  for (const name of opts.scenarios) {
    const scenario = loadScenario(name);
    const rows: ScenarioRows = new Map();
    const push = (label: string, c: Cell) => {
      const xs = rows.get(label) ?? [];
      xs.push(c);
      rows.set(label, xs);
    };
    for (const policy of opts.policies) {
      for (const seed of opts.seeds) {
        const t = performance.now();
        const client = await inProcessClient({ start: START, seed, scenario });
        try {
          const r = await simulate(scenario, client, { sessions: opts.sessions, seed, window: opts.window, policy, concurrency: opts.concurrency });
          reports.push(r);
          push(`engine ${JSON.stringify(policy)}`, cellOf(r.policies.find((p) => p.kind === 'engine')!));
          // Blankets, FCFS and the oracles do not depend on the engine's policy: once per seed.
          if (policy === opts.policies[0]) for (const p of r.policies) if (p.kind !== 'engine') push(p.label, cellOf(p));
        } catch (e) {
          failures.push({ scenario: name, policy: JSON.stringify(policy), seed, error: (e as Error).message.slice(0, 300) });
        } finally {
          await client.close();
        }
        opts.log?.(`${name} ${JSON.stringify(policy)} seed ${seed}: ${((performance.now() - t) / 1000).toFixed(1)} s`);
      }
    }
    tables.set(name, rows);
  }
  return { tables, failures, reports };
}

/** The grid as markdown: one row per (scenario, policy). */
export function markdownTable(tables: Map<string, ScenarioRows>, o: { sessions: number; window: number; seeds: number[] }): string {
  const last = `last ${o.window.toLocaleString('en-US')}`;
  const out = [
    `Incremental CM/session (major units, against no offer, true model) and its share of each oracle; ${o.sessions.toLocaleString('en-US')} sessions, mean over seeds ${o.seeds.join(', ')} ± sd.`,
    "Engine and FCFS rows on the engine's treated sessions (the oracles' shares computed on the same sessions); other rows on all sessions.",
    'Where a daily cap binds, the capped oracle (the observable oracle within the caps, per bucket and day) is the one a cap-keeping policy can reach; shares of it on treated sessions for every row.',
    '',
    `| scenario | policy | incr. CM/session (all) | (${last}) | % observable oracle (all) | (${last}) | % true oracle (all) | (${last}) | % capped oracle (all) | (${last}) |`,
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [scenario, rows] of tables) {
    for (const [label, cells] of rows) {
      out.push(
        `| ${scenario} | ${label.replace(/\|/g, '\\|')} | ${fmtMoney(cells.map((c) => c.incrAll))} | ${fmtMoney(cells.map((c) => c.incrLast))} | ${fmtShare(cells.map((c) => c.obsAll))} | ${fmtShare(cells.map((c) => c.obsLast))} | ${fmtShare(cells.map((c) => c.trueAll))} | ${fmtShare(cells.map((c) => c.trueLast))} | ${fmtShare(cells.map((c) => c.capAll))} | ${fmtShare(cells.map((c) => c.capLast))} |`,
      );
    }
  }
  return out.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      sessions: { type: 'string', default: '50000' },
      seeds: { type: 'string', default: '1,2,3' },
      window: { type: 'string', default: '10000' },
      scenarios: { type: 'string', default: SHIPPED_SCENARIOS.join(',') },
      policies: { type: 'string' },
      concurrency: { type: 'string', default: '16' },
      json: { type: 'boolean', default: false },
    },
  });
  const ints = (s: string, what: string) =>
    s.split(',').map((x) => {
      const n = Number(x.trim());
      if (!Number.isInteger(n)) throw new Error(`--${what}: ${x} is not an integer`);
      return n;
    });
  const policies = values.policies ? (JSON.parse(values.policies) as Array<Record<string, unknown>>) : validPolicies();
  if (!Array.isArray(policies) || policies.length === 0) throw new Error('--policies: give a non-empty JSON list of policy configurations');
  const o = { sessions: ints(values.sessions, 'sessions')[0]!, window: ints(values.window, 'window')[0]!, seeds: ints(values.seeds, 'seeds') };
  const { tables, failures } = await runTable({
    ...o,
    scenarios: values.scenarios.split(',').map((x) => x.trim()),
    policies,
    concurrency: ints(values.concurrency, 'concurrency')[0]!,
    log: (l) => process.stderr.write(`${l}\n`),
  });
  if (values.json) console.log(JSON.stringify({ ...o, policies, tables: Object.fromEntries([...tables].map(([k, v]) => [k, Object.fromEntries(v)])), failures }, null, 2));
  else {
    console.log(markdownTable(tables, o));
    for (const f of failures) console.log(`\nfailed: ${f.scenario} ${f.policy} seed ${f.seed}: ${f.error}`);
  }
  if (failures.length) process.exitCode = 1;
}
