import type { PolicyConfig } from '../catalog.js';
import type { ActionWeights, Estimate, LearningTrace, Policy, PolicyContext, RankItem, ScoreInput } from '../policy.js';
import type { Random } from '../runtime.js';
import { round2 } from '../economics.js';
import { NONE, offerOfAction } from './actions.js';
import { doseOf, encodeTokens, requestTokens, withDose } from './features.js';
import { columnsOf, layoutOf, pairIndex, predictAll, sumColumns, type ModelColumns } from './linear.js';
import { probabilityOfBest } from './pbest.js';
import type { LinearState, ThompsonState } from './state.js';

/** Actions whose probability of being best is computed (see contextualPolicy). */
const TOP_K = 12;
type AbConfig = Extract<PolicyConfig, { type: 'ab' }>;
type ThompsonConfig = Extract<PolicyConfig, { type: 'thompson' }>;
type ContextualConfig = Extract<PolicyConfig, { type: 'contextual' }>;
type UpliftConfig = Extract<PolicyConfig, { type: 'uplift' }>;

/** Per decision: the tokens, computed once however many actions and policies ask. */
const tokenCache = new WeakMap<PolicyContext, string[]>();
function tokensOf(ctx: PolicyContext): string[] {
  let t = tokenCache.get(ctx);
  if (!t) tokenCache.set(ctx, (t = requestTokens(ctx.input(), ctx.basket, ctx.products)));
  return t;
}

/** The basket margin the value model reads: the cart's, or the campaign's assumed basket. */
function marginOf(ctx: PolicyContext): number {
  const b = ctx.basket;
  return b.margin ?? Math.round((b.subtotal * ctx.model.expectedBasket.marginPct) / 100);
}

function traceOf(ctx: PolicyContext, items: readonly RankItem[], chosen: string): LearningTrace {
  return { a: chosen, k: tokensOf(ctx), m: marginOf(ctx), acts: items.map((i) => (i.schedule !== undefined && i.schedule < 1 ? [i.action, i.cost, i.reserve, round6(i.schedule)] : [i.action, i.cost, i.reserve])) };
}

/**
 * Mixes weights with a uniform floor: each of the K actions keeps at least `floor` (when
 * K·floor ≤ 1; otherwise uniform). The result sums to 1 and is what the policy samples from.
 */
export function withFloor(weights: readonly number[], floor: number): number[] {
  const k = weights.length;
  if (k === 0) return [];
  if (floor * k >= 1) return weights.map(() => 1 / k);
  const total = weights.reduce((s, w) => s + w, 0);
  if (!(total > 0)) return weights.map(() => 1 / k);
  return weights.map((w) => (1 - floor * k) * (w / total) + floor);
}

/** Samples an index from weights summing to 1 with one uniform draw. */
export function sampleIndex(weights: readonly number[], random: Random): number {
  const u = random();
  let acc = 0;
  for (let i = 0; i < weights.length; i++) {
    acc += weights[i]!;
    if (u < acc) return i;
  }
  // Rounding left the last bit of mass unassigned: it belongs to the last action with weight.
  for (let i = weights.length - 1; i >= 0; i--) if (weights[i]! > 0) return i;
  return weights.length - 1;
}

/**
 * How hard spending ahead of schedule is damped at decision time: an action's weight is scaled
 * by schedule^k (below 1; see RankItem.schedule). With k = 4, an offer that would spend its
 * budget three times over settles at about 70% of an even pace and lasts to the end of the
 * period. The shadow price (trainer) decides who gets the budget; this keeps it from running
 * out before the first training round has priced it, and between rounds.
 */
const SCHEDULE_EXPONENT = 4;

/**
 * Weights (one per action, then "none") with every budgeted action damped by how far ahead of
 * schedule its budget was when the request was decided (the trace's fourth field), renormalised.
 */
