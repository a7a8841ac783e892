import { describe, expect, it } from 'vitest';
import { qini, upliftCurve } from '../src/core/index.js';
import { seededRandom } from '../src/core/runtime.js';

describe('Qini and uplift curves', () => {
  // Six units ranked by score; T = treated. Hand-computed, top k:
  //   k   unit (T, y)   Y_T N_T Y_C N_C   Qini = Y_T − Y_C·N_T/N_C   uplift = (Y_T/N_T − Y_C/N_C)·k
  //   1   (1, 1)         1   1   0   0    1                          0 (no control yet)
  //   2   (0, 0)         1   1   0   1    1                          2
  //   3   (1, 1)         2   2   0   1    2                          3
  //   4   (0, 1)         2   2   1   2    1                          2
  //   5   (1, 0)         2   3   1   2    0.5                        5/6
  //   6   (0, 0)         2   3   1   3    1                          2
  const scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
  const treated = [1, 0, 1, 0, 1, 0];
  const outcome = [1, 0, 1, 1, 0, 0];

  it('matches the hand-computed Qini curve, its area and coefficient', () => {
    const q = qini(scores, treated, outcome);
    expect(q.curve.map((p) => p.value)).toEqual([0, 1, 1, 2, 1, 0.5, 1]);
    expect(q.curve.map((p) => p.n)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    // Trapezoids of width 1/6: (0.5 + 1 + 1.5 + 1.5 + 0.75 + 0.75)/6 = 1; the random line's area 1/2.
    expect(q.auuc).toBeCloseTo(1, 12);
    expect(q.randomAuuc).toBeCloseTo(0.5, 12);
    expect(q.coefficient).toBeCloseTo(0.5, 12);
  });

  it('matches the hand-computed uplift curve and AUUC', () => {
    const u = upliftCurve(scores, treated, outcome);
    const want = [0, 0, 2, 3, 2, 5 / 6, 2];
    u.curve.forEach((p, i) => expect(p.value).toBeCloseTo(want[i]!, 12));
    // (0 + 1 + 2.5 + 2.5 + 17/12 + 17/12)/6 = 53/36; random line 2/2 = 1.
    expect(u.auuc).toBeCloseTo(53 / 36, 12);
    expect(u.randomAuuc).toBeCloseTo(1, 12);
    expect(u.coefficient).toBeCloseTo(17 / 36, 12);
  });

  it('takes one point per group of tied scores, so the order of ties does not matter', () => {
    const a = qini([1, 1, 0], [1, 0, 1], [1, 0, 0]);
    const b = qini([1, 1, 0], [0, 1, 1], [0, 1, 0]);
    expect(a.curve.map((p) => p.n)).toEqual([0, 2, 3]);
    // Top 2: Y_T 1, N_T 1, Y_C 0, N_C 1 → 1; all 3: 1 − 0 = 1.
    expect(a.curve.map((p) => p.value)).toEqual([0, 1, 1]);
    expect(b.curve).toEqual(a.curve);
  });

  it('ranks by true uplift above random and random near zero; the reverse ranking below', () => {
    const rnd = seededRandom(11);
    const n = 20_000;
    const tau: number[] = [];
    const t: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < n; i++) {
      // True uplift from −0.1 to +0.3 on a base of 0.2: some units are hurt by treatment.
      const u = rnd();
      const effect = -0.1 + 0.4 * u;
      const treat = rnd() < 0.5 ? 1 : 0;
      tau.push(effect);
      t.push(treat);
      y.push(rnd() < 0.2 + effect * treat + 0.1 * u ? 1 : 0);
    }
    const perfect = qini(tau, t, y).coefficient;
    const reverse = qini(tau.map((v) => -v), t, y).coefficient;
    const random: number[] = [];
    for (let r = 0; r < 40; r++) random.push(qini(tau.map(() => rnd()), t, y).coefficient);
    const mean = random.reduce((s, v) => s + v, 0) / random.length;
    const sd = Math.sqrt(random.reduce((s, v) => s + (v - mean) ** 2, 0) / (random.length - 1));
    // Sorted by τ (uniform on [−0.1, 0.3]), the top fraction φ holds (n/2)φ treated units with mean uplift
    // 0.3 − 0.2φ (the baseline cancels within the top φ), so E[Q(φ)] = (n/2)(0.3φ − 0.2φ²): area
    // (n/2)(0.15 − 0.2/3), random line (n/2)(0.1)/2, coefficient (n/2)/30 ≈ 333. Its seed-to-seed sd is
    // about 20 (30 seeds, not shown): ±80 is four of them.
    const expected = n / 2 / 30;
    expect(Math.abs(perfect - expected)).toBeLessThan(80);
    expect(Math.abs(reverse + expected)).toBeLessThan(80);
    // Random ranking: the expected curve is the straight line, so the coefficient averages 0.
    expect(Math.abs(mean)).toBeLessThan(4 * (sd / Math.sqrt(random.length)));
    expect(sd).toBeLessThan(expected / 3);
    // Uplift curve agrees on the ordering.
    expect(upliftCurve(tau, t, y).coefficient).toBeGreaterThan(upliftCurve(tau.map((v) => -v), t, y).coefficient);
  });

  it('refuses mismatched lengths and non-numbers naming the field', () => {
    expect(() => qini([1, 2], [1], [0, 1])).toThrow(/differ in length/);
    expect(() => qini([1, Number.NaN], [1, 0], [0, 1])).toThrow(/scores\[1\]/);
  });
});
