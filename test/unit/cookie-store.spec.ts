import { CookieSessionStore, isCookieSessionStore } from '../../src/stores/cookie.store.js';
import { MemorySessionStore } from '../../src/stores/memory.store.js';
import { GuardedStore } from '../../src/session/guarded-store.js';
import { SessionSealer } from '../../src/crypto/seal.js';
import { SessionStoreUnsupportedError } from '../../src/errors.js';
import { isUserIndexed, type SessionRecord } from '../../src/stores/store.js';

/**
 * CookieSessionStore on its own: the sealed cookie round trip, what it refuses to open (altered,
 * foreign, or authentic but of the wrong shape), and that it is no server-side store: the guarded
 * store refuses what a cookie cannot do.
 * The lifecycle with it (sizes, rotation, logout) is in session.cookie-lifecycle.spec.ts.
 */

const K1 = 'cookie-key-1-0123456789abcdefghijklmnopqrst';
const K2 = 'cookie-key-2-0123456789abcdefghijklmnopqrst';
/** The name the whole session is sealed under (part of the additional data of every cookie). */
const SEALED_NAME = 'nestjs-lazy-session/cookie';

const record = (over: Partial<SessionRecord> = {}): SessionRecord => ({
  id: 'handle-0123456789abcdef',
  handle: 'handle-0123456789abcdef',
  userId: 'alice',
  createdAt: 1_800_000_000_000,
  lastSeenAt: 1_800_000_001_000,
  expiresAt: 1_800_001_800_000,
  authAt: 1_800_000_000_500,
  remember: true,
  data: { cart: [1, 2], nested: { a: 'b' } },
  ...over,
});

describe('CookieSessionStore: construction', () => {
  it('needs { keys: string[] }', () => {
    const message = 'nestjs-lazy-session: CookieSessionStore needs { keys: string[] } (each at least 32 characters)';
    expect(() => new CookieSessionStore(undefined as never)).toThrow(message);
    expect(() => new CookieSessionStore(null as never)).toThrow(message);
    expect(() => new CookieSessionStore({} as never)).toThrow(message);
    expect(() => new CookieSessionStore({ keys: K1 } as never)).toThrow(message);
    expect(() => new CookieSessionStore({ keys: [K1] })).not.toThrow();
  });

  it('carries the session in the cookie, under a 4096-byte line', () => {
    const store = new CookieSessionStore({ keys: [K1] });
    expect(store.inCookie).toBe(store);
    expect(store.maxCookieBytes).toBe(4096);
  });
});