export function onSchedule(weights: readonly number[], t: Pick<LearningTrace, 'acts'>): number[] {
  let damped = false;
  const w = weights.map((x, j) => {
    const s = t.acts[j]?.[3];
    if (s === undefined || s >= 1) return x;
    damped = true;
    return x * Math.pow(Math.max(0, s), SCHEDULE_EXPONENT);
  });
  const total = w.reduce((a, x) => a + x, 0);
  return damped && total > 0 ? w.map((x) => x / total) : [...weights];
}

/** Picks by weights over [...items, none]; returns the ranked list, the exact probability and the trace. */
function decideBy<T extends RankItem>(items: T[], random: Random, ctx: PolicyContext, weightsOf: ActionWeights) {
  const trace = traceOf(ctx, items, NONE);
  const { weights, estimates } = weightsOf(trace, ctx.state, memoOf(ctx).byKey);
  const i = sampleIndex(weights, random);
  const chosen = i < items.length ? items[i]! : null;
  trace.a = chosen ? chosen.action : NONE;
  return {
    ranked: chosen ? [chosen] : [],
    probability: weights[i]!,
    trace,
    estimates: estimates ? explain(estimates as ActionEstimates, i, weights) : undefined,
  };
}

/**
 * Pacing by weight: a priced budget damps an action's weight by its reserve relative to the
 * basket's margin (`weights` one per action, then "none"); with no price the weights are unchanged.
 */
function paced(weights: number[], t: Pick<LearningTrace, 'acts' | 'm'>, shadow: Readonly<Record<string, number>>): number[] {
  return weights.map((w, j) => {
    const act = t.acts[j];
    const lambda = act ? (shadow[offerOfAction(act[0])!] ?? 0) : 0;
    return lambda > 0 && act ? w * Math.exp((-lambda * act[2]) / Math.max(1, t.m)) : w;
  });
}

/** `ab`: fixed weights over actions; unlisted actions get none when weights are given. */
export function abPolicy(config: AbConfig): Policy {
  const weights = config.weights;
  const weightsOf: ActionWeights = (t) => {
    const w = [...t.acts.map(([key]) => (weights ? (weights[key] ?? weights[offerOfAction(key)!] ?? 0) : 1)), weights ? (weights[NONE] ?? 0) : 1];
    const total = w.reduce((s, x) => s + x, 0);
    // Nothing listed is eligible: "no offer", surely.
    return { weights: total > 0 ? w.map((x) => x / total) : w.map((_, k) => (k === t.acts.length ? 1 : 0)) };
  };
  return {
    id: 'ab',
    ranksRungs: true,
    weightsOf,
    score: () => 0,
    rank: (items, random, ctx) => decideBy(items, random, ctx, weightsOf),
    worthShowing: () => true,
  };
}

/** The segment of a request for `thompson`: the chosen dimensions' tokens, joined (tokens are nested: `co:x|pl:y|…`). */
export function segmentOf(tokens: readonly string[], by: ThompsonConfig['segmentBy']): string {
  const where = tokens.find((t) => /^co:[^|]*\|pl:[^|]*$/.test(t)) ?? 'co:anon|pl:?';
  const parts: string[] = [];
  for (const dim of by) {
    if (dim === 'cohort') parts.push(where.slice(0, where.indexOf('|')));
    else if (dim === 'placement') parts.push(where.slice(where.indexOf('|') + 1));
    else if (dim === 'channel') parts.push(tokens.find((t) => t.startsWith('ch:'))!);
    else if (dim === 'device') parts.push(tokens.find((t) => t.startsWith(`${where}|x:device=`))?.slice(where.length + 1) ?? 'x:device=?');
    else parts.push(tokens.includes(`${where}|cart:none`) ? 'cart:none' : 'cart:some');
  }
  return parts.join('|');
}

