import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** A signing key; the first of the configured keys signs, all of them verify (rotation). */
export interface TokenKey {
  kid: string;
  secret: string;
}

/** What an offer token asserts. It carries ids and values, never secrets or personal data. */
export interface TokenClaims {
  /** Issuance (wallet entry) id. */
  iss: string;
  ofr: string;
  ver: number;
  /** Subject the offer was issued to (c:<customer> or a:<anonymous>). */
  sub: string;
  val: number | null;
  /** Expiry, epoch seconds. */
  exp: number;
}

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/**
 * Decodes base64url only when `s` is exactly its canonical form (no padding, no stray
 * characters, no non-zero spare bits). Node's decoder is lenient: it skips junk and ignores the
 * low bits of the last symbol, so one byte string has many spellings and a token could be
 * mutated without breaking its signature.
 */
function canonicalB64(s: string): Buffer | null {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) return null;
  const b = Buffer.from(s, 'base64url');
  return b.toString('base64url') === s ? b : null;
}

/** Signs and verifies offer tokens: `v1.<kid>.<payload>.<hmac-sha256>`. */
export class TokenSigner {
  private readonly keys: Map<string, Buffer>;
  private readonly signer: { kid: string; key: Buffer };

  constructor(keys: TokenKey[]) {
    if (keys.length === 0) throw new Error('at least one token key is required');
    this.keys = new Map(keys.map((k) => [k.kid, Buffer.from(k.secret)]));
    this.signer = { kid: keys[0]!.kid, key: Buffer.from(keys[0]!.secret) };
  }

  /** Signs claims with the current key. */
  sign(claims: TokenClaims): string {
    const body = `v1.${this.signer.kid}.${b64(JSON.stringify(claims))}`;
    return `${body}.${createHmac('sha256', this.signer.key).update(body).digest('base64url')}`;
  }

  /** Returns the claims of a genuine, unexpired token (any expiry if nowMs is null), or the reason it is not one. */
  verify(token: string, nowMs: number | null): { ok: true; claims: TokenClaims } | { ok: false; reason: 'MALFORMED' | 'UNKNOWN_KEY' | 'BAD_SIGNATURE' | 'EXPIRED' } {
    const parts = token.split('.');
    if (parts.length !== 4 || parts[0] !== 'v1') return { ok: false, reason: 'MALFORMED' };
    const key = this.keys.get(parts[1]!);
    if (!key) return { ok: false, reason: 'UNKNOWN_KEY' };
    const payload = canonicalB64(parts[2]!);
    if (!payload) return { ok: false, reason: 'MALFORMED' };
    const expected = createHmac('sha256', key).update(parts.slice(0, 3).join('.')).digest();
    const given = canonicalB64(parts[3]!);
    // Lengths are public (a SHA-256 MAC is always 32 bytes); the bytes are compared in constant time.
    if (!given || given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'BAD_SIGNATURE' };
    let claims: TokenClaims;
    try {
      claims = JSON.parse(payload.toString()) as TokenClaims;
    } catch {
      return { ok: false, reason: 'MALFORMED' };
    }
    if (typeof claims !== 'object' || claims === null || typeof claims.iss !== 'string') return { ok: false, reason: 'MALFORMED' };
    if (nowMs !== null && claims.exp * 1000 <= nowMs) return { ok: false, reason: 'EXPIRED' };
    return { ok: true, claims };
  }
}

/** A fresh random secret for a token key. */
export function newTokenSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Parses "kid:secret,kid2:secret2" (the OFFERPILOT_TOKEN_KEYS format). */
export function parseTokenKeys(s: string): TokenKey[] {
  return s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const i = p.indexOf(':');
      if (i <= 0 || i === p.length - 1) throw new Error('token keys look like "kid:secret,kid2:secret2"');
      return { kid: p.slice(0, i), secret: p.slice(i + 1) };
    });
}
