import { createCipheriv, createHmac, hkdfSync } from 'node:crypto';
import { SessionSealer } from '../../src/index.js';
import { MIN_SEALED_BYTES, SEAL_MARKER, SEAL_VERSION } from '../../src/crypto/seal.js';
import { decodeSealedData, encodeSealedData, openEntries, patchHandle, sealPatch } from '../../src/stores/codec.js';

const A = 'seal-key-A-0123456789abcdefghijklmnopqrstuv';
const B = 'seal-key-B-0123456789abcdefghijklmnopqrstuv';
const H = 'handle-one-0123456789ab';
const H2 = 'handle-two-0123456789ab';

const bytes = (s: string) => Buffer.from(s, 'base64url');
const b64 = (b: Buffer) => b.toString('base64url');
/** The same value with one byte of its decoded form changed. */
function flipByte(sealed: string, i: number): string {
  const raw = bytes(sealed);
  raw[i] ^= 0x01;
  return b64(raw);
}

describe('SessionSealer: construction', () => {
  it('needs at least one key of at least 32 characters, and names the right option', () => {
    expect(() => new SessionSealer([])).toThrow(/encryptionKeys must be a non-empty array/);
    expect(() => new SessionSealer(undefined as unknown as string[])).toThrow(/non-empty/);
    expect(() => new SessionSealer('x'.repeat(40) as unknown as string[])).toThrow(/non-empty/);
    expect(() => new SessionSealer(['x'.repeat(31)])).toThrow(/each of encryptionKeys must be a string of at least 32 characters/);
    expect(() => new SessionSealer(['x'.repeat(32)])).not.toThrow();
    expect(() => new SessionSealer([A, 42 as unknown as string])).toThrow(/32 characters/);
    expect(() => new SessionSealer(['short'], 'cookie')).toThrow(/each of CookieSessionStore keys must be/);
    expect(() => new SessionSealer([], 'cookie')).toThrow(/CookieSessionStore keys must be a non-empty/);
    expect(() => new SessionSealer([A], 'other' as 'cookie')).toThrow(/unknown seal purpose 'other'/);
  });

  it('defaults to the at-rest purpose and reports its size', () => {
    expect(new SessionSealer([A]).purpose).toBe('at-rest');
    expect(new SessionSealer([A], 'cookie').purpose).toBe('cookie');
    expect(new SessionSealer([A, B]).size).toBe(2);
  });
});

describe('SessionSealer: the sealed format', () => {
  it('is canonical base64url of version | key id | nonce | IV | ciphertext | tag', () => {
    const s = new SessionSealer([A]);
    const e = s.seal('k', 1, H);
    expect(e.sealed).toMatch(/^[A-Za-z0-9_-]+$/);
    const raw = bytes(e.sealed);
    expect(b64(raw)).toBe(e.sealed);
    expect(raw[0]).toBe(SEAL_VERSION);
    expect(SEAL_VERSION).toBe(2);
    // 1 + 4 + 16 + 12 header, 16 tag, and the plaintext '["k",1]' (7 bytes) in between.
    expect(MIN_SEALED_BYTES).toBe(49);
    expect(raw.length).toBe(MIN_SEALED_BYTES + 7);
    // The same key id in every value of a key, another for another key.
    expect(bytes(s.seal('j', 2, H).sealed).subarray(1, 5)).toEqual(raw.subarray(1, 5));
    expect(bytes(new SessionSealer([B]).seal('k', 1, H).sealed).subarray(1, 5)).not.toEqual(raw.subarray(1, 5));
  });

  it('draws a fresh nonce and IV for every seal: equal values do not show as equal', () => {
    const s = new SessionSealer([A]);
    const one = bytes(s.seal('cart', ['x'], H).sealed);
    const two = bytes(s.seal('cart', ['x'], H).sealed);
    expect(one.subarray(5, 21)).not.toEqual(two.subarray(5, 21));
    expect(one.subarray(21, 33)).not.toEqual(two.subarray(21, 33));
  });

  it('encrypts each value under its own subkey: HMAC(derived key, nonce)', () => {
    // Rebuild the seal from outside with the documented derivation; only that opens as the sealer's.
    const s = new SessionSealer([A]);
    const sealed = s.seal('k', 'v', H);
    const raw = bytes(sealed.sealed);
    const enc = Buffer.from(hkdfSync('sha256', Buffer.from(A), 'nestjs-lazy-session/seal', 'at-rest aes-256-gcm subkeys v2', 32));
    const sub = createHmac('sha256', enc).update(raw.subarray(5, 21)).digest();
    const cipher = createCipheriv('aes-256-gcm', sub, raw.subarray(21, 33));
    const ctx = (str: string) => {
      const b = Buffer.from(str);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      return Buffer.concat([len, b]);
    };
    cipher.setAAD(Buffer.concat([raw.subarray(0, 33), ctx(H), ctx(sealed.name)]));
    const body = Buffer.concat([cipher.update(JSON.stringify(['k', 'v'])), cipher.final()]);
    expect(b64(Buffer.concat([raw.subarray(0, 33), body, cipher.getAuthTag()]))).toBe(sealed.sealed);
  });
});

