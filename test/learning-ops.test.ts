import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import type { Engine } from '../src/app.js';
import type { LinearState } from '../src/core/learn/state.js';
import { BACKENDS, createTestEngine, type Backend, type TestEngine } from './helpers/backends.js';
import { createApiHarness, type ApiHarness } from './helpers/http.js';

const START = '2026-11-01T12:00:00Z';
const DAY = 86_400_000;
const H = 0.2;
// One order: price 10000, cost of goods 4000, fulfilment 500 → CM 5500 (no discount: content offers cost nothing).
const CM = 5500;

const content = (id: string) => ({ id, status: 'live', name: id, type: 'content' });
const catalog = (policy: Record<string, unknown>) => ({
  products: [{ sku: 'TOP-1', category: 'tops', price: 10000, unitCost: 4000, fulfilmentCost: 500 }],
  offers: [content('ofr_a'), content('ofr_b')],
  campaigns: [{ id: 'cmp_ops', status: 'live', name: 'Ops', placements: ['home_hero'], offers: ['ofr_a', 'ofr_b'], holdoutPct: H * 100, attributionWindow: '7d', policy }],
});

interface Logged {
  holdout: boolean;
  action: string;
  reward: number;
}

/**
 * n decisions under `ab` (uniform over ofr_a, ofr_b, none: p = 1/3), one customer each. The
 * shop's truth: ofr_a always sells, ofr_b never does, without an offer one shopper in four buys.
 * Then the clock moves past the attribution window, so every outcome is final.
 */
async function logHistory(engine: Engine, clock: TestEngine['clock'], n: number, start = START): Promise<Logged[]> {
  await importCatalog(engine.catalog, catalog({ type: 'ab' }));
  const out: Logged[] = [];
  let none = 0;
  const t0 = Date.parse(start);
  for (let i = 0; i < n; i++) {
    clock.set(t0 + i * 1000);
    const d = await engine.decide({ customerId: `cust_${i}`, placement: 'home_hero', channel: 'web' });
    const action = d.holdout ? 'none' : (d.offers[0]?.offerId ?? 'none');
    const buys = action === 'ofr_a' || (action === 'none' && none++ % 4 === 0);
    if (buys) {
      const at = new Date(t0 + i * 1000 + 500).toISOString();
      await engine.events.ingest({ events: [{ id: `e${i}`, type: 'order', customerId: `cust_${i}`, occurredAt: at, orderId: `ord_${i}`, decisionId: d.decisionId, lines: [{ sku: 'TOP-1', quantity: 1, unitPrice: 10000 }] }] });
    }
    out.push({ holdout: d.holdout, action, reward: buys ? CM : 0 });
  }
  clock.set(t0 + 8 * DAY);
  return out;
}

const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
const est = (r: { estimates: Array<{ estimator: string; value: { estimate: number } }> }, e: string) => r.estimates.find((x) => x.estimator === e)!.value.estimate;

const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of opened.splice(0)) await o.close();
});

