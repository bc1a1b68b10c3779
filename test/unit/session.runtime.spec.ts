import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { MemorySessionStore } from '../../src/stores/memory.store.js';
import { SessionStoreUnavailableError, SessionStoreUnsupportedError } from '../../src/errors.js';
import type { SessionEvent } from '../../src/session/events.js';
import type { SessionRecord, SessionStore, StoredSessionSummary, UserIndexedSessionStore } from '../../src/stores/store.js';
import { GuardedStore } from '../../src/session/guarded-store.js';
import { CookieSessionStore, isCookieSessionStore } from '../../src/stores/cookie.store.js';
import { SessionRuntime } from '../../src/session/runtime.js';
import { resolveSessionOptions, type SessionModuleOptions } from '../../src/options.js';
import { SECRET } from './support/harness.js';

/** The runtime's own rules: expiry arithmetic, store calls bounded in time, events, the sweeper. */

function runtime(options: Partial<SessionModuleOptions> = {}, store = new MemorySessionStore(), owns = false) {
  return new SessionRuntime(resolveSessionOptions({ secret: SECRET, store, pruneInterval: 0, ...options }), store, owns);
}
const never = () => new Promise<never>(() => undefined);
async function waitFor(ok: () => boolean): Promise<void> {
  while (!ok()) await new Promise((r) => setTimeout(r, 5));
}

afterEach(() => jest.restoreAllMocks());

describe('expiry arithmetic', () => {
  const rt = runtime({ idleTimeout: 1000, absoluteTimeout: 5000, touchInterval: 10 });
  const s = { createdAt: 10_000, lastSeenAt: 12_000, expiresAt: 12_500 };

  it('expired at the stored expiry, at idleTimeout after last seen, at absoluteTimeout after creation, whichever comes first', () => {
    expect(rt.isExpired(s, 12_499)).toBe(false);
    expect(rt.isExpired(s, 12_500)).toBe(true);
    expect(rt.isExpired({ ...s, expiresAt: 99_999 }, 12_999)).toBe(false);
    expect(rt.isExpired({ ...s, expiresAt: 99_999 }, 13_000)).toBe(true);
    expect(rt.isExpired({ ...s, lastSeenAt: 14_900, expiresAt: 99_999 }, 14_999)).toBe(false);
    expect(rt.isExpired({ ...s, lastSeenAt: 14_900, expiresAt: 99_999 }, 15_000)).toBe(true);
  });

  it('expiresAt is the earlier of the idle and the absolute expiry', () => {
    expect(rt.expiresAt(10_000, 11_000)).toBe(12_000);
    expect(rt.expiresAt(10_000, 14_000)).toBe(15_000);
    expect(rt.expiresAt(10_000, 14_500)).toBe(15_000);
  });
});

