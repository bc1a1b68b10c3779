import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { ResolvedSessionOptions } from '../options.js';
import { isUserIndexed, type SessionStore, type StoredSessionSummary, type UserIndexedSessionStore } from '../stores/store.js';
import type { SessionEventType } from './events.js';
import { SESSION_OPTIONS, SESSION_STORE, SESSION_STORE_OWNED } from '../constants.js';
import { SessionStoreUnavailableError, SessionStoreUnsupportedError } from '../errors.js';
import { CookieWriter } from '../http/cookie.js';
import type { SessionHttpAdapter } from '../http/http.adapter.js';
import { ExpressHttpAdapter } from '../http/express.adapter.js';

/**
 * The module's core, a singleton: the resolved options, the store, the cookie writer and the HTTP
 * adapter, all prepared once at start-up, plus the sweeper that prunes expired sessions.
 */
@Injectable()
export class SessionRuntime implements OnModuleInit, OnApplicationShutdown {
  readonly cookies: CookieWriter;
  /** Chosen at init, when the application's platform is known (SessionBootstrap). */
  http: SessionHttpAdapter = new ExpressHttpAdapter();
  /** Whether requests run inside AsyncLocalStorage, for CurrentSession (SessionBootstrap). */
  tracksRequests = true;
  private readonly logger = new Logger('SessionModule');
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> | undefined;

  constructor(
    @Inject(SESSION_OPTIONS) readonly options: ResolvedSessionOptions,
    @Inject(SESSION_STORE) readonly store: SessionStore,
    @Inject(SESSION_STORE_OWNED) private readonly ownsStore: boolean,
  ) {
    this.cookies = new CookieWriter(options.cookie);
  }

  async onModuleInit(): Promise<void> {
    // Before serving: a store that is not ready (say, no sessions table) stops the start-up here.
    await this.store.init?.({ warn: (message) => this.logger.warn(message) });
    if (this.options.pruneInterval > 0) {
      this.sweeper = setInterval(() => {
        if (this.sweeping) return;
        this.sweeping = this.prune()
          .catch((err) => this.logger.warn(`pruning expired sessions failed: ${(err as Error).message}`))
          .finally(() => (this.sweeping = undefined));
      }, this.options.pruneInterval);
      // The sweeper never keeps the process alive.
      this.sweeper.unref();
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    await this.sweeping;
    if (this.ownsStore) await this.store.close?.();
  }

  /** A store call bounded in time; any failure becomes SessionStoreUnavailableError (503). */
  call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new SessionStoreUnavailableError(`${operation}: no answer within ${this.options.storeTimeout} ms`)), this.options.storeTimeout);
      let p: Promise<T>;
      try {
        p = fn();
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (err) => {
          clearTimeout(timer);
          if (err instanceof SessionStoreUnsupportedError) return reject(err);
          this.logger.warn(`session store ${operation} failed: ${(err as Error)?.message ?? String(err)}`);
          reject(err instanceof SessionStoreUnavailableError ? err : new SessionStoreUnavailableError(operation, { cause: err }));
        },
      );
    });
  }

  /** The store's user index; a store without one answers SessionStoreUnsupportedError. */
  get indexed(): UserIndexedSessionStore {
    if (isUserIndexed(this.store)) return this.store;
    throw new SessionStoreUnsupportedError(`${this.store.constructor.name} keeps no index of sessions by user: use a store that does (TypeOrmSessionStore, RedisSessionStore) to list or end a user's sessions.`);
  }

  isExpired(s: { createdAt: number; lastSeenAt: number; expiresAt: number }, now: number): boolean {
    return now >= s.expiresAt || now >= s.lastSeenAt + this.options.idleTimeout || now >= s.createdAt + this.options.absoluteTimeout;
  }

  /** The earlier of the idle and the absolute expiry, for a session seen at `now`. */
  expiresAt(createdAt: number, now: number): number {
    return Math.min(now + this.options.idleTimeout, createdAt + this.options.absoluteTimeout);
  }

  emit(type: SessionEventType, handle: string, userId?: string | null): void {
    const onEvent = this.options.onEvent;
    if (!onEvent) return;
    const event = { type, handle, userId: userId ?? undefined, at: new Date() };
    try {
      const result = onEvent(event);
      if (result && typeof (result as Promise<void>).catch === 'function') {
        (result as Promise<void>).catch((err) => this.logger.error(`onEvent(${type}) failed: ${(err as Error)?.message ?? String(err)}`));
      }
    } catch (err) {
      this.logger.error(`onEvent(${type}) failed: ${(err as Error)?.message ?? String(err)}`);
    }
  }

  emitAll(type: SessionEventType, removed: StoredSessionSummary[]): void {
    for (const r of removed) this.emit(type, r.handle, r.userId);
  }

  /** Removes expired sessions; each is reported as 'expired'. */
  async prune(): Promise<number> {
    // Not bounded by storeTimeout: a large backlog takes many batches, and no request waits on it.
    return this.store.prune(Date.now(), (batch) => this.emitAll('expired', batch));
  }
}

