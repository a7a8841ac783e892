/**
 * The dose of an offer (its cost over the basket's margin): what it is, and how a published state
 * reads it at decision time. (That training gains from it is measured on the simulator: README.)
 */
import { describe, expect, it } from 'vitest';
import { NONE } from '../src/core/learn/actions.js';
import { doseOf, doseTokens, withDose } from '../src/core/learn/features.js';
import { linearEstimates } from '../src/core/learn/policies.js';
import type { LinearState } from '../src/core/learn/state.js';

const TOKENS = ['b', 'ch:web', 'co:lapsed', 'co:lapsed|pl:cart', 'co:lapsed|pl:cart|cart:12'];

describe('dose', () => {
  it('is the cost over the margin, capped at 2, never negative; a non-positive margin counts as 1', () => {
    expect(doseOf(500, 2000)).toBe(0.25);
    expect(doseOf(0, 2000)).toBe(0);
    expect(doseOf(9000, 2000)).toBe(2);
    expect(doseOf(3, -50)).toBe(2);
    expect(doseOf(-10, 100)).toBe(0);
    expect(doseTokens(TOKENS)).toEqual(['dp', 'co:lapsed|dp']);
    expect(doseTokens(['b', 'ch:web'])).toEqual(['dp', 'co:anon|dp']);
  });

  it('adds the known dose tokens with the dose as their value; none, or dose 0, leaves the encoding as it was', () => {
    const vocab = new Map([['b', 0], ['dp', 1], ['co:lapsed|dp', 2]]);
    const x = { idx: [0], val: [1] };
    expect(withDose(x, TOKENS, vocab, 0.5)).toEqual({ idx: [0, 1, 2], val: [1, 0.5, 0.5] });
    expect(withDose(x, TOKENS, vocab, 0)).toBe(x);
    expect(withDose(x, TOKENS, new Map([['b', 0]]), 0.5)).toBe(x);
  });

  it('a published state predicts an offer’s purchase probability from its dose; "no offer" reads none', () => {
    // p = 0.1 + 0.2 · dose + 0.1 · dose (lapsed) for the offer; 0.1 for "no offer".
    const st: LinearState = {
      kind: 'contextual',
      vocab: ['b', 'dp', 'co:lapsed|dp'],
      vvocab: ['b'],
      actions: {
        [NONE]: { p: { mean: [0.1, 0, 0], cov: new Array<number>(9).fill(0) }, v: { mean: [0] }, n: 100 },
        'ofr_amt@500': { p: { mean: [0.1, 0.2, 0.1], cov: new Array<number>(9).fill(0) }, v: { mean: [0] }, n: 100 },
      },
      trials: 200,
      shadow: {},
      trainedAt: 0,
    };
    const at = (margin: number) => linearEstimates(st, 1, { k: TOKENS, m: margin, acts: [['ofr_amt@500', 500, 0]] }, 'contextual');
    // Small basket: dose 0.5 → p = 0.1 + 0.3·0.5; large: dose 0.1 → p = 0.13.
    expect(at(1000).actions[0]!.p).toBeCloseTo(0.25, 12);
    expect(at(5000).actions[0]!.p).toBeCloseTo(0.13, 12);
    expect(at(1000).none.p).toBeCloseTo(0.1, 12);
    expect(at(5000).none.p).toBeCloseTo(0.1, 12);
  });
});
