import { cookieMaxAge, isUserSwitch, sessionsOverLimit, shouldClearCookie, shouldSave, shouldSetCookie, shouldTouch } from '../../src/session/decisions.js';
import { absoluteExpiry, effectiveExpiry, expiresAt, isExpired } from '../../src/session/expiry.js';
import { SessionChanges } from '../../src/session/changes.js';
import type { StoredSessionSummary } from '../../src/stores/store.js';

/** The lifecycle's decisions and the expiry rule, each on its own: pure functions of their inputs. */

const t = { idleTimeout: 1000, absoluteTimeout: 5000 };

describe('the expiry rule', () => {
  const s = { createdAt: 10_000, lastSeenAt: 12_000, expiresAt: 12_500 };

  it('expired at the stored expiry, at idleTimeout after last seen, at absoluteTimeout after creation, whichever comes first', () => {
    expect(isExpired(s, 12_499, t)).toBe(false);
    expect(isExpired(s, 12_500, t)).toBe(true);
    expect(isExpired({ ...s, expiresAt: 99_999 }, 12_999, t)).toBe(false);
    expect(isExpired({ ...s, expiresAt: 99_999 }, 13_000, t)).toBe(true);
    expect(isExpired({ ...s, lastSeenAt: 14_900, expiresAt: 99_999 }, 14_999, t)).toBe(false);
    expect(isExpired({ ...s, lastSeenAt: 14_900, expiresAt: 99_999 }, 15_000, t)).toBe(true);
  });

  it('the effective expiry is the moment isExpired turns true, so listings and loads agree', () => {
    const cases = [s, { ...s, expiresAt: 99_999 }, { ...s, lastSeenAt: 14_900, expiresAt: 99_999 }];
    expect(cases.map((c) => effectiveExpiry(c, t))).toEqual([12_500, 13_000, 15_000]);
    for (const c of cases) {
      expect(isExpired(c, effectiveExpiry(c, t) - 1, t)).toBe(false);
      expect(isExpired(c, effectiveExpiry(c, t), t)).toBe(true);
    }
  });

  it('shorter timeouts than those a session was stored under apply to it at once', () => {
    const stored = { createdAt: 0, lastSeenAt: 0, expiresAt: 30 * 60_000 };
    expect(isExpired(stored, 1000, t)).toBe(true);
  });

  it('expiresAt is the earlier of the idle and the absolute expiry', () => {
    expect(expiresAt(10_000, 11_000, t)).toBe(12_000);
    expect(expiresAt(10_000, 14_000, t)).toBe(15_000);
    expect(expiresAt(10_000, 14_500, t)).toBe(15_000);
    expect(absoluteExpiry(10_000, t)).toBe(15_000);
  });
});

describe('shouldTouch / shouldSave', () => {
  const none = { dirty: false, rotate: false };

  it('a read-only request touches once touchInterval has passed, not before', () => {
    expect(shouldTouch(1000, 1059, 60)).toBe(false);
    expect(shouldTouch(1000, 1060, 60)).toBe(true);
    // touchInterval 0: every request that uses the session writes it.
    expect(shouldTouch(1000, 1000, 0)).toBe(true);
  });

  it('a session not yet stored is saved only when it holds something', () => {
    expect(shouldSave(null, none, 5000, 60)).toBe(false);
    expect(shouldSave(null, { dirty: false, rotate: true }, 5000, 60)).toBe(false);
    expect(shouldSave(null, { dirty: true, rotate: false }, 5000, 60)).toBe(true);
  });

  it('a stored session is saved when changed, rotated or due a touch', () => {
    const stored = { lastSeenAt: 1000 };
    expect(shouldSave(stored, none, 1059, 60)).toBe(false);
    expect(shouldSave(stored, none, 1060, 60)).toBe(true);
    expect(shouldSave(stored, { dirty: true, rotate: false }, 1001, 60)).toBe(true);
    expect(shouldSave(stored, { dirty: false, rotate: true }, 1001, 60)).toBe(true);
  });
});