/** `thompson`: weights per segment from the trainer (probability of best), floored and sampled. */
export function thompsonPolicy(config: ThompsonConfig): Policy {
  const weightsOf: ActionWeights = (t, state) => {
    const st = state?.state as ThompsonState | undefined;
    const k = t.acts.length + 1;
    const sched = (w: number[]) => (config.pacing ? onSchedule(w, t) : w);
    if (!st || st.kind !== 'thompson') return { weights: sched(new Array<number>(k).fill(1 / k)) };
    if (st.trials < config.burnIn) return { weights: sched(withFloor(paced(new Array<number>(k).fill(1 / k), t, st.shadow), config.minExploration)) };
    const seg = st.weights[segmentOf(t.k, config.segmentBy)];
    // An action the segment has no weight for yet (a new offer) gets as much as the best known one.
    const raw = [...t.acts.map(([key]) => seg?.[key]), seg?.[NONE]];
    const known = raw.filter((x): x is number => x !== undefined);
    const fill = known.length ? Math.max(...known) : 1;
    return { weights: sched(withFloor(paced(raw.map((x) => x ?? fill), t, st.shadow), config.minExploration)) };
  };
  return {
    id: 'thompson',
    readsState: true,
    readsFeatures: config.segmentBy.includes('cohort'),
    ranksRungs: true,
    score(input) {
      const st = input.context.state?.state as ThompsonState | undefined;
      if (!st || st.kind !== 'thompson') return 0;
      const arms = st.arms[segmentOf(tokensOf(input.context), config.segmentBy)];
      const key = input.offer.id + (input.offer.valueLadder || input.offer.value !== undefined ? `@${input.value}` : '');
      const a = arms?.[key] ?? arms?.[input.offer.id];
      const none = arms?.[NONE];
      return a && none ? round2(a.mean - none.mean) : 0;
    },
    weightsOf,
    rank: (items, random, ctx) => decideBy(items, random, ctx, weightsOf),
    worthShowing: () => true,
  };
}

/** One action's estimate for a request under a linear state. */
export interface ActionEstimate {
  /** E[CM | action] − λ·reserve: what the policy maximises. */
  objective: number;
  sd: number;
  /** Expected CM with the action (p × value), before the shadow price. */
  ecm: number;
  p: number;
  /** CM given a purchase. */
  v: number;
  cost: number;
  /** Posterior over prior variance of the purchase prediction (0–1; 0 when the state does not say): the share of its uncertainty still the prior's. */
  young: number;
}

export interface ActionEstimates {
  learner: string;
  version: number | null;
  actions: ActionEstimate[];
  none: ActionEstimate;
  keys: string[];
}

/**
 * Per state, built on first use: token indexes, each action's position and offer id, and every
 * action's models column by column (see ModelColumns) — purchase means and kept covariances,
 * value means, prior variances by group — so one request is predicted for all actions at once.
 */
interface Indexed {
  p: Map<string, number>;
  v: Map<string, number>;
  /** Each action's column, offer id and budget shadow price (the state's, fixed with it). */
  actions: Map<string, { j: number; offerId: string | null; lambda: number }>;
  /** Where each token pair sits among the kept entries (pairIndex over them). */
  at: Int32Array;
  purchase: ModelColumns;
  value: ModelColumns;
  prior: ModelColumns;
}
const indexCache = new WeakMap<LinearState, Indexed>();
function indexOf(st: LinearState): Indexed {
  let ix = indexCache.get(st);
  if (ix) return ix;
  const d = st.vocab.length;
  // States written before pairs existed keep whole matrices: every pair is kept, at i·d + j.
  const pairs = st.pairs ?? Array.from({ length: d * d }, (_, k) => k).filter((k) => Math.floor(k / d) <= k % d);
  const models = Object.entries(st.actions);
  const dv = Math.max(0, ...models.map(([, m]) => m.v.mean.length));
  const groups = Math.max(0, ...models.map(([, m]) => m.pv?.length ?? 0));
  const none = () => 0;
  ix = {
    p: new Map(st.vocab.map((t, i) => [t, i])),
    v: new Map(st.vvocab.map((t, i) => [t, i])),
    actions: new Map(
      models.map(([key], j) => {
        const offerId = offerOfAction(key);
        return [key, { j, offerId, lambda: offerId !== null ? (st.shadow[offerId] ?? 0) : 0 }];
      }),
    ),
    at: pairIndex(d, pairs),
    purchase: columnsOf(d, pairs.length, models.map(([, m]) => ({ mean: m.p.mean, cov: st.pairs ? (k: number) => m.p.cov[k]! : (k: number) => m.p.cov[pairs[k]!]! }))),
    value: columnsOf(dv, 0, models.map(([, m]) => ({ mean: m.v.mean, cov: none }))),
    prior: columnsOf(groups, 0, models.map(([, m]) => ({ mean: m.pv ?? [], cov: none }))),
  };
  indexCache.set(st, ix);
  return ix;
}

