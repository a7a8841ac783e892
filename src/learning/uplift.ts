import { OfferpilotError } from '../core/errors.js';
import { NONE } from '../core/learn/actions.js';
import { encodeTokens } from '../core/learn/features.js';
import { addRidge, emptyRidge } from '../core/learn/linear.js';
import { linearEstimates } from '../core/learn/policies.js';
import type { LinearState } from '../core/learn/state.js';
import { qini, upliftCurve } from '../core/learn/uplift-metrics.js';
import { seededRandom } from '../core/runtime.js';
import type { CompiledCampaign } from '../core/snapshot.js';
import { engineLog, type EngineLog, type NoneSplit } from './evaluate.js';
import type { LearningRow } from './port.js';
import { emptyStats, grow, publishLinear } from './trainer.js';

/** Fewer traced decisions than this and there is nothing to learn a per-action model from. */
export const MIN_TRAIN_ROWS = 20;
/** Default cap on an importance weight 1/propensity (before normalising). */
const DEFAULT_WEIGHT_CAP = 50;

export interface UpliftTrainOptions {
  now: number;
  /** Seed of the validation split (default 1). */
  seed?: number;
  /** Share of decisions held out to score the model (default 0.2; 0 for none). */
  validationShare?: number;
  /** Largest importance weight kept (default 50). */
  weightCap?: number;
  /** Shadow prices to carry over (budget pacing), by offer id. */
  shadow?: Record<string, number>;
}

/** The Qini and uplift curves' areas of the model on the held-out decisions. */
export interface UpliftValidation {
  rows: number;
  treated: number;
  control: number;
  qini: { auuc: number; randomAuuc: number; coefficient: number };
  uplift: { auuc: number; randomAuuc: number; coefficient: number };
}

/** One action's training data. */
export interface UpliftActionSummary {
  action: string;
  rows: number;
  purchases: number;
  /** Mean importance weight before normalising (1/propensity, capped). */
  meanWeight: number;
}

export interface UpliftTrainResult {
  state: LinearState;
  rows: number;
  holdoutRows: number;
  skipped: number;
  actions: UpliftActionSummary[];
  split: NoneSplit;
  /** Null when the log is too small to hold a fifth out with both treated and control decisions in it. */
  validation: UpliftValidation | null;
}

/**
 * A T-learner trained offline on the campaign's logged decisions: per action (each offer at
 * each rung, and "none" from holdout and no-offer decisions), a ridge purchase model and a
 * residual value model — the online learner's models and priors (trainer.ts publishLinear),
 * fitted on rows weighted by 1/propensity. The weights undo the adaptive logging: an action the
 * logging policy favoured for some requests is not learned mostly from those; they are capped,
 * then scaled to average 1 per action so the priors keep their strength in observations.
 */
export function trainUplift(c: CompiledCampaign, input: readonly LearningRow[], opts: UpliftTrainOptions): UpliftTrainResult {
  const log = engineLog(input, c.campaign.holdoutPct / 100);
  const n = log.rows.length;
  if (n < MIN_TRAIN_ROWS) {
    throw new OfferpilotError('NOT_ENOUGH_DATA', `Campaign ${c.campaign.id} has ${n} logged decisions with a learner's trace and a final outcome; training needs at least ${MIN_TRAIN_ROWS}`, [{ path: 'campaignId', message: `at least ${MIN_TRAIN_ROWS} final decisions` }]);
  }
  const cap = opts.weightCap ?? DEFAULT_WEIGHT_CAP;
  const share = opts.validationShare ?? 0.2;
  const all = Array.from({ length: n }, (_, i) => i);
  let validation: UpliftValidation | null = null;
  if (share > 0) {
    const order = shuffled(n, opts.seed ?? 1);
    const k = Math.round(n * share);
    const held = order.slice(0, k);
    const heldSet = new Set(held);
    const train = all.filter((i) => !heldSet.has(i));
    const treated = held.map((i) => log.rows[i]!.action !== NONE);
    if (train.length >= MIN_TRAIN_ROWS && treated.some((x) => x) && treated.some((x) => !x)) {
      const { state } = fit(c, log, train, cap, opts);
      const scores = held.map((i) => {
        const e = linearEstimates(state, null, log.traces[i]!, 'uplift');
        // The predicted gain of the unit's best offer over no offer: who to target first.
        return e.actions.length ? Math.max(...e.actions.map((a) => a.objective)) - e.none.objective : 0;
      });
      const outcome = held.map((i) => log.rows[i]!.reward);
      const area = (s: ReturnType<typeof qini>) => ({ auuc: s.auuc, randomAuuc: s.randomAuuc, coefficient: s.coefficient });
      validation = {
        rows: held.length,
        treated: treated.filter((x) => x).length,
        control: treated.filter((x) => !x).length,
        qini: area(qini(scores, treated, outcome)),
        uplift: area(upliftCurve(scores, treated, outcome)),
      };
    }
  }
  const { state, actions } = fit(c, log, all, cap, opts);
  return { state, rows: n, holdoutRows: log.holdout.filter((x) => x).length, skipped: log.skipped, actions, split: log.split, validation };
}

function fit(c: CompiledCampaign, log: EngineLog, use: readonly number[], cap: number, opts: UpliftTrainOptions): { state: LinearState; actions: UpliftActionSummary[] } {
  const stats = emptyStats('contextual');
  for (const i of use) for (const tok of new Set(log.traces[i]!.k)) stats.counts[tok] = (stats.counts[tok] ?? 0) + 1;
  grow(stats, new Map());
  const pv = new Map(stats.vocab.map((v, j) => [v, j]));
  const vv = new Map(stats.vvocab.map((v, j) => [v, j]));
  const byAction = new Map<string, number[]>();
  for (const i of use) {
    const a = log.rows[i]!.action;
    const list = byAction.get(a);
    if (list) list.push(i);
    else byAction.set(a, [i]);
  }
  const actions: UpliftActionSummary[] = [];
  for (const [action, idx] of [...byAction].sort((x, y) => (x[0] < y[0] ? -1 : 1))) {
    const raw = idx.map((i) => Math.min(cap, 1 / log.rows[i]!.propensity));
    const mean = raw.reduce((s, w) => s + w, 0) / raw.length;
    const a = (stats.actions[action] = { p: emptyRidge(stats.vocab.length), v: emptyRidge(stats.vvocab.length) });
    let purchases = 0;
    idx.forEach((i, j) => {
      const row = log.rows[i]!;
      const t = log.traces[i]!;
      const w = raw[j]! / mean;
      const bought = log.orders[i]! > 0;
      addRidge(a.p, encodeTokens(t.k, pv), bought ? 1 : 0, w);
      if (bought) {
        purchases++;
        const cost = action === NONE ? 0 : (t.acts.find((x) => x[0] === action)?.[1] ?? 0);
        // As the online learner: the residual of the order's CM against the basket margin less the cost.
        addRidge(a.v, encodeTokens(t.k, vv), row.reward - (t.m - cost), w);
      }
    });
    actions.push({ action, rows: idx.length, purchases, meanWeight: round4(mean) });
  }
  stats.trials = use.length;
  stats.shadow = { ...(opts.shadow ?? {}) };
  // From scratch: a few steps of the pooling fixed point (offline, the time is there).
  const state: LinearState = { ...publishLinear(c, stats, opts.now, 4), kind: 'uplift' };
  return { state, actions };
}

/** 0…n−1 in a seeded random order (Fisher–Yates). */
function shuffled(n: number, seed: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  const rnd = seededRandom(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

function round4(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
