import { jest } from '@jest/globals';
import { CookieSessionStore } from '../../src/stores/cookie.store.js';
import { SessionDataTooLargeError } from '../../src/errors.js';
import type { SessionRecord } from '../../src/stores/store.js';
import { harness } from './support/harness.js';

/**
 * The session lifecycle when the cookie is the store (LazySession over SealedCookieBackend): the whole session
 * sealed in the cookie, re-sealed on each change, expiry judged from inside the cookie.
 */

const KEY = 'unit-cookie-key-0123456789-abcdefghijklmnop';
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
  const sealer = new CookieSessionStore({ keys: [KEY] });
  const h = harness(sealer, { idleTimeout: IDLE, absoluteTimeout: ABS, touchInterval: TOUCH, ...options });
  /** The record inside the cookie an exchange set. */
  const opened = (cookie: string | undefined): SessionRecord | null => (cookie ? sealer.open(cookie.slice(cookie.indexOf('=') + 1)) : null);
  /** A cookie holding this record, sealed as the store would. */
  const sealed = (r: Partial<SessionRecord>): string => {
    const record: SessionRecord = { id: 'h1', handle: 'h1', data: {}, userId: null, createdAt: T0, lastSeenAt: T0, expiresAt: T0 + IDLE, authAt: null, remember: false, ...r };
    return `__Host-sid=${sealer.seal(record)}`;
  };
  return { ...h, opened, sealed };
}
const maxAgeOf = (line: string) => Number(/Max-Age=(\d+)/.exec(line)?.[1]);
const types = (h: { events: { type: string }[] }) => h.events.map((e) => e.type);

