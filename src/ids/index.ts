import { randomBytes } from 'node:crypto';

/** Prefixes make an id's kind obvious in logs and support tickets. */
export const ID_PREFIX = {
  offer: 'ofr_',
  campaign: 'cmp_',
  decision: 'dec_',
  issuance: 'iss_',
  apiKey: 'key_',
} as const;

export type IdKind = keyof typeof ID_PREFIX;

/** Produces ids; injectable so tests get reproducible ids. */
export type IdGenerator = (kind: IdKind) => string;

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

function encode(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += ALPHABET[b & 31];
  return out;
}

/** Random ids: 16 chars of Crockford-ish base32 (80 bits), enough to never collide in practice. */
export const randomIds: IdGenerator = (kind) => ID_PREFIX[kind] + encode(randomBytes(16));

/** Deterministic ids from a counter, for tests and simulations. */
export function sequentialIds(seed = 0): IdGenerator {
  let n = seed;
  return (kind) => `${ID_PREFIX[kind]}${(++n).toString(36).padStart(8, '0')}`;
}
