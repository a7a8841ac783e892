/**
 * Delayed rewards. An order arrives some time after its decision, so at any moment the most
 * recent decisions look like failures that are not. Counting them as failures biases every
 * estimate down (most for the busiest, newest actions); waiting for the whole attribution
 * window makes learning days late. Instead, with F the distribution of the delay from decision
 * to order (estimated from the delays seen), a decision of age t has been observed with
 * probability F(t) if it converts: E[observed | x, t] = F(t) · E[converts | x]. Learners regress
 * on F(t)·x (or count F(t) trials), which is unbiased for any age; a decision older than the
 * closing horizon (F ≈ 1) is final and joins the stored statistics for good.
 */

/** Keep at most this many recent delays. */
export const MAX_LAGS = 2000;

/** F(age): the share of delays up to `age`, with a weak uniform-over-the-window prior worth `k0` delays. */
export function delayCdf(sortedLags: readonly number[], windowMs: number, k0 = 5): (age: number) => number {
  const n = sortedLags.length;
  return (age: number) => {
    if (age >= windowMs) return 1;
    if (age <= 0) return 0;
    // Count of lags ≤ age (binary search).
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sortedLags[mid]! <= age) lo = mid + 1;
      else hi = mid;
    }
    return (lo + k0 * (age / windowMs)) / (n + k0);
  };
}

/**
 * How old a decision must be before its outcome is final for learning: three times the 99th
 * percentile of the delays seen (at least `minMs`), never past the attribution window; the whole
 * window until 30 delays have been seen.
 */
export function closingHorizon(sortedLags: readonly number[], windowMs: number, minMs = 5000): number {
  if (sortedLags.length < 30) return windowMs;
  const q99 = sortedLags[Math.min(sortedLags.length - 1, Math.floor(0.99 * sortedLags.length))]!;
  return Math.min(windowMs, Math.max(minMs, 3 * q99));
}

/**
 * F from delays seen under right truncation: a young decision's delay is seen only if it is at
 * most the decision's age, so the plain share of delays seen is biased toward short ones (a new
 * campaign, whose decisions are all young, would overestimate F and so underestimate every rate).
 * Lynden-Bell's estimator, the nonparametric maximum likelihood F for right-truncated data:
 *   F(t) = Π over seen delays d_j > t of (1 − 1/R_j),  R_j = #{i : d_i ≤ d_j ≤ age_i}
 * with final delays (decisions past the closing horizon) untruncated (age = the window). Factors
 * with R_j < 2 are skipped: one delay alone at risk would zero F below it (the estimator's known
 * instability at the short end). Ages beyond the window count as the window.
 */
export function truncatedDelayCdf(seen: ReadonlyArray<{ lag: number; age: number }>, windowMs: number): (age: number) => number {
  const obs = seen.filter((s) => s.lag >= 0 && s.lag <= s.age).map((s) => ({ lag: Math.min(s.lag, windowMs), age: Math.min(s.age, windowMs) }));
  if (obs.length === 0) return (age: number) => (age >= windowMs ? 1 : age <= 0 ? 0 : age / windowMs);
  const lags = obs.map((o) => o.lag).sort((a, b) => a - b);
  const ages = obs.map((o) => o.age).sort((a, b) => a - b);
  const countLE = (xs: number[], x: number) => {
    let lo = 0;
    let hi = xs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (xs[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const countLT = (xs: number[], x: number) => {
    let lo = 0;
    let hi = xs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (xs[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  // Distinct delays, descending, with F just below each: suffix products of (1 − d/R).
  const distinct: number[] = [];
  for (const l of lags) if (distinct.length === 0 || distinct[distinct.length - 1] !== l) distinct.push(l);
  const below = new Array<number>(distinct.length);
  let prod = 1;
  for (let j = distinct.length - 1; j >= 0; j--) {
    const d = distinct[j]!;
    const ties = countLE(lags, d) - countLT(lags, d);
    // At risk: delays ≤ d whose decision was old enough to show a delay of d (ℓ ≤ age always, so age < d implies ℓ < d).
    const risk = countLE(lags, d) - countLT(ages, d);
    if (risk >= 2) prod *= 1 - ties / risk;
    below[j] = prod;
  }
  return (age: number) => {
    if (age >= windowMs) return 1;
    if (age < 0) return 0;
    // F(age) = product over distinct delays > age: the suffix starting at the first delay > age.
    const j = countLE(distinct, age);
    return j >= distinct.length ? 1 : below[j]!;
  };
}