describe('CookieSessionStore: seal and open', () => {
  it('round-trips every field; the id is the handle', () => {
    const store = new CookieSessionStore({ keys: [K1] });
    const r = record();
    expect(store.open(store.seal(r))).toEqual(r);
    const anon = record({ userId: null, authAt: null, remember: false, data: {} });
    expect(store.open(store.seal(anon))).toEqual(anon);
    const other = record({ id: 'ignored', handle: 'handle-b' });
    expect(store.open(store.seal(other))).toEqual({ ...other, id: 'handle-b' });
  });

  it('does not open an altered value, a value sealed under another key list, or one sealed for encryption at rest', () => {
    const store = new CookieSessionStore({ keys: [K1] });
    const sealed = store.seal(record());
    const raw = Buffer.from(sealed, 'base64url');
    raw[raw.length - 1] ^= 1;
    expect(store.open(raw.toString('base64url'))).toBeNull();
    expect(new CookieSessionStore({ keys: [K2] }).open(sealed)).toBeNull();
    // Same key, other purpose or other name: not a cookie of this store.
    const payload = [1, 'h', null, 1, 2, 3, null, 0, {}];
    expect(store.open(new SessionSealer([K1], 'at-rest').sealValue(SEALED_NAME, payload))).toBeNull();
    expect(store.open(new SessionSealer([K1], 'cookie').sealValue('another-name', payload))).toBeNull();
    expect(store.open('')).toBeNull();
    expect(store.open('not a sealed value')).toBeNull();
  });

  it('rotation: the first key seals, every key opens', () => {
    const old = new CookieSessionStore({ keys: [K1] });
    const rotated = new CookieSessionStore({ keys: [K2, K1] });
    const r = record();
    expect(rotated.open(old.seal(r))).toEqual(r);
    expect(old.open(rotated.seal(r))).toBeNull();
  });

  describe('authentic payloads of the wrong shape do not open', () => {
    // Sealed with the store's own key, purpose and name: only the payload's shape is wrong.
    const sealer = new SessionSealer([K1], 'cookie');
    const store = new CookieSessionStore({ keys: [K1] });
    const good = [1, 'h', 'u', 1, 2, 3, 4, 1, { k: 'v' }];

    it('the well-formed control opens', () => {
      expect(store.open(sealer.sealValue(SEALED_NAME, good))).toEqual({
        id: 'h',
        handle: 'h',
        userId: 'u',
        createdAt: 1,
        lastSeenAt: 2,
        expiresAt: 3,
        authAt: 4,
        remember: true,
        data: { k: 'v' },
      });
      expect(store.open(sealer.sealValue(SEALED_NAME, [1, 'h', null, 1, 2, 3, null, 0, {}]))?.remember).toBe(false);
    });

    it.each([
      ['an object', { 0: 1, length: 9 }],
      ['a string', 'x'.repeat(9)],
      ['null', null],
      ['8 fields', good.slice(0, 8)],
      ['10 fields', [...good, 0]],
      ['format version 2', [2, ...good.slice(1)]],
      ['format version 0', [0, ...good.slice(1)]],
      ['data null', [...good.slice(0, 8), null]],
      ['data an array', [...good.slice(0, 8), []]],
      ['data a string', [...good.slice(0, 8), 'data']],
      ['data a number', [...good.slice(0, 8), 7]],
    ])('%s', (_what, payload) => {
      expect(store.open(sealer.sealValue(SEALED_NAME, payload))).toBeNull();
    });
  });
});

describe('CookieSessionStore: not a server-side store', () => {
  const store = new CookieSessionStore({ keys: [K1] });

  it('has no server-side half to pretend with, and no user index', () => {
    for (const m of ['load', 'create', 'update', 'destroy', 'prune', 'listByUser', 'destroyByUser', 'destroyByHandle']) {
      expect((store as unknown as Record<string, unknown>)[m]).toBeUndefined();
    }
    expect(isUserIndexed(store as never)).toBe(false);
    expect(isCookieSessionStore(store)).toBe(true);
    expect(isCookieSessionStore(new MemorySessionStore())).toBe(false);
    expect(isCookieSessionStore({ seal: () => '', open: () => null, maxCookieBytes: 4096 })).toBe(false);
    expect(isCookieSessionStore(null)).toBe(false);
  });

  it('behind the guarded store, prune finds nothing and the server-side calls are refused', async () => {
    const guarded = new GuardedStore(store, 1000, { warn: () => undefined });
    await expect(guarded.prune(Date.now(), () => undefined)).resolves.toBe(0);
    for (const call of [() => guarded.load('id'), () => guarded.create({} as never), () => guarded.update('id', {} as never), () => guarded.destroy('id')]) {
      await expect(call()).rejects.toThrow(SessionStoreUnsupportedError);
    }
  });

  it.each([
    ['listByUser', "cannot list a user's sessions"],
    ['destroyByUser', "cannot end a user's sessions"],
    ['destroyByHandle', 'cannot end a session by its handle'],
  ] as const)('%s is unsupported, and says why', async (method, what) => {
    const guarded = new GuardedStore(store, 1000, { warn: () => undefined });
    const err = (await (guarded[method] as (a: string) => Promise<unknown>).call(guarded, 'x').catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(SessionStoreUnsupportedError);
    expect(err.message).toContain(`CookieSessionStore ${what}: the sessions live only in the browsers' cookies`);
  });
});
