import type { SessionRecord, SessionTimeouts } from '../stores/store.js';
import { newHandle } from '../crypto/token.js';
import { SessionChanges } from './changes.js';
import { expiresAt } from './expiry.js';
import { defineOwn } from './json.js';

const hasOwn = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** A login made in this request, written at commit. */
export interface PendingLogin {
  userId: string;
  authAt: number;
  remember: boolean;
}

/**
 * What one request knows of its session between first use and commit(). The valid combinations:
 * - `record` null: no live session (none came, its cookie was bad, or it was gone, expired or ended
 *   in this request); `data` holds only this request's writes and `rotate` is false, since a
 *   session not yet stored gets a fresh id anyway.
 * - `record` set: the live session as loaded; `data` is its data with `changes` applied.
 * - `login`, when set, is the user after this request and wins over `record.userId`.
 * - `staleCookie` only when a cookie came: the cookie that came named no live session, so it is
 *   cleared unless a new session replaces it.
 */
export class SessionState {
  readonly changes = new SessionChanges();
  private stored: SessionRecord | null = null;
  private current: Record<string, unknown> = {};
  private rotating = false;
  private pendingLogin: PendingLogin | undefined;
  private cookieCame = false;
  private cookieStale = false;
  /** The handle a session made in this request gets, chosen once so every measure of it agrees. */
  private handle: string | undefined;

  get record(): SessionRecord | null {
    return this.stored;
  }

  get data(): Record<string, unknown> {
    return this.current;
  }

  get rotate(): boolean {
    return this.rotating;
  }

  get login(): PendingLogin | undefined {
    return this.pendingLogin;
  }


  get staleCookie(): boolean {
    return this.cookieStale;
  }

  get dirty(): boolean {
    return this.changes.any || this.pendingLogin !== undefined;
  }

  get userId(): string | undefined {
    return this.pendingLogin?.userId ?? this.stored?.userId ?? undefined;
  }

  /** Who the session belongs to after this request, and since when. */
  authInfo(): { userId: string | undefined; authAt: number | undefined } {
    if (this.pendingLogin) return { userId: this.pendingLogin.userId, authAt: this.pendingLogin.authAt };
    return { userId: this.stored?.userId ?? undefined, authAt: this.stored?.authAt ?? undefined };
  }

  /** Whether the request came with a cookie of our name (valid or not). */
  sawCookie(present: boolean): void {
    this.cookieCame = present;
  }

  /** The cookie that came names no live session (any more): clear it unless a new one replaces it. */
  markCookieStale(): void {
    this.cookieStale = this.cookieCame;
  }

  has(key: string): boolean {
    return hasOwn(this.data, key);
  }

  get(key: string): unknown {
    return hasOwn(this.data, key) ? this.data[key] : undefined;
  }

  /** The data with `key` set, as a new object: nothing changes until it is accepted (size check). */
  withValue(key: string, value: unknown): Record<string, unknown> {
    const next = { ...this.current };
    defineOwn(next, key, value);
    return next;
  }

  accept(key: string, next: Record<string, unknown>): void {
    this.current = next;
    this.changes.set(key, next[key]);
  }

  remove(key: string): void {
    if (!hasOwn(this.data, key)) return;
    const next = { ...this.current };
    delete next[key];
    this.current = next;
    this.changes.unset(key);
  }

  clear(): void {
    this.current = {};
    this.changes.replaceAll();
  }

  adopt(record: SessionRecord): void {
    this.stored = record;
    this.current = record.data;
  }

  /** Rotation only means something for a stored session. */
  regenerate(): void {
    if (this.stored) this.rotating = true;
  }

  /** A login rotates the id; the caller has already cleared another user's data. */
  logIn(login: PendingLogin): void {
    this.pendingLogin = login;
    this.regenerate();
  }

  /** The session is ended in this request: what follows starts from nothing. */
  reset(): void {
    this.stored = null;
    this.current = {};
    this.changes.reset();
    this.rotating = false;
    this.pendingLogin = undefined;
  }

  /** The session as it will be after this request was seen at `now`, with `data` as its data. */
  next(now: number, t: SessionTimeouts, data = this.current): SessionRecord {
    const prev = this.stored;
    const login = this.pendingLogin;
    const createdAt = prev?.createdAt ?? now;
    const handle = prev?.handle ?? (this.handle ??= newHandle());
    return {
      id: prev?.id ?? handle,
      handle,
      data,
      userId: login?.userId ?? prev?.userId ?? null,
      createdAt,
      lastSeenAt: now,
      expiresAt: expiresAt(createdAt, now, t),
      authAt: login?.authAt ?? prev?.authAt ?? null,
      remember: login?.remember ?? prev?.remember ?? false,
    };
  }
}
