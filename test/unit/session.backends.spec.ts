import { jest } from '@jest/globals';
import { SessionRuntime } from '../../src/session/runtime.js';
import { ServerSideBackend } from '../../src/session/server-side.backend.js';
import { SealedCookieBackend } from '../../src/session/sealed-cookie.backend.js';
import { GONE } from '../../src/session/backend.js';
import { SessionState } from '../../src/session/state.js';
import { CookieSessionStore } from '../../src/stores/cookie.store.js';
import { MemorySessionStore } from '../../src/stores/memory.store.js';
import { resolveSessionOptions, type SessionModuleOptions } from '../../src/options.js';
import { newToken, signToken, storeKey } from '../../src/crypto/token.js';
import { SessionDataTooLargeError } from '../../src/errors.js';
import type { SessionEvent } from '../../src/session/events.js';
import type { SessionPatch, SessionRecord, StoredSessionSummary, UserIndexedSessionStore } from '../../src/stores/store.js';
import { FakeHttp, SECRET, type FakeRes } from './support/harness.js';

/**
 * The two backends on their own, against a fake store that answers what each test says and records
 * every call: what each asks of the store, what it sends the client, what it reports. The lifecycle
 * that drives them is in session.lifecycle.spec.ts and session.cookie-lifecycle.spec.ts.
 */

const T0 = 1_800_000_000_000;
const KEY = 'unit-cookie-key-0123456789-abcdefghijklmnop';
beforeEach(() => jest.spyOn(Date, 'now').mockImplementation(() => T0));
afterEach(() => jest.restoreAllMocks());

/** A user-indexed store whose answers are set per test; `calls` lists what was asked, in order. */
function fakeStore() {
  const calls: Array<[string, unknown[]]> = [];
  const answers = {
    load: null as SessionRecord | null,
    update: true,
    destroy: null as StoredSessionSummary | null,
    listByUser: [] as StoredSessionSummary[],
  };
  const record = <T>(name: string, answer: () => T) => async (...args: unknown[]) => {
    calls.push([name, args]);
    return answer();
  };
  const store: UserIndexedSessionStore = {
    load: record('load', () => answers.load),
    create: record('create', () => undefined),
    update: record('update', () => answers.update),
    destroy: record('destroy', () => answers.destroy),
    prune: record('prune', () => 0),
    listByUser: record('listByUser', () => answers.listByUser),
    destroyByUser: record('destroyByUser', () => []),
    destroyByHandle: record('destroyByHandle', () => null),
  };
  return { store, calls, answers };
}

function setup(store: UserIndexedSessionStore | CookieSessionStore, options: Partial<SessionModuleOptions> = {}) {
  const events: SessionEvent[] = [];
  const resolved = resolveSessionOptions({ secret: SECRET, store, pruneInterval: 0, onEvent: (e) => void events.push(e), ...options });
  const rt = new SessionRuntime(resolved, store, false);
  const res: FakeRes = { headers: {} };
  const io = { req: { method: 'GET', headers: {} }, res, http: new FakeHttp() };
  const setCookies = () => (res.headers['set-cookie'] as string[] | undefined) ?? [];
  return { rt, io, res, events, setCookies, types: () => events.map((e) => e.type) };
}

const stored = (over: Partial<SessionRecord> = {}): SessionRecord => ({
  id: 'id-1',
  handle: 'handle-1',
  data: { a: 1 },
  userId: null,
  createdAt: T0 - 10_000,
  lastSeenAt: T0 - 10_000,
  expiresAt: T0 + 60_000,
  authAt: null,
  remember: false,
  ...over,
});
const summary = (id: string, authAt: number): StoredSessionSummary => ({ id, handle: `h-${id}`, userId: 'u', createdAt: T0 - 1000, lastSeenAt: T0 - 1000, expiresAt: T0 + 60_000, authAt });

describe('the backend is chosen once, at start-up, from the configured store', () => {
  it('a server-side store gets the server-side backend, the cookie store the sealed-cookie one', () => {
    expect(setup(fakeStore().store).rt.backend).toBeInstanceOf(ServerSideBackend);
    expect(setup(new MemorySessionStore()).rt.backend).toBeInstanceOf(ServerSideBackend);
    expect(setup(new CookieSessionStore({ keys: [KEY] })).rt.backend).toBeInstanceOf(SealedCookieBackend);
  });
});

