/**
 * Holdout assignment: a pure function of (salt, customer id), so every channel, process and
 * machine assigns a customer identically, with no state to share.
 *
 * FNV-1a 32-bit, hashed twice (as GrowthBook does) because a single FNV pass leaves
 * visible patterns in the low digits for sequential ids.
 */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A bucket in [0, 10000) for the unit id under the salt. */
export function holdoutBucket(salt: string, unitId: string): number {
  return fnv1a(String(fnv1a(`${salt}:${unitId}`))) % 10_000;
}

/** Whether the unit falls in a holdout of `pct` percent (2 decimals of precision). */
export function inHoldout(salt: string, unitId: string, pct: number): boolean {
  if (pct <= 0) return false;
  return holdoutBucket(salt, unitId) < Math.round(pct * 100);
}
