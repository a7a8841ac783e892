/**
 * Period effects of the contextual learner: a cohort whose purchase rate drifts over the weeks
 * (its shoppers become other shoppers as they buy) must not make an action chosen mostly late
 * look worse than one chosen mostly early. Training rows carry their cohort's period; "no
 * offer" fits it, every offer shares it, and the published state predicts at the latest level.
 */
import { describe, expect, it } from 'vitest';
import { NONE } from '../src/core/learn/actions.js';
import { encodeTokens, periodOfToken, periodToken } from '../src/core/learn/features.js';
import { addRidge, emptyRidge, pickRidge } from '../src/core/learn/linear.js';
import { linearEstimates } from '../src/core/learn/policies.js';
import { emptyStats, grow, publishLinear, type Stats } from '../src/learning/trainer.js';
import { snapshotFor } from './helpers/learning-fixture.js';

const DAY = 86_400_000;
const WEEK = 7 * DAY;
const K = ['b', 'ch:web', 'co:engaged_90', 'co:engaged_90|pl:home_hero'];
const T0 = Math.floor(Date.parse('2026-11-02T00:00:00Z') / WEEK) * WEEK;

/**
 * Week 1: 40% of shoppers buy without an offer, week 2: 10%; the content offer adds 5 points in
 * both. "No offer" was chosen mostly in week 1, the offer mostly in week 2.
 */
function drifting(withPeriods: boolean): Stats {
  const cells: Array<{ week: number; action: string; n: number; buys: number }> = [
    { week: 0, action: NONE, n: 900, buys: 360 },
    { week: 1, action: NONE, n: 100, buys: 10 },
    { week: 0, action: 'ofr_msg', n: 100, buys: 45 },
    { week: 1, action: 'ofr_msg', n: 900, buys: 135 },
  ];
  const s = emptyStats('contextual');
  const rowTokens = (week: number) => (withPeriods ? [...K, periodToken(K, T0 + week * WEEK + DAY, WEEK)] : K);
  s.vocab = [...new Set([...K, ...rowTokens(0), ...rowTokens(1)])];
  const index = new Map(s.vocab.map((t, i) => [t, i]));
  for (const c of cells) {
    const a = (s.actions[c.action] ??= { p: emptyRidge(s.vocab.length), v: emptyRidge(1) });
    for (let i = 0; i < c.n; i++) addRidge(a.p, encodeTokens(rowTokens(c.week), index), i < c.buys ? 1 : 0);
    s.trials += c.n;
  }
  return s;
}

