import type { Offer, PolicyConfig, ResponseModel } from './catalog.js';
import type { Basket, OfferEconomics } from './economics.js';
import type { Random } from './runtime.js';

/** What a policy sees when it scores one value rung of one offer. */
export interface ScoreInput {
  offer: Offer;
  value: number;
  rung: number;
  economics: OfferEconomics;
  basket: Basket;
  model: ResponseModel;
  /** Purchase probability without an offer for this request. */
  baseline: number;
}

/** An eligible candidate as the policy ranks it. */
export interface RankItem {
  offerId: string;
  priority: number;
  score: number;
  cost: number;
}

/**
 * The seam learning plugs into: a policy scores candidates and ranks them. A stochastic
 * policy reports the probability of its pick so decisions can be evaluated offline.
 */
export interface Policy {
  readonly id: string;
  score(input: ScoreInput): number;
  /** Ranks best-first; may reorder `items` in place. */
  rank<T extends RankItem>(items: T[], random: Random): { ranked: T[]; probability: number };
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
export function staticPolicy(config: PolicyConfig): Policy {
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

/** Builds the policy a campaign is configured with. */
export function policyFor(config: PolicyConfig): Policy {
  switch (config.type) {
    case 'static':
      return staticPolicy(config);
  }
}