describe('evaluate and train on the engine’s own log [sqlite]', () => {
  it('a constant policy’s IPS and SNIPS are the hand-computed means; "none" is split between holdout and no-offer decisions without double counting', async () => {
    const t = await createTestEngine('sqlite', { now: START });
    opened.push(t);
    const log = await logHistory(t.engine, t.clock, 120);
    const n = log.length;
    const holdouts = log.filter((r) => r.holdout).length;
    expect(holdouts).toBeGreaterThan(5);

    const a = await t.engine.learningOps.evaluate({ campaignId: 'cmp_ops', policy: 'constant:ofr_a', from: START, folds: 2 });
    expect(a.n).toBe(n);
    expect(a.skipped).toBe(0);
    const aRows = log.filter((r) => r.action === 'ofr_a');
    // Every treated decision was logged with (1 − h)·1/3: SNIPS is the plain mean of ofr_a's decisions.
    expect(est(a, 'snips')).toBeCloseTo(CM, 6);
    expect(est(a, 'ips')).toBeCloseTo(sum(aRows.map((r) => r.reward)) / ((1 - H) / 3) / n, 6);
    expect(a.logging.estimate).toBeCloseTo(sum(log.map((r) => r.reward)) / n, 6);

    // "none": holdout decisions carry β of it (weight β/h), no-offer treated ones 1 − β (weight (1 − β)/((1 − h)/3)).
    const treated = log.filter((r) => !r.holdout);
    const s = treated.filter((r) => r.action === 'none').length / treated.length;
    const beta = H / (H + (1 - H) * s);
    const z = await t.engine.learningOps.evaluate({ campaignId: 'cmp_ops', policy: 'constant:none', from: START, folds: 2 });
    expect(z.split.beta).toBeCloseTo(beta, 9);
    const byHand = log.reduce((acc, r) => acc + (r.action !== 'none' ? 0 : r.holdout ? (r.reward * beta) / H : (r.reward * (1 - beta)) / ((1 - H) / 3)), 0) / n;
    expect(est(z, 'ips')).toBeCloseTo(byHand, 6);
    // The two routes' weights sum to about n for "none" (not 2n, as separate propensities would give).
    const noneRows = log.filter((r) => r.action === 'none');
    const weightSum = sum(noneRows.map((r) => (r.holdout ? beta / H : (1 - beta) / ((1 - H) / 3))));
    expect(weightSum / n).toBeGreaterThan(0.75);
    expect(weightSum / n).toBeLessThan(1.25);
    // ofr_b never sells.
    const b = await t.engine.learningOps.evaluate({ campaignId: 'cmp_ops', policy: 'constant:ofr_b', from: START, folds: 2 });
    expect(est(b, 'ips')).toBe(0);

    // Replaying an engine configuration: ab weighted on ofr_a alone is "always ofr_a"; the
    // campaign's own policy and an unfitted contextual (uniform) are "uniform over the eligible".
    const replayA = await t.engine.learningOps.evaluate({ campaignId: 'cmp_ops', policy: 'engine:{"type":"ab","weights":{"ofr_a":1}}', from: START, folds: 2 });
    for (const e of ['ips', 'snips', 'dr']) expect(est(replayA, e)).toBeCloseTo(est(a, e), 6);
    const uniform = await t.engine.learningOps.evaluate({ campaignId: 'cmp_ops', policy: 'uniform', from: START, folds: 2 });
    const current = await t.engine.learningOps.evaluate({ campaignId: 'cmp_ops', policy: 'current', from: START, folds: 2 });
    const blind = await t.engine.learningOps.evaluate({ campaignId: 'cmp_ops', policy: { engine: { type: 'contextual' } }, from: START, folds: 2 });
    for (const e of ['ips', 'snips', 'dr']) {
      expect(est(current, e)).toBeCloseTo(est(uniform, e), 6);
      expect(est(blind, e)).toBeCloseTo(est(uniform, e), 6);
    }
    expect(est(uniform, 'ips')).toBeCloseTo((est(a, 'ips') + est(b, 'ips') + est(z, 'ips')) / 3, 6);

    // Decisions still in their attribution window are left out unless asked for.
    t.clock.set(Date.parse(START) + 3 * DAY);
    await expect(t.engine.learningOps.evaluate({ campaignId: 'cmp_ops', policy: 'uniform', from: START })).rejects.toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'from' }] });
    expect((await t.engine.learningOps.evaluate({ campaignId: 'cmp_ops', policy: 'uniform', from: START, includeOpen: true, folds: 2 })).n).toBe(n);
  });

  it('train publishes an uplift state the uplift policy then decides with; the trained policy evaluates near "always ofr_a"', async () => {
    const t = await createTestEngine('sqlite', { now: START });
    opened.push(t);
    const log = await logHistory(t.engine, t.clock, 120);
    // An ab campaign: publishing would replace its state.
    await expect(t.engine.learningOps.train({ campaignId: 'cmp_ops' })).rejects.toMatchObject({ code: 'CONFLICT' });
    // Fitted without publishing, for evaluation first.
    const dry = await t.engine.learningOps.train({ campaignId: 'cmp_ops', publish: false });
    expect(dry.version).toBeNull();
    expect(dry.rows).toBe(log.length);
    expect(dry.holdoutRows).toBe(log.filter((r) => r.holdout).length);
    expect(dry.actions.map((x) => x.action)).toEqual(['none', 'ofr_a', 'ofr_b']);
    expect(dry.actions.find((x) => x.action === 'ofr_a')!.purchases).toBe(log.filter((r) => r.action === 'ofr_a').length);
    expect(dry.validation).not.toBeNull();
    expect(dry.validation!.rows).toBe(Math.round(log.length * 0.2));
    expect(Number.isFinite(dry.validation!.qini.coefficient)).toBe(true);
    const pre = await t.engine.learningOps.evaluate({ campaignId: 'cmp_ops', policy: { engine: { type: 'uplift', exploration: 0.05 } }, state: { version: 0, state: dry.state }, from: START, folds: 2 });
    const alwaysA = await t.engine.learningOps.evaluate({ campaignId: 'cmp_ops', policy: 'constant:ofr_a', from: START, folds: 2 });
    expect(est(pre, 'snips')).toBeGreaterThan(0.9 * est(alwaysA, 'snips'));
    expect(est(pre, 'snips')).toBeGreaterThan(pre.logging.estimate);

    const campaign = await t.engine.catalog.getCampaign('cmp_ops');
    const { id: _id, status: _s, version: _v, createdAt: _c, updatedAt: _u, ...spec } = campaign;
    await t.engine.catalog.updateCampaign('cmp_ops', { ...spec, policy: { type: 'uplift', exploration: 0.05 } });
    const r = await t.engine.learningOps.train({ campaignId: 'cmp_ops' });
    expect(r.version).toBe(1);
    const st = r.state as LinearState;
    expect(st.kind).toBe('uplift');
    const summary = await t.engine.learningOps.summary('cmp_ops');
    expect(summary).toMatchObject({ version: 1, kind: 'uplift', trials: log.length });
    const p = Object.fromEntries(summary.actions.map((x) => [x.action, x.purchaseIntercept]));
    expect(p.ofr_a!).toBeGreaterThan(p.none!);
    expect(p.none!).toBeGreaterThan(p.ofr_b!);

    // A new customer now gets ofr_a, decided with the published version by the uplift learner.
    const d = await t.engine.decide({ customerId: 'cust_new', placement: 'home_hero', channel: 'web' });
    expect(d.policyVersion).toBe(1);
    expect(d.estimates?.learner).toBe('uplift');
    const best = [d.estimates!.chosen, d.estimates!.runnerUp!].sort((x, y) => y.incrementalMargin - x.incrementalMargin)[0]!;
    expect(best.action).toBe('ofr_a');
    // The current policy replayed with the stored state: as the dry run's.
    const now = await t.engine.learningOps.evaluate({ campaignId: 'cmp_ops', policy: 'current', from: START, folds: 2 });
    expect(now.stateVersion).toBe(1);
    await expect(t.engine.learningOps.evaluate({ campaignId: 'cmp_ops', policy: 'current', stateVersion: 7, from: START })).rejects.toMatchObject({ details: [{ path: 'stateVersion' }] });
  });

  it('refuses a log too small to train on', async () => {
    const t = await createTestEngine('sqlite', { now: START });
    opened.push(t);
    await logHistory(t.engine, t.clock, 5);
    await expect(t.engine.learningOps.train({ campaignId: 'cmp_ops', publish: false })).rejects.toMatchObject({ code: 'NOT_ENOUGH_DATA', status: 422 });
  });
});