describe('period effects', () => {
  const c = snapshotFor({ type: 'contextual' }).campaigns[0]!;
  const now = T0 + WEEK + 3 * DAY;
  const estimate = (s: Stats) => {
    const st = publishLinear(c, s, now, 4);
    const e = linearEstimates(st, 1, { k: K, m: 5000, acts: [['ofr_msg', 0, 0]] }, 'contextual');
    return { none: e.none.p, offer: e.actions[0]!.p };
  };

  it('compares actions within periods: the offer’s uplift is found, at the cohort’s latest level', () => {
    const e = estimate(drifting(true));
    // The ridge prior still holds the uplift a little toward the marketer's guess (measured 0.027).
    expect(e.offer - e.none).toBeGreaterThan(0.015);
    expect(e.offer - e.none).toBeLessThan(0.07);
    // Week 2's level (0.10; measured 0.125), not the mixture of both weeks (0.37).
    expect(e.none).toBeGreaterThan(0.06);
    expect(e.none).toBeLessThan(0.16);
  });

  it('without them the same log makes the offer look far worse than no offer (the bias they remove)', () => {
    const e = estimate(drifting(false));
    expect(e.offer - e.none).toBeLessThan(-0.1);
  });

  it('a published state says how young each prediction is: an offer never tried is all prior, a well-tried one mostly data', () => {
    const s = drifting(true);
    s.actions['ofr_amt@500'] = { p: emptyRidge(s.vocab.length), v: emptyRidge(1) };
    const st = publishLinear(c, s, now, 4);
    const e = linearEstimates(st, 1, { k: K, m: 5000, acts: [['ofr_msg', 0, 0], ['ofr_amt@500', 500, 0]] }, 'contextual');
    expect(e.actions[1]!.young).toBeCloseTo(1, 4);
    // No request carries a period token: the state keeps none of their covariances.
    const periods = st.vocab.flatMap((t, i) => (periodOfToken(t) !== null ? [i] : []));
    expect(periods).toHaveLength(2);
    expect(st.pairs!.length).toBeGreaterThan(0);
    for (const at of st.pairs!) expect(periods).not.toContain(Math.floor(at / st.vocab.length));
    for (const at of st.pairs!) expect(periods).not.toContain(at % st.vocab.length);
    expect(e.actions[0]!.young).toBeLessThan(0.2);
    expect(e.none.young).toBeLessThan(0.2);
    // A state written before prior variances existed: 0, the tempered spread as before.
    const old = { ...st, groups: undefined };
    expect(linearEstimates(old, 1, { k: K, m: 5000, acts: [['ofr_amt@500', 500, 0]] }, 'contextual').actions[0]!.young).toBe(0);
  });

  it('the latest level is as certain as the periods’ data make it, not as uncertain as the period prior', () => {
    // A steady cohort: 30% buy without an offer, 1,000 decisions in each of two weeks.
    const s = emptyStats('contextual');
    const tokens = (week: number) => [...K, periodToken(K, T0 + week * WEEK + DAY, WEEK)];
    s.vocab = [...new Set([...tokens(0), ...tokens(1)])];
    const index = new Map(s.vocab.map((t, i) => [t, i]));
    const a = (s.actions[NONE] = { p: emptyRidge(s.vocab.length), v: emptyRidge(1) });
    for (const week of [0, 1]) for (let i = 0; i < 1000; i++) addRidge(a.p, encodeTokens(tokens(week), index), i % 10 < 3 ? 1 : 0);
    s.trials = 2000;
    const st = publishLinear(c, s, now, 4);
    const none = linearEstimates(st, 1, { k: K, m: 5000, acts: [] }, 'contextual').none;
    const variance = (none.sd / Math.abs(none.v)) ** 2;
    // Between what all 2,000 rows and what the latest week's 1,000 alone would give (p(1−p)/n);
    // the cohort coefficient's own variance (without its covariance with the period) is ~20× more.
    expect(none.p).toBeCloseTo(0.3, 1);
    expect(variance).toBeGreaterThan((0.5 * 0.21) / 2000);
    expect(variance).toBeLessThan((1.5 * 0.21) / 1000);
  });

  it('period tokens have their own allowance beside the full vocabulary, and expired ones leave it', () => {
    const s = emptyStats('contextual');
    s.vocab = Array.from({ length: 96 }, (_, i) => (i === 0 ? 'b' : `co:c${i}`));
    const old = periodToken(K, T0, WEEK);
    const next = periodToken(K, T0 + WEEK, WEEK);
    s.counts = { [old]: 25, [next]: 25, 'co:late': 500 };
    grow(s, new Map(), { oldest: periodOfToken(old)!.k, ms: WEEK });
    expect(s.vocab).toContain(old);
    expect(s.vocab).toContain(next);
    // The regular vocabulary is full: a frequent new segment still waits.
    expect(s.vocab).not.toContain('co:late');
    grow(s, new Map(), { oldest: periodOfToken(next)!.k, ms: WEEK });
    expect(s.vocab).not.toContain(old);
    expect(s.vocab).toContain(next);
    expect(s.vocab).toHaveLength(97);
    // Another period length (periodDays changed): the old weeks' tokens leave, whatever their number.
    grow(s, new Map(), { oldest: 0, ms: 3 * DAY });
    expect(s.vocab).not.toContain(next);
    // A token from before periods named their length leaves as well.
    const unnamed = 'co:engaged_90|pd:2900';
    expect(periodOfToken(unnamed)).toEqual({ k: 2900, ms: 0 });
    s.vocab.push(unnamed);
    grow(s, new Map(), { oldest: 0, ms: 3 * DAY });
    expect(s.vocab).not.toContain(unnamed);
    // Periods off: none stays.
    s.counts = { [next]: 25 };
    grow(s, new Map());
    expect(s.vocab.some((t) => periodOfToken(t) !== null)).toBe(false);
  });

  it('dropping a token leaves exactly the statistics of rows that never carried it', () => {
    const full = ['b', 'co:x', 'co:x|pd:1/604800000', 'co:x|pl:cart'];
    const kept = [0, 1, 3];
    const a = emptyRidge(4);
    const b = emptyRidge(3);
    const rows = [
      { t: [0, 1, 2], y: 1, w: 1 },
      { t: [0, 1, 2, 3], y: 0, w: 0.5 },
      { t: [0, 3], y: 1, w: 0.25 },
    ];
    for (const r of rows) {
      addRidge(a, { idx: r.t, val: r.t.map(() => 1) }, r.y, r.w);
      const left = r.t.filter((i) => kept.includes(i)).map((i) => kept.indexOf(i));
      addRidge(b, { idx: left, val: left.map(() => 1) }, r.y, r.w);
    }
    expect(full).toHaveLength(4);
    expect(pickRidge(a, kept)).toEqual(b);
  });
});