describe('shouldSetCookie / shouldClearCookie', () => {
  it('a signed token is sent when made or rotated; a sealed session on every save', () => {
    expect(shouldSetCookie({ created: false, rotated: false, cookieHoldsSession: false })).toBe(false);
    expect(shouldSetCookie({ created: true, rotated: false, cookieHoldsSession: false })).toBe(true);
    expect(shouldSetCookie({ created: false, rotated: true, cookieHoldsSession: false })).toBe(true);
    expect(shouldSetCookie({ created: false, rotated: false, cookieHoldsSession: true })).toBe(true);
  });

  it('a stale cookie is cleared only when no session replaces it', () => {
    const none = { dirty: false, rotate: false };
    expect(shouldClearCookie(null, none, true)).toBe(true);
    expect(shouldClearCookie(null, none, false)).toBe(false);
    expect(shouldClearCookie(null, { dirty: true, rotate: false }, true)).toBe(false);
    expect(shouldClearCookie({}, none, true)).toBe(false);
  });
});

describe('cookieMaxAge', () => {
  it('a browser-session cookie unless remembered or cookie.maxAge, never past the absolute expiry', () => {
    expect(cookieMaxAge({ createdAt: 0, remember: false }, 1000, t, undefined)).toBeUndefined();
    expect(cookieMaxAge({ createdAt: 0, remember: true }, 1000, t, undefined)).toBe(4000);
    expect(cookieMaxAge({ createdAt: 0, remember: false }, 1000, t, 2000)).toBe(2000);
    expect(cookieMaxAge({ createdAt: 0, remember: false }, 1000, t, 9000)).toBe(4000);
    // remember wins over a shorter cookie.maxAge: the cookie lives as long as the session may.
    expect(cookieMaxAge({ createdAt: 0, remember: true }, 1000, t, 2000)).toBe(4000);
  });
});

describe('isUserSwitch', () => {
  it('only a login as somebody else than the current user is a switch', () => {
    expect(isUserSwitch(undefined, 'a')).toBe(false);
    expect(isUserSwitch('a', 'a')).toBe(false);
    expect(isUserSwitch('a', 'b')).toBe(true);
  });
});

describe('sessionsOverLimit', () => {
  const session = (id: string, authAt: number | null, createdAt = 0, lastSeenAt = 10_000): StoredSessionSummary => ({
    id,
    handle: `h-${id}`,
    userId: 'u',
    createdAt,
    lastSeenAt,
    expiresAt: lastSeenAt + 1000,
    authAt,
  });
  const big = { idleTimeout: 1000, absoluteTimeout: 100_000 };

  it('nothing within the limit, or without one', () => {
    const two = [session('a', 1), session('b', 2)];
    expect(sessionsOverLimit(two, 2, 'b', 10_000, big)).toEqual([]);
    expect(sessionsOverLimit(two, Infinity, 'b', 10_000, big)).toEqual([]);
  });

  it('the ones that logged in first go (creation when never logged in), never the current one', () => {
    const all = [session('new', 50), session('old', 10), session('anon', null, 5), session('mid', 30)];
    expect(sessionsOverLimit(all, 2, 'new', 10_000, big).map((s) => s.id)).toEqual(['anon', 'old']);
    expect(sessionsOverLimit(all, 1, 'old', 10_000, big).map((s) => s.id)).toEqual(['anon', 'mid', 'new']);
  });

  it('expired sessions neither count nor get ended', () => {
    const all = [session('cur', 50), session('dead', 1, 0, 1000), session('live', 10)];
    expect(sessionsOverLimit(all, 2, 'cur', 10_000, big)).toEqual([]);
    expect(sessionsOverLimit(all, 1, 'cur', 10_000, big).map((s) => s.id)).toEqual(['live']);
  });
});

describe('SessionChanges: the patch of changed keys', () => {
  it('sets and unsets exclude each other; the last one wins', () => {
    const c = new SessionChanges();
    expect(c.any).toBe(false);
    c.set('a', 1);
    c.unset('b');
    expect(c.toPatch({ a: 1 })).toEqual({ set: { a: 1 }, unset: ['b'] });
    c.unset('a');
    c.set('b', 2);
    expect(c.toPatch({ b: 2 })).toEqual({ set: { b: 2 }, unset: ['a'] });
  });

  it('after replaceAll the whole data is the patch, writes since included', () => {
    const c = new SessionChanges();
    c.set('a', 1);
    c.replaceAll();
    expect(c.any).toBe(true);
    c.set('b', 2);
    expect(c.toPatch({ b: 2 })).toEqual({ replace: { b: 2 } });
    c.reset();
    expect(c.any).toBe(false);
    expect(c.toPatch({})).toEqual({});
  });

  it("'__proto__' is an ordinary key in the patch", () => {
    const c = new SessionChanges();
    c.set('__proto__', 1);
    const patch = c.toPatch({});
    expect(Object.prototype.hasOwnProperty.call(patch.set, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(patch.set)).toBe(Object.prototype);
  });
});