describe('SessionSealer: derivation', () => {
  const hkdf = (secret: string, info: string, n: number) => Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), 'nestjs-lazy-session/seal', info, n));

  it('key ids and name hashes come from HKDF per purpose, with the documented info strings', () => {
    for (const purpose of ['at-rest', 'cookie'] as const) {
      const s = new SessionSealer([A], purpose);
      const kid = hkdf(A, `${purpose} key-id v2`, 4);
      const sealed = purpose === 'cookie' ? s.sealValue('x', 1) : s.seal('k', 1, H).sealed;
      expect(bytes(sealed).subarray(1, 5)).toEqual(kid);
      const mac = hkdf(A, `${purpose} key-name hmac v2`, 32);
      expect(s.hashName('k')).toBe(createHmac('sha256', mac).update('k', 'utf8').digest().subarray(0, 16).toString('base64url'));
      // Non-ASCII names and secrets hash as UTF-8.
      expect(s.hashName('ключ')).toBe(createHmac('sha256', mac).update(Buffer.from('ключ', 'utf8')).digest().subarray(0, 16).toString('base64url'));
    }
    const u = 'ünïcödé-secret-0123456789abcdefghijkl';
    expect(bytes(new SessionSealer([u]).seal('k', 1, H).sealed).subarray(1, 5)).toEqual(hkdf(u, 'at-rest key-id v2', 4));
  });

  it('the marker is stored under the name "!"', () => {
    expect(SEAL_MARKER).toBe('!');
    expect(Object.keys(JSON.parse(encodeSealedData(new SessionSealer([A]), {}, H)) as object)).toEqual(['!']);
  });
});

/** Seals any text under a context, through the private primitive: for payloads the public API never makes. */
function sealRaw(s: SessionSealer, text: string, context: string[]): string {
  return (s as unknown as { sealText(text: string, context: string[]): string }).sealText(text, context);
}

describe('SessionSealer: authentic payloads of the wrong shape', () => {
  const s = new SessionSealer([A]);
  const hashed = s.hashName('k');

  it.each([
    ['not JSON', '["k", 1'],
    ['not an array', '{"k":1}'],
    ['one element', '["k"]'],
    ['three elements', '["k",1,2]'],
    ['a name that is not a string', '[1,1]'],
    ['a name that hashes elsewhere', '["j",1]'],
  ])('an entry whose payload is %s does not open', (_, text) => {
    expect(s.open(hashed, sealRaw(s, text, [H, hashed]), H)).toBeUndefined();
  });

  it('the well-formed control opens', () => {
    expect(s.open(hashed, sealRaw(s, '["k",1]', [H, hashed]), H)).toEqual({ name: 'k', value: 1, keyIndex: 0 });
  });

  it('a whole value that is not JSON, or a marker with text, does not open', () => {
    expect(s.openValue('x', sealRaw(s, '{', ['x']))).toBeUndefined();
    expect(s.openValue('x', sealRaw(s, '[1]', ['x']))).toEqual([1]);
    expect(s.openMarker(sealRaw(s, 'x', [H, SEAL_MARKER]), H)).toBe(false);
    expect(s.openMarker(sealRaw(s, '', [H, SEAL_MARKER]), H)).toBe(true);
  });
});

