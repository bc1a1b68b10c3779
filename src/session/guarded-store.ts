import type { Logger } from '@nestjs/common';
import { isUserIndexed, type SessionPatch, type SessionRecord, type SessionStore, type StoredSessionSummary, type UserIndexedSessionStore } from '../stores/store.js';
import { SessionStoreUnavailableError, SessionStoreUnsupportedError } from '../errors.js';
import { isCookieSessionStore, type CookieSessionStore } from '../stores/cookie.store.js';

/** What each user-index operation would have done, for the cookie store's refusal. */
const USER_INDEX_OPERATIONS = {
  listByUser: "list a user's sessions",
  destroyByUser: "end a user's sessions",
  destroyByHandle: 'end a session by its handle',
} as const;

/**
 * The store as the rest of the module uses it, wrapped once: every call a request waits on is bounded
 * by storeTimeout, and any failure is logged and becomes SessionStoreUnavailableError (503), so no
 * caller can forget either. A store outage must answer 503, never hang the request or leak a 500.
 */
export class GuardedStore {
  constructor(
    private readonly store: SessionStore | CookieSessionStore,
    private readonly timeout: number,
    private readonly logger: Pick<Logger, 'warn'>,
  ) {}

  load(id: string): Promise<SessionRecord | null> {
    return this.call('load', () => this.server().load(id));
  }

  create(record: SessionRecord): Promise<void> {
    return this.call('create', () => this.server().create(record));
  }

  update(id: string, patch: SessionPatch): Promise<boolean> {
    return this.call('update', () => this.server().update(id, patch));
  }

  destroy(id: string): Promise<StoredSessionSummary | null> {
    return this.call('destroy', () => this.server().destroy(id));
  }

  listByUser(userId: string): Promise<StoredSessionSummary[]> {
    return this.call('listByUser', () => this.indexed('listByUser').listByUser(userId));
  }

  destroyByUser(userId: string, exceptId?: string): Promise<StoredSessionSummary[]> {
    return this.call('destroyByUser', () => this.indexed('destroyByUser').destroyByUser(userId, exceptId));
  }

  destroyByHandle(handle: string): Promise<StoredSessionSummary | null> {
    return this.call('destroyByHandle', () => this.indexed('destroyByHandle').destroyByHandle(handle));
  }

  /** Not bounded by storeTimeout: a large backlog takes many batches, and no request waits on it. */
  prune(now: number, onBatch: (removed: StoredSessionSummary[]) => void): Promise<number> {
    // Sealed cookies expire in the browser: there is nothing server-side to sweep.
    return isCookieSessionStore(this.store) ? Promise.resolve(0) : this.store.prune(now, onBatch);
  }

  /** The sealed-cookie backend never asks: sessions kept in cookies have no server-side half. */
  private server(): SessionStore {
    if (!isCookieSessionStore(this.store)) return this.store;
    throw new SessionStoreUnsupportedError('CookieSessionStore keeps no session server-side');
  }

  private indexed(operation: keyof typeof USER_INDEX_OPERATIONS): UserIndexedSessionStore {
    if (isCookieSessionStore(this.store)) {
      throw new SessionStoreUnsupportedError(
        `CookieSessionStore cannot ${USER_INDEX_OPERATIONS[operation]}: the sessions live only in the browsers' cookies. Use a server-side store (TypeOrmSessionStore, RedisSessionStore) to list or end sessions.`,
      );
    }
    if (isUserIndexed(this.store)) return this.store;
    throw new SessionStoreUnsupportedError(
      `${this.store.constructor.name} keeps no index of sessions by user: use a store that does (TypeOrmSessionStore, RedisSessionStore) to list or end a user's sessions.`,
    );
  }

  private call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new SessionStoreUnavailableError(`${operation}: no answer within ${this.timeout} ms`)), this.timeout);
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
}
