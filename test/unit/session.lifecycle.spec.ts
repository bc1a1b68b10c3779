import { jest } from '@jest/globals';
// Straight from the modules, not the package index: the index loads TypeORM and Redis code, which
// would cost every mutant of a Stryker run seconds of loading.
import { MemorySessionStore } from '../../src/stores/memory.store.js';
import { SessionDataTooLargeError, SessionStoreUnavailableError } from '../../src/errors.js';
import { verifyCookieValue, storeKey } from '../../src/crypto/token.js';
import { harness, idOf, tokenOf, SECRET, OLD_SECRET, type Exchange } from './support/harness.js';
import { ForbiddenException } from '@nestjs/common';
import { CROSS_SITE_REFUSED } from '../../src/http/cross-site.js';

/**
 * The session lifecycle of one request (LazySession over ServerSideBackend) against the in-memory store, with a fake HTTP
 * adapter: creation, load, expiry, touch, rotation, login, logout and destroy, and what reaches the
 * response (Set-Cookie, Cache-Control, Vary). Time is Date.now(), pinned where it matters.
 */

const T0 = 1_800_000_000_000;
const IDLE = 30 * 60_000;
const ABS = 12 * 3600_000;
const TOUCH = 60_000;

let now = T0;
beforeEach(() => {
  now = T0;
  jest.spyOn(Date, 'now').mockImplementation(() => now);
});
afterEach(() => jest.restoreAllMocks());

function setup(options: Parameters<typeof harness>[1] = {}) {
  const mem = new MemorySessionStore();
  return { mem, ...harness(mem, { idleTimeout: IDLE, absoluteTimeout: ABS, touchInterval: TOUCH, ...options }) };
}

type Setup = ReturnType<typeof setup>;
const maxAgeOf = (line: string) => Number(/Max-Age=(\d+)/.exec(line)?.[1]);
const calls = (h: { store: { calls: Array<[string, unknown[]]> } }) => h.store.calls.map(([m]) => m);

describe('a request that never uses its session', () => {
  it('touches nothing: no store call, no header, nothing to wait for', async () => {
    const h = setup();
    const x = h.request(`__Host-sid=whatever`);
    expect(x.ctx.beforeSend(200)).toBeUndefined();
    expect(x.session.commit()).toBeUndefined();
    expect(x.res.headers).toEqual({});
    expect(x.res.headers.vary).toBeUndefined();
    expect(h.store.calls).toEqual([]);
  });
});