describe('SessionSealer: at-rest entries', () => {
  it('seals each value under a hashed name, and opens it in the same session', () => {
    const s = new SessionSealer([A]);
    const e = s.seal('cart', { items: ['x'] }, H);
    expect(e.name).toBe(s.hashName('cart'));
    expect(e.name).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(e.name).not.toContain('cart');
    expect(bytes(e.sealed).toString('latin1')).not.toContain('items');
    expect(s.open(e.name, e.sealed, H)).toEqual({ name: 'cart', value: { items: ['x'] }, keyIndex: 0 });
    expect(s.open(e.name, s.seal('n', null, H).sealed, H)).toBeUndefined();
    const n = s.seal('n', null, H);
    expect(s.open(n.name, n.sealed, H)).toEqual({ name: 'n', value: null, keyIndex: 0 });
  });

  it('does not open in another session, under another name, or under an unknown key', () => {
    const s = new SessionSealer([A]);
    const e = s.seal('role', 'user', H);
    expect(s.open(e.name, e.sealed, H2)).toBeUndefined();
    expect(s.open(s.hashName('admin'), e.sealed, H)).toBeUndefined();
    expect(new SessionSealer([B]).open(e.name, e.sealed, H)).toBeUndefined();
    // The same secret for the other purpose is another key.
    expect(new SessionSealer([A], 'cookie').open(e.name, e.sealed, H)).toBeUndefined();
  });

  it('does not open a value with any byte changed', () => {
    const s = new SessionSealer([A]);
    const e = s.seal('role', 'user', H);
    const len = bytes(e.sealed).length;
    for (let i = 0; i < len; i++) expect(s.open(e.name, flipByte(e.sealed, i), H)).toBeUndefined();
  });

  it('refuses anything but canonical base64url of a long enough value', () => {
    const s = new SessionSealer([A]);
    const e = s.seal('role', 'user', H);
    const at = 20;
    for (const c of ['!', '%', '.', '=', ' ', 'é', '+', '/']) expect(s.open(e.name, e.sealed.slice(0, at) + c + e.sealed.slice(at), H)).toBeUndefined();
    expect(s.open(e.name, `${e.sealed}=`, H)).toBeUndefined();
    expect(s.open(e.name, 42, H)).toBeUndefined();
    expect(s.open(e.name, '', H)).toBeUndefined();
    expect(s.open(e.name, e.sealed.slice(0, 20), H)).toBeUndefined();
    // Lengths: one character more than a whole value (a dangling 6 bits) is refused before decoding.
    expect(s.open(e.name, `${e.sealed}A`, H)).toBeUndefined();
    const marker = s.sealMarker(H); // the shortest seal: 49 bytes, 66 characters
    expect(marker).toHaveLength(66);
    expect(s.openMarker(marker, H)).toBe(true);
    expect(s.openMarker(marker.slice(0, 65), H)).toBe(false);
    expect(s.openMarker(`${marker}A`, H)).toBe(false);
    expect(s.openMarker(`${marker}AA`, H)).toBe(false);
    // A spare-bit variant of the last character decodes to the same bytes: refused all the same.
    const m = new SessionSealer([A]).seal('k', 1, H); // 56 bytes: the last character carries spare bits
    const last = m.sealed[m.sealed.length - 1];
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const variant = m.sealed.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ 1];
    expect(bytes(variant)).toEqual(bytes(m.sealed));
    expect(s.open(m.name, variant, H)).toBeUndefined();
    expect(s.open(m.name, m.sealed, H)).toBeDefined();
  });

  it('refuses a value of another version, with its header otherwise intact', () => {
    const s = new SessionSealer([A]);
    const e = s.seal('k', 1, H);
    const raw = bytes(e.sealed);
    for (const v of [0, 1, 3, 255]) {
      raw[0] = v;
      expect(s.open(e.name, b64(raw), H)).toBeUndefined();
    }
  });

  it('refuses an authentic value of another version: sealed with the right key, only the version byte differs', () => {
    // Built from outside with the documented derivation, so the tag is valid for the altered header:
    // only the version check can refuse it. The version-2 control opens.
    const s = new SessionSealer([A]);
    const e = s.seal('k', 'v', H);
    const enc = Buffer.from(hkdfSync('sha256', Buffer.from(A), 'nestjs-lazy-session/seal', 'at-rest aes-256-gcm subkeys v2', 32));
    const ctx = (str: string) => {
      const b = Buffer.from(str);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      return Buffer.concat([len, b]);
    };
    const sealAs = (version: number) => {
      const header = Buffer.from(bytes(e.sealed).subarray(0, 33));
      header[0] = version;
      const cipher = createCipheriv('aes-256-gcm', createHmac('sha256', enc).update(header.subarray(5, 21)).digest(), header.subarray(21, 33));
      cipher.setAAD(Buffer.concat([header, ctx(H), ctx(e.name)]));
      const body = Buffer.concat([cipher.update(JSON.stringify(['k', 'v'])), cipher.final()]);
      return b64(Buffer.concat([header, body, cipher.getAuthTag()]));
    };
    expect(s.open(e.name, sealAs(2), H)).toEqual({ name: 'k', value: 'v', keyIndex: 0 });
    for (const v of [0, 1, 3]) expect(s.open(e.name, sealAs(v), H)).toBeUndefined();
  });

  it('refuses the shortest value that is not a seal, and a payload that is not a [name, value] pair', () => {
    const s = new SessionSealer([A]);
    // A marker is a valid seal of the empty text: no pair inside, so not an entry.
    expect(s.open(SEAL_MARKER, s.sealMarker(H), H)).toBeUndefined();
    expect(bytes(s.sealMarker(H)).length).toBe(MIN_SEALED_BYTES);
    expect(s.open(SEAL_MARKER, b64(bytes(s.sealMarker(H)).subarray(1)), H)).toBeUndefined();
    // A cookie-style whole value is a seal of JSON that is not a pair under this context.
    const c = new SessionSealer([A]);
    expect(c.openValue('x', c.sealValue('x', ['only-one']))).toEqual(['only-one']);
  });

  it('needs a handle to seal or open', () => {
    const s = new SessionSealer([A]);
    expect(() => s.seal('k', 1, '')).toThrow(/needs the session handle/);
    expect(() => s.seal('k', 1, undefined as unknown as string)).toThrow(/needs the session handle/);
    expect(() => s.sealMarker('')).toThrow(/needs the session handle/);
    expect(() => s.open('x', 'y', '')).toThrow(/needs the session handle/);
  });

  it('rotation: the first key seals, every key opens, and the old names are stale', () => {
    const old = new SessionSealer([A]).seal('k', 1, H);
    const rotated = new SessionSealer([B, A]);
    expect(rotated.open(old.name, old.sealed, H)).toEqual({ name: 'k', value: 1, keyIndex: 1 });
    expect(rotated.hashName('k')).not.toBe(old.name);
    expect(rotated.hashName('k', 1)).toBe(old.name);
    expect(rotated.staleNames('k')).toEqual([old.name]);
    expect(new SessionSealer([A]).staleNames('k')).toEqual([]);
    // Stored under the new key's name, the old key's value does not open: names hash per key.
    expect(rotated.open(rotated.hashName('k'), old.sealed, H)).toBeUndefined();
    const fresh = rotated.seal('k', 2, H);
    expect(bytes(fresh.sealed).subarray(1, 5)).toEqual(bytes(new SessionSealer([B]).seal('k', 2, H).sealed).subarray(1, 5));
  });

  it('the same secret listed twice opens with the first index that has it', () => {
    const s = new SessionSealer([A, A]);
    const e = s.seal('k', 1, H);
    expect(s.open(e.name, e.sealed, H)?.keyIndex).toBe(0);
  });
});

