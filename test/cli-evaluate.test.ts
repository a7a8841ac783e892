import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluatePolicy, type OpeReport } from '../src/core/index.js';
import { seededRandom } from '../src/core/runtime.js';
import { parseBanditRecords, parseCandidate, parseProbability, readBanditCsv, readProbsCsv } from '../src/learning/ope-csv.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const HILLSTROM = fileURLToPath(new URL('../examples/hillstrom/hillstrom.csv.gz', import.meta.url));
const outcome = (args: string[]) =>
  run(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, OFFERPILOT_LOG_LEVEL: 'silent' } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe('logged bandit feedback from CSV', () => {
  it('numeric context columns become values, others one-hot per sorted distinct value; zeros are left out', () => {
    const d = parseBanditRecords(
      [
        { item: 'x', click: '1', p: '0.5', age: '30', device: 'ios' },
        { item: 'y', click: '0', p: '0.25', age: '0', device: 'android' },
        { item: 'x', click: '0', p: '0.5', age: '41.5', device: 'ios' },
      ],
      { action: 'item', reward: 'click', propensity: 'p', context: ['age', 'device'] },
    );
    expect(d.features).toEqual(['age', 'device=android', 'device=ios']);
    expect(d.actions).toEqual(['x', 'y']);
    expect(d.rows).toEqual([
      { action: 'x', reward: 1, propensity: 0.5, x: { idx: [0, 2], val: [30, 1] } },
      { action: 'y', reward: 0, propensity: 0.25, x: { idx: [1], val: [1] } },
      { action: 'x', reward: 0, propensity: 0.5, x: { idx: [0, 2], val: [41.5, 1] } },
    ]);
  });

  it('refuses a bad cell naming the line and column, and an unknown column naming the columns', () => {
    const recs = [
      { a: 'x', r: '1', p: '0.5' },
      { a: 'y', r: '1', p: '0' },
    ];
    expect(() => parseBanditRecords(recs, { action: 'a', reward: 'r', propensity: 'p' }, 'log.csv')).toThrow('log.csv line 3, column p: "0" is not a probability in (0, 1]');
    expect(() => parseBanditRecords(recs, { action: 'a', reward: 'rew', propensity: 'p' }, 'log.csv')).toThrow('Column rew is not in log.csv (columns: a, r, p)');
    expect(() => parseBanditRecords([{ a: 'x', r: 'lots', p: '1' }], { action: 'a', reward: 'r', propensity: 'p' })).toThrow(/line 2, column r: "lots" is not a number/);
    expect(parseProbability('1/3')).toBe(1 / 3);
    expect(parseProbability('0.25')).toBe(0.25);
    expect(() => parseProbability('3/2')).toThrow(/not a probability/);
  });

  const dir = mkdtempSync(join(tmpdir(), 'offerpilot-ope-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // A small log with a context-dependent logging policy, and a candidate's probabilities in long format.
  const rnd = seededRandom(5);
  const log = ['ctx,device,action,reward,prob'];
  const probs = ['row,action,probability'];
  for (let i = 0; i < 400; i++) {
    const ctx = rnd();
    const device = rnd() < 0.5 ? 'ios' : 'web';
    const pa = device === 'ios' ? 0.7 : 0.4;
    const action = rnd() < pa ? 'A' : 'B';
    const reward = (rnd() < (action === 'A' ? 0.2 + 0.3 * ctx : 0.4) ? 10 : 0).toString();
    log.push(`${ctx.toFixed(4)},${device},${action},${reward},${action === 'A' ? pa : 1 - pa}`);
    // Candidate: A when ctx > 0.6, else a coin flip.
    if (ctx > 0.6) probs.push(`${i},A,1`);
    else probs.push(`${i},A,0.5`, `${i},B,0.5`);
  }
  const logFile = join(dir, 'log.csv');
  const probsFile = join(dir, 'probs.csv');
  writeFileSync(logFile, `${log.join('\n')}\n`);
  writeFileSync(probsFile, `${probs.join('\n')}\n`);

  it('a probs file must cover every logged row', () => {
    const data = readBanditCsv(logFile, { action: 'action', reward: 'reward', propensity: 'prob' });
    const short = join(dir, 'short.csv');
    writeFileSync(short, `${probs.slice(0, 10).join('\n')}\n`);
    expect(() => readProbsCsv(short, data.rows.length)).toThrow(/gives no probabilities for logged row/);
    expect(() => parseCandidate('constant:C', data)).toThrow(/"C" is never logged/);
    expect(() => parseCandidate('greedy', data)).toThrow(/expected constant:<action>, uniform or probs:<file.csv>/);
  });

  // Each CLI call is a fresh Node process loading the sources (seconds on a busy 2-core machine).
  it('offerpilot evaluate prints the same numbers as evaluatePolicy, as a table and as JSON; Hillstrom reproduces the arm mean', { timeout: 120_000 }, async () => {
    const flags = ['evaluate', '--csv', logFile, '--action-col', 'action', '--reward-col', 'reward', '--propensity-col', 'prob', '--context-cols', 'ctx,device', '--policy', `probs:${probsFile}`];
    const [json, table, hill] = await Promise.all([
      outcome([...flags, '--json']),
      outcome(flags),
      outcome(['evaluate', '--csv', HILLSTROM, '--action-col', 'segment', '--reward-col', 'spend', '--propensity', '1/3', '--policy', 'constant:Mens E-Mail', '--json']),
    ]);
    expect(json.code, json.stderr).toBe(0);
    const got = JSON.parse(json.stdout) as OpeReport & { features: string[] };
    const data = readBanditCsv(logFile, { action: 'action', reward: 'reward', propensity: 'prob', context: ['ctx', 'device'] });
    const want = evaluatePolicy(data.rows, readProbsCsv(probsFile, data.rows.length));
    expect(got.features).toEqual(['ctx', 'device=ios', 'device=web']);
    expect(got.estimates).toEqual(want.estimates);
    expect(got.rewardModel).toEqual({ kind: 'ridge', folds: 5 });
    expect(table.code, table.stderr).toBe(0);
    const dr = want.estimates.find((e) => e.estimator === 'dr')!;
    expect(table.stdout).toMatch(/^estimator\s+value \[95% CI\]/m);
    expect(table.stdout).toContain(`DR         ${dr.value.estimate.toFixed(3)} [${dr.value.lower.toFixed(3)}, ${dr.value.upper.toFixed(3)}]`);
    expect(table.stdout).toMatch(/verdict against the best constant action: (better|worse|inconclusive)/);
    expect(hill.code, hill.stderr).toBe(0);
    const h = JSON.parse(hill.stdout) as OpeReport;
    // SOURCE.md: Mens E-Mail spend per customer 1.422617; without context the reward model is the arm means.
    expect(h.estimates.find((e) => e.estimator === 'snips')!.value.estimate).toBeCloseTo(1.422617, 6);
    expect(h.rewardModel.kind).toBe('means');
    expect(h.n).toBe(64_000);
  });

  it('offerpilot evaluate refuses bad input with one coded line and exit code 2', { timeout: 120_000 }, async () => {
    const base = ['evaluate', '--csv', logFile, '--action-col', 'action', '--reward-col', 'reward'];
    const [col, neither, policy] = await Promise.all([
      outcome([...base, '--propensity-col', 'propensity', '--policy', 'uniform']),
      outcome([...base, '--policy', 'uniform']),
      outcome([...base, '--propensity-col', 'prob', '--policy', 'best']),
    ]);
    for (const [r, code, names] of [
      [col, 'VALIDATION_FAILED', /Column propensity is not in .*log\.csv \(columns: ctx, device, action, reward, prob\)/],
      [neither, 'USAGE_ERROR', /exactly one of --propensity-col or --propensity/],
      [policy, 'USAGE_ERROR', /--policy "best"/],
    ] as const) {
      expect(r.code, r.stderr).toBe(2);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^offerpilot: ${code}: `));
      expect(lines[0]).toMatch(names);
    }
  });
});
