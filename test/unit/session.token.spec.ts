import { createHash, createHmac } from 'node:crypto';
import { newHandle, newToken, signToken, storeKey, verifyCookieValue } from '../../src/crypto/token.js';

/** Tokens, handles and the cookie signature: what a forged or altered cookie must never get past. */

const S1 = 'token-secret-one-0123456789-abcdefghijklmnop';
const S2 = 'token-secret-two-0123456789-abcdefghijklmnop';
const B64URL_43 = /^[A-Za-z0-9_-]{43}$/;
const hmac = (secret: string, token: string) => createHmac('sha256', secret).update(token).digest('base64url');

describe('newToken and newHandle', () => {
  it('a token is 256 random bits in base64url (43 characters), never repeated', () => {
    const tokens = Array.from({ length: 200 }, newToken);
    for (const t of tokens) {
      expect(t).toMatch(B64URL_43);
      expect(Buffer.from(t, 'base64url')).toHaveLength(32);
    }
    expect(new Set(tokens).size).toBe(200);
  });

  it('a handle is 128 random bits in base64url (22 characters), never repeated, unrelated to tokens', () => {
    const handles = Array.from({ length: 200 }, newHandle);
    for (const h of handles) {
      expect(h).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(Buffer.from(h, 'base64url')).toHaveLength(16);
    }
    expect(new Set(handles).size).toBe(200);
  });
});

describe('storeKey', () => {
  it('is the SHA-256 of the token in hex: the store never holds the token', () => {
    const t = newToken();
    expect(storeKey(t)).toBe(createHash('sha256').update(t).digest('hex'));
    expect(storeKey(t)).toMatch(/^[0-9a-f]{64}$/);
    expect(storeKey(t)).not.toContain(t);
    expect(storeKey(newToken())).not.toBe(storeKey(t));
  });
});

describe('signToken', () => {
  it('is token "." HMAC-SHA256(secret, token) in base64url', () => {
    const t = newToken();
    expect(signToken(t, S1)).toBe(`${t}.${hmac(S1, t)}`);
    expect(signToken(t, S1)).toHaveLength(87);
    expect(signToken(t, S2)).not.toBe(signToken(t, S1));
  });
});

describe('verifyCookieValue', () => {
  const t = newToken();
  const good = signToken(t, S1);

  it('gives back the token of a value signed with any of the secrets', () => {
    expect(verifyCookieValue(good, [S1])).toBe(t);
    expect(verifyCookieValue(good, [S2, S1])).toBe(t);
    expect(verifyCookieValue(good, [S1, S2])).toBe(t);
    expect(verifyCookieValue(signToken(t, S2), [S1, S2])).toBe(t);
  });

  it('refuses a value signed with a secret not in the list, or with no secrets at all', () => {
    expect(verifyCookieValue(good, [S2])).toBeUndefined();
    expect(verifyCookieValue(good, [])).toBeUndefined();
  });

  it('refuses a signature of another token, and a token with another token\'s signature', () => {
    const other = newToken();
    expect(verifyCookieValue(`${other}.${hmac(S1, t)}`, [S1])).toBeUndefined();
    expect(verifyCookieValue(`${t}.${hmac(S1, other)}`, [S1])).toBeUndefined();
  });

  it('refuses every single-character change of a valid value', () => {
    const alphabet = 'A0_-.=/+ z';
    for (let i = 0; i < good.length; i++) {
      for (const c of alphabet) {
        if (c === good[i]) continue;
        const altered = good.slice(0, i) + c + good.slice(i + 1);
        expect(verifyCookieValue(altered, [S1])).toBeUndefined();
      }
    }
  });

  it('accepts only the canonical spelling of the signature (the last character\'s spare bits)', () => {
    const sig = hmac(S1, t);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(sig[42]);
    // The same 32 bytes, spelled with other values of the 2 spare low bits of the last character.
    for (let spare = 1; spare < 4; spare++) {
      const variant = `${sig.slice(0, 42)}${alphabet[(last & ~3) | ((last + spare) & 3)]}`;
      expect(Buffer.from(variant, 'base64url').equals(Buffer.from(sig, 'base64url'))).toBe(true);
      expect(verifyCookieValue(`${t}.${variant}`, [S1])).toBeUndefined();
    }
    expect(verifyCookieValue(`${t}.${sig}`, [S1])).toBe(t);
  });

  it('refuses values of the wrong shape without throwing', () => {
    const bad = [
      '',
      t,
      `${t}.`,
      `${good}A`,
      good.slice(0, -1),
      `${t}:${hmac(S1, t)}`,
      `${t.slice(0, 42)}.${hmac(S1, t)}A`,
      `${t}.${hmac(S1, t).slice(0, 42)}=`,
      `${t.slice(0, 42)}+.${hmac(S1, t)}`,
      `${t}.${hmac(S1, t).slice(0, 42)}/`,
      `${t.slice(0, 42)}é.${hmac(S1, t)}`,
      '.'.repeat(87),
      `${'A'.repeat(43)}.${'A'.repeat(43)}`,
      `${t}.${Buffer.from(hmac(S1, t), 'base64url').toString('base64')}`,
    ];
    for (const v of bad) expect(verifyCookieValue(v, [S1])).toBeUndefined();
  });

  it('refuses a token spelled with characters outside base64url even when the signature is right for it', () => {
    for (const token of [`${t.slice(0, 42)}+`, `+${t.slice(1)}`, `${t.slice(0, 20)}/${t.slice(21)}`, `${t.slice(0, 42)}=`, ` ${t.slice(1)}`]) {
      expect(token).toHaveLength(43);
      expect(verifyCookieValue(`${token}.${hmac(S1, token)}`, [S1])).toBeUndefined();
    }
  });

  it('refuses a signature spelled with characters outside base64url', () => {
    const sig = hmac(S1, t);
    for (const s of [`${sig.slice(0, 42)}+`, `+${sig.slice(1)}`, `${sig.slice(0, 42)}=`, `${sig.slice(0, 42)} `]) {
      expect(verifyCookieValue(`${t}.${s}`, [S1])).toBeUndefined();
    }
  });

  it('checks every secret, so the time taken does not show which one matched', () => {
    // Behaviour, not timing: a match on the first secret still leaves the result right when later ones fail.
    expect(verifyCookieValue(good, [S1, S2, 'x'.repeat(32)])).toBe(t);
    expect(verifyCookieValue(signToken(t, S2), [S1, S2, 'x'.repeat(32)])).toBe(t);
    expect(verifyCookieValue(signToken(t, S2), [S2, S1])).toBe(t);
  });
});
