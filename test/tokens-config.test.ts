import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/index.js';
import { OfferpilotError } from '../src/core/errors.js';
import { parseTokenKeys, TokenSigner } from '../src/tokens/index.js';

const claims = { iss: 'iss_1', ofr: 'ofr_a', ver: 2, sub: 'c:cust_1', val: 10, exp: 2_000_000_000 };

describe('offer tokens', () => {
  it('verify what they signed and carry only ids and values', () => {
    const signer = new TokenSigner(parseTokenKeys('k2:new-secret,k1:old-secret'));
    const token = signer.sign(claims);
    expect(token.split('.')[1]).toBe('k2');
    expect(signer.verify(token, Date.now())).toEqual({ ok: true, claims });
    expect(JSON.parse(Buffer.from(token.split('.')[2]!, 'base64url').toString())).toEqual(claims);
  });

  it('rotation: tokens signed with a retired key still verify while it is listed, and not after', () => {
    const old = new TokenSigner(parseTokenKeys('k1:old-secret')).sign(claims);
    expect(new TokenSigner(parseTokenKeys('k2:new-secret,k1:old-secret')).verify(old, Date.now()).ok).toBe(true);
    expect(new TokenSigner(parseTokenKeys('k2:new-secret')).verify(old, Date.now())).toEqual({ ok: false, reason: 'UNKNOWN_KEY' });
  });

  it('rejects tampered, forged, expired and malformed tokens', () => {
    const signer = new TokenSigner(parseTokenKeys('k1:secret'));
    const [v, kid, , sig] = signer.sign(claims).split('.');
    const richer = Buffer.from(JSON.stringify({ ...claims, val: 90 })).toString('base64url');
    expect(signer.verify(`${v}.${kid}.${richer}.${sig}`, Date.now())).toEqual({ ok: false, reason: 'BAD_SIGNATURE' });
    expect(new TokenSigner(parseTokenKeys('k1:other')).verify(signer.sign(claims), Date.now())).toEqual({ ok: false, reason: 'BAD_SIGNATURE' });
    expect(signer.verify(signer.sign({ ...claims, exp: 1000 }), 1_000_001)).toEqual({ ok: false, reason: 'EXPIRED' });
    for (const bad of ['', 'v1.k1.x', 'v2.k1.a.b', 'v1.k1.!!!.sig']) expect(signer.verify(bad, Date.now()).ok).toBe(false);
  });
});

describe('configuration', () => {
  it('takes defaults, then env vars, then explicit flags, and is frozen', () => {
    const c = loadConfig({ port: 9000 }, { OFFERPILOT_PORT: '7000', OFFERPILOT_DB: 'postgres://x/y', OFFERPILOT_MARGIN_FLOOR_PCT: '12.5' });
    expect(c.port).toBe(9000);
    expect(c.db).toBe('postgres://x/y');
    expect(c.marginFloorPct).toBe(12.5);
    expect(c.host).toBe('127.0.0.1');
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('a bad setting fails at boot naming the env var', () => {
    try {
      loadConfig({}, { OFFERPILOT_PORT: 'eighty' });
      expect.unreachable();
    } catch (e) {
      expect((e as OfferpilotError).code).toBe('CONFIG_INVALID');
      expect((e as OfferpilotError).message).toMatch(/OFFERPILOT_PORT/);
    }
    expect(() => parseTokenKeys('no-colon')).toThrow(/kid:secret/);
  });
});