describe('SessionSealer: markers and whole values', () => {
  it('a marker opens only for its session and key', () => {
    const s = new SessionSealer([A]);
    const m = s.sealMarker(H);
    expect(s.openMarker(m, H)).toBe(true);
    expect(s.openMarker(m, H2)).toBe(false);
    expect(new SessionSealer([B]).openMarker(m, H)).toBe(false);
    expect(s.openMarker(undefined, H)).toBe(false);
    expect(s.openMarker(flipByte(m, 40), H)).toBe(false);
    // A sealed entry is not a marker, even in its own session.
    const e = s.seal('k', 1, H);
    expect(s.openMarker(e.sealed, H)).toBe(false);
  });

  it('sealValue/openValue: bound to the name and the purpose', () => {
    const cookie = new SessionSealer([A], 'cookie');
    const v = cookie.sealValue('name', { a: [1, 'x'] });
    expect(cookie.openValue('name', v)).toEqual({ a: [1, 'x'] });
    expect(cookie.openValue('other', v)).toBeUndefined();
    expect(new SessionSealer([A]).openValue('name', v)).toBeUndefined();
    expect(new SessionSealer([B, A], 'cookie').openValue('name', v)).toEqual({ a: [1, 'x'] });
    expect(cookie.openValue('name', 7)).toBeUndefined();
    expect(cookie.openValue('name', flipByte(v, 3))).toBeUndefined();
    // An at-rest entry is never a cookie value and the other way round, whatever the names.
    const atRest = new SessionSealer([A]);
    const e = atRest.seal('name', { a: 1 }, H);
    expect(cookie.openValue('name', e.sealed)).toBeUndefined();
    expect(atRest.open(atRest.hashName('name'), v, H)).toBeUndefined();
    expect(atRest.openValue('name', atRest.sealValue('name', 1))).toBe(1);
  });
});