describe('ServerSideBackend', () => {
  it('opens only a verified token: a bad or missing one costs no query, a missing row is GONE', async () => {
    const f = fakeStore();
    const { rt } = setup(f.store);
    expect(await rt.backend.open(undefined)).toBeNull();
    expect(await rt.backend.open('forged.value')).toBeNull();
    expect(f.calls).toEqual([]);
    const token = newToken();
    expect(await rt.backend.open(signToken(token, SECRET))).toBe(GONE);
    f.answers.load = stored();
    expect(await rt.backend.open(signToken(token, SECRET))).toBe(f.answers.load);
    expect(f.calls).toEqual([['load', [storeKey(token)]], ['load', [storeKey(token)]]]);
    expect(rt.backend.idInCookie(signToken(token, SECRET))).toBe(storeKey(token));
    expect(rt.backend.idInCookie(undefined)).toBeUndefined();
  });

  it('discard deletes by id and reports only what was deleted', async () => {
    const f = fakeStore();
    const s = setup(f.store);
    await s.rt.backend.discard({ id: 'gone' }, 'logout');
    f.answers.destroy = summary('x', T0);
    await s.rt.backend.discard({ id: 'x' }, 'expired');
    expect(f.calls).toEqual([['destroy', ['gone']], ['destroy', ['x']]]);
    expect(s.events).toEqual([{ type: 'expired', handle: 'h-x', userId: 'u', at: expect.any(Date) }]);
  });

  it('a new session: one create, a signed-token cookie, a created event', async () => {
    const f = fakeStore();
    const s = setup(f.store);
    const state = new SessionState();
    state.accept('k', { k: 1 });
    await s.rt.backend.save(state, s.io, T0);
    expect(f.calls.map(([m]) => m)).toEqual(['create']);
    const created = f.calls[0][1][0] as SessionRecord;
    expect(created).toMatchObject({ data: { k: 1 }, userId: null, createdAt: T0, lastSeenAt: T0, authAt: null, remember: false });
    expect(s.setCookies()).toHaveLength(1);
    expect(s.res.headers['cache-control']).toBe('no-store');
    expect(s.types()).toEqual(['created']);
  });

  it('an update sends only the patch; no cookie unless rotated', async () => {
    const f = fakeStore();
    const s = setup(f.store);
    const state = new SessionState();
    state.adopt(stored());
    state.accept('b', state.withValue('b', 2));
    state.remove('a');
    await s.rt.backend.save(state, s.io, T0);
    const [[op, [id, patch]]] = f.calls as Array<[string, [string, SessionPatch]]>;
    expect([op, id]).toEqual(['update', 'id-1']);
    expect(patch).toEqual({ handle: 'handle-1', lastSeenAt: T0, expiresAt: expect.any(Number), set: { b: 2 }, unset: ['a'] });
    expect(s.setCookies()).toEqual([]);
    expect(s.events).toEqual([]);
  });

  it('a rotation moves the row in the same statement and sends the new token; lost to another request, nothing is sent', async () => {
    const f = fakeStore();
    const s = setup(f.store);
    const state = new SessionState();
    state.adopt(stored());
    state.regenerate();
    await s.rt.backend.save(state, s.io, T0);
    const patch = f.calls[0][1][1] as SessionPatch;
    expect(patch.newId).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(patch.newId).not.toBe('id-1');
    expect(s.setCookies()).toHaveLength(1);
    expect(s.types()).toEqual(['regenerated']);

    const lost = setup(f.store);
    f.answers.update = false;
    await lost.rt.backend.save(state, lost.io, T0);
    expect(lost.setCookies()).toEqual([]);
    expect(lost.events).toEqual([]);
  });

  it('after a login over maxSessionsPerUser, the oldest logins are ended; without a limit, no query', async () => {
    const f = fakeStore();
    const unlimited = setup(f.store);
    const state = new SessionState();
    state.logIn({ userId: 'u', authAt: T0, remember: false });
    await unlimited.rt.backend.save(state, unlimited.io, T0);
    expect(f.calls.map(([m]) => m)).toEqual(['create']);
    expect(unlimited.types()).toEqual(['created', 'login']);

    f.calls.length = 0;
    const limited = setup(f.store, { maxSessionsPerUser: 1 });
    const login = new SessionState();
    login.adopt(stored({ id: 'cur', userId: 'u' }));
    login.logIn({ userId: 'u', authAt: T0, remember: false });
    // The store lists the current session under the id the login rotated it to.
    f.store.update = async (id, patch) => {
      f.calls.push(['update', [id, patch]]);
      f.answers.listByUser = [summary(patch.newId!, T0), summary('old', T0 - 500)];
      return true;
    };
    f.answers.destroy = summary('old', T0 - 500);
    await limited.rt.backend.save(login, limited.io, T0);
    expect(f.calls.map(([m, a]) => [m, a[0]])).toEqual([['update', 'cur'], ['listByUser', 'u'], ['destroy', 'old']]);
    expect(limited.types()).toEqual(['regenerated', 'login', 'destroyed']);
  });

  it('maxDataBytes is its whole limit: checkFits never throws', () => {
    const { rt } = setup(fakeStore().store);
    expect(() => rt.backend.checkFits('k', new SessionState(), { k: 'x'.repeat(100_000) })).not.toThrow();
  });

  it('with a store that lacks the user index, maxSessionsPerUser fails start-up', () => {
    const { store } = fakeStore();
    const plain = { load: store.load, create: store.create, update: store.update, destroy: store.destroy, prune: store.prune };
    expect(() => resolveSessionOptions({ secret: SECRET, store: plain, maxSessionsPerUser: 2 })).toThrow(/'maxSessionsPerUser' needs a store that indexes sessions by user/);
    expect(() => resolveSessionOptions({ secret: SECRET, store: plain })).not.toThrow();
    expect(() => resolveSessionOptions({ secret: SECRET, store, maxSessionsPerUser: 2 })).not.toThrow();
  });
});

