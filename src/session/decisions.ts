import type { SessionTimeouts, StoredSessionSummary } from '../stores/store.js';
import { absoluteExpiry, isExpired } from './expiry.js';

/**
 * The decisions of a session's lifecycle, named and pure (as express-session names shouldSave,
 * shouldTouch, shouldSetCookie), so that each is read and tested on its own rather than found in
 * the branches of the code that acts on it.
 */

/** What a request did to its session, as far as the decisions care. */
export interface RequestChanges {
  /** Data changed, or a login happened. */
  dirty: boolean;
  /** The session's id is to be replaced (regenerate, or a login on a stored session). */
  rotate: boolean;
}

/** A read-only request writes the session again only once touchInterval has passed since it was last seen. */
export function shouldTouch(lastSeenAt: number, now: number, touchInterval: number): boolean {
  return now - lastSeenAt >= touchInterval;
}

/**
 * Whether commit() writes anything: a session that does not exist yet only once it holds something;
 * an existing one when it changed, is rotated, or is due a touch.
 */
export function shouldSave(stored: { lastSeenAt: number } | null, changes: RequestChanges, now: number, touchInterval: number): boolean {
  if (stored === null) return changes.dirty;
  return changes.dirty || changes.rotate || shouldTouch(stored.lastSeenAt, now, touchInterval);
}

/**
 * Whether a save sends the client a new cookie. A signed token only changes when the session is
 * made or rotated; a sealed cookie is the session itself, so every save re-sends it.
 */
export function shouldSetCookie(save: { created: boolean; rotated: boolean; cookieHoldsSession: boolean }): boolean {
  return save.created || save.rotated || save.cookieHoldsSession;
}

/**
 * The request's cookie named a session that is no more (gone, expired, ended) and nothing new
 * replaces it: the browser is told to drop it, so it stops sending a dead cookie.
 */
export function shouldClearCookie(stored: object | null, changes: RequestChanges, cookieIsStale: boolean): boolean {
  return stored === null && !changes.dirty && cookieIsStale;
}

/** Whether commit() over HTTP has anything to do: clear a dead cookie, or save the session. */
export function shouldWrite(s: RequestChanges & { record: { lastSeenAt: number } | null; staleCookie: boolean }, now: number, touchInterval: number): boolean {
  return shouldClearCookie(s.record, s, s.staleCookie) || shouldSave(s.record, s, now, touchInterval);
}

/** Whether a login switches users: then the previous user's data must not carry over. */
export function isUserSwitch(current: string | undefined, next: string): boolean {
  return current !== undefined && current !== next;
}

/**
 * The cookie's Max-Age: persistent only with remember (or cookie.maxAge), and never past the
 * session's absolute expiry (undefined: a browser-session cookie).
 */
export function cookieMaxAge(s: { createdAt: number; remember: boolean }, now: number, t: SessionTimeouts, configured: number | undefined): number | undefined {
  const remaining = absoluteExpiry(s.createdAt, t) - now;
  return s.remember ? remaining : configured !== undefined ? Math.min(configured, remaining) : undefined;
}

/**
 * The sessions to end after a login took a user over maxSessionsPerUser: the live ones that logged
 * in first, never the session that is logging in now (`keepId`).
 */
export function sessionsOverLimit(sessions: StoredSessionSummary[], max: number, keepId: string, now: number, t: SessionTimeouts): StoredSessionSummary[] {
  const live = sessions.filter((s) => !isExpired(s, now, t));
  if (live.length <= max) return [];
  const others = live.filter((s) => s.id !== keepId).sort((a, b) => (a.authAt ?? a.createdAt) - (b.authAt ?? b.createdAt));
  return others.slice(0, live.length - max);
}