describe('creation', () => {
  it('a read without a cookie creates nothing, but marks the response as depending on the cookie', async () => {
    const h = setup();
    const x = h.request();
    expect(await x.session.get('a')).toBeUndefined();
    expect(await x.session.has('a')).toBe(false);
    expect(await x.session.getUserId()).toBeUndefined();
    await x.send();
    expect(x.res.headers.vary).toBe('Cookie');
    expect(x.res.headers.vary).toBe('Cookie');
    expect(x.res.headers['set-cookie']).toBeUndefined();
    expect(x.res.headers['cache-control']).toBeUndefined();
    expect(h.store.calls).toEqual([]);
    expect(h.events).toEqual([]);
  });

  it('the first write creates one session: a signed random token, stored only as its hash', async () => {
    const h = setup();
    const x = h.request();
    await x.session.set('cart', ['apple']);
    expect(h.mem.size).toBe(0); // nothing stored before the response
    await x.send();
    const lines = x.setCookies();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^__Host-sid=[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    expect(x.res.headers['cache-control']).toBe('no-store');
    const cookie = x.nextCookie()!;
    const token = verifyCookieValue(cookie.split('=')[1], [SECRET]);
    expect(token).toBe(tokenOf(cookie));
    expect(h.mem.size).toBe(1);
    const stored = (await h.mem.load(storeKey(token!)))!;
    expect(stored).toMatchObject({ id: storeKey(token!), data: { cart: ['apple'] }, userId: null, createdAt: T0, lastSeenAt: T0, expiresAt: T0 + IDLE, authAt: null, remember: false });
    expect(stored.handle).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(stored.id).not.toContain(token);
    expect(h.events).toEqual([{ type: 'created', handle: stored.handle, userId: undefined, at: expect.any(Date) }]);
    expect(calls(h)).toEqual(['create']);
  });

  it('two new sessions never share a token or a handle', async () => {
    const h = setup();
    const a = h.request();
    const b = h.request();
    await a.session.set('k', 1);
    await b.session.set('k', 2);
    await a.send();
    await b.send();
    expect(a.nextCookie()).not.toBe(b.nextCookie());
    const [ra, rb] = [await h.mem.load(idOf(a.nextCookie()!)), await h.mem.load(idOf(b.nextCookie()!))];
    expect(ra!.handle).not.toBe(rb!.handle);
    expect([ra!.data.k, rb!.data.k]).toEqual([1, 2]);
  });

  it('a session whose idle expiry would pass the absolute one gets the absolute one', async () => {
    const h = setup({ idleTimeout: 60_000, absoluteTimeout: 90_000, touchInterval: 1000 });
    const x = h.request();
    await x.session.set('a', 1);
    await x.send();
    expect((await h.mem.load(idOf(x.nextCookie()!)))!.expiresAt).toBe(T0 + 60_000);
    now = T0 + 50_000;
    const y = h.request(x.nextCookie());
    await y.session.set('b', 2);
    await y.send();
    expect((await h.mem.load(idOf(x.nextCookie()!)))!.expiresAt).toBe(T0 + 90_000);
  });

  it('cookie.maxAge makes the new cookie persistent, capped by the absolute lifetime', async () => {
    const h = setup({ cookie: { maxAge: 3_600_000 } });
    const x = h.request();
    await x.session.set('a', 1);
    await x.send();
    expect(maxAgeOf(x.setCookies()[0])).toBe(3600);
    const capped = setup({ cookie: { maxAge: ABS + 3_600_000 } });
    const y = capped.request();
    await y.session.set('a', 1);
    await y.send();
    expect(maxAgeOf(y.setCookies()[0])).toBe(ABS / 1000);
  });

  it('nothing is stored when the response is a 5xx; a 4xx stores', async () => {
    const h = setup();
    const failed = h.request();
    await failed.session.set('a', 1);
    await failed.send(500);
    expect(h.mem.size).toBe(0);
    expect(failed.setCookies()).toEqual([]);
    const handled = h.request();
    await handled.session.set('a', 1);
    await handled.send(499);
    expect(h.mem.size).toBe(1);
  });

  it('commits once, however often the adapter asks', async () => {
    const h = setup();
    const x = h.request();
    await x.session.set('a', 1);
    await x.send();
    expect(x.session.commit()).toBeUndefined();
    await x.send();
    expect(calls(h)).toEqual(['create']);
    expect(x.setCookies()).toHaveLength(1);
  });
});

describe('loading', () => {
  it('a valid cookie loads the session once, however many callers ask at once', async () => {
    const h = setup();
    const { cookie } = await h.seed({ data: { a: 1, b: null } });
    const x = h.request(cookie);
    const [a, b, hasB, hasC] = await Promise.all([x.session.get('a'), x.session.get('b'), x.session.has('b'), x.session.has('c')]);
    expect([a, b, hasB, hasC]).toEqual([1, null, true, false]);
    await x.send();
    expect(calls(h)).toEqual(['load']); // one load (the seed went to the store directly)
    expect(x.setCookies()).toEqual([]);
    expect(x.res.headers.vary).toBe('Cookie');
    expect(x.res.headers.vary).toBe('Cookie');
  });

  it('only own keys are session values: inherited names are absent', async () => {
    const h = setup();
    const { cookie } = await h.seed({ data: { a: 1 } });
    const x = h.request(cookie);
    for (const key of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      expect(await x.session.get(key)).toBeUndefined();
      expect(await x.session.has(key)).toBe(false);
    }
  });

  it('a cookie signed with an older secret still in the list opens the session; a new id is signed with the first', async () => {
    const h = setup({ secret: [SECRET, OLD_SECRET] });
    const { cookie } = await h.seed({ data: { a: 1 } }, OLD_SECRET);
    const x = h.request(cookie);
    expect(await x.session.get('a')).toBe(1);
    await x.session.regenerate();
    await x.send();
    expect(verifyCookieValue(x.nextCookie()!.split('=')[1], [SECRET])).toBeDefined();
  });

  it('a bad signature costs no store call and clears nothing: no session, no cookie', async () => {
    const h = setup();
    const { cookie, token } = await h.seed({ data: { a: 1 } }, 'some-other-secret-0123456789-abcdefghijklm');
    h.store.calls.length = 0;
    for (const bad of [cookie, `__Host-sid=${token}`, '__Host-sid=', `__Host-sid=${token}.${token}`]) {
      const x = h.request(bad);
      expect(await x.session.get('a')).toBeUndefined();
      await x.send();
      expect(x.setCookies()).toEqual([]);
    }
    expect(h.store.calls).toEqual([]);
  });

  it('a client-chosen id is never adopted: a write under an unknown signed token makes a new id', async () => {
    const h = setup();
    const { cookie, id } = await h.seed({});
    await h.mem.destroy(id);
    const x = h.request(cookie);
    await x.session.set('a', 1);
    await x.send();
    const next = x.nextCookie()!;
    expect(next).toBeTruthy();
    expect(idOf(next)).not.toBe(id);
    expect(await h.mem.load(id)).toBeNull();
    expect(h.mem.size).toBe(1);
  });

  it('a signed cookie whose session is gone is cleared (Max-Age=0, no-store)', async () => {
    const h = setup();
    const { cookie, id } = await h.seed({});
    await h.mem.destroy(id);
    const x = h.request(cookie);
    expect(await x.session.get('a')).toBeUndefined();
    await x.send();
    expect(x.setCookies()).toEqual(['__Host-sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; Secure; SameSite=Lax']);
    expect(x.res.headers['cache-control']).toBe('no-store');
  });

  it('two cookies of our name count as none (cookie tossing)', async () => {
    const h = setup();
    const { cookie } = await h.seed({ data: { a: 1 } });
    const x = h.request(`${cookie}; ${cookie}`);
    expect(await x.session.get('a')).toBeUndefined();
    await x.send();
    expect(x.setCookies()).toEqual([]);
  });
});

describe('expiry', () => {
  const cases: Array<[string, Partial<{ createdAt: number; lastSeenAt: number; expiresAt: number }>]> = [
    ['at its stored expiresAt', { expiresAt: T0 }],
    ['idle for idleTimeout', { lastSeenAt: T0 - IDLE, expiresAt: T0 + 1 }],
    ['older than absoluteTimeout', { createdAt: T0 - ABS, expiresAt: T0 + 1 }],
  ];
  it.each(cases)('a session %s is gone: not loaded, deleted, reported, its cookie cleared', async (_, times) => {
    const h = setup();
    const { cookie, id, record } = await h.seed({ data: { secret: 's' }, userId: 'u1', createdAt: T0 - 1000, lastSeenAt: T0 - 1000, ...times });
    const x = h.request(cookie);
    expect(await x.session.get('secret')).toBeUndefined();
    expect(await x.session.getUserId()).toBeUndefined();
    await x.send();
    expect(await h.mem.load(id)).toBeNull();
    expect(h.events.map((e) => [e.type, e.handle, e.userId])).toEqual([['expired', record.handle, 'u1']]);
    expect(x.nextCookie()).toBe('');
  });

  it.each([
    ['stored expiresAt', { expiresAt: T0 + 1 }],
    ['idle', { lastSeenAt: T0 - IDLE + 1, expiresAt: T0 + 10 }],
    ['absolute', { createdAt: T0 - ABS + 1, expiresAt: T0 + 10 }],
  ])('one millisecond before its %s expiry it is still live', async (_, times) => {
    const h = setup();
    const { cookie } = await h.seed({ data: { a: 1 }, createdAt: T0 - 1000, lastSeenAt: T0 - 1000, ...times });
    const x = h.request(cookie);
    expect(await x.session.get('a')).toBe(1);
    await x.send();
    expect(h.events).toEqual([]);
  });

  it('an expired session met again by a write starts a new one with nothing of the old', async () => {
    const h = setup();
    const { cookie, id } = await h.seed({ data: { secret: 's' }, userId: 'u1', expiresAt: T0 - 1 });
    const x = h.request(cookie);
    await x.session.set('a', 1);
    await x.send();
    const next = x.nextCookie()!;
    expect(next).not.toBe('');
    expect(idOf(next)).not.toBe(id);
    const fresh = (await h.mem.load(idOf(next)))!;
    expect(fresh.data).toEqual({ a: 1 });
    expect(fresh.userId).toBeNull();
    expect(h.events.map((e) => e.type)).toEqual(['expired', 'created']);
  });
});

describe('touch: keeping an unmodified session alive', () => {
  it('a read within touchInterval writes nothing; at touchInterval it writes the new expiry only', async () => {
    const h = setup();
    const { cookie, id } = await h.seed({ data: { a: 1 }, createdAt: T0, lastSeenAt: T0, expiresAt: T0 + IDLE });
    now = T0 + TOUCH - 1;
    const early = h.request(cookie);
    await early.session.get('a');
    await early.send();
    expect(calls(h)).toEqual(['load']);
    now = T0 + TOUCH;
    const due = h.request(cookie);
    await due.session.get('a');
    await due.send();
    expect(h.store.calls.at(-1)).toStrictEqual(['update', [id, { handle: (await h.mem.load(id))!.handle, lastSeenAt: T0 + TOUCH, expiresAt: T0 + TOUCH + IDLE }]]);
    expect(due.setCookies()).toEqual([]);
    expect(await h.mem.load(id)).toMatchObject({ lastSeenAt: T0 + TOUCH, expiresAt: T0 + TOUCH + IDLE, createdAt: T0 });
  });
});

describe('commit after a load: decided at once when there is nothing to write', () => {
  // A read-only request's response must not wait for a promise; every other case must still write.
  it('a read within touchInterval: commit() answers undefined, nothing is written', async () => {
    const h = setup();
    const { cookie } = await h.seed({ data: { a: 1 }, createdAt: T0, lastSeenAt: T0, expiresAt: T0 + IDLE });
    const x = h.request(cookie);
    expect(await x.session.get('a')).toBe(1);
    expect(x.session.commit()).toBeUndefined();
    expect(calls(h)).toEqual(['load']);
    expect(x.setCookies()).toEqual([]);
  });

  it('a touch due, a change or a login: commit() answers a promise that writes; a forged cookie: nothing', async () => {
    const h = setup();
    const { cookie } = await h.seed({ data: { a: 1 }, createdAt: T0, lastSeenAt: T0, expiresAt: T0 + IDLE });
    now = T0 + TOUCH;
    const touch = h.request(cookie);
    await touch.session.get('a');
    const touched = touch.session.commit();
    expect(touched).toBeInstanceOf(Promise);
    await touched;
    expect(calls(h)).toEqual(['load', 'update']);

    const changed = h.request(cookie);
    await changed.session.set('a', 2);
    await expect(changed.session.commit()).resolves.toBeUndefined();
    expect(calls(h).at(-1)).toBe('update');

    const login = h.request(cookie);
    await login.session.login('u1');
    const loggedIn = login.session.commit();
    expect(loggedIn).toBeInstanceOf(Promise);
    await loggedIn;
    expect(calls(h).at(-1)).toBe('update');

    const forged = h.request(`__Host-sid=${'A'.repeat(43)}.${'B'.repeat(43)}`);
    expect(await forged.session.get('a')).toBeUndefined();
    expect(forged.session.commit()).toBeUndefined();
    expect(forged.setCookies()).toEqual([]);
  });

  it('a cookie naming a session that is gone: the commit clears the cookie', async () => {
    const h = setup();
    const { cookie, id } = await h.seed({ data: { a: 1 } });
    await h.mem.destroy(id);
    const x = h.request(cookie);
    expect(await x.session.get('a')).toBeUndefined();
    const clearing = x.session.commit();
    expect(clearing).toBeInstanceOf(Promise);
    await clearing;
    expect(x.setCookies()).toEqual([expect.stringMatching(/^__Host-sid=;.*Max-Age=0/)]);
  });

  it('a load that failed: commit() still answers a promise, which rejects', async () => {
    const h = setup();
    const { cookie } = await h.seed({ data: { a: 1 } });
    jest.spyOn(h.mem, 'load').mockRejectedValue(new Error('connection refused'));
    const x = h.request(cookie);
    await expect(x.session.get('a')).rejects.toBeInstanceOf(SessionStoreUnavailableError);
    const committed = x.session.commit();
    expect(committed).toBeInstanceOf(Promise);
    await expect(committed).rejects.toBeInstanceOf(SessionStoreUnavailableError);
  });
});

describe('writes', () => {
  it('sends only the keys this request touched: set, unset, replace after clear', async () => {
    const h = setup();
    const { cookie, id } = await h.seed({ data: { a: 1, b: 2, c: 3 } });
    const x = h.request(cookie);
    await x.session.set('d', { n: [1] });
    await x.session.delete('a');
    expect(await x.session.get('c')).toBe(3);
    await x.session.delete('missing');
    await x.session.set('b', 20);
    await x.session.delete('b');
    await x.session.set('e', 5);
    await x.send();
    expect(h.store.calls.at(-1)).toStrictEqual(['update', [id, { handle: (await h.mem.load(id))!.handle, lastSeenAt: T0, expiresAt: T0 + IDLE, set: { d: { n: [1] }, e: 5 }, unset: ['a', 'b'] }]]);
    expect((await h.mem.load(id))!.data).toEqual({ c: 3, d: { n: [1] }, e: 5 });
    expect(x.setCookies()).toEqual([]);

    const y = h.request(cookie);
    await y.session.clear();
    expect(await y.session.get('c')).toBeUndefined();
    await y.session.set('z', 1);
    await y.send();
    expect(h.store.calls.at(-1)).toStrictEqual(['update', [id, { handle: (await h.mem.load(id))!.handle, lastSeenAt: T0, expiresAt: T0 + IDLE, replace: { z: 1 } }]]);
    expect((await h.mem.load(id))!.data).toEqual({ z: 1 });
  });

  it('a delete undone by a set in the same request stores the set', async () => {
    const h = setup();
    const { cookie, id } = await h.seed({ data: { a: 1 } });
    const x = h.request(cookie);
    await x.session.delete('a');
    await x.session.set('a', 2);
    expect(await x.session.get('a')).toBe(2);
    await x.send();
    expect((await h.mem.load(id))!.data).toEqual({ a: 2 });
  });

  it('values are copied in: a later change to the caller\'s object is not stored', async () => {
    const h = setup();
    const x = h.request();
    const cart = { items: ['a'] };
    await x.session.set('cart', cart);
    cart.items.push('b');
    expect(await x.session.get('cart')).toEqual({ items: ['a'] });
    await x.send();
    expect((await h.mem.load(idOf(x.nextCookie()!)))!.data).toEqual({ cart: { items: ['a'] } });
  });

  it('refuses a write past maxDataBytes and keeps what it had', async () => {
    const h = setup({ maxDataBytes: 100 });
    const x = h.request();
    await x.session.set('a', 'x'.repeat(50));
    const err = await x.session.set('b', 'y'.repeat(50)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionDataTooLargeError);
    expect((err as SessionDataTooLargeError).limit).toBe(100);
    expect(await x.session.has('b')).toBe(false);
    // Exactly at the limit is allowed.
    const exact = 'z'.repeat(100 - Buffer.byteLength(JSON.stringify({ a: 'x'.repeat(50), c: '' })));
    expect(Buffer.byteLength(JSON.stringify({ a: 'x'.repeat(50), c: exact }))).toBe(100);
    await x.session.set('c', exact);
    await x.send();
    expect(Object.keys((await h.mem.load(idOf(x.nextCookie()!)))!.data)).toEqual(['a', 'c']);
  });

  it('refuses a value that is not JSON, naming the key, before touching the store', async () => {
    const h = setup();
    const x = h.request();
    await expect(x.session.set('f', () => 1)).rejects.toThrow(TypeError);
    await expect(x.session.set('f', () => 1)).rejects.toThrow(/'f'/);
    expect(x.res.headers.vary).toBeUndefined();
    expect(h.store.calls).toEqual([]);
  });
});

describe('regenerate', () => {
  it('moves the session to a new id: the old cookie reaches nothing, one row, same data and handle', async () => {
    const h = setup();
    const { cookie, id, record } = await h.seed({ data: { a: 1 }, createdAt: T0 - 1000, lastSeenAt: T0 - 1000 });
    const x = h.request(cookie);
    await x.session.regenerate();
    await x.send();
    const next = x.nextCookie()!;
    expect(next).toMatch(/^__Host-sid=/);
    expect(idOf(next)).not.toBe(id);
    expect(x.res.headers['cache-control']).toBe('no-store');
    expect(h.mem.size).toBe(1);
    expect(await h.mem.load(id)).toBeNull();
    expect(await h.mem.load(idOf(next))).toMatchObject({ handle: record.handle, data: { a: 1 }, createdAt: T0 - 1000 });
    expect(h.events.map((e) => [e.type, e.handle])).toEqual([['regenerated', record.handle]]);

    const old = h.request(cookie);
    expect(await old.session.get('a')).toBeUndefined();
    const fresh = h.request(next);
    expect(await fresh.session.get('a')).toBe(1);
  });

  it('never resets the absolute lifetime', async () => {
    const h = setup();
    const { cookie } = await h.seed({ createdAt: T0 - ABS + 5000, lastSeenAt: T0 - 1000, expiresAt: T0 + 5000 });
    const x = h.request(cookie);
    await x.session.regenerate();
    await x.send();
    expect(await h.mem.load(idOf(x.nextCookie()!))).toMatchObject({ createdAt: T0 - ABS + 5000, expiresAt: T0 + 5000 });
  });

  it('with no session there is nothing to rotate', async () => {
    const h = setup();
    const x = h.request();
    await x.session.regenerate();
    await x.send();
    expect(x.setCookies()).toEqual([]);
    expect(h.mem.size).toBe(0);
  });

  it('a session destroyed by another request meanwhile is not brought back, and no cookie is sent', async () => {
    const h = setup();
    const { cookie, id } = await h.seed({ data: { a: 1 } });
    const x = h.request(cookie);
    await x.session.get('a');
    await h.mem.destroy(id);
    await x.session.regenerate();
    await x.session.set('b', 2);
    await x.send();
    expect(h.mem.size).toBe(0);
    expect(x.setCookies()).toEqual([]);
    expect(h.events).toEqual([]);
  });
});

describe('login', () => {
  it('on an anonymous session: a new id, the old one dead at once, the data kept, one row', async () => {
    const h = setup();
    const { cookie, id, record } = await h.seed({ data: { cart: ['pear'] } });
    now = T0 + 10;
    const x = h.request(cookie, 'POST');
    await x.session.login('alice');
    expect(await x.session.getUserId()).toBe('alice');
    expect(await x.session.authInfo()).toEqual({ userId: 'alice', authAt: T0 + 10 });
    await x.send();
    const next = x.nextCookie()!;
    expect(next).toMatch(/^__Host-sid=/);
    expect(idOf(next)).not.toBe(id);
    expect(x.setCookies()[0]).not.toMatch(/Max-Age/);
    expect(h.mem.size).toBe(1);
    expect(await h.mem.load(id)).toBeNull();
    expect(await h.mem.load(idOf(next))).toMatchObject({ userId: 'alice', authAt: T0 + 10, remember: false, data: { cart: ['pear'] }, handle: record.handle });
    expect(h.events.map((e) => [e.type, e.userId])).toEqual([['regenerated', 'alice'], ['login', 'alice']]);

    const old = h.request(cookie);
    expect(await old.session.get('cart')).toBeUndefined();
    expect(await old.session.getUserId()).toBeUndefined();
  });

  it('on a fresh request: one new session with the user, events created then login', async () => {
    const h = setup();
    const x = h.request();
    await x.session.login('bob');
    await x.send();
    expect(calls(h)).toEqual(['create']);
    expect(await h.mem.load(idOf(x.nextCookie()!))).toMatchObject({ userId: 'bob', authAt: T0, data: {} });
    expect(h.events.map((e) => [e.type, e.userId])).toEqual([['created', 'bob'], ['login', 'bob']]);
  });

  it('remember: a persistent cookie for exactly what is left of the absolute lifetime, kept on later rotations', async () => {
    const h = setup();
    const x = h.request();
    await x.session.login('carol', { remember: true });
    await x.send();
    expect(maxAgeOf(x.setCookies()[0])).toBe(ABS / 1000);
    now = T0 + 600_000;
    const y = h.request(x.nextCookie());
    await y.session.regenerate();
    await y.send();
    expect(maxAgeOf(y.setCookies()[0])).toBe((ABS - 600_000) / 1000);
    expect((await h.mem.load(idOf(y.nextCookie()!)))!.remember).toBe(true);
  });

  it('remember only when asked: remember false or absent keeps a browser-session cookie', async () => {
    const h = setup();
    for (const options of [undefined, { remember: false }, {}]) {
      const x = h.request();
      await x.session.login('dan', options);
      await x.send();
      expect(x.setCookies()[0]).not.toMatch(/Max-Age/);
    }
  });

  it('as another user: the data starts empty; as the same user again: the data stays', async () => {
    const h = setup();
    const { cookie } = await h.seed({ data: { secret: 'bob-only' }, userId: 'bob', authAt: T0 - 5 });
    const same = h.request(cookie);
    await same.session.login('bob');
    await same.send();
    const bobAgain = same.nextCookie()!;
    expect((await h.mem.load(idOf(bobAgain)))!.data).toEqual({ secret: 'bob-only' });
    const other = h.request(bobAgain);
    await other.session.login('eve');
    expect(await other.session.get('secret')).toBeUndefined();
    await other.send();
    expect(await h.mem.load(idOf(other.nextCookie()!))).toMatchObject({ userId: 'eve', data: {} });
  });

  it('twice in one request as different users: the second starts empty too', async () => {
    const h = setup();
    const x = h.request();
    await x.session.login('a1');
    await x.session.set('k', 1);
    await x.session.login('a2');
    expect(await x.session.has('k')).toBe(false);
    await x.send();
    expect(await h.mem.load(idOf(x.nextCookie()!))).toMatchObject({ userId: 'a2', data: {} });
  });

  it.each([[''], ['x'.repeat(256)], ['a\u0000b'], ['a\ud800'], [42], [undefined]])('refuses user id %p with a TypeError, changing nothing', async (bad) => {
    const h = setup();
    const x = h.request();
    await expect(x.session.login(bad as string)).rejects.toThrow(TypeError);
    await expect(x.session.login(bad as string)).rejects.toThrow(/^session\.login\(userId\): userId must be a non-empty string/);
    await x.send();
    expect(h.mem.size).toBe(0);
    expect(x.setCookies()).toEqual([]);
  });

  it('accepts a 255-character user id', async () => {
    const h = setup();
    const x = h.request();
    await x.session.login('u'.repeat(255));
    await x.send();
    expect((await h.mem.load(idOf(x.nextCookie()!)))!.userId).toBe('u'.repeat(255));
  });

  it('maxSessionsPerUser ends the sessions that logged in first, never the one logging in', async () => {
    const h = setup({ maxSessionsPerUser: 2 });
    const first = await h.seed({ userId: 'liam', authAt: T0 - 300 });
    const second = await h.seed({ userId: 'liam', authAt: T0 - 200 });
    const expired = await h.seed({ userId: 'liam', authAt: T0 - 400, expiresAt: T0 - 1 });
    const stranger = await h.seed({ userId: 'other', authAt: T0 - 500 });
    // The one logging in has the oldest login time of all: it must stay anyway.
    const current = await h.seed({ userId: 'liam', authAt: T0 - 1000 });
    const x = h.request(current.cookie);
    await x.session.login('liam');
    await x.send();
    const after = idOf(x.nextCookie()!);
    expect(await h.mem.load(after)).not.toBeNull();
    expect(await h.mem.load(first.id)).toBeNull();
    expect(await h.mem.load(second.id)).not.toBeNull();
    expect(await h.mem.load(expired.id)).not.toBeNull(); // expired ones do not count, and are left to the sweeper
    expect(await h.mem.load(stranger.id)).not.toBeNull();
    expect(h.events.filter((e) => e.type === 'destroyed').map((e) => e.handle)).toEqual([first.record.handle]);
  });

  it('maxSessionsPerUser: within the limit nothing is ended', async () => {
    const h = setup({ maxSessionsPerUser: 2 });
    const other = await h.seed({ userId: 'mia', authAt: T0 - 300 });
    const x = h.request();
    await x.session.login('mia');
    await x.send();
    expect(await h.mem.load(other.id)).not.toBeNull();
    expect(h.mem.size).toBe(2);
    expect(calls(h)).toEqual(['create', 'listByUser']);
  });

  it('maxSessionsPerUser orders by login time, falling back to creation time', async () => {
    const h = setup({ maxSessionsPerUser: 1 });
    const never = await h.seed({ userId: 'ned', authAt: null, createdAt: T0 - 100 });
    const older = await h.seed({ userId: 'ned', authAt: T0 - 50, createdAt: T0 - 200 });
    const x = h.request();
    await x.session.login('ned');
    await x.send();
    expect(await h.mem.load(never.id)).toBeNull();
    expect(await h.mem.load(older.id)).toBeNull();
    expect(h.events.filter((e) => e.type === 'destroyed').map((e) => e.handle)).toEqual([never.record.handle, older.record.handle]);
  });
});

describe('logout and destroy', () => {
  it.each(['logout', 'destroy'] as const)('%s deletes the row at once, without loading it, and clears the cookie', async (method) => {
    const h = setup();
    const { cookie, id, record } = await h.seed({ userId: 'u9', data: { a: 1 } });
    h.store.calls.length = 0;
    const x = h.request(cookie, 'POST');
    await x.session[method]();
    expect(await h.mem.load(id)).toBeNull(); // before the response
    expect(calls(h)).toEqual(['destroy']);
    await x.send();
    expect(x.nextCookie()).toBe('');
    expect(x.res.headers['cache-control']).toBe('no-store');
    expect(x.res.headers.vary).toBe('Cookie');
    expect(h.events.map((e) => [e.type, e.handle, e.userId])).toEqual([[method === 'logout' ? 'logout' : 'destroyed', record.handle, 'u9']]);
    const old = h.request(cookie);
    expect(await old.session.get('a')).toBeUndefined();
  });

  it('after a load, logout deletes the loaded session and forgets its data', async () => {
    const h = setup();
    const { cookie, id } = await h.seed({ userId: 'u9', data: { a: 1 } });
    const x = h.request(cookie);
    expect(await x.session.get('a')).toBe(1);
    await x.session.set('b', 2);
    await x.session.logout();
    expect(await x.session.get('a')).toBeUndefined();
    expect(await x.session.getUserId()).toBeUndefined();
    await x.send();
    expect(await h.mem.load(id)).toBeNull();
    expect(h.mem.size).toBe(0);
    expect(x.nextCookie()).toBe('');
  });

  it('login then logout in one request: nothing is created, nothing carries over', async () => {
    const h = setup();
    const { cookie, id } = await h.seed({ data: { a: 1 } });
    const x = h.request(cookie);
    await x.session.login('zed');
    await x.session.delete('a');
    await x.session.logout();
    expect(await x.session.getUserId()).toBeUndefined();
    await x.send();
    expect(h.mem.size).toBe(0);
    expect(await h.mem.load(id)).toBeNull();
    expect(x.setCookies()).toHaveLength(1);
    expect(x.nextCookie()).toBe('');
    expect(h.events.map((e) => e.type)).toEqual(['logout']);
  });

  it('a write after logout in the same request makes a brand-new session, never the old id', async () => {
    const h = setup();
    const { cookie, id } = await h.seed({ userId: 'u9', data: { a: 1 } });
    const x = h.request(cookie);
    await x.session.logout();
    await x.session.set('b', 2);
    await x.send();
    const next = x.nextCookie()!;
    expect(next).toMatch(/^__Host-sid=./);
    expect(idOf(next)).not.toBe(id);
    expect(await h.mem.load(idOf(next))).toMatchObject({ data: { b: 2 }, userId: null });
    expect(h.mem.size).toBe(1);
  });

  it('logout without a cookie: no store call, no Set-Cookie', async () => {
    const h = setup();
    const x = h.request();
    await x.session.logout();
    await x.send();
    expect(h.store.calls).toEqual([]);
    expect(x.setCookies()).toEqual([]);
    expect(h.events).toEqual([]);
  });

  it('logout with a badly signed cookie: nothing deleted, the cookie cleared', async () => {
    const h = setup();
    const { token } = await h.seed({});
    h.store.calls.length = 0;
    const x = h.request(`__Host-sid=${token}.${'A'.repeat(43)}`);
    await x.session.logout();
    await x.send();
    expect(h.store.calls).toEqual([]);
    expect(h.mem.size).toBe(1);
    expect(x.nextCookie()).toBe('');
  });

  it('logout of a session already gone reports nothing but still clears the cookie', async () => {
    const h = setup();
    const { cookie, id } = await h.seed({});
    await h.mem.destroy(id);
    const x = h.request(cookie);
    await x.session.logout();
    await x.send();
    expect(h.events).toEqual([]);
    expect(x.nextCookie()).toBe('');
  });

  it('a logout holds even when the handler then fails with a 5xx', async () => {
    const h = setup();
    const { cookie, id } = await h.seed({ userId: 'u9' });
    const x = h.request(cookie);
    await x.session.logout();
    await x.send(500);
    expect(await h.mem.load(id)).toBeNull();
  });
});

describe('more lifecycle edges', () => {
  it('a delete alone is stored', async () => {
    const h = setup();
    const { cookie, id } = await h.seed({ data: { a: 1, b: 2 } });
    const x = h.request(cookie);
    await x.session.delete('a');
    await x.send();
    expect(h.store.calls.at(-1)).toStrictEqual(['update', [id, { handle: (await h.mem.load(id))!.handle, lastSeenAt: T0, expiresAt: T0 + IDLE, unset: ['a'] }]]);
    expect((await h.mem.load(id))!.data).toEqual({ b: 2 });
  });

  it('authInfo of a loaded session is its stored user and login time; none when anonymous', async () => {
    const h = setup();
    const user = await h.seed({ userId: 'u5', authAt: T0 - 77 });
    expect(await h.request(user.cookie).session.authInfo()).toStrictEqual({ userId: 'u5', authAt: T0 - 77 });
    const anon = await h.seed({});
    expect(await h.request(anon.cookie).session.authInfo()).toStrictEqual({ userId: undefined, authAt: undefined });
    expect(await h.request().session.authInfo()).toStrictEqual({ userId: undefined, authAt: undefined });
  });

  it('a session used and then ended without any cookie: no Set-Cookie, one Vary, one hold', async () => {
    const h = setup();
    for (const method of ['logout', 'destroy'] as const) {
      const x = h.request();
      expect(await x.session.get('a')).toBeUndefined();
      await x.session[method]();
      await x.send();
      expect(x.setCookies()).toEqual([]);
      expect(x.res.headers.vary).toBe('Cookie');
      expect(x.res.headers.vary).toBe('Cookie');
    }
    // After a load that found the session gone, the cookie is cleared once.
    const { cookie, id } = await h.seed({});
    await h.mem.destroy(id);
    const y = h.request(cookie);
    await y.session.get('a');
    await y.session.logout();
    await y.send();
    expect(y.setCookies()).toHaveLength(1);
    expect(y.nextCookie()).toBe('');
    expect(y.res.headers.vary).toBe('Cookie');
  });

  it('an expired session that another request removed meanwhile is not reported twice', async () => {
    const h = setup();
    const { cookie } = await h.seed({ expiresAt: T0 - 1 });
    jest.spyOn(h.mem, 'destroy').mockResolvedValueOnce(null);
    const x = h.request(cookie);
    expect(await x.session.get('a')).toBeUndefined();
    expect(h.events).toEqual([]);
  });

  it('maxSessionsPerUser: a session removed meanwhile by another request is not reported', async () => {
    const h = setup({ maxSessionsPerUser: 1 });
    await h.seed({ userId: 'pat', authAt: T0 - 300 });
    jest.spyOn(h.mem, 'destroy').mockResolvedValueOnce(null);
    const x = h.request();
    await x.session.login('pat');
    await x.send();
    expect(h.events.map((e) => e.type)).toEqual(['created', 'login']);
  });

  it('maxSessionsPerUser never ends the session logging in, even when the others logged in "later" (clock skew between instances)', async () => {
    const h = setup({ maxSessionsPerUser: 1 });
    const ahead = await h.seed({ userId: 'sam', authAt: T0 + 60_000 });
    const { cookie } = await h.seed({ userId: 'sam', authAt: T0 - 5 });
    const x = h.request(cookie);
    await x.session.login('sam');
    await x.send();
    expect(await h.mem.load(idOf(x.nextCookie()!))).not.toBeNull();
    expect(await h.mem.load(ahead.id)).toBeNull();
    expect(h.mem.size).toBe(1);
  });

  it('maxSessionsPerUser below the limit ends nothing (3 live of 4 allowed)', async () => {
    const h = setup({ maxSessionsPerUser: 4 });
    await h.seed({ userId: 'kim', authAt: T0 - 300 });
    await h.seed({ userId: 'kim', authAt: T0 - 200 });
    const x = h.request();
    await x.session.login('kim');
    await x.send();
    expect(h.mem.size).toBe(3);
    expect(h.events.map((e) => e.type)).toEqual(['created', 'login']);
  });

  it('maxSessionsPerUser ends the earliest logins first whatever the store\'s order, creation time standing in for none', async () => {
    const h = setup({ maxSessionsPerUser: 2 });
    const x1 = await h.seed({ userId: 'lee', authAt: T0 - 10, createdAt: T0 - 400 });
    const y1 = await h.seed({ userId: 'lee', authAt: null, createdAt: T0 - 300 });
    const z1 = await h.seed({ userId: 'lee', authAt: T0 - 200, createdAt: T0 - 250 });
    const x = h.request();
    await x.session.login('lee');
    await x.send();
    expect(await h.mem.load(x1.id)).not.toBeNull();
    expect(await h.mem.load(y1.id)).toBeNull();
    expect(await h.mem.load(z1.id)).toBeNull();
    expect(h.events.filter((e) => e.type === 'destroyed').map((e) => e.handle)).toEqual([y1.record.handle, z1.record.handle]);
  });

  it.each([
    ['load', async (h: Setup, cookie: string): Promise<void> => {
      await h.request(cookie).session.get('a');
    }],
    ['create', async (h: Setup): Promise<void> => {
      const x = h.request();
      await x.session.set('a', 1);
      await x.send();
    }],
    ['update', async (h: Setup, cookie: string): Promise<void> => {
      const x = h.request(cookie);
      await x.session.set('a', 1);
      await x.send();
    }],
    ['destroy', async (h: Setup, cookie: string): Promise<void> => {
      await h.request(cookie).session.logout();
    }],
    ['listByUser', async (h: Setup): Promise<void> => {
      const x = h.request();
      await x.session.login('u');
      await x.send();
    }],
  ] as const)('a failing store %s rejects naming the operation', async (op, act) => {
    const h = setup({ maxSessionsPerUser: 3 });
    const { cookie } = await h.seed({ userId: 'u' });
    jest.spyOn(h.mem, op).mockRejectedValue(new Error('down'));
    const err = (await act(h, cookie).catch((e: unknown) => e)) as SessionStoreUnavailableError;
    expect(err).toBeInstanceOf(SessionStoreUnavailableError);
    expect(err.operation).toBe(op);
  });

  it('a failing destroy of an expired session met on load, and of a session over maxSessionsPerUser, names destroy', async () => {
    const h = setup({ maxSessionsPerUser: 1 });
    const expired = await h.seed({ expiresAt: T0 - 1 });
    await h.seed({ userId: 'v', authAt: T0 - 9 });
    jest.spyOn(h.mem, 'destroy').mockRejectedValue(new Error('down'));
    const a = (await h.request(expired.cookie).session.get('a').catch((e: unknown) => e)) as SessionStoreUnavailableError;
    expect(a.operation).toBe('destroy');
    const x = h.request();
    await x.session.login('v');
    const b = (await x.send().catch((e: unknown) => e)) as SessionStoreUnavailableError;
    expect(b.operation).toBe('destroy');
  });
});

describe('the store id a cookie names', () => {
  it('is the hash of the verified token, with or without a load, and undefined for a bad cookie', async () => {
    const h = setup();
    const { cookie, id } = await h.seed({});
    expect(h.request(cookie).session.cookieSessionId()).toBe(id);
    const loaded = h.request(cookie);
    await loaded.session.get('a');
    expect(loaded.session.cookieSessionId()).toBe(id);
    expect(h.request(`__Host-sid=${tokenOf(cookie)}.${'A'.repeat(43)}`).session.cookieSessionId()).toBeUndefined();
    expect(h.request().session.cookieSessionId()).toBeUndefined();
  });
});

describe('store failures', () => {
  it('a failing load rejects with SessionStoreUnavailableError (503), never as "no session"', async () => {
    const h = setup();
    const { cookie } = await h.seed({ userId: 'u1' });
    jest.spyOn(h.mem, 'load').mockRejectedValue(new Error('connection refused'));
    const x = h.request(cookie);
    await expect(x.session.getUserId()).rejects.toBeInstanceOf(SessionStoreUnavailableError);
  });

  it('a failing write rejects the commit, so the adapter answers 503', async () => {
    const h = setup();
    jest.spyOn(h.mem, 'create').mockRejectedValue(new Error('disk full'));
    const x = h.request();
    await x.session.set('a', 1);
    await expect(x.send()).rejects.toBeInstanceOf(SessionStoreUnavailableError);
    expect(x.setCookies()).toEqual([]);
  });
});

describe('a state-changing request from another site', () => {
  it('may not use its session at all: every way in refuses with 403, and nothing is asked of the store or sent', async () => {
    const h = setup();
    const { cookie } = await h.seed({ data: { a: 1 }, userId: 'u' });
    h.store.calls.length = 0;
    const uses: Array<(s: Exchange['session']) => Promise<unknown> | unknown> = [
      (s) => s.get('a'),
      (s) => s.set('a', 2),
      (s) => s.login('mallory'),
      (s) => s.logout(),
      (s) => s.destroy(),
      (s) => s.authInfo(),
      (s) => s.cookieSessionId(),
    ];
    for (const use of uses) {
      const x = h.request(cookie, 'POST');
      x.req.headers['sec-fetch-site'] = 'cross-site';
      x.req.headers.origin = 'https://evil.example';
      x.req.headers.host = 'app.example';
      await expect(Promise.resolve().then(() => use(x.session))).rejects.toThrow(new ForbiddenException(CROSS_SITE_REFUSED));
      await x.send(200);
      expect(x.setCookies()).toEqual([]);
      expect(x.res.headers.vary).toBeUndefined();
    }
    expect(h.store.calls).toEqual([]);
    // The same request from the app's own page is served.
    const own = h.request(cookie, 'POST');
    own.req.headers['sec-fetch-site'] = 'same-origin';
    expect(await own.session.get('a')).toBe(1);
  });
});
