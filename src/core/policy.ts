import type { Offer, PolicyConfig, Product, ResponseModel } from './catalog.js';
import type { Basket, OfferEconomics } from './economics.js';
import type { RuleInput } from './rules.js';
import type { Random } from './runtime.js';

/** One campaign's learned policy state as the caller holds it: versioned, so each decision can name the one it used. */
export interface PolicyState {
  version: number;
  state: unknown;
}

/**
 * The policy states a decision may read, by campaign id. Supplied by the caller at decide
 * time (never part of the catalog snapshot), so a learner's state changes without a catalog change.
 */
export interface PolicyStates {
  get(campaignId: string): PolicyState | undefined;
}

/**
 * What a policy knows about the request beyond one candidate; one object per decision.
 * `input()` returns the very object the eligibility rules read (customer traits and features
 * only when the customer consented to personalization, context, cart): it is built on first
 * use, so a policy that never asks costs nothing.
 */
export interface PolicyContext {
  input(): RuleInput;
  /** The campaign's policy state, or undefined when the caller supplied none. */
  readonly state: PolicyState | undefined;
  /** The priced basket (the cart, or the campaign's assumed basket). */
  readonly basket: Basket;
  /** The campaign's response model (priors, assumed basket). */
  readonly model: ResponseModel;
  /** The catalog's products (inventory position of the cart's SKUs). */
  readonly products: ReadonlyMap<string, Product>;
}

/** What a policy sees when it scores one value rung of one offer. */
export interface ScoreInput {
  offer: Offer;
  /** The action this rung would be: the offer id, with `@value` when the offer has a value (see actionKey). */
  action: string;
  value: number;
  rung: number;
  economics: OfferEconomics;
  basket: Basket;
  model: ResponseModel;
  /** Purchase probability without an offer for this request. */
  baseline: number;
  /** The request and the campaign's policy state. */
  context: PolicyContext;
}

/** An eligible candidate as the policy ranks it. */
export interface RankItem {
  offerId: string;
  /** The action: the offer id, with `@value` when the offer has a value (see actionKey). */
  action: string;
  priority: number;
  score: number;
  cost: number;
  /** Expected cost reserved against budgets and daily liability if issued. */
  reserve: number;
  /**
   * Where the offer's budget stands against its schedule: the share of the period's budget left
   * over the share of the period left (daily liability over the UTC day; a total budget over the
   * campaign's run when it has an end) — below 1 it is spending ahead of an even pace. Absent: no
   * budget that paces.
   */
  schedule?: number;
}

/** A learner's estimate for one action, as a decision explains it (minor units, per decision). */
export interface Estimate {
  action: string;
  /** E[CM | action] − E[CM | no offer], less the budget's shadow price when pacing. */
  incrementalMargin: number;
  /** E[CM | no offer]. */
  baseline: number;
  /** Margin the action adds before its cost: E[CM + cost | action] − baseline. */
  uplift: number;
  /** Expected cost of the action (cost × purchase probability). */
  cost: number;
  /** The probability the policy gave the action. */
  probability: number;
}

/** The estimates behind a learned decision: the chosen action, the runner-up, and who made them. */
export interface Estimates {
  learner: string;
  version: number | null;
  chosen: Estimate;
  runnerUp: Estimate | null;
}

/**
 * What a learning policy logs with its decision, so the trainer can learn from it and any other
 * policy can be replayed on it offline: the request's tokens, the basket margin its value model
 * read, every eligible action with its cost and reserve, and the action taken.
 */
export interface LearningTrace {
  /** The action chosen ("none" included). */
  a: string;
  /** Feature tokens of the request (see requestTokens). */
  k: string[];
  /** Basket margin the value model used, minor units. */
  m: number;
  /**
   * Eligible actions: [key, cost, reserve], then the budget's schedule when it was spending ahead
   * of an even pace (below 1, see RankItem.schedule); "none" is always eligible and not listed.
   */
  acts: Array<[string, number, number] | [string, number, number, number]>;
}