for (const backend of BACKENDS as Backend[]) {
  describe(`learning API over HTTP [${backend}]`, () => {
    it('evaluate (read scope), train (admin), the learning summary, and 4xx naming the field', async () => {
      const h: ApiHarness = await createApiHarness(backend, { now: START });
      opened.push(h);
      await logHistory(h.t.engine, h.t.clock, 40);
      const read = await h.key(['read']);
      const decideOnly = await h.key(['decide']);

      const ok = await h.req('POST', '/v1/evaluate', { campaignId: 'cmp_ops', policy: 'constant:ofr_a', from: START, folds: 2 }, read);
      expect(ok.statusCode).toBe(200);
      expect(ok.json()).toMatchObject({ campaignId: 'cmp_ops', n: 40, policy: 'constant:ofr_a' });
      const replay = await h.req('POST', '/v1/evaluate', { campaignId: 'cmp_ops', policy: { engine: { type: 'ab', weights: { ofr_a: 1 } } }, from: START, folds: 2 }, read);
      expect(replay.statusCode).toBe(200);
      expect(replay.json().estimates[0].value.estimate).toBeCloseTo(ok.json().estimates[0].value.estimate, 6);

      const fails: Array<[unknown, number, string]> = [
        [{ policy: 'uniform' }, 400, 'campaignId'],
        [{ campaignId: 'cmp_ops', policy: 'best' }, 400, 'policy'],
        [{ campaignId: 'cmp_ops', policy: 'constant:ofr_zzz' }, 400, 'policy'],
        [{ campaignId: 'cmp_ops', policy: { engine: { type: 'contextual', minExploration: 2 } } }, 400, 'policy.engine.minExploration'],
        [{ campaignId: 'cmp_ops', policy: 'engine:{"type":"static"}' }, 400, 'policy'],
        [{ campaignId: 'cmp_ops', policy: 'uniform', clip: -1 }, 400, 'clip'],
        [{ campaignId: 'cmp_ops', policy: 'uniform', from: '2026-13-01' }, 400, 'from'],
        [{ campaignId: 'cmp_ops', policy: 'uniform', extra: 1 }, 400, 'extra'],
      ];
      for (const [body, status, path] of fails) {
        const res = await h.req('POST', '/v1/evaluate', body, read);
        expect(res.statusCode, JSON.stringify(body)).toBe(status);
        expect(res.json().error.details.map((d: { path: string }) => d.path), JSON.stringify(body)).toContain(path);
      }
      expect((await h.req('POST', '/v1/evaluate', { campaignId: 'cmp_nope', policy: 'uniform' }, read)).json().error.code).toBe('CAMPAIGN_NOT_FOUND');
      expect((await h.req('POST', '/v1/evaluate', { campaignId: 'cmp_ops', policy: 'uniform' }, decideOnly)).statusCode).toBe(403);

      expect((await h.req('POST', '/v1/campaigns/cmp_ops/train', undefined, read)).statusCode).toBe(403);
      const conflict = await h.req('POST', '/v1/campaigns/cmp_ops/train');
      expect(conflict.statusCode).toBe(409);
      expect(conflict.json().error.details[0].path).toBe('campaignId');
      const spec = (await h.t.engine.catalog.getCampaign('cmp_ops')) as unknown as Record<string, unknown>;
      const { id: _id, status: _s, version: _v, createdAt: _c, updatedAt: _u, ...rest } = spec;
      await h.t.engine.catalog.updateCampaign('cmp_ops', { ...rest, policy: { type: 'uplift' } });
      const trained = await h.req('POST', '/v1/campaigns/cmp_ops/train');
      expect(trained.statusCode).toBe(200);
      expect(trained.json()).toMatchObject({ campaignId: 'cmp_ops', rows: 40, version: 1 });
      expect(trained.json().state).toBeUndefined();

      const summary = await h.req('GET', '/v1/campaigns/cmp_ops/learning', undefined, read);
      expect(summary.statusCode).toBe(200);
      expect(summary.json()).toMatchObject({ campaignId: 'cmp_ops', version: 1, kind: 'uplift', trials: 40, policy: { type: 'uplift' } });
      expect(summary.json().actions.map((a: { action: string }) => a.action)).toEqual(['none', 'ofr_a', 'ofr_b']);
      expect((await h.req('GET', '/v1/campaigns/cmp_nope/learning', undefined, read)).statusCode).toBe(404);
    });
  });
}

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const cli = (args: string[]) =>
  run(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, OFFERPILOT_LOG_LEVEL: 'silent' } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