describe('SealedCookieBackend', () => {
  const sealer = new CookieSessionStore({ keys: [KEY] });

  it('opens what it sealed; anything else is no session; never GONE, never a query', async () => {
    const { rt } = setup(sealer);
    const r = stored({ id: 'handle-1' });
    expect(await rt.backend.open(sealer.seal(r))).toEqual(r);
    expect(await rt.backend.open('not-sealed')).toBeNull();
    expect(await rt.backend.open(undefined)).toBeNull();
    expect(rt.backend.idInCookie(sealer.seal(r))).toBeUndefined();
    expect(rt.backend.endsUnloaded).toBe(false);
  });

  it('discard only reports: there is nothing server-side to delete', async () => {
    const s = setup(sealer);
    await s.rt.backend.discard(stored({ userId: 'u' }), 'logout');
    expect(s.events).toEqual([{ type: 'logout', handle: 'handle-1', userId: 'u', at: expect.any(Date) }]);
  });

  it('every save re-seals the whole session into the cookie', async () => {
    const s = setup(sealer);
    const state = new SessionState();
    state.adopt(stored({ id: 'handle-1' }));
    await s.rt.backend.save(state, s.io, T0);
    const value = s.setCookies()[0].split(';')[0].split('=')[1];
    expect(sealer.open(value)).toMatchObject({ handle: 'handle-1', data: { a: 1 }, lastSeenAt: T0 });
    expect(s.events).toEqual([]);
  });

  it('checkFits measures the Set-Cookie line the data would produce', () => {
    const { rt } = setup(sealer);
    expect(() => rt.backend.checkFits('k', new SessionState(), { k: 'x'.repeat(2000) })).not.toThrow();
    expect(() => rt.backend.checkFits('k', new SessionState(), { k: 'x'.repeat(4000) })).toThrow(SessionDataTooLargeError);
  });

  it('a Set-Cookie line of exactly maxCookieBytes fits; one byte less of room does not', () => {
    const bounded = new CookieSessionStore({ keys: [KEY] });
    const { rt } = setup(bounded);
    const data = { k: 'x'.repeat(500) };
    const room = (bytes: number) => Object.defineProperty(bounded, 'maxCookieBytes', { value: bytes });
    room(0);
    let line = 0;
    try {
      rt.backend.checkFits('k', new SessionState(), data);
    } catch (err) {
      line = (err as SessionDataTooLargeError).bytes;
    }
    expect(line).toBeGreaterThan(500);
    room(line);
    expect(() => rt.backend.checkFits('k', new SessionState(), data)).not.toThrow();
    room(line - 1);
    expect(() => rt.backend.checkFits('k', new SessionState(), data)).toThrow(SessionDataTooLargeError);
  });
});

describe('SessionState: the valid combinations', () => {
  it('rotation only for a stored session; reset returns to a new one', () => {
    const s = new SessionState();
    s.regenerate();
    expect(s.rotate).toBe(false);
    s.adopt(stored());
    s.regenerate();
    s.logIn({ userId: 'u', authAt: T0, remember: true });
    expect([s.rotate, s.dirty, s.userId]).toEqual([true, true, 'u']);
    s.reset();
    expect([s.record, s.data, s.rotate, s.login, s.dirty]).toEqual([null, {}, false, undefined, false]);
  });

  it('next(): a new session keeps one handle however often it is measured; a stored one keeps its own', () => {
    const t = { idleTimeout: 1000, absoluteTimeout: 5000 };
    const fresh = new SessionState();
    const a = fresh.next(T0, t);
    expect(fresh.next(T0 + 1, t).handle).toBe(a.handle);
    expect(a).toMatchObject({ id: a.handle, createdAt: T0, lastSeenAt: T0, expiresAt: T0 + 1000, userId: null, remember: false });
    const old = new SessionState();
    old.adopt(stored({ createdAt: T0 - 4500 }));
    expect(old.next(T0, t)).toMatchObject({ id: 'id-1', handle: 'handle-1', expiresAt: T0 + 500 });
  });
});
