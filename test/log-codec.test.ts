import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { packTrace, unpackTrace } from '../src/core/log-codec.js';
import type { LearningTrace } from '../src/core/policy.js';

const segment = fc.stringMatching(/^[a-z_:=0-9]{1,12}$/);
/** Tokens shaped like requestTokens': some extend an earlier token at a '|', some repeat. */
const tokens = fc.array(fc.tuple(fc.nat(), segment, fc.boolean()), { maxLength: 25 }).map((parts) => {
  const k: string[] = [];
  for (const [j, s, extend] of parts) k.push(extend && k.length > 0 ? `${k[j % k.length]}|${s}` : s);
  return k;
});
const offer = fc.stringMatching(/^ofr_[a-z0-9]{1,6}$/);
const act = fc.tuple(offer, fc.option(fc.integer({ min: -5, max: 500 }), { nil: null }), fc.nat(5000), fc.option(fc.nat(5000), { nil: null }), fc.option(fc.double({ min: 0, max: 0.999999, noNaN: true }), { nil: null }));
const trace = fc.record({ a: fc.oneof(fc.constant('none'), offer), k: tokens, m: fc.integer({ min: -10000, max: 100000 }), acts: fc.array(act, { maxLength: 30 }) }).map(
  ({ a, k, m, acts }): LearningTrace => ({
    a,
    k,
    m,
    acts: acts.map(([o, value, cost, reserve, schedule]) => {
      const key = value === null ? o : `${o}@${value}`;
      const r = reserve ?? cost;
      return schedule === null ? [key, cost, r] : [key, cost, r, schedule];
    }),
  }),
);

describe('learning trace in the decision log', () => {
  it('reads back exactly what was packed, through JSON', () => {
    fc.assert(
      fc.property(trace, (t) => {
        expect(unpackTrace(JSON.parse(JSON.stringify(packTrace(t))))).toEqual(t);
      }),
      { numRuns: 500 },
    );
  });

  it('reads a trace logged before packing as it was', () => {
    fc.assert(
      fc.property(trace, (t) => {
        expect(unpackTrace(JSON.parse(JSON.stringify(t)))).toEqual(t);
      }),
      { numRuns: 200 },
    );
  });

  it('passes through what is not a trace', () => {
    expect(unpackTrace(null)).toBeNull();
    expect(unpackTrace({ foo: 1 })).toEqual({ foo: 1 });
  });

  it('is well under the plain size for a typical trace', () => {
    const c = 'co:first_time';
    const k = ['b', 'ch:web', c, `${c}|pl:pdp`, `${c}|pl:pdp|cart:13`, `${c}|fr:0`, `${c}|pl:pdp|cart:13|mr:0`, `${c}|pl:pdp|x:country=nl`, `${c}|pl:pdp|cart:13|x:country=nl`];
    const acts: LearningTrace['acts'] = [5, 10, 15, 20].flatMap((v) => [[`ofr_pct_${v}@${v}`, 120 * v, 120 * v] as [string, number, number], [`ofr_pct@${v}`, 100 * v, 100 * v] as [string, number, number]]);
    const t: LearningTrace = { a: 'ofr_pct@10', k, m: 4200, acts };
    const plain = JSON.stringify(t).length;
    const packed = JSON.stringify(packTrace(t)).length;
    expect(packed).toBeLessThan(0.75 * plain);
    // The rungs of one offer in a row share its id.
    expect(JSON.stringify(packTrace({ ...t, acts: [['ofr_pct@5', 1, 1], ['ofr_pct@10', 2, 2]] }).acts)).toBe('[["ofr_pct@5",1],["@10",2]]');
  });
});
