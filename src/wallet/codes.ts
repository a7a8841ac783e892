import { randomBytes } from 'node:crypto';

// Crockford base32: no I, L, O or U, so codes survive being read aloud or typed from an SMS.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Channels where shoppers type a code rather than follow a link carrying the token. */
export const CODE_CHANNELS = new Set(['email', 'sms', 'push']);

/**
 * A new coupon code: 12 symbols (60 random bits from the OS), shown as XXXX-XXXX-XXXX.
 * At a million live codes a guess succeeds with odds of about 1 in 10^12.
 */
export function newCouponCode(): string {
  const b = randomBytes(8);
  let n = b.readBigUInt64BE() >> 4n;
  let out = '';
  for (let i = 0; i < 12; i++) {
    out = ALPHABET[Number(n & 31n)]! + out;
    n >>= 5n;
  }
  return `${out.slice(0, 4)}-${out.slice(4, 8)}-${out.slice(8)}`;
}

/** Canonical form of what a shopper typed: upper case, no spaces or dashes, Crockford look-alikes mapped. */
export function normalizeCode(input: string): string {
  const s = input.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  return s.length === 12 ? `${s.slice(0, 4)}-${s.slice(4, 8)}-${s.slice(8)}` : s;
}

/** Whether a string looks like a coupon code (rather than a signed token). */
export function isCouponCode(s: string): boolean {
  return /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/.test(normalizeCode(s));
}
