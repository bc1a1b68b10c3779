import { createHash, createHmac } from 'node:crypto';
import { newHandle, newToken, signToken, storeKey, verifyCookieValue } from '../../src/crypto/token.js';

const S1 = 'token-secret-one-0123456789abcdefghijkl';
const S2 = 'token-secret-two-0123456789abcdefghijkl';
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

describe('tokens', () => {
  it('newToken: 32 random bytes, base64url; newHandle: 16', () => {
    const t = newToken();
    expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(t, 'base64url')).toHaveLength(32);
    expect(newToken()).not.toBe(t);
    const h = newHandle();
    expect(h).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(newHandle()).not.toBe(h);
  });

  it('storeKey: hex SHA-256 of the token', () => {
    expect(storeKey('abc')).toBe(createHash('sha256').update('abc').digest('hex'));
  });

  it('signToken: token "." base64url HMAC-SHA256(secret, token)', () => {
    const t = newToken();
    expect(signToken(t, S1)).toBe(`${t}.${createHmac('sha256', S1).update(t).digest('base64url')}`);
    expect(signToken(t, S1)).toHaveLength(87);
  });
});

describe('verifyCookieValue', () => {
  const t = newToken();
  const v = signToken(t, S1);

  it('accepts a value signed by any listed secret', () => {
    expect(verifyCookieValue(v, [S1])).toBe(t);
    expect(verifyCookieValue(v, [S2, S1])).toBe(t);
    expect(verifyCookieValue(signToken(t, S2), [S1, S2])).toBe(t);
  });

  it('refuses another secret, no secrets, or any changed character', () => {
    expect(verifyCookieValue(v, [S2])).toBeUndefined();
    expect(verifyCookieValue(v, [])).toBeUndefined();
    for (let i = 0; i < v.length; i++) {
      if (i === 43) continue;
      const c = v[i];
      const other = ALPHABET[(ALPHABET.indexOf(c) + 1) % 64];
      const changed = v.slice(0, i) + other + v.slice(i + 1);
      expect([i, verifyCookieValue(changed, [S1])]).toEqual([i, undefined]);
    }
  });

  it('refuses a wrong length or separator, by one character either way', () => {
    expect(verifyCookieValue(v.slice(0, 86), [S1])).toBeUndefined();
    expect(verifyCookieValue(`${v}A`, [S1])).toBeUndefined();
    expect(verifyCookieValue(`${v.slice(0, 43)}_${v.slice(44)}`, [S1])).toBeUndefined();
    expect(verifyCookieValue(`${v.slice(1, 44)}.${v.slice(44)}A`, [S1])).toBeUndefined();
    expect(verifyCookieValue('', [S1])).toBeUndefined();
  });

  it('refuses characters outside base64url in the token or the signature', () => {
    for (const c of ['!', '%', '.', '=', '+', '/', ' ', '\u00e9', '\u00a0']) {
      expect(verifyCookieValue(`${c}${v.slice(1)}`, [S1])).toBeUndefined();
      expect(verifyCookieValue(`${v.slice(0, 86)}${c}`, [S1])).toBeUndefined();
    }
  });

  it('refuses a token outside base64url even when its signature matches', () => {
    const good = newToken();
    for (const bad of [`!${good.slice(1)}`, `${good.slice(0, 42)}!`, `${good.slice(0, 20)}.${good.slice(21)}`, `${good.slice(0, 42)}\u00e9`]) {
      const signed = signToken(bad, S1);
      expect(signed).toHaveLength(87);
      expect(verifyCookieValue(signed, [S1])).toBeUndefined();
    }
  });

  it('accepts only the canonical spelling of the signature (the last character\u2019s spare bits)', () => {
    const last = v[86];
    const spare = ALPHABET[ALPHABET.indexOf(last) ^ 1];
    const variant = v.slice(0, 86) + spare;
    expect(Buffer.from(variant.slice(44), 'base64url')).toEqual(Buffer.from(v.slice(44), 'base64url'));
    expect(verifyCookieValue(variant, [S1])).toBeUndefined();
  });
});
