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
