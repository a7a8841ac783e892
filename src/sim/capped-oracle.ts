/**
 * The observable oracle within the daily caps: the best action per bucket of what the engine
 * observes, chosen per UTC day so that no budgeted offer's issued liability exceeds its daily
 * cap. The unconstrained observable oracle ignores caps, so where a cap binds it is a yardstick
 * no policy that keeps the cap can reach; this one keeps every cap the engine must keep.
 *
 * Per day it is a knapsack over buckets, solved by its Lagrangian: with a price λ_o per unit of
 * offer o's liability, each bucket takes the action with the most incremental CM less
 * λ·liability, and λ_o is the smallest price at which the day's liability fits o's cap (found by
 * bisection; the liability taken is non-increasing in λ). With several budgeted offers the
 * prices are settled one at a time, a few rounds over all of them. Hindsight per day, as the
 * observable oracle has hindsight over the run.
 */

/** One action's totals in one bucket on one day. */
export interface ActionTotals {
  /** Summed true incremental CM (E[CM | action] − E[CM | none]) over the bucket's sessions that day. */
  incremental: number;
  /** Summed liability the action would reserve against its offer's daily cap (0: not budgeted). */
  liability: number;
  /** The budgeted offer whose cap the liability counts against, or null. */
  offerId: string | null;
}

/** Per day, per bucket, per action key ("none" included, with zeros). */
export type DayTotals = Map<string, Map<string, ActionTotals>>;

const ROUNDS = 4;
const BISECTIONS = 60;

/** The best action per bucket when liability of offer o costs `price[o]` per unit. */
function pick(day: DayTotals, price: ReadonlyMap<string, number>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [bucket, actions] of day) {
    let best = 'none';
    let bestValue = 0;
    for (const [key, a] of actions) {
      const value = a.incremental - (a.offerId === null ? 0 : (price.get(a.offerId) ?? 0) * a.liability);
      if (value > bestValue) {
        best = key;
        bestValue = value;
      }
    }
    out.set(bucket, best);
  }
  return out;
}

/** Liability per budgeted offer of a choice per bucket. */
function liabilityOf(day: DayTotals, choice: ReadonlyMap<string, string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [bucket, key] of choice) {
    const a = day.get(bucket)!.get(key);
    if (a && a.offerId !== null) out.set(a.offerId, (out.get(a.offerId) ?? 0) + a.liability);
  }
  return out;
}

/** The action per bucket for one day within every cap (`caps`: daily liability per budgeted offer). */
export function cappedChoice(day: DayTotals, caps: ReadonlyMap<string, number>): Map<string, string> {
  const price = new Map<string, number>([...caps.keys()].map((o) => [o, 0]));
  const within = () => {
    const used = liabilityOf(day, pick(day, price));
    return [...caps].every(([o, cap]) => (used.get(o) ?? 0) <= cap);
  };
  for (let round = 0; round < ROUNDS && !within(); round++) {
    for (const [o, cap] of caps) {
      const usedAt = (p: number) => {
        price.set(o, p);
        return liabilityOf(day, pick(day, price)).get(o) ?? 0;
      };
      if (usedAt(0) <= cap) continue;
      // A price above every action's incremental CM per unit of liability takes none of it.
      let hi = 1;
      while (usedAt(hi) > cap && hi < 1e12) hi *= 2;
      let lo = 0;
      for (let i = 0; i < BISECTIONS; i++) {
        const mid = (lo + hi) / 2;
        if (usedAt(mid) > cap) lo = mid;
        else hi = mid;
      }
      price.set(o, hi);
    }
  }
  return pick(day, price);
}
