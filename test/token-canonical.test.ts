import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseTokenKeys, TokenSigner } from '../src/tokens/index.js';

const signer = new TokenSigner(parseTokenKeys('k1:a-real-secret'));
const token = signer.sign({ iss: 'iss_1', ofr: 'ofr_a', ver: 2, sub: 'c:cust_1', val: 10, exp: 2_000_000_000 });
// Every character a mutation may put in: base64url symbols, padding, separators and junk.
const SYMBOLS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=.!+/ ';

describe('offer token signatures are not malleable (issue 10, item 15)', () => {
  it('the genuine token verifies', () => {
    expect(signer.verify(token, Date.now()).ok).toBe(true);
  });

  it('changing the last signature character, or appending padding or junk, is refused', () => {
    const last = token.at(-1)!;
    // The last symbol of a 32-byte MAC carries 4 spare bits: its neighbours decode to the same bytes.
    for (const c of SYMBOLS.replace(last, '')) expect(signer.verify(token.slice(0, -1) + c, Date.now()).ok).toBe(false);
    for (const junk of ['!!', '=', '==', ' ', '.', 'A']) expect(signer.verify(token + junk, Date.now()).ok).toBe(false);
  });

  it('property: every single-character substitution, insertion or deletion is refused', () => {
    fc.assert(
      fc.property(fc.nat({ max: token.length }), fc.constantFrom(...SYMBOLS), fc.constantFrom('substitute', 'insert', 'delete'), (at, c, op) => {
        const i = Math.min(at, token.length - 1);
        const mutated =
          op === 'substitute' ? token.slice(0, i) + c + token.slice(i + 1) : op === 'insert' ? token.slice(0, at) + c + token.slice(at) : token.slice(0, i) + token.slice(i + 1);
        fc.pre(mutated !== token);
        expect(signer.verify(mutated, Date.now()).ok).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });

  it('every substitution at every position is refused (exhaustive)', () => {
    for (let i = 0; i < token.length; i++) {
      for (const c of SYMBOLS) {
        if (c === token[i]) continue;
        expect(signer.verify(token.slice(0, i) + c + token.slice(i + 1), Date.now()).ok).toBe(false);
      }
    }
  });
});