describe('the guarded store: bounded calls, failures logged and answered 503', () => {
  /** A store whose one method does what the test says; the others are never called. */
  const storeWith = (method: keyof UserIndexedSessionStore, impl: (...args: unknown[]) => Promise<unknown>) =>
    Object.assign(new MemorySessionStore(), { [method]: impl }) as UserIndexedSessionStore;
  const guarded = (store: SessionStore | CookieSessionStore, timeout = 5000) => new GuardedStore(store, timeout, new Logger('SessionModule'));

  it('passes the value and the arguments through', async () => {
    const seen: unknown[] = [];
    const store = storeWith('destroyByUser', async (...args) => (seen.push(args), []));
    await expect(guarded(store).destroyByUser('u1', 'keep')).resolves.toEqual([]);
    expect(seen).toEqual([['u1', 'keep']]);
  });

  it('a call with no answer within storeTimeout rejects with SessionStoreUnavailableError naming it', async () => {
    const err = (await guarded(storeWith('load', never), 20).load('x').catch((e: unknown) => e)) as SessionStoreUnavailableError;
    expect(err).toBeInstanceOf(SessionStoreUnavailableError);
    expect(err.getStatus()).toBe(503);
    expect(err.operation).toBe('load: no answer within 20 ms');
  });

  it('a failure, thrown or rejected, becomes SessionStoreUnavailableError with the cause, and is logged', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const cause = new Error('connection refused');
    const rejected = (await guarded(storeWith('update', () => Promise.reject(cause))).update('x', { handle: 'h', lastSeenAt: 1, expiresAt: 2 }).catch((e: unknown) => e)) as SessionStoreUnavailableError;
    expect(rejected).toBeInstanceOf(SessionStoreUnavailableError);
    expect(rejected.operation).toBe('update');
    expect(rejected.cause).toBe(cause);
    const thrown = (await guarded(
      storeWith('create', () => {
        throw cause;
      }),
    )
      .create({} as SessionRecord)
      .catch((e: unknown) => e)) as SessionStoreUnavailableError;
    expect(thrown).toBeInstanceOf(SessionStoreUnavailableError);
    expect(thrown.operation).toBe('create');
    expect(warn.mock.calls.map((c) => c[0])).toEqual(['session store update failed: connection refused', 'session store create failed: connection refused']);
    // Logged under the module's name.
    expect((warn.mock.contexts[0] as { context?: string }).context).toBe('SessionModule');
    // Whatever was thrown, even without a message.
    await guarded(storeWith('destroy', () => Promise.reject('plain string'))).destroy('x').catch(() => undefined);
    await guarded(storeWith('listByUser', () => Promise.reject(null))).listByUser('u').catch(() => undefined);
    await guarded(storeWith('destroyByHandle', () => Promise.reject(cause))).destroyByHandle('h').catch(() => undefined);
    await guarded(storeWith('destroyByUser', () => Promise.reject(cause))).destroyByUser('u').catch(() => undefined);
    expect(warn.mock.calls.slice(2).map((c) => c[0])).toEqual([
      'session store destroy failed: plain string',
      'session store listByUser failed: null',
      'session store destroyByHandle failed: connection refused',
      'session store destroyByUser failed: connection refused',
    ]);
  });

  it('an error that is already SessionStoreUnavailableError is passed on as it is', async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const own = new SessionStoreUnavailableError('inner');
    await expect(guarded(storeWith('destroyByHandle', () => Promise.reject(own))).destroyByHandle('h')).rejects.toBe(own);
  });

  it('SessionStoreUnsupportedError is a configuration error: passed on, not turned into a 503, not logged', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const unsupported = new SessionStoreUnsupportedError('cannot');
    await expect(guarded(storeWith('listByUser', () => Promise.reject(unsupported))).listByUser('u')).rejects.toBe(unsupported);
    // A store without the user index answers the same, before any store call.
    const plain: SessionStore = { load: async () => null, create: async () => undefined, update: async () => false, destroy: async () => null, prune: async () => 0 };
    for (const call of [(g: GuardedStore) => g.listByUser('u'), (g: GuardedStore) => g.destroyByUser('u'), (g: GuardedStore) => g.destroyByHandle('h')]) {
      await expect(call(guarded(plain))).rejects.toThrow(/keeps no index of sessions by user/);
    }
    expect(warn).not.toHaveBeenCalled();
  });

  it('the cookie store has no server-side half: a server-side call is refused as unsupported, prune finds nothing', async () => {
    const cookieStore = new CookieSessionStore({ keys: [SECRET] });
    await expect(guarded(cookieStore).load('x')).rejects.toThrow(new SessionStoreUnsupportedError('CookieSessionStore keeps no session server-side'));
    await expect(guarded(cookieStore).prune(Date.now(), () => undefined)).resolves.toBe(0);
  });

  it('prune is not bounded by storeTimeout: a long backlog is not cut off', async () => {
    let release!: (n: number) => void;
    const store = storeWith('prune', () => new Promise<number>((r) => (release = r)));
    const pruning = guarded(store, 10).prune(0, () => undefined);
    await new Promise((r) => setTimeout(r, 40));
    release(7);
    await expect(pruning).resolves.toBe(7);
  });
});

describe('start-up', () => {
  it("a store's start-up warnings are logged under the module's name", async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const store = new MemorySessionStore();
    (store as { init?: (log: { warn(message: string): void }) => Promise<void> }).init = async (log) => log.warn('journal_mode is delete');
    await runtime({}, store).onModuleInit();
    expect(warn.mock.calls.map((c) => c[0])).toEqual(['journal_mode is delete']);
    expect((warn.mock.contexts[0] as { context?: string }).context).toBe('SessionModule');
  });

  it('tells the store the resolved timeouts, before its init()', async () => {
    const seen: unknown[] = [];
    const store = Object.assign(new MemorySessionStore(), {
      useTimeouts: (t: unknown) => void seen.push(['useTimeouts', t]),
      init: async () => void seen.push(['init']),
    });
    await runtime({ idleTimeout: 60_000, absoluteTimeout: 600_000, touchInterval: 1000 }, store).onModuleInit();
    expect(seen).toEqual([['useTimeouts', { idleTimeout: 60_000, absoluteTimeout: 600_000 }], ['init']]);
  });

  it('tracks requests until start-up decides, then as decided, and decides only once', () => {
    const rt = runtime();
    expect(rt.tracksRequests).toBe(true);
    rt.decideTracking(false);
    expect(rt.tracksRequests).toBe(false);
    expect(() => rt.decideTracking(true)).toThrow('nestjs-lazy-session: request tracking is decided once, at start-up');
    expect(rt.tracksRequests).toBe(false);
    const on = runtime();
    on.decideTracking(true);
    expect(on.tracksRequests).toBe(true);
  });
});

