import type { CatalogSnapshot, CompiledCampaign } from '../core/snapshot.js';
import type { Clock } from '../core/runtime.js';
import { parseDuration, seededRandom, utcDay } from '../core/runtime.js';
import { counterKeys } from '../core/counter-keys.js';
import { round2 } from '../core/economics.js';
import { NONE, offerOfAction } from '../core/learn/actions.js';
import { closingHorizon, MAX_LAGS, truncatedDelayCdf } from '../core/learn/delay.js';
import { doseOf, doseTokens, encodeTokens, holdoutTokens, isHoldoutToken, periodOfToken, periodToken, tokenDepth, withDose } from '../core/learn/features.js';
import { addRidge, emptyRidge, cooccurring, fitRidge, fitRidgeShared, growRidge, mergeRidge, pickRidge, type RidgeStats } from '../core/learn/linear.js';
import { segmentOf } from '../core/learn/policies.js';
import type { LearningTrace } from '../core/policy.js';
import type { ArmSummary, LinearState, ThompsonState } from '../core/learn/state.js';
import type { Logger } from 'pino';
import type { LearningPort, LearningRow } from './port.js';
import type { PolicyStateSource } from './state.js';

const DAY = 86_400_000;
/** A token joins a model's vocabulary once this many final decisions carried it. */
const MIN_TOKEN_COUNT = 20;
const MAX_VOCAB = 96;
/** Tokens the value model (CM given a purchase) reads: where and how big, not who. */
const VALUE_TOKEN = /^(b|ch:)$|^(b|ch:.*)$|^co:[^|]*\|pl:[^|]*$/;
/** Prior strength of the purchase model per coefficient, in observations, by the token's depth in the segment tree. */
const P_LAMBDA = [2, 20, 40, 80, 120, 160];
/** Prior strength of the dose coefficients (see doseOf) before the data say how much depth matters. */
const DOSE_LAMBDA = 20;
/** The deepest tokens an offer's or rung's model may differ from its parent's at (co|pl); deeper, it follows it. */
const OFFER_DEPTH = 2;
/** A prior precision that holds a coefficient where its parent put it. */
const PINNED = 1e5;
/** Gain of the budget pacing controller per training round, per unit of schedule error. */
const PACING_GAIN = 2;
const MAX_SHADOW = 10;
/** Prior strength of a cohort's period effect (see periodToken), in observations. */
const PERIOD_LAMBDA = 20;
/** Periods whose effects are kept: older rows lose their period token (their own period is long final). */
const KEEP_PERIODS = 6;

/** One action's statistics: the purchase model over every row, the value model over purchases. */
interface ActionStats {
  p: RidgeStats;
  v: RidgeStats;
}

/** Per segment and action, for `thompson`: effective trials, purchases, and CM sums over purchases. */
interface Cell {
  n: number;
  buys: number;
  cm: number;
  cm2: number;
}

/** The statistics a learner keeps in the store (final decisions only). */
export interface Stats {
  kind: 'contextual' | 'thompson';
  vocab: string[];
  vvocab: string[];
  counts: Record<string, number>;
  actions: Record<string, ActionStats>;
  cells: Record<string, Record<string, Cell>>;
  trials: number;
  lags: number[];
  shadow: Record<string, number>;
  /** The pooling precisions per level of the offer tree, per token depth (see publishLinear). */
  precision?: Record<string, number[]>;
}

export function emptyStats(kind: Stats['kind']): Stats {
  return { kind, vocab: ['b'], vvocab: ['b'], counts: {}, actions: {}, cells: {}, trials: 0, lags: [], shadow: {} };
}

/** What one training round did, for logs and tests. */
export interface TrainResult {
  campaignId: string;
  /** Whether this process wrote the new statistics (false: another process trained first). */
  written: boolean;
  closed: number;
  open: number;
  horizonMs: number;
  trials: number;
  version: number | null;
}

export interface TrainerDeps {
  port: LearningPort;
  states: PolicyStateSource;
  clock: Clock;
  logger: Logger;
  snapshot: () => Promise<CatalogSnapshot>;
}