/** A request's predictions for every action of the state, in parts (see predictAll), and its prior variance in parts (0 without groups). */
interface Encoded {
  pr: ReturnType<typeof predictAll>;
  /** Each action's value-model correction for the request. */
  value: Float64Array;
  priorOne: Float64Array;
  priorScaled: Float64Array;
}

/** One action's estimate for one request under a linear state (null: the state has no model for it). */
type Estimator = (key: string, cost: number, reserve: number) => ActionEstimate | null;

/** The estimator of one request (every action predicted at once, on first use) under a linear state. */
function estimatorOf(st: LinearState, t: Pick<LearningTrace, 'k' | 'm'>, memo?: Map<string, unknown>): Estimator {
  const ix = indexOf(st);
  // The request's predictions are memoised too, under a key no action has (scoring makes an estimator per rung).
  let enc = (memo?.get('') as Encoded | undefined) ?? null;
  const margin = t.m;
  const one = (key: string, cost: number, reserve: number): ActionEstimate | null => {
    const a = ix.actions.get(key);
    if (!a) return null;
    const lambda = a.lambda;
    // Keyed by the action alone (no string built per lookup); the cost is checked, not assumed.
    const known = memo?.get(key) as ActionEstimate | undefined;
    if (known && known.cost === cost) return lambda === 0 ? known : { ...known, objective: known.ecm - lambda * reserve };
    if (!enc) {
      // The purchase tokens, then the dose entries (an offer reads its dose there; "no offer" none).
      const x = encodeTokens(t.k, ix.p);
      const xd = withDose(x, t.k, ix.p, 1);
      const lay = layoutOf(st.vocab.length, xd.idx, x.idx.length, ix.at);
      const g = st.groups;
      const n = ix.purchase.n;
      enc = {
        pr: predictAll(ix.purchase, lay),
        value: sumColumns(n, encodeTokens(t.k, ix.v).idx, ix.value.mean),
        priorOne: g ? sumColumns(n, lay.one.map((i) => g[i]!), ix.prior.mean) : new Float64Array(n),
        priorScaled: g ? sumColumns(n, lay.scaled.map((i) => g[i]!), ix.prior.mean) : new Float64Array(n),
      };
      memo?.set('', enc);
    }
    const j = a.j;
    const dose = a.offerId === null ? 0 : doseOf(cost, margin);
    const pr = enc.pr;
    const p = Math.min(1, Math.max(0, pr.one[j]! + dose * pr.scaled[j]!));
    const variance = Math.max(0, pr.aa[j]! + dose * (2 * pr.ab[j]! + dose * pr.bb[j]!));
    // The cart's own margin less the action's cost, corrected by what orders showed (the residual model).
    const v = margin - cost + enc.value[j]!;
    // How much of the prediction's uncertainty is still the prior's (at most 1; 0 without prior variances).
    const prior = enc.priorOne[j]! + dose * dose * enc.priorScaled[j]!;
    const e = { objective: p * v - lambda * reserve, sd: Math.abs(v) * Math.sqrt(variance), ecm: p * v, p, v, cost, young: prior > 0 ? Math.min(1, variance / prior) : 0 };
    memo?.set(key, e);
    return e;
  };
  return one;
}

