import { Injectable } from '@nestjs/common';
import { SessionRuntime } from '../session/runtime.js';
import { requestContextStorage } from '../request/context.js';
import { storableText } from '../session/json.js';
import { effectiveExpiry, isExpired } from '../session/expiry.js';
import type { StoredSessionSummary } from '../stores/store.js';

export interface SessionInfo {
  /** Names the session for listing and revoking; never the cookie's token. */
  handle: string;
  createdAt: Date;
  lastSeenAt: Date;
  /** The earlier of the idle and the absolute expiry. */
  expiresAt: Date;
  /** The session of the request this was called in. */
  current: boolean;
}

/** Per-user session management: "your devices", "log out everywhere else", cleanup. */
@Injectable()
export class SessionManager {
  constructor(private readonly rt: SessionRuntime) {}

  private currentId(): string | undefined {
    return requestContextStorage.getStore()?.session.cookieSessionId();
  }

  async listForUser(userId: string): Promise<SessionInfo[]> {
    // First: on a request that may not use its session, nothing is asked of the store.
    const current = this.currentId();
    const rows = await this.sessionsOf(userId);
    const now = Date.now();
    return rows
      .filter((r) => !isExpired(r, now, this.rt.options))
      .sort((a, b) => b.lastSeenAt - a.lastSeenAt)
      .map((r) => this.info(r, current));
  }

  async destroyAllForUser(userId: string, options: { except?: 'current' } = {}): Promise<number> {
    const except = options.except === 'current' ? this.currentId() : undefined;
    if (options.except !== undefined && options.except !== 'current') throw new TypeError("destroyAllForUser: options.except can only be 'current'");
    if (!mayOwnSessions(userId)) return 0;
    const removed = await this.rt.sessions.destroyByUser(userId, except);
    this.rt.emitAll('destroyed', removed);
    return removed.length;
  }

  /**
   * Ends the session with this handle. With `{ userId }`, only when it is one of that user's
   * sessions: pass the logged-in user, so a handle from a form cannot end somebody else's session.
   */
  async destroyByHandle(handle: string, options: { userId?: string } = {}): Promise<boolean> {
    // A check that was asked for must happen: `{ userId: await session.getUserId() }` on an anonymous
    // request gives undefined, which must not quietly mean "any session".
    const owned = 'userId' in options;
    if (owned && (typeof options.userId !== 'string' || options.userId.length === 0)) {
      throw new TypeError('destroyByHandle(handle, { userId }): userId must be a non-empty string (omit the key to end any session)');
    }
    if (typeof handle !== 'string' || handle.length === 0 || handle.length > 64) return false;
    if (owned) {
      const mine = await this.sessionsOf(options.userId!);
      if (!mine.some((s) => s.handle === handle)) return false;
    }
    const removed = await this.rt.sessions.destroyByHandle(handle);
    if (removed) this.rt.emit('destroyed', removed.handle, removed.userId);
    return removed !== null;
  }

  /** Removes expired sessions now (the module also does it every pruneInterval). */
  prune(): Promise<number> {
    return this.rt.prune();
  }

  /** A user's stored sessions; none, without a query, for an id that login() would have refused. */
  private sessionsOf(userId: string): Promise<StoredSessionSummary[]> {
    if (!mayOwnSessions(userId)) return Promise.resolve([]);
    return this.rt.sessions.listByUser(userId);
  }

  private info(r: StoredSessionSummary, currentId: string | undefined): SessionInfo {
    return {
      handle: r.handle,
      createdAt: new Date(r.createdAt),
      lastSeenAt: new Date(r.lastSeenAt),
      expiresAt: new Date(effectiveExpiry(r, this.rt.options)),
      current: currentId !== undefined && r.id === currentId,
    };
  }
}

/**
 * Whether any session can belong to this user id: login() refuses ids no store can hold (U+0000, lone
 * surrogates), so asking about one is bad input with a known answer, not a store query that
 * PostgreSQL would fail with an error (a 503 for the request).
 */
function mayOwnSessions(userId: unknown): boolean {
  return typeof userId === 'string' && storableText(userId);
}
