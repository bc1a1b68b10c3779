import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { ResolvedSessionOptions } from '../options.js';
import type { SessionStore, StoredSessionSummary } from '../stores/store.js';
import { GuardedStore } from './guarded-store.js';
import type { SessionEventType } from './events.js';
import { SESSION_OPTIONS, SESSION_STORE, SESSION_STORE_OWNED } from '../constants.js';
import { CookieWriter } from '../http/cookie.js';
import { isCookieSessionStore, type CookieSessionStore } from '../stores/cookie.store.js';
import type { SessionBackend } from './backend.js';
import { ServerSideBackend } from './server-side.backend.js';
import { SealedCookieBackend } from './sealed-cookie.backend.js';
import { expiresAt, isExpired, type SessionTimes } from './expiry.js';

/**
 * The module's core, a singleton: the resolved options, the store and the cookie writer, all prepared
 * once at start-up, plus the sweeper that prunes expired sessions. The platform's adapter is not
 * here: each request's context receives it from the request entry (SessionMiddleware).
 */
@Injectable()
export class SessionRuntime implements OnModuleInit, OnApplicationShutdown {
  readonly cookies: CookieWriter;
  /** The store behind its guard: bounded in time, failures logged and answered 503. */
  readonly sessions: GuardedStore;
  /** How sessions travel and where they are kept, decided once by the configured store. */
  readonly backend: SessionBackend;
  private tracking = true;
  private trackingDecided = false;
  private readonly logger = new Logger('SessionModule');
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> | undefined;

  constructor(
    @Inject(SESSION_OPTIONS) readonly options: ResolvedSessionOptions,
    @Inject(SESSION_STORE) readonly store: SessionStore | CookieSessionStore,
    @Inject(SESSION_STORE_OWNED) private readonly ownsStore: boolean,
  ) {
    this.cookies = new CookieWriter(options.cookie);
    this.sessions = new GuardedStore(store, options.storeTimeout, this.logger);
    this.backend = isCookieSessionStore(store) ? new SealedCookieBackend(this, store) : new ServerSideBackend(this);
  }

  /**
   * Whether requests run inside AsyncLocalStorage, for CurrentSession and SessionManager. Until
   * start-up has decided (a runtime made by hand, in a unit spec), on: the slower side that never fails.
   */
  get tracksRequests(): boolean {
    return this.tracking;
  }

  /**
   * Decided once, by SessionBootstrap at onModuleInit: the first moment Nest knows every class that
   * could inject CurrentSession (middleware is only known once every module's configure() has run).
   * Deciding again would change how a running application finds its requests, so it is refused.
   */
  decideTracking(on: boolean): void {
    if (this.trackingDecided) throw new Error('nestjs-lazy-session: request tracking is decided once, at start-up');
    this.trackingDecided = true;
    this.tracking = on;
  }

  async onModuleInit(): Promise<void> {
    // Before serving: a store that is not ready (say, no sessions table) stops the start-up here.
    if (!isCookieSessionStore(this.store)) {
      const { idleTimeout, absoluteTimeout } = this.options;
      // Here rather than where the store is made, so that a store given by overrideProvider learns them too.
      this.store.useTimeouts?.({ idleTimeout, absoluteTimeout });
      await this.store.init?.({ warn: (message) => this.logger.warn(message) });
    }
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
    if (this.ownsStore && !isCookieSessionStore(this.store)) await this.store.close?.();
  }

  /** The expiry rule (session/expiry.ts) under this module's timeouts. */
  isExpired(s: SessionTimes, now: number): boolean {
    return isExpired(s, now, this.options);
  }

  expiresAt(createdAt: number, now: number): number {
    return expiresAt(createdAt, now, this.options);
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
    return this.sessions.prune(Date.now(), (batch) => this.emitAll('expired', batch));
  }
}