describe('sealed codec', () => {
  const parse = (text: string) => JSON.parse(text) as Record<string, [string]>;

  it('stores a marker beside the values, and reads data without one as no session', () => {
    const s = new SessionSealer([A]);
    const text = encodeSealedData(s, { k: 'v' }, H);
    const stored = parse(text);
    expect(Object.keys(stored).sort()).toEqual([SEAL_MARKER, s.hashName('k')].sort());
    expect(decodeSealedData(s, text, H)).toEqual({ k: 'v' });
    expect(decodeSealedData(s, encodeSealedData(s, {}, H), H)).toEqual({});
    expect(decodeSealedData(s, '{}', H)).toBeNull();
    const { [SEAL_MARKER]: _m, ...unmarked } = stored;
    expect(decodeSealedData(s, JSON.stringify(unmarked), H)).toBeNull();
    expect(decodeSealedData(s, text, H2)).toBeNull();
    expect(decodeSealedData(s, 'not json', H)).toBeNull();
    expect(decodeSealedData(s, JSON.stringify({ x: 'unboxed' }), H)).toBeNull();
    expect(decodeSealedData(s, JSON.stringify({ ...stored, [s.hashName('j')]: ['garbage'] }), H)).toBeNull();
    // A marker that does not open is as bad as none.
    expect(decodeSealedData(s, JSON.stringify({ ...stored, [SEAL_MARKER]: [encodeSealedData(s, {}, H2)] }), H)).toBeNull();
    expect(openEntries(s, [[SEAL_MARKER, s.sealMarker(H)]], H)).toEqual({});
    expect(openEntries(s, [], H)).toBeNull();
  });

  it('a write under a new key removes the old copy; duplicates prefer the newer key', () => {
    const oldS = new SessionSealer([A]);
    const newS = new SessionSealer([B, A]);
    const stored = parse(encodeSealedData(oldS, { k: 'old', j: 1 }, H));
    const patch = sealPatch(newS, { k: 'new' }, ['j'], H);
    expect(patch.unset.sort()).toEqual([oldS.hashName('k'), oldS.hashName('j'), newS.hashName('j')].sort());
    const [name, value] = Object.entries(patch.set).find(([n]) => n !== SEAL_MARKER)!;
    expect(name).toBe(newS.hashName('k'));
    // A reader meeting both copies (the old one not yet removed) takes the newer key's, in either order.
    expect(decodeSealedData(newS, JSON.stringify({ ...stored, [name]: [value] }), H)).toEqual({ k: 'new', j: 1 });
    expect(decodeSealedData(newS, JSON.stringify({ [name]: [value], ...stored }), H)).toEqual({ k: 'new', j: 1 });
    // During the rotation the marker moves to the new key with any write of values.
    expect(newS.openMarker(patch.set[SEAL_MARKER], H)).toBe(true);
    expect(new SessionSealer([B]).openMarker(patch.set[SEAL_MARKER], H)).toBe(true);
    expect(sealPatch(newS, undefined, ['j'], H).set).toEqual({});
    // One key: nothing stale to remove, and the marker stays where it is.
    expect(sealPatch(oldS, { k: 1 }, undefined, H)).toEqual({ set: { [oldS.hashName('k')]: expect.any(String) }, unset: [] });
  });

  it('a patch that seals needs the handle; one that only removes does not', () => {
    const s = new SessionSealer([A]);
    expect(() => sealPatch(s, { k: 1 }, undefined, undefined)).toThrow(/needs patch.handle/);
    expect(sealPatch(s, {}, ['k'], undefined)).toEqual({ set: {}, unset: [s.hashName('k')] });
    expect(sealPatch(s, undefined, undefined, undefined)).toEqual({ set: {}, unset: [] });
    expect(() => patchHandle('')).toThrow(/needs patch.handle/);
    expect(patchHandle(H)).toBe(H);
  });

  it('keeps __proto__ as an ordinary key', () => {
    const s = new SessionSealer([A]);
    const data = JSON.parse('{"__proto__":{"p":1}}') as Record<string, unknown>;
    const out = decodeSealedData(s, encodeSealedData(s, data, H), H)!;
    expect(Object.prototype.hasOwnProperty.call(out, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
  });
});