/** Estimates every eligible action and "none" for one logged request under a linear state. */
export function linearEstimates(st: LinearState, version: number | null, t: Pick<LearningTrace, 'k' | 'm' | 'acts'>, learner: string, memo?: Map<string, unknown>): ActionEstimates {
  const margin = t.m;
  const one = estimatorOf(st, t, memo);
  const none = one(NONE, 0, 0) ?? { objective: 0, sd: 0, ecm: 0, p: 0, v: margin, cost: 0, young: 1 };
  const est = t.acts.map(([key, cost, reserve]) => one(key, cost, reserve));
  // An action the state has not seen (a new offer or rung): as good as "no offer" on average,
  // with the widest uncertainty among the known ones, so sampling tries it.
  const widest = Math.max(none.sd, ...est.map((e) => (e ? e.sd : 0)), Math.abs(none.ecm) * 0.5, 1);
  const actions = est.map((e, j) => e ?? { objective: none.objective, sd: widest, ecm: none.ecm, p: none.p, v: none.v - t.acts[j]![1], cost: t.acts[j]![1], young: 1 });
  return { learner, version, actions, none, keys: t.acts.map((a) => a[0]) };
}

function estimate(e: ActionEstimates, j: number, weights: readonly number[]): Estimate {
  const a = j < e.actions.length ? e.actions[j]! : e.none;
  const baseline = e.none.ecm;
  return {
    action: j < e.keys.length ? e.keys[j]! : NONE,
    incrementalMargin: round2(a.objective - e.none.objective),
    baseline: round2(baseline),
    uplift: round2(a.p * (a.v + a.cost) - baseline),
    cost: round2(a.p * a.cost),
    probability: weights[j]!,
  };
}

/** The chosen action's and the runner-up's (the best other by expected objective) estimates. */
function explain(e: ActionEstimates, chosen: number, weights: readonly number[]) {
  const all = [...e.actions, e.none];
  let runner = -1;
  for (let j = 0; j < all.length; j++) if (j !== chosen && (runner < 0 || all[j]!.objective > all[runner]!.objective)) runner = j;
  return { learner: e.learner, version: e.version, chosen: estimate(e, chosen, weights), runnerUp: runner >= 0 ? estimate(e, runner, weights) : null };
}

/** Per decision: the estimates scoring made, under the state they were made with (ranking reuses them). */
const memoCache = new WeakMap<PolicyContext, { st: unknown; byKey: Map<string, unknown> }>();
function memoOf(ctx: PolicyContext): { st: unknown; byKey: Map<string, unknown> } {
  const st = ctx.state?.state;
  let m = memoCache.get(ctx);
  if (!m || m.st !== st) memoCache.set(ctx, (m = { st, byKey: new Map() }));
  return m;
}

function linearScore(input: ScoreInput, kind: LinearState['kind']): number {
  const st = input.context.state?.state as LinearState | undefined;
  if (!st || st.kind !== kind) return 0;
  const one = estimatorOf(st, { k: tokensOf(input.context), m: marginOf(input.context) }, memoOf(input.context).byKey);
  // As linearEstimates: no model for "none" is an expected CM of 0; none for the action, as good as "none".
  const none = one(NONE, 0, 0)?.ecm ?? 0;
  return round2((one(input.action, input.economics.cost, 0)?.ecm ?? none) - none);
}

/** The indexes of the k largest values, largest first (ties: lower index first) — a sort's first k, without sorting them all. */
export function topIndices(values: Float64Array, k: number): number[] {
  const top: number[] = [];
  for (let j = 0; j < values.length; j++) {
    const v = values[j]!;
    if (top.length === k && !(v > values[top[k - 1]!]!)) continue;
    // After every kept index with a value at least v: equal values keep their index order.
    let at = top.length;
    while (at > 0 && values[top[at - 1]!]! < v) at--;
    top.splice(at, 0, j);
    if (top.length > k) top.pop();
  }
  return top;
}

