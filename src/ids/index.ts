import { randomBytes } from 'node:crypto';

/** Prefixes make an id's kind obvious in logs and support tickets. */
export const ID_PREFIX = {
  offer: 'ofr_',
  campaign: 'cmp_',
  decision: 'dec_',
  issuance: 'iss_',
  apiKey: 'key_',
  redemption: 'red_',
  erased: 'anon_',
  guard: 'grd_',
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

// Drawing random bytes from the OS per id is a syscall each; draw 4 KiB at a time.
let pool = randomBytes(4096);
let offset = 0;
function random16(): Uint8Array {
  if (offset + 16 > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  offset += 16;
  return pool.subarray(offset - 16, offset);
}

function time36(t: number): string {
  let out = '';
  for (let i = 0; i < 9; i++) {
    out = ALPHABET[t % 32]! + out;
    t = Math.floor(t / 32);
  }
  return out;
}

/**
 * Time-ordered random ids (like ULIDs): 9 chars of millisecond time, then 16 random chars
 * (80 bits). Ordered ids append to the end of primary-key indexes instead of touching a
 * random page per insert, which keeps the decision log's writes sequential.
 */
export const randomIds: IdGenerator = (kind) => ID_PREFIX[kind] + time36(Date.now()) + encode(random16());

/** Deterministic ids from a counter, for tests and simulations. */
export function sequentialIds(seed = 0): IdGenerator {
  let n = seed;
  return (kind) => `${ID_PREFIX[kind]}${(++n).toString(36).padStart(8, '0')}`;
}