it('the first write seals the whole session into the cookie; the store is never called', async () => {
  const h = setup();
  const x = h.request();
  await x.session.set('cart', ['secret-item']);
  await x.send();
  const line = x.setCookies()[0];
  expect(line).toMatch(/^__Host-sid=[A-Za-z0-9_-]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
  expect(line).not.toContain('secret-item');
  expect(x.res.headers['cache-control']).toBe('no-store');
  const r = h.opened(x.nextCookie())!;
  expect(r).toMatchObject({ data: { cart: ['secret-item'] }, userId: null, createdAt: T0, lastSeenAt: T0, expiresAt: T0 + IDLE, authAt: null, remember: false });
  expect(r.id).toBe(r.handle);
  expect(h.store.calls.filter(([m]) => m !== 'seal' && m !== 'open' && m !== 'inCookie')).toEqual([]);
  expect(h.events).toEqual([{ type: 'created', handle: r.handle, userId: undefined, at: expect.any(Date) }]);
});

it('a read without a cookie, or a read-only request within touchInterval, sends nothing', async () => {
  const h = setup();
  const empty = h.request();
  expect(await empty.session.get('a')).toBeUndefined();
  await empty.send();
  expect(empty.setCookies()).toEqual([]);
  const cookie = h.sealed({ data: { a: 1 } });
  now = T0 + TOUCH - 1;
  const x = h.request(cookie);
  expect(await x.session.get('a')).toBe(1);
  await x.send();
  expect(x.setCookies()).toEqual([]);
  expect(h.events).toEqual([]);
});

it('at touchInterval an unmodified session is re-sealed with its new last-seen time, the rest unchanged', async () => {
  const h = setup();
  const cookie = h.sealed({ data: { a: 1 }, handle: 'hh', id: 'hh', userId: 'u', authAt: T0 - 5 });
  now = T0 + TOUCH;
  const x = h.request(cookie);
  expect(await x.session.get('a')).toBe(1);
  await x.send();
  expect(h.opened(x.nextCookie())).toEqual({ id: 'hh', handle: 'hh', data: { a: 1 }, userId: 'u', createdAt: T0, lastSeenAt: T0 + TOUCH, expiresAt: T0 + TOUCH + IDLE, authAt: T0 - 5, remember: false });
  expect(h.events).toEqual([]);
});

it('a change re-seals the session, keeping its handle and creation time', async () => {
  const h = setup();
  const cookie = h.sealed({ data: { a: 1, b: 2 }, handle: 'hh', id: 'hh' });
  now = T0 + 5;
  const x = h.request(cookie);
  await x.session.set('c', 3);
  await x.session.delete('a');
  await x.send();
  expect(h.opened(x.nextCookie())).toMatchObject({ handle: 'hh', data: { b: 2, c: 3 }, createdAt: T0, lastSeenAt: T0 + 5 });
  expect(h.events).toEqual([]);
});

it.each([
  ['its stored expiry', { expiresAt: T0 }],
  ['idleTimeout', { lastSeenAt: T0 - IDLE, expiresAt: T0 + 1 }],
  ['absoluteTimeout', { createdAt: T0 - ABS, expiresAt: T0 + 1 }],
])('a cookie past %s opens to nothing, is cleared and reported', async (_, times) => {
  const h = setup();
  const cookie = h.sealed({ data: { a: 1 }, userId: 'u7', handle: 'old', id: 'old', createdAt: T0 - 10, lastSeenAt: T0 - 10, ...times });
  const x = h.request(cookie);
  expect(await x.session.get('a')).toBeUndefined();
  await x.send();
  expect(x.nextCookie()).toBe('');
  expect(h.events.map((e) => [e.type, e.handle, e.userId])).toEqual([['expired', 'old', 'u7']]);
});

it('a tampered cookie, or one sealed under another key, is no session and is left alone', async () => {
  const h = setup();
  const cookie = h.sealed({ data: { a: 1 } });
  const at = cookie.length - 5;
  const tampered = cookie.slice(0, at) + (cookie[at] === 'A' ? 'B' : 'A') + cookie.slice(at + 1);
  const foreign = `__Host-sid=${new CookieSessionStore({ keys: ['another-key-0123456789-abcdefghijklmnopq'] }).seal({ id: 'x', handle: 'x', data: { a: 1 }, userId: null, createdAt: T0, lastSeenAt: T0, expiresAt: T0 + IDLE, authAt: null, remember: false })}`;
  for (const c of [tampered, foreign, '__Host-sid=']) {
    const x = h.request(c);
    expect(await x.session.get('a')).toBeUndefined();
    await x.send();
    expect(x.setCookies()).toEqual([]);
  }
  expect(h.events).toEqual([]);
});

it('login on a fresh request: created then login, the user sealed in; remember gives the absolute lifetime', async () => {
  const h = setup();
  const x = h.request();
  await x.session.login('zoe', { remember: true });
  await x.send();
  expect(h.opened(x.nextCookie())).toMatchObject({ userId: 'zoe', authAt: T0, remember: true });
  expect(maxAgeOf(x.setCookies()[0])).toBe(ABS / 1000);
  expect(types(h)).toEqual(['created', 'login']);
});

it('login on an existing session: regenerated then login; as another user the data starts empty', async () => {
  const h = setup();
  const cookie = h.sealed({ data: { secret: 's' }, userId: 'bob', handle: 'hb', id: 'hb' });
  now = T0 + 7;
  const x = h.request(cookie);
  await x.session.login('eve');
  await x.send();
  expect(h.opened(x.nextCookie())).toMatchObject({ handle: 'hb', userId: 'eve', authAt: T0 + 7, data: {} });
  expect(h.events.map((e) => [e.type, e.userId])).toEqual([['regenerated', 'eve'], ['login', 'eve']]);
  expect(x.setCookies()[0]).not.toMatch(/Max-Age/);
});

it('regenerate re-seals the session and reports it', async () => {
  const h = setup();
  const cookie = h.sealed({ data: { a: 1 }, handle: 'hr', id: 'hr' });
  const x = h.request(cookie);
  expect(x.session.cookieSessionId()).toBeUndefined(); // not a signed token: only the loaded record names it
  expect(await x.session.get('a')).toBe(1);
  expect(x.session.cookieSessionId()).toBe('hr');
  await x.session.regenerate();
  await x.send();
  expect(h.opened(x.nextCookie())).toMatchObject({ handle: 'hr', data: { a: 1 } });
  expect(h.events.map((e) => [e.type, e.handle])).toEqual([['regenerated', 'hr']]);
});

it.each([['logout', 'logout'], ['destroy', 'destroyed']] as const)('%s clears the cookie and reports %s', async (method, event) => {
  const h = setup();
  const cookie = h.sealed({ data: { a: 1 }, userId: 'u1', handle: 'hl', id: 'hl' });
  const x = h.request(cookie);
  await x.session[method]();
  expect(await x.session.get('a')).toBeUndefined();
  await x.send();
  expect(x.setCookies()).toEqual(['__Host-sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; Secure; SameSite=Lax']);
  expect(x.res.headers['cache-control']).toBe('no-store');
  expect(h.events.map((e) => [e.type, e.handle, e.userId])).toEqual([[event, 'hl', 'u1']]);
});

it('logout without a cookie sends nothing and reports nothing; a write after logout makes a new session', async () => {
  const h = setup();
  const x = h.request();
  await x.session.logout();
  await x.send();
  expect(x.setCookies()).toEqual([]);
  expect(h.events).toEqual([]);
  const cookie = h.sealed({ data: { a: 1 }, handle: 'old', id: 'old', userId: 'u' });
  const y = h.request(cookie);
  await y.session.logout();
  await y.session.set('b', 2);
  await y.send();
  const r = h.opened(y.nextCookie())!;
  expect(r.handle).not.toBe('old');
  expect(r).toMatchObject({ data: { b: 2 }, userId: null });
  expect(types(h)).toEqual(['logout', 'created']);
});

it('refuses data whose Set-Cookie line would pass 4096 bytes, keeping what it had', async () => {
  const h = setup({ maxDataBytes: 1 << 20 });
  const x = h.request();
  await x.session.set('a', 'x'.repeat(2000));
  const err = await x.session.set('b', 'y'.repeat(2000)).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SessionDataTooLargeError);
  expect((err as Error).message).toMatch(/Set-Cookie line of the cookie store .* over the limit of 4096/);
  expect(await x.session.has('b')).toBe(false);
  await x.send();
  expect(Buffer.byteLength(x.setCookies()[0])).toBeLessThanOrEqual(4096);
  expect(Object.keys(h.opened(x.nextCookie())!.data)).toEqual(['a']);
});

it('measures the line with its attributes: a remembered cookie (Max-Age, Expires) has less room', async () => {
  const h = setup({ maxDataBytes: 1 << 20 });
  // Find the largest value a plain cookie takes, then the same value must fail once remembered.
  let lo = 0;
  let hi = 4096;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const ok = await h.request().session.set('a', 'x'.repeat(mid)).then(() => true, () => false);
    if (ok) lo = mid;
    else hi = mid - 1;
  }
  const plain = h.request();
  await plain.session.set('a', 'x'.repeat(lo));
  await plain.send();
  expect(Buffer.byteLength(plain.setCookies()[0])).toBeLessThanOrEqual(4096);
  expect(Buffer.byteLength(plain.setCookies()[0])).toBeGreaterThan(4096 - 40);
  const remembered = h.request();
  await remembered.session.login('u', { remember: true });
  await expect(remembered.session.set('a', 'x'.repeat(lo))).rejects.toBeInstanceOf(SessionDataTooLargeError);
});