/**
 * `contextual`: Thompson sampling on a Bayesian linear model per action. Each action's expected
 * CM is p(x) × v(x): p a posterior over the purchase probability (its uncertainty is what
 * explores), v the CM given a purchase (the cart's margin minus the offer's cost, corrected by
 * what orders showed). The probability of each action being best under the posterior is
 * computed (not sampled), floored, then sampled once: the logged probability is exact.
 */
export function contextualPolicy(config: ContextualConfig): Policy {
  const weightsOf: ActionWeights = (t, state, memo) => {
    const st = state?.state as LinearState | undefined;
    const k = t.acts.length + 1;
    const sched = (w: number[]) => (config.pacing ? onSchedule(w, t) : w);
    if (!st || st.kind !== 'contextual') return { weights: sched(new Array<number>(k).fill(1 / k)) };
    // Burn-in explores uniformly, but a budget that would bind is paced from the first round.
    if (st.trials < config.burnIn) return { weights: sched(withFloor(paced(new Array<number>(k).fill(1 / k), t, st.shadow), config.minExploration)) };
    const e = linearEstimates(st, state!.version, t, 'contextual', memo);
    const all = [...e.actions, e.none];
    // Tempered where an action's evidence is its own; with youngSpread, closer to the whole
    // posterior where its uncertainty for this request is still mostly the prior's.
    const s0 = config.posteriorScale;
    const young = config.youngSpread * (1 - s0);
    const sd = all.map((a) => a.sd * (s0 + young * a.young));
    // The probability of being best is computed among the TOP_K actions by optimistic value
    // (mean + 2 sd); the rest have (next to) none of it and keep only the floor. A deterministic
    // function of state and request, so the logged probability stays exact — and a catalog of
    // fifty offers with ladders costs what twelve do.
    const optimistic = new Float64Array(all.length);
    for (let j = 0; j < all.length; j++) optimistic[j] = all[j]!.objective + 2 * sd[j]!;
    const top = topIndices(optimistic, TOP_K);
    const pb = probabilityOfBest(
      top.map((j) => all[j]!.objective),
      top.map((j) => sd[j]!),
    );
    const w = new Array<number>(all.length).fill(0);
    top.forEach((j, i) => (w[j] = pb[i]!));
    return { weights: sched(withFloor(w, config.minExploration)), estimates: e };
  };
  return {
    id: 'contextual',
    readsState: true,
    readsFeatures: true,
    ranksRungs: true,
    score: (input) => linearScore(input, 'contextual'),
    weightsOf,
    rank: (items, random, ctx) => decideBy(items, random, ctx, weightsOf),
    worthShowing: () => true,
  };
}

/**
 * `uplift`: a T-learner trained offline on logged randomized data (`offerpilot train`); picks
 * the best predicted incremental margin net of cost, with `exploration` spread uniformly.
 * Without a trained model it decides "no offer" (and explores), never guesses.
 */
export function upliftPolicy(config: UpliftConfig): Policy {
  const weightsOf: ActionWeights = (t, state, memo) => {
    const st = state?.state as LinearState | undefined;
    const k = t.acts.length + 1;
    const eps = config.exploration;
    let best = k - 1;
    let e: ActionEstimates | undefined;
    if (st && st.kind === 'uplift') {
      e = linearEstimates(st, state!.version, t, 'uplift', memo);
      const all = [...e.actions, e.none];
      for (let j = 0; j < all.length; j++) if (all[j]!.objective > all[best]!.objective) best = j;
    }
    const w = new Array<number>(k).fill(eps / k);
    w[best]! += 1 - eps;
    return { weights: config.pacing ? onSchedule(w, t) : w, ...(e ? { estimates: e } : {}) };
  };
  return {
    id: 'uplift',
    readsState: true,
    readsFeatures: true,
    ranksRungs: true,
    score: (input) => linearScore(input, 'uplift'),
    weightsOf,
    rank: (items, random, ctx) => decideBy(items, random, ctx, weightsOf),
    worthShowing: () => true,
  };
}


/** Six significant digits: what a trace keeps of a ratio (replay reads the rounded number, as deciding did). */
function round6(x: number): number {
  return Number(x.toPrecision(6));
}