describe('isCookieSessionStore', () => {
  it('recognises the cookie store by its registered brand (another copy of the library too), and nothing else', () => {
    expect(isCookieSessionStore(new CookieSessionStore({ keys: [SECRET] }))).toBe(true);
    expect(isCookieSessionStore({ [Symbol.for('nestjs-lazy-session.CookieSessionStore')]: true })).toBe(true);
    for (const other of [undefined, null, 'cookie', 42, new MemorySessionStore(), { [Symbol('nestjs-lazy-session.CookieSessionStore')]: true }]) {
      expect(isCookieSessionStore(other)).toBe(false);
    }
  });
});

describe('events', () => {
  it('carry type, handle, user id (undefined for none) and the time', () => {
    const seen: SessionEvent[] = [];
    const rt = runtime({ onEvent: (e) => void seen.push(e) });
    rt.emit('login', 'h1', 'u1');
    rt.emit('created', 'h2', null);
    rt.emit('expired', 'h3');
    expect(seen).toEqual([
      { type: 'login', handle: 'h1', userId: 'u1', at: expect.any(Date) },
      { type: 'created', handle: 'h2', userId: undefined, at: expect.any(Date) },
      { type: 'expired', handle: 'h3', userId: undefined, at: expect.any(Date) },
    ]);
  });

  it('a listener that throws or rejects is logged and never fails the caller', async () => {
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    runtime({
      onEvent: () => {
        throw new Error('listener bug');
      },
    }).emit('logout', 'h');
    expect(error.mock.calls.map((c) => c[0])).toEqual(['onEvent(logout) failed: listener bug']);
    runtime({ onEvent: () => Promise.reject(new Error('async bug')) }).emit('destroyed', 'h');
    await waitFor(() => error.mock.calls.length === 2);
    expect(error.mock.calls[1][0]).toBe('onEvent(destroyed) failed: async bug');
  });

  it('emitAll reports each removed session', () => {
    const seen: SessionEvent[] = [];
    const rt = runtime({ onEvent: (e) => void seen.push(e) });
    rt.emitAll('expired', [{ handle: 'a', userId: 'u' }, { handle: 'b', userId: null }] as StoredSessionSummary[]);
    expect(seen.map((e) => [e.type, e.handle, e.userId])).toEqual([['expired', 'a', 'u'], ['expired', 'b', undefined]]);
  });
});

