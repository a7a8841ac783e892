import { parse } from 'csv-parse/sync';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { assignFolds, crossFitRewards, evaluatePolicy, type OpeReport } from '../src/core/index.js';
import { parseBanditRecords } from '../src/learning/ope-csv.js';
import { formatOpeReport } from '../src/learning/ope-format.js';

/**
 * An honesty check on real randomized data (Hillstrom's MineThatData e-mail test, 64,000
 * customers, three arms at 1/3 each; see examples/hillstrom/SOURCE.md). Reward = spend in
 * dollars over two weeks. Propensity = the design's 1/3 per arm, not the observed shares (which the
 * test checks are what a 1/3 randomization gives). A personalised policy is learned by 5-fold
 * cross-fitting — per arm, a ridge T-learner on the customer features fitted on four folds,
 * choosing the arm of highest predicted spend on the fifth — and evaluated with the three
 * constant policies on the held-out folds. Heterogeneity here is weak: the check is that the
 * evaluation does not claim a gain its interval does not support, and that the learned policy is
 * not significantly worse than the best constant one.
 */
const FILE = new URL('../examples/hillstrom/hillstrom.csv.gz', import.meta.url);
const ARMS = ['Mens E-Mail', 'No E-Mail', 'Womens E-Mail'];
/** SOURCE.md's reference spend per customer and counts per arm. */
const REFERENCE: Record<string, { n: number; spend: number }> = {
  'Mens E-Mail': { n: 21_307, spend: 1.422617 },
  'Womens E-Mail': { n: 21_387, spend: 1.077202 },
  'No E-Mail': { n: 21_306, spend: 0.652789 },
};
const CONTEXT = ['recency', 'log_history', 'mens', 'womens', 'zip_code', 'newbie', 'channel'];

describe('Hillstrom: off-policy evaluation on real randomized data', () => {
  it('constant policies equal the arm means; the learned policy claims no gain its interval does not support', () => {
    const raw = gunzipSync(readFileSync(FILE));
    expect(createHash('sha256').update(raw).digest('hex')).toBe('0e5893329d8b93cefecc571777672028290ab69865718020c78c7284f291aece');
    const records = (parse(raw.toString('utf8'), { columns: true, skip_empty_lines: true, trim: true }) as Array<Record<string, string>>).map((r) => ({
      ...r,
      // Past-year spend runs from $30 to $3,346 with a long tail: its log is the better linear feature.
      log_history: String(Math.log(Number(r.history))),
    }));
    const data = parseBanditRecords(records, { action: 'segment', reward: 'spend', propensity: 1 / 3, context: CONTEXT }, 'hillstrom');
    const { rows } = data;
    expect(rows).toHaveLength(64_000);
    expect(data.actions).toEqual(ARMS);
    // 3 numeric flags + recency + log history, zip_code (3 values) and channel (3 values) one-hot.
    expect(data.features).toEqual(['recency', 'log_history', 'mens', 'womens', 'zip_code=Rural', 'zip_code=Surburban', 'zip_code=Urban', 'newbie', 'channel=Multichannel', 'channel=Phone', 'channel=Web']);

    // The design's 1/3 is what the data shows: counts as in SOURCE.md and a sample-ratio χ² (2 df) below its 5% point 5.99.
    const counts = ARMS.map((a) => rows.filter((r) => r.action === a).length);
    expect(Object.fromEntries(ARMS.map((a, j) => [a, counts[j]]))).toEqual(Object.fromEntries(ARMS.map((a) => [a, REFERENCE[a]!.n])));
    const chi2 = counts.reduce((s, c) => s + (c - 64_000 / 3) ** 2 / (64_000 / 3), 0);
    expect(chi2).toBeLessThan(5.99);

    // 5 folds shared by the learner and the evaluation, so each row is judged by a policy that never saw it.
    const folds = assignFolds(rows.length, 5, 2008);
    const q = crossFitRewards(rows, { folds, actions: ARMS });
    const choice = rows.map((_, i) => {
      let best = 0;
      for (let a = 1; a < ARMS.length; a++) if (q.predict(i, a) > q.predict(i, best)) best = a;
      return new Map([[ARMS[best]!, 1]]);
    });
    const share = Object.fromEntries(ARMS.map((a) => [a, choice.filter((m) => m.has(a)).length / rows.length]));
    const report: OpeReport = evaluatePolicy(rows, (i) => choice[i]!, { folds, actions: ARMS });
    console.log(`${formatOpeReport(report, 'Hillstrom: the cross-fitted ridge T-learner policy (argmax predicted spend), spend $ per customer')}\npolicy's choices: ${JSON.stringify(share)}`);

    for (const e of report.estimates) {
      // Constant policies are the arm means: exactly under SNIPS (Σ 1[a]·3·r / Σ 1[a]·3 is the arm
      // mean), to the cent under IPS (which divides by 64,000/3 instead of the arm's count) and DR.
      for (const a of ARMS) {
        const v = e.constants[a]!.estimate;
        if (e.estimator === 'snips') expect(Math.abs(v - REFERENCE[a]!.spend)).toBeLessThan(5e-7);
        expect(v.toFixed(2)).toBe(REFERENCE[a]!.spend.toFixed(2));
      }
      expect(e.bestConstant).toBe('Mens E-Mail');
      // The verdict follows the interval and nothing else.
      expect(e.verdictVsBestConstant).toBe(e.vsBestConstant.lower > 0 ? 'better' : e.vsBestConstant.upper < 0 ? 'worse' : 'inconclusive');
      // What the data gives: no significant gain over always-Mens, and not significantly worse.
      expect(e.verdictVsBestConstant).toBe('inconclusive');
      expect(e.vsBestConstant.lower).toBeLessThan(0);
      expect(e.vsBestConstant.upper).toBeGreaterThan(0);
      // Against the logging policy (a third in each arm) a policy that mostly e-mails does gain.
      expect(e.verdictVsLogging).toBe('better');
    }
    expect(report.verdict).toBe('inconclusive');
    expect(report.clip).toEqual({ cap: 100, clippedRows: 0, maxWeight: 3 });
  });
});
