/**
 * The observable oracle within the daily caps: per day, the best action per bucket whose
 * liability fits every budgeted offer's cap — against brute force over every choice on small
 * random days (it is the Lagrangian optimum: nothing within as much liability earns more).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cappedChoice, type ActionTotals, type DayTotals } from '../src/sim/capped-oracle.js';

const day = (buckets: Array<Record<string, [number, number]>>): DayTotals =>
  new Map(
    buckets.map((actions, i) => [
      `b${i}`,
      new Map<string, ActionTotals>([
        ['none', { incremental: 0, liability: 0, offerId: null }],
        ...Object.entries(actions).map(([k, [inc, liab]]): [string, ActionTotals] => [k, { incremental: inc, liability: liab, offerId: k.startsWith('free') ? null : 'ofr_b' }]),
      ]),
    ]),
  );
const valueOf = (d: DayTotals, c: Map<string, string>) => [...c].reduce((s, [b, k]) => s + d.get(b)!.get(k)!.incremental, 0);
const liabilityOf = (d: DayTotals, c: Map<string, string>) => [...c].reduce((s, [b, k]) => s + d.get(b)!.get(k)!.liability, 0);

/** Every choice of one action per bucket. */
function* choices(d: DayTotals): Generator<Map<string, string>> {
  const buckets = [...d.keys()];
  const rec = function* (i: number, acc: Map<string, string>): Generator<Map<string, string>> {
    if (i === buckets.length) return yield new Map(acc);
    for (const k of d.get(buckets[i]!)!.keys()) {
      acc.set(buckets[i]!, k);
      yield* rec(i + 1, acc);
    }
  };
  yield* rec(0, new Map());
}

describe('cappedChoice', () => {
  it('takes the best action per bucket when the cap does not bind, and no budgeted one when the cap is 0', () => {
    const d = day([{ a: [500, 100], b: [300, 10] }, { a: [-50, 100] }, { free: [20, 0], a: [10, 5] }]);
    expect(Object.fromEntries(cappedChoice(d, new Map([['ofr_b', 1e9]])))).toEqual({ b0: 'a', b1: 'none', b2: 'free' });
    expect(Object.fromEntries(cappedChoice(d, new Map([['ofr_b', 0]])))).toEqual({ b0: 'none', b1: 'none', b2: 'free' });
  });

  it('spends a binding cap where it earns most per unit of liability', () => {
    // Bucket 0 earns 5 per unit of liability, bucket 1 earns 1: a cap of 100 goes to bucket 0.
    const d = day([{ a: [500, 100] }, { a: [600, 600] }]);
    expect(Object.fromEntries(cappedChoice(d, new Map([['ofr_b', 100]])))).toEqual({ b0: 'a', b1: 'none' });
  });

  it('keeps the cap, and no choice within as much liability earns more (brute force)', () => {
    const action = fc.tuple(fc.integer({ min: -200, max: 1000 }), fc.integer({ min: 0, max: 300 }));
    fc.assert(
      fc.property(fc.array(fc.dictionary(fc.constantFrom('a', 'b', 'free'), action, { maxKeys: 3 }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 0, max: 800 }), (buckets, cap) => {
        const d = day(buckets.map((b) => Object.fromEntries(Object.entries(b).map(([k, [inc, liab]]) => [k, k === 'free' ? [inc, 0] : [inc, liab]]))) as Array<Record<string, [number, number]>>);
        const c = cappedChoice(d, new Map([['ofr_b', cap]]));
        const used = liabilityOf(d, c);
        expect(used).toBeLessThanOrEqual(cap);
        for (const other of choices(d)) if (liabilityOf(d, other) <= used) expect(valueOf(d, other)).toBeLessThanOrEqual(valueOf(d, c) + 1e-9);
      }),
      { numRuns: 300, seed: 7 },
    );
  });
});