describe('prune and the sweeper', () => {
  it('prune removes what expired by now and reports each as expired', async () => {
    const store = new MemorySessionStore();
    const now = Date.now();
    const base = { data: {}, userId: 'u', lastSeenAt: now - 10, createdAt: now - 10, authAt: null, remember: false };
    await store.create({ ...base, id: 'old', handle: 'h-old', expiresAt: now - 1 });
    await store.create({ ...base, id: 'live', handle: 'h-live', expiresAt: now + 60_000 });
    const seen: SessionEvent[] = [];
    const rt = runtime({ onEvent: (e) => void seen.push(e) }, store);
    expect(await rt.prune()).toBe(1);
    expect(store.size).toBe(1);
    expect(seen.map((e) => [e.type, e.handle, e.userId])).toEqual([['expired', 'h-old', 'u']]);
  });

  it('no sweeper with pruneInterval 0; with one, it sweeps, never keeps the process alive, and stops on shutdown', async () => {
    const off = runtime({ pruneInterval: 0 });
    await off.onModuleInit();
    expect((off as unknown as { sweeper?: NodeJS.Timeout }).sweeper).toBeUndefined();

    const store = new MemorySessionStore();
    let prunes = 0;
    jest.spyOn(store, 'prune').mockImplementation(async () => ++prunes && 0);
    const rt = runtime({ pruneInterval: 10 }, store);
    await rt.onModuleInit();
    const timer = (rt as unknown as { sweeper?: NodeJS.Timeout }).sweeper!;
    expect(timer.hasRef()).toBe(false);
    await waitFor(() => prunes >= 2);
    await rt.onApplicationShutdown();
    expect((rt as unknown as { sweeper?: NodeJS.Timeout }).sweeper).toBeUndefined();
  });

  it('a failing sweep is logged and the sweeper keeps going', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const store = new MemorySessionStore();
    let prunes = 0;
    jest.spyOn(store, 'prune').mockImplementation(async () => {
      prunes++;
      throw new Error('gone');
    });
    const rt = runtime({ pruneInterval: 10 }, store);
    await rt.onModuleInit();
    await waitFor(() => prunes >= 2 && warn.mock.calls.length >= 2);
    await rt.onApplicationShutdown();
    expect(warn.mock.calls[0][0]).toBe('pruning expired sessions failed: gone');
  });

  it('shutdown waits for the sweep running, and closes the store only when it opened it itself', async () => {
    let release!: () => void;
    let started = false;
    let finished = false;
    const store = new MemorySessionStore();
    jest.spyOn(store, 'prune').mockImplementation(async () => {
      started = true;
      await new Promise<void>((r) => (release = r));
      finished = true;
      return 0;
    });
    const close = jest.fn(async () => undefined);
    (store as unknown as { close: typeof close }).close = close;
    const owned = runtime({ pruneInterval: 10 }, store, true);
    await owned.onModuleInit();
    await waitFor(() => started);
    const shutdown = owned.onApplicationShutdown();
    await new Promise((r) => setTimeout(r, 30));
    expect(finished).toBe(false);
    expect(close).not.toHaveBeenCalled();
    release();
    await shutdown;
    expect(finished).toBe(true);
    expect(close).toHaveBeenCalledTimes(1);

    const notOwned = new MemorySessionStore();
    const close2 = jest.fn(async () => undefined);
    (notOwned as unknown as { close: typeof close2 }).close = close2;
    await runtime({}, notOwned, false).onApplicationShutdown();
    expect(close2).not.toHaveBeenCalled();
  });

  it('a slow sweep is never started twice', async () => {
    let running = 0;
    let most = 0;
    let release!: () => void;
    const store = new MemorySessionStore();
    jest.spyOn(store, 'prune').mockImplementation(async () => {
      running++;
      most = Math.max(most, running);
      await new Promise<void>((r) => (release = r));
      running--;
      return 0;
    });
    const rt = runtime({ pruneInterval: 5 }, store);
    await rt.onModuleInit();
    await waitFor(() => running === 1);
    // Many intervals pass while the first sweep hangs.
    await new Promise((r) => setTimeout(r, 60));
    expect(most).toBe(1);
    release();
    await rt.onApplicationShutdown();
  });
});

describe('events: listeners of every shape', () => {
  it('no listener configured: emitting is a no-op, nothing logged', () => {
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    expect(() => runtime().emit('login', 'h', 'u')).not.toThrow();
    expect(error).not.toHaveBeenCalled();
  });

  it('a listener returning nothing, or a value that is not a promise, is not an error', () => {
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const seen: string[] = [];
    runtime({ onEvent: (e) => void seen.push(e.handle) }).emit('login', 'h1');
    runtime({ onEvent: ((e: SessionEvent) => (seen.push(e.handle), 1)) as never }).emit('login', 'h2');
    runtime({ onEvent: ((e: SessionEvent) => (seen.push(e.handle), { then: 1 })) as never }).emit('login', 'h3');
    expect(seen).toEqual(['h1', 'h2', 'h3']);
    expect(error).not.toHaveBeenCalled();
  });

  it('a listener that throws or rejects with no error object is logged, and the caller still never fails', async () => {
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    expect(() =>
      runtime({
        onEvent: () => {
          throw undefined;
        },
      }).emit('logout', 'h'),
    ).not.toThrow();
    expect(error.mock.calls.map((c) => c[0])).toEqual(['onEvent(logout) failed: undefined']);
    runtime({ onEvent: () => Promise.reject(null) }).emit('destroyed', 'h');
    await waitFor(() => error.mock.calls.length === 2);
    expect(error.mock.calls[1][0]).toBe('onEvent(destroyed) failed: null');
  });
});

describe('shutdown', () => {
  it('stops the sweeper: no sweep runs after shutdown', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask'] });
    try {
      const store = new MemorySessionStore();
      let prunes = 0;
      jest.spyOn(store, 'prune').mockImplementation(async () => ++prunes && 0);
      const rt = runtime({ pruneInterval: 1000 }, store);
      await rt.onModuleInit();
      await jest.advanceTimersByTimeAsync(3000);
      expect(prunes).toBe(3);
      await rt.onApplicationShutdown();
      await jest.advanceTimersByTimeAsync(10_000);
      expect(prunes).toBe(3);
    } finally {
      jest.useRealTimers();
    }
  });

  it('an owned store without close() shuts down cleanly', async () => {
    const store = new MemorySessionStore();
    expect((store as { close?: unknown }).close).toBeUndefined();
    await expect(runtime({}, store, true).onApplicationShutdown()).resolves.toBeUndefined();
  });
});