/**
 * Trains the online learners (`contextual`, `thompson`) of every live campaign from the
 * decision log: decisions whose outcome is final (older than the closing horizon) join the
 * stored statistics once; younger ones are counted with their delay weight for this round
 * only (see delay.ts). Then it refits and publishes a new policy state version. Any process
 * may train: the statistics are written with compare-and-set, so one round wins and the others
 * step aside; decisions never wait for it.
 */
export class Trainer {
  private running: Promise<TrainResult[]> | null = null;

  constructor(private readonly d: TrainerDeps) {}

  /** One training round over every live learning campaign (rounds never overlap in a process). */
  train(): Promise<TrainResult[]> {
    if (this.running) return this.running;
    this.running = (async () => {
      try {
        const s = await this.d.snapshot();
        const out: TrainResult[] = [];
        for (const c of s.campaigns) {
          const type = c.campaign.policy.type;
          if (type !== 'contextual' && type !== 'thompson') continue;
          out.push(await this.trainCampaign(c, type));
        }
        return out;
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  private async trainCampaign(c: CompiledCampaign, kind: Stats['kind']): Promise<TrainResult> {
    const { port, clock } = this.d;
    const cmp = c.campaign;
    const now = clock.now();
    const windowMs = parseDuration(cmp.attributionWindow) ?? 7 * DAY;
    const stored = await port.readLearningStats(cmp.id);
    const fresh = !stored || (stored.body as Stats).kind !== kind;
    const stats = fresh ? emptyStats(kind) : (stored.body as Stats);
    const watermark = stored && !fresh ? stored.watermark : 0;
    // The delays seen: of final decisions (kept), and of younger ones that already converted
    // (short delays only, hence the closing horizon's margin of three times the 99th percentile).
    // Everything since the watermark (the last round's closing point: a horizon's worth).
    const recent = await port.readLearningRows(cmp.id, watermark, now);
    const lagOf = (r: LearningRow) => (r.firstOrderReceivedAt !== null ? [Math.max(0, r.firstOrderReceivedAt - r.createdAt)] : []);
    const lags = [...stats.lags, ...recent.flatMap(lagOf)].sort((a, b) => a - b);
    const horizon = closingHorizon(lags, windowMs);
    const closeTo = Math.max(watermark, now - horizon);
    const closed = recent.filter((r) => r.createdAt <= closeTo);
    const open = recent.filter((r) => r.createdAt > closeTo);
    for (const r of closed) stats.lags.push(...lagOf(r));
    if (stats.lags.length > MAX_LAGS) stats.lags = stats.lags.slice(-MAX_LAGS);
    // Final delays are whole; a young decision's delay is seen only if it fits within its age.
    const F = truncatedDelayCdf(
      [...stats.lags.map((lag) => ({ lag, age: windowMs })), ...recent.flatMap((r) => lagOf(r).map((lag) => ({ lag, age: now - r.createdAt })))],
      windowMs,
    );

    // Holdout decisions train "no offer" of the contextual learner, marked as holdout rows (see
    // holdoutTokens). Without them, wherever the policy offers to nearly everyone in a segment,
    // "no offer" has only its floor's rows there and its estimate is its parent's: the offer's rows
    // then read as uplift, and the policy offers still more (in blanket-trap a free gift to 98% of
    // loyal shoppers on the home hero, estimated +757 per offer and truly −400). The holdout is
    // randomised "no offer" in every segment. It is another population, though, and not only by
    // chance — its shoppers never get offers, so features that follow purchases (cohort,
    // frequency) come to mean different shoppers there — so its rows carry their own effects,
    // overall and per cohort, which a request never has. `thompson`'s cells have no such term:
    // it learns from the treated shoppers alone.
    const withHoldout = kind === 'contextual';
    const rows = (rs: LearningRow[]) => rs.flatMap((r) => ((withHoldout || !r.holdout) && isTrace(r.trace) ? [{ r, t: r.trace }] : []));
    const closedRows = rows(closed);
    const openRows = rows(open);
    // Vocabulary: tokens seen often enough in final decisions (and, this round, the open ones).
    // An offer's decisions also carry its dose tokens (see doseOf).
    // The contextual learner's rows also carry their period (see periodToken).
    const periodMs = kind === 'contextual' ? periodMsOf(c) : 0;
    const rowTokens = (r: LearningRow, t: LearningTrace) => {
      const k = r.holdout ? [...t.k, ...holdoutTokens(t.k)] : t.k;
      return periodMs > 0 ? [...k, periodToken(t.k, r.createdAt, periodMs)] : k;
    };
    const tokensOf = (r: LearningRow, t: LearningTrace) => (kind === 'contextual' && !r.holdout && t.a !== NONE ? [...rowTokens(r, t), ...doseTokens(t.k)] : rowTokens(r, t));
    for (const { r, t } of closedRows) for (const tok of tokensOf(r, t)) stats.counts[tok] = (stats.counts[tok] ?? 0) + 1;
    const openCounts = new Map<string, number>();
    for (const { r, t } of openRows) for (const tok of tokensOf(r, t)) openCounts.set(tok, (openCounts.get(tok) ?? 0) + 1);
    grow(stats, openCounts, periodMs > 0 ? { oldest: Math.floor(now / periodMs) - KEEP_PERIODS + 1, ms: periodMs } : undefined);
    const pIndex = new Map(stats.vocab.map((v, i) => [v, i]));
    const vIndex = new Map(stats.vvocab.map((v, i) => [v, i]));

    const add = (target: Stats, r: LearningRow, t: LearningTrace, w: number) => {
      const action = r.holdout ? NONE : t.a;
      const y = r.orders > 0 ? 1 : 0;
      target.trials += w;
      if (kind === 'contextual') {
        const a = (target.actions[action] ??= { p: emptyRidge(target.vocab.length), v: emptyRidge(target.vvocab.length) });
        const cost = action === NONE ? 0 : (t.acts.find((x) => x[0] === action)?.[1] ?? 0);
        const x = withDose(encodeTokens(rowTokens(r, t), pIndex), t.k, pIndex, action === NONE ? 0 : doseOf(cost, t.m));
        // E[observed] = F·θx: the row's regressors are scaled by its delay weight.
        addRidge(a.p, w === 1 ? x : { idx: x.idx, val: x.val.map((v) => v * w) }, y);
        if (y === 1) {
          // The residual of the order's CM against the cart's margin less the action's cost.
          addRidge(a.v, encodeTokens(t.k, vIndex), r.cm - (t.m - cost));
        }
      } else {
        const seg = segmentOf(t.k, segmentByOf(c));
        const cell = ((target.cells[seg] ??= {})[action] ??= { n: 0, buys: 0, cm: 0, cm2: 0 });
        cell.n += w;
        if (y === 1) {
          cell.buys += 1;
          cell.cm += r.cm;
          cell.cm2 += r.cm * r.cm;
        }
      }
    };
    // Forgetting: shoppers move between segments (a persuaded first-timer is "engaged" next week),
    // so older evidence fades with a half-life counted in decisions.
    const halfLife = halfLifeOf(c);
    if (halfLife > 0 && closedRows.length > 0) decay(stats, Math.pow(0.5, closedRows.length / halfLife));
    for (const { r, t } of closedRows) add(stats, r, t, 1);
    const round = cloneStats(stats);
    for (const { r, t } of openRows) {
      add(round, r, t, F(now - r.createdAt));
    }

    await this.pace(c, stats, now);
    round.shadow = stats.shadow;
    // Fitted before the statistics are written: the fit's next pooling step is kept with them.
    const state = kind === 'contextual' ? publishLinear(c, round, now) : publishThompson(c, round, now);
    if (round.precision) stats.precision = round.precision;
    const ok = await port.writeLearningStats(cmp.id, fresh ? (stored?.version ?? 0) : stored!.version, closeTo, stats, now);
    if (!ok) return { campaignId: cmp.id, written: false, closed: closed.length, open: open.length, horizonMs: horizon, trials: round.trials, version: null };
    const version = await this.d.states.write(cmp.id, state, now);
    return { campaignId: cmp.id, written: true, closed: closed.length, open: open.length, horizonMs: horizon, trials: round.trials, version };
  }

  /**
   * Budget pacing: a shadow price per offer on reserved cost, raised while spend runs ahead of
   * an even schedule through the day (daily liability) or the campaign (total budget with an
   * end), lowered while it runs behind — an integral controller, so the price settles where
   * the budget lasts the period and goes to the actions with the most margin per unit of cost.
   */
  private async pace(c: CompiledCampaign, stats: Stats, now: number): Promise<void> {
    if (!c.campaign.policy || !('pacing' in c.campaign.policy) || c.campaign.policy.pacing === false) return;
    const day = utcDay(now);
    const dayStart = Date.parse(`${day}T00:00:00.000Z`);
    const plans: Array<{ offerId: string; key: string; cap: number; elapsed: number }> = [];
    for (const { offer: o } of c.offers) {
      if (o.budget.dailyLiability !== undefined && o.budget.dailyLiability > 0) plans.push({ offerId: o.id, key: counterKeys.daily(o.id, day), cap: o.budget.dailyLiability, elapsed: (now - dayStart) / DAY });
      else if (o.budget.total !== undefined && o.budget.total > 0 && c.startsAt !== null && c.endsAt !== null && c.endsAt > c.startsAt) {
        plans.push({ offerId: o.id, key: counterKeys.spent(o.id), cap: o.budget.total, elapsed: Math.min(1, Math.max(0, (now - c.startsAt) / (c.endsAt - c.startsAt))) });
      }
    }
    if (plans.length === 0) return;
    const used = await this.d.port.readCounters(plans.map((p) => p.key));
    for (const p of plans) {
      const error = (used.get(p.key) ?? 0) / p.cap - p.elapsed;
      const next = (stats.shadow[p.offerId] ?? 0) + PACING_GAIN * error;
      stats.shadow[p.offerId] = Math.min(MAX_SHADOW, Math.max(0, next));
    }
  }
}

/** The contextual learner's period length (0: no period effects). */
function periodMsOf(c: CompiledCampaign): number {
  const p = c.campaign.policy;
  return p.type === 'contextual' ? p.periodDays * DAY : 0;
}

function halfLifeOf(c: CompiledCampaign): number {
  const p = c.campaign.policy;
  return p.type === 'contextual' || p.type === 'thompson' ? p.halfLife : 0;
}

/** Scales every statistic by `g` (0 < g ≤ 1): older rows weigh less. */
function decay(s: Stats, g: number): void {
  const scale = (r: RidgeStats) => {
    for (let i = 0; i < r.xtx.length; i++) r.xtx[i]! *= g;
    for (let i = 0; i < r.xty.length; i++) r.xty[i]! *= g;
    r.yy *= g;
    r.n *= g;
  };
  for (const a of Object.values(s.actions)) {
    scale(a.p);
    scale(a.v);
  }
  for (const cells of Object.values(s.cells)) {
    for (const c of Object.values(cells)) {
      c.n *= g;
      c.buys *= g;
      c.cm *= g;
      c.cm2 *= g;
    }
  }
}

function isTrace(t: unknown): t is LearningTrace {
  return t !== null && typeof t === 'object' && typeof (t as LearningTrace).a === 'string' && Array.isArray((t as LearningTrace).k);
}

function segmentByOf(c: CompiledCampaign) {
  const p = c.campaign.policy;
  return p.type === 'thompson' ? p.segmentBy : (['cohort', 'placement'] as const).slice();
}

/**
 * Adds tokens that reached the threshold to the vocabularies, growing every model's statistics.
 * Period and holdout tokens have their own allowance, outside MAX_VOCAB. Period tokens (see
 * periodToken) of periods before `periods.oldest`, or of another period length, leave the
 * vocabulary (their rows keep everything else), so a campaign that runs for a year keeps a
 * bounded state.
 */
export function grow(stats: Stats, extra: ReadonlyMap<string, number>, periods?: { oldest: number; ms: number }): void {
  const expired = (t: string) => {
    const p = periodOfToken(t);
    return p !== null && (periods === undefined || p.ms !== periods.ms || p.k < periods.oldest);
  };
  if (stats.vocab.some(expired)) dropTokens(stats, stats.vocab.map((t) => !expired(t)));
  for (const t of Object.keys(stats.counts)) if (expired(t)) delete stats.counts[t];
  const known = new Set(stats.vocab);
  const candidates = new Set([...Object.keys(stats.counts), ...extra.keys()]);
  const ready = [...candidates]
    .filter((t) => !known.has(t) && !expired(t) && (stats.counts[t] ?? 0) + (extra.get(t) ?? 0) >= MIN_TOKEN_COUNT)
    .sort((a, b) => (stats.counts[b] ?? 0) + (extra.get(b) ?? 0) - ((stats.counts[a] ?? 0) + (extra.get(a) ?? 0)) || (a < b ? -1 : 1));
  let changed = false;
  // Period and holdout tokens have their own allowance: they must not take a request token's place.
  const own = (t: string) => periodOfToken(t) !== null || isHoldoutToken(t);
  let regular = stats.vocab.filter((t) => !own(t)).length;
  for (const t of ready) {
    if (!own(t)) {
      if (regular >= MAX_VOCAB) continue;
      regular++;
    }
    stats.vocab.push(t);
    changed = true;
    if (VALUE_TOKEN.test(t) && !stats.vvocab.includes(t)) stats.vvocab.push(t);
  }
  if (changed) {
    for (const a of Object.values(stats.actions)) {
      a.p = growRidge(a.p, stats.vocab.length);
      a.v = growRidge(a.v, stats.vvocab.length);
    }
  }
  // Counts of tokens already in the vocabulary are not needed any more.
  for (const t of stats.vocab) delete stats.counts[t];
}

/** Removes the purchase vocabulary's tokens not kept (`keep` per token), and their rows and columns in every model. */
function dropTokens(stats: Stats, keep: readonly boolean[]): void {
  const at = keep.flatMap((k, i) => (k ? [i] : []));
  stats.vocab = at.map((i) => stats.vocab[i]!);
  for (const a of Object.values(stats.actions)) a.p = pickRidge(a.p, at);
}

function cloneStats(s: Stats): Stats {
  return structuredClone(s);
}

/** The prior purchase probability of an action: the campaign's response model (marketer's numbers), never a shop's truth. */
function priorConversion(c: CompiledCampaign, action: string): number {
  const m = c.campaign.model;
  const p0 = m.baseConversion;
  const offerId = offerOfAction(action);
  if (offerId === null) return p0;
  const o = c.offers.find((x) => x.offer.id === offerId)?.offer;
  if (!o) return p0;
  const at = action.indexOf('@');
  const value = at < 0 ? null : Number(action.slice(at + 1));
  const rung = value === null || !o.valueLadder ? 0 : Math.max(0, o.valueLadder.indexOf(value));
  const lift = o.expectedLift === undefined ? 0.1 : Array.isArray(o.expectedLift) ? (o.expectedLift[rung] ?? 0.1) : o.expectedLift;
  return Math.min(1, p0 * (1 + lift));
}

/** `mean` with its intercept moved by `by`. */
function shifted(mean: readonly number[], bias: number, by: number): number[] {
  const out = [...mean];
  if (bias >= 0) out[bias] = out[bias]! + by;
  return out;
}

/** The marketer's prior purchase probability averaged over actions. */
function meanPrior(c: CompiledCampaign, keys: readonly string[]): number {
  return keys.length ? keys.reduce((a, k) => a + priorConversion(c, k), 0) / keys.length : priorConversion(c, NONE);
}

/**
 * Fits every action's models and publishes them as a `contextual` state. Online (no `iterations`)
 * the pooling precisions move one step from those kept in `s.precision`, and the next step's are
 * left there for the statistics to keep; `iterations` fits from scratch (offline training).
 */
export function publishLinear(c: CompiledCampaign, s: Stats, now: number, iterations?: number): LinearState {
  const expected = Math.max(1, (c.campaign.model.expectedBasket.subtotal * c.campaign.model.expectedBasket.marginPct) / 100);
  const actions: LinearState['actions'] = {};
  const d = s.vocab.length;
  const bias = s.vocab.indexOf('b');
  // Dose tokens (per unit of dose, not per segment) are a group of their own, after the depths.
  // Period tokens (see periodToken) are one more group: "no offer" fits them, every offer level
  // below it keeps them where "no offer" put them — a cohort's drift is shared by every action.
  const periodGroup = P_LAMBDA.length + 1;
  const group = s.vocab.map((t) => (periodOfToken(t) !== null ? periodGroup : t === 'dp' || t.endsWith('|dp') ? P_LAMBDA.length : Math.min(P_LAMBDA.length - 1, tokenDepth(t))));
  const start = [...P_LAMBDA, DOSE_LAMBDA, PERIOD_LAMBDA];
  // The models of one level share one prior precision per token depth, raised where segments
  // differ less than the hand-set tree assumes (fitRidgeShared); the intercept stays weakly held.
  // Online, each round takes one step of the fixed point from where the last round left it (kept
  // with the statistics); offline training, from scratch, takes `iterations`.
  const precision = (s.precision ??= {});
  // The prior precisions each level was fitted with: a prediction's prior variance (see LinearActionModel.pv).
  const levelLambda = new Map<string, number[]>();
  const fit = (level: string, stats: RidgeStats[], means: number[][], deepest = P_LAMBDA.length) => {
    const shared = level !== 'none';
    const r = fitRidgeShared(stats, means, group, start.map((l, g) => ((g > deepest && g < P_LAMBDA.length) || (shared && g === periodGroup) ? PINNED : l)), {
      noise: 0.1,
      noiseWeight: 20,
      fixed: [0, ...P_LAMBDA.map((_, g) => g).filter((g) => g > deepest), ...(shared ? [periodGroup] : [])],
      iterations: iterations ?? 0,
      ...(iterations === undefined && precision[level] ? { start: precision[level] } : {}),
    });
    precision[level] = r.next.map(round6);
    levelLambda.set(level, r.lambda);
    return r.models;
  };
  // "No offer" first: every offer's purchase model is centred on it (prior mean = its coefficients,
  // the intercept moved by the marketer's expected lift), so an offer learns only how it differs
  // — its uplift — from its own data, and the baseline pattern across segments from everyone's.
  // Ridge with prior mean θ_none is exactly a model of the residual y − θ_none·x.
  const none = s.actions[NONE];
  const noneMean = new Array<number>(d).fill(0);
  noneMean[bias] = priorConversion(c, NONE);
  const nonePm = none ? fit('none', [growRidge(none.p, d)], [noneMean])[0]! : null;
  const base = nonePm ? nonePm.mean : noneMean;
  // The residual of CM against the cart's margin less the cost is mostly where the basket is
  // unknown (no cart: the assumed basket stands in) and barely depends on the offer: offers'
  // residuals are centred on "no offer"'s, and move only with much evidence.
  const valueNoise = (0.5 * expected) ** 2;
  const noneVm = none ? fitRidge(growRidge(none.v, s.vvocab.length), { lambda: 5, noise: valueNoise, noiseWeight: 5 }) : null;
  // Offers pool their evidence up a tree — any offer, then the offer (all its rungs), then the
  // rung — each level's prior mean the fit of the level above. Which contexts respond to an offer
  // at all is mostly shared across offers, and the rungs of a ladder differ mainly by how much:
  // so a rung tried a few hundred times borrows the pattern thousands of offers showed.
  const offerKeys = Object.keys(s.actions).filter((k) => k !== NONE);
  const pooled = (keys: string[]) => keys.map((k) => growRidge(s.actions[k]!.p, d)).reduce((x, y) => mergeRidge(x, y));
  const anyPrior = meanPrior(c, offerKeys);
  const anyMean = offerKeys.length ? fit('any', [pooled(offerKeys)], [shifted(base, bias, anyPrior - priorConversion(c, NONE))])[0]!.mean : base;
  const byOffer = new Map<string, string[]>();
  for (const k of offerKeys) {
    const id = offerOfAction(k)!;
    byOffer.set(id, [...(byOffer.get(id) ?? []), k]);
  }
  // One level at a time, every offer (then every rung) together: how much offers differ from
  // one another is learned from all of them. An offer (or rung) sees a fraction of the traffic
  // "any offer" sees, so it may differ from it overall, by channel, cohort and placement, and by
  // dose, but not segment by segment deeper down: there its own data would be mostly noise, and
  // the posterior would keep exploring it. Where in the tree an offer works is learned from all of them.
  const offers = [...byOffer].map(([id, keys]) => ({ id, keys, prior: meanPrior(c, keys) }));
  const offerFits = fit(
    'offer',
    offers.map((o) => pooled(o.keys)),
    offers.map((o) => shifted(anyMean, bias, o.prior - anyPrior)),
    OFFER_DEPTH,
  );
  const offerMean = new Map(offers.map((o, i) => [o.id, { mean: offerFits[i]!.mean, prior: o.prior, model: offerFits[i]!, single: o.keys.length === 1 }]));
  const rungKeys = offerKeys.filter((k) => !offerMean.get(offerOfAction(k)!)!.single);
  const rungFits = fit(
    'rung',
    rungKeys.map((k) => growRidge(s.actions[k]!.p, d)),
    rungKeys.map((k) => {
      const parent = offerMean.get(offerOfAction(k)!)!;
      return shifted(parent.mean, bias, priorConversion(c, k) - parent.prior);
    }),
    OFFER_DEPTH,
  );
  const rungModel = new Map(rungKeys.map((k, i) => [k, rungFits[i]!]));
  // The covariance entries the state keeps: token pairs that met in one request (see LinearState.pairs).
  // Requests never carry a period or holdout token (see periodToken, holdoutTokens): their covariances would never be read.
  const rowOnly = s.vocab.map((t, i) => group[i] === periodGroup || isHoldoutToken(t));
  const pairs = cooccurring(Object.values(s.actions).map((a) => a.p), d).filter((at) => !rowOnly[Math.floor(at / d)] && !rowOnly[at % d]);
  // Requests carry no period: each cohort's latest period effect is folded into the cohort's
  // coefficient, so a prediction is at the cohort's current level (the same shift for every action).
  // The covariance is folded too (θ' = Tθ, Σ' = TΣTᵀ): every row carries its cohort's period, so a
  // cohort's coefficient alone is uncertain by the whole period prior, which its covariance with
  // the period cancels — dropped, "no offer" would look several times less certain than it is.
  const fold = latestPeriods(s.vocab);
  const periodOf = new Map(fold);
  const currentMean = (mean: readonly number[]) => {
    const out = [...mean];
    for (const [co, pd] of fold) out[co]! += mean[pd]!;
    return out;
  };
  // One entry of TΣTᵀ: the state keeps only the entries at `pairs`.
  const currentCov = (cov: readonly number[], at: number) => {
    const i = Math.floor(at / d);
    const j = at % d;
    const pi = periodOf.get(i);
    const pj = periodOf.get(j);
    let x = cov[at]!;
    if (pi !== undefined) x += cov[pi * d + j]!;
    if (pj !== undefined) x += cov[i * d + pj]!;
    if (pi !== undefined && pj !== undefined) x += cov[pi * d + pj]!;
    return x;
  };
  for (const [key, a] of Object.entries(s.actions)) {
    const level = key === NONE ? 'none' : rungModel.has(key) ? 'rung' : 'offer';
    const fitted = key === NONE ? nonePm! : (rungModel.get(key) ?? offerMean.get(offerOfAction(key)!)!.model);
    const lambdas = levelLambda.get(level);
    const pv = lambdas ? lambdas.map((l) => round6(fitted.noise / l)) : undefined;
    // An offer's residual is held to "no offer"'s as if by 100 orders: an order's CM varies by
    // thousands where the basket is unknown, the policy does not sample this model's uncertainty,
    // and a few dozen orders would otherwise decide which offer wins (blanket-trap's home hero).
    const vm = key === NONE && noneVm ? noneVm : fitRidge(growRidge(a.v, s.vvocab.length), { lambda: 100, ...(noneVm ? { mean: noneVm.mean } : {}), noise: valueNoise, noiseWeight: 5 });
    const p = { mean: currentMean(fitted.mean).map(round6), cov: pairs.map((at) => round4(currentCov(fitted.cov, at))) };
    actions[key] = { p, v: { mean: vm.mean.map(round6) }, n: round6(fitted.n), ...(pv ? { pv } : {}) };
  }
  return { kind: 'contextual', vocab: s.vocab, vvocab: s.vvocab, pairs, groups: group, actions, trials: s.trials, shadow: s.shadow, trainedAt: now };
}

/** Per cohort with period tokens: [the cohort token's index, its latest period token's index]. */
function latestPeriods(vocab: readonly string[]): Array<[number, number]> {
  const latest = new Map<string, { k: number; at: number }>();
  vocab.forEach((t, i) => {
    const k = periodOfToken(t)?.k;
    if (k === undefined) return;
    const co = t.slice(0, t.indexOf('|pd:'));
    const was = latest.get(co);
    if (!was || k > was.k) latest.set(co, { k, at: i });
  });
  return [...latest].flatMap(([co, { at }]) => {
    const i = vocab.indexOf(co);
    return i >= 0 ? [[i, at] as [number, number]] : [];
  });
}

/**
 * Thompson weights per segment: Monte Carlo probability that each action has the highest CM per
 * decision, from a Beta posterior of purchase (prior from the campaign's response model, worth
 * 10 decisions) times a normal posterior of CM given a purchase. Seeded by the round, so a state
 * is reproducible from its statistics.
 */
function publishThompson(c: CompiledCampaign, s: Stats, now: number): ThompsonState {
  const random = seededRandom(Math.floor(s.trials) + Object.keys(s.cells).length);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const gamma = (shape: number): number => {
    // Marsaglia–Tsang; shape < 1 boosted.
    if (shape < 1) return gamma(shape + 1) * Math.pow(random(), 1 / shape);
    const dd = shape - 1 / 3;
    const cc = 1 / Math.sqrt(9 * dd);
    for (;;) {
      const x = normal();
      const v = (1 + cc * x) ** 3;
      if (v <= 0) continue;
      if (Math.log(random()) < 0.5 * x * x + dd - dd * v + dd * Math.log(v)) return dd * v;
    }
  };
  const beta = (a: number, b: number) => {
    const x = gamma(a);
    return x / (x + gamma(b));
  };
  const expected = (c.campaign.model.expectedBasket.subtotal * c.campaign.model.expectedBasket.marginPct) / 100;
  const weights: ThompsonState['weights'] = {};
  const arms: ThompsonState['arms'] = {};
  const DRAWS = 2000;
  for (const [seg, cells] of Object.entries(s.cells)) {
    const keys = Object.keys(cells).sort();
    if (!keys.includes(NONE)) keys.push(NONE);
    const post = keys.map((k) => {
      const cell = cells[k] ?? { n: 0, buys: 0, cm: 0, cm2: 0 };
      const p0 = priorConversion(c, k);
      const a = 10 * p0 + cell.buys;
      const b = 10 * (1 - p0) + Math.max(0, cell.n - cell.buys);
      const k0 = 3;
      const mean = (k0 * expected + cell.cm) / (k0 + cell.buys);
      const varCm = cell.buys > 1 ? Math.max(1, (cell.cm2 - (cell.cm * cell.cm) / cell.buys) / (cell.buys - 1)) : (0.5 * expected) ** 2;
      return { a, b, mean, sdMean: Math.sqrt(varCm / (k0 + cell.buys)), cell };
    });
    const wins = new Array<number>(keys.length).fill(0);
    for (let i = 0; i < DRAWS; i++) {
      let best = 0;
      let bestV = -Infinity;
      for (let j = 0; j < post.length; j++) {
        const q = post[j]!;
        const v = beta(q.a, q.b) * (q.mean + q.sdMean * normal());
        if (v > bestV) {
          bestV = v;
          best = j;
        }
      }
      wins[best]!++;
    }
    weights[seg] = Object.fromEntries(keys.map((k, j) => [k, wins[j]! / DRAWS]));
    arms[seg] = Object.fromEntries(
      keys.map((k, j): [string, ArmSummary] => {
        const q = post[j]!;
        const p = q.a / (q.a + q.b);
        return [k, { n: round6(q.cell.n), buys: q.cell.buys, mean: round2(p * q.mean), sd: round2(Math.sqrt((p * (1 - p)) / (q.a + q.b + 1)) * Math.abs(q.mean)) }];
      }),
    );
  }
  return { kind: 'thompson', weights, arms, trials: s.trials, shadow: s.shadow, trainedAt: now };
}

function round6(x: number): number {
  return Number.isFinite(x) ? Number(x.toPrecision(6)) : 0;
}
/** Covariances need less precision than means (they set exploration, not the choice): a smaller state. */
function round4(x: number): number {
  return Number.isFinite(x) ? Number(x.toPrecision(4)) : 0;
}