/**
 * A learning policy's action probabilities for one logged request: over `trace.acts` in order,
 * then "no offer" last. Deciding and offline replay (evaluating a policy on logged decisions)
 * both call it, so a replayed policy is exactly the one that would have decided.
 */
/** `memo` (optional): what this decision's scoring already estimated, reused so nothing is computed twice. */
export type ActionWeights = (trace: LearningTrace, state: PolicyState | undefined, memo?: Map<string, unknown>) => { weights: number[]; estimates?: unknown };

/** What `rank` returns. */
export interface Ranking<T> {
  ranked: T[];
  probability: number;
  /** What the learner needs logged to learn from the decision and replay it (see LearningTrace). */
  trace?: unknown;
  estimates?: Estimates;
}

/**
 * The seam learning plugs into: a policy scores candidates and ranks them. A stochastic
 * policy reports the probability of its pick so decisions can be evaluated offline.
 */
export interface Policy {
  readonly id: string;
  /** Whether it reads the campaign's policy state: only then does the caller look one up. */
  readonly readsState?: boolean;
  /** Whether it reads `customer.features`: only then are they loaded (two reads per decision). */
  readonly readsFeatures?: boolean;
  /**
   * Whether it chooses the value too: then every value rung that passes the guardrails is an
   * item of its own (the action "offer at value"), not only the best-scoring one.
   */
  readonly ranksRungs?: boolean;
  /** A learning policy's probabilities over a logged request's actions (offline replay). */
  readonly weightsOf?: ActionWeights;
  score(input: ScoreInput): number;
  /**
   * Ranks best-first; may reorder `items` in place. The decision shows what survives, in this
   * order, `worthShowing`, `maxOffers`, stacking and the combined margin floor (all deterministic),
   * so a policy choosing at random returns its chosen action — a list, possibly empty for "no
   * offer" — and `probability`, the probability that it chose that action. The decision logs
   * that number unchanged; with no eligible item it must be 1.
   */
  rank<T extends RankItem>(items: T[], random: Random, context: PolicyContext): Ranking<T>;
  worthShowing(item: RankItem): boolean;
}

/**
 * Expected incremental contribution margin of showing an offer, under the campaign's
 * assumed response model:
 *   p1 = min(1, p0 × (1 + lift)),  EV = p1 × (margin − cost) − p0 × margin
 * where lift is the offer's expectedLift for the rung, or elasticity × benefit / basket.
 * A shopper who buys anyway (p0 → 1) gives EV → −cost: they get nothing.
 */
export function expectedIncrementalMargin(s: ScoreInput): number {
  const margin = s.basket.margin ?? Math.round((s.basket.subtotal * s.model.expectedBasket.marginPct) / 100);
  const lifts = s.offer.expectedLift;
  const lift =
    lifts === undefined
      ? s.basket.subtotal > 0
        ? (s.model.elasticity * s.economics.benefit) / s.basket.subtotal
        : 0
      : Array.isArray(lifts)
        ? (lifts[s.rung] ?? 0)
        : lifts;
  const p0 = s.baseline;
  const p1 = Math.min(1, p0 * (1 + lift));
  return p1 * (margin - s.economics.cost) - p0 * margin;
}

function byScore(a: RankItem, b: RankItem): number {
  return b.score - a.score || b.priority - a.priority || (a.offerId < b.offerId ? -1 : a.offerId > b.offerId ? 1 : 0);
}

function byPriority(a: RankItem, b: RankItem): number {
  return b.priority - a.priority || byScore(a, b);
}

/** The deterministic policy: rank by expected value (default) or by marketer priority. */
export function staticPolicy(config: Extract<PolicyConfig, { type: 'static' }>): Policy {
  const mode = config.mode;
  return {
    id: `static:${mode}`,
    score: expectedIncrementalMargin,
    rank(items) {
      return { ranked: items.sort(mode === 'priority' ? byPriority : byScore), probability: 1 };
    },
    worthShowing(item) {
      // In priority mode the marketer's order rules; guardrails still apply.
      if (mode === 'priority') return true;
      return item.score > 0 || (item.cost === 0 && item.score >= 0);
    },
  };
}
