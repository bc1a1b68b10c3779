import type { Logger } from '@nestjs/common';
import { isUserIndexed, type SessionPatch, type SessionRecord, type SessionStore, type StoredSessionSummary, type UserIndexedSessionStore } from '../stores/store.js';
import { SessionStoreUnavailableError, SessionStoreUnsupportedError } from '../errors.js';

/**
 * The store as the rest of the module uses it, wrapped once: every call a request waits on is bounded
 * by storeTimeout, and any failure is logged and becomes SessionStoreUnavailableError (503), so no
 * caller can forget either. A store outage must answer 503, never hang the request or leak a 500.
 */
export class GuardedStore {
  constructor(
    private readonly store: SessionStore,
    private readonly timeout: number,
    private readonly logger: Pick<Logger, 'warn'>,
  ) {}

  load(id: string): Promise<SessionRecord | null> {
    return this.call('load', () => this.store.load(id));
  }

  create(record: SessionRecord): Promise<void> {
    return this.call('create', () => this.store.create(record));
  }

  update(id: string, patch: SessionPatch): Promise<boolean> {
    return this.call('update', () => this.store.update(id, patch));
  }

  destroy(id: string): Promise<StoredSessionSummary | null> {
    return this.call('destroy', () => this.store.destroy(id));
  }

  listByUser(userId: string): Promise<StoredSessionSummary[]> {
    return this.call('listByUser', () => this.indexed().listByUser(userId));
  }

  destroyByUser(userId: string, exceptId?: string): Promise<StoredSessionSummary[]> {
    return this.call('destroyByUser', () => this.indexed().destroyByUser(userId, exceptId));
  }

  destroyByHandle(handle: string): Promise<StoredSessionSummary | null> {
    return this.call('destroyByHandle', () => this.indexed().destroyByHandle(handle));
  }

  /** Not bounded by storeTimeout: a large backlog takes many batches, and no request waits on it. */
  prune(now: number, onBatch: (removed: StoredSessionSummary[]) => void): Promise<number> {
    return this.store.prune(now, onBatch);
  }

  private indexed(): UserIndexedSessionStore {
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
