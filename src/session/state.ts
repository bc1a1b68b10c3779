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
 * - `staleCookie` only with `hadCookie`: the cookie that came named no live session, so it is
 *   cleared unless a new session replaces it.
 */
export class SessionState {
  record: SessionRecord | null = null;
  data: Record<string, unknown> = {};
  readonly changes = new SessionChanges();
  rotate = false;
  login: PendingLogin | undefined;
  hadCookie = false;
  staleCookie = false;
  /** The handle a session made in this request gets, chosen once so every measure of it agrees. */
  private handle: string | undefined;

  get dirty(): boolean {
    return this.changes.any || this.login !== undefined;
  }

  get userId(): string | undefined {
    return this.login?.userId ?? this.record?.userId ?? undefined;
  }

  /** Who the session belongs to after this request, and since when. */
  authInfo(): { userId: string | undefined; authAt: number | undefined } {
    if (this.login) return { userId: this.login.userId, authAt: this.login.authAt };
    return { userId: this.record?.userId ?? undefined, authAt: this.record?.authAt ?? undefined };
  }

  has(key: string): boolean {
    return hasOwn(this.data, key);
  }

  get(key: string): unknown {
    return hasOwn(this.data, key) ? this.data[key] : undefined;
  }

  /** The data with `key` set, as a new object: nothing changes until it is accepted (size check). */
  withValue(key: string, value: unknown): Record<string, unknown> {
    const next = { ...this.data };
    defineOwn(next, key, value);
    return next;
  }

  accept(key: string, next: Record<string, unknown>): void {
    this.data = next;
    this.changes.set(key, next[key]);
  }

  remove(key: string): void {
    if (!hasOwn(this.data, key)) return;
    const next = { ...this.data };
    delete next[key];
    this.data = next;
    this.changes.unset(key);
  }

  clear(): void {
    this.data = {};
    this.changes.replaceAll();
  }

  adopt(record: SessionRecord): void {
    this.record = record;
    this.data = record.data;
  }

  /** Rotation only means something for a stored session. */
  regenerate(): void {
    if (this.record) this.rotate = true;
  }

  /** The session is ended in this request: what follows starts from nothing. */
  reset(): void {
    this.record = null;
    this.data = {};
    this.changes.reset();
    this.rotate = false;
    this.login = undefined;
  }

  /** The session as it will be after this request was seen at `now`, with `data` as its data. */
  next(now: number, t: SessionTimeouts, data = this.data): SessionRecord {
    const prev = this.record;
    const login = this.login;
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