describe('offerpilot train and evaluate --campaign [sqlite]', () => {
  it('trains without publishing into a file and evaluates it, and a constant policy, on the log', async () => {
    const t = await createTestEngine('sqlite', { now: START });
    // The command line reads the real clock: the history ends 10 days ago, its outcomes final.
    const start = new Date(Date.now() - 10 * DAY).toISOString();
    await logHistory(t.engine, t.clock, 60, start);
    await t.engine.close();
    opened.push({ close: () => t.db.drop() });
    const out = join(t.db.url, '..', 'uplift.json');

    const trained = await cli(['train', '--campaign', 'cmp_ops', '--db', t.db.url, '--out', out]);
    expect(trained.stderr).toBe('');
    expect(trained.stdout).toMatch(/trained uplift model for cmp_ops on 60 decisions/);
    expect(trained.stdout).toMatch(/Qini coefficient/);
    expect(existsSync(out)).toBe(true);
    expect((JSON.parse(readFileSync(out, 'utf8')) as LinearState).kind).toBe('uplift');

    const ev = await cli(['evaluate', '--campaign', 'cmp_ops', '--db', t.db.url, '--from', start, '--policy', 'engine:{"type":"uplift"}', '--state-file', out, '--folds', '2', '--json']);
    expect(ev.stderr).toBe('');
    const r = JSON.parse(ev.stdout) as { n: number; stateVersion: number; estimates: Array<{ estimator: string; value: { estimate: number } }> };
    expect(r.n).toBe(60);
    expect(r.stateVersion).toBe(0);
    const text = await cli(['evaluate', '--campaign', 'cmp_ops', '--db', t.db.url, '--from', start, '--policy', 'constant:ofr_a', '--folds', '2']);
    expect(text.stdout).toMatch(/Off-policy evaluation of constant:ofr_a on cmp_ops/);
    expect(text.stdout).toMatch(/SNIPS\s+5500\.00/);
  }, 60_000);
});
