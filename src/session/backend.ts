import type { SessionRecord } from '../stores/store.js';
import type { CookieWriter } from '../http/cookie.js';
import type { ResolvedSessionOptions } from '../options.js';
import type { SessionRequestIO } from './request-io.js';
import type { SessionState } from './state.js';
import type { GuardedStore } from './guarded-store.js';
import type { SessionEventType } from './events.js';
import { cookieMaxAge } from './decisions.js';

/**
 * What a backend needs of the runtime, all of it fixed at start-up. An interface of its own, so the
 * runtime, which chooses the backend, is not imported back by it.
 */
export interface BackendRuntime {
  readonly options: ResolvedSessionOptions;
  readonly cookies: CookieWriter;
  readonly sessions: GuardedStore;
  emit(type: SessionEventType, handle: string, userId?: string | null): void;
}

/** The cookie named a session that no longer exists: the cookie is to be cleared. */
export const GONE = Symbol('gone');

/** A session to end: a loaded one, or only the id that a verified cookie names. */
export type SessionRef = SessionRecord | { id: string };

/**
 * How the session travels and where it is kept (Spring Session's HttpSessionIdResolver and
 * SessionRepository, as one): a signed token in the cookie naming a stored session, or the whole
 * session sealed in the cookie. Chosen once at start-up from the configured store; LazySession
 * holds the lifecycle and asks its backend only these questions.
 */
export interface SessionBackend {
  /**
   * Ending a session it has not loaded: the server-side one is named by the verified cookie alone,
   * with no query; a sealed one has to be opened to know whose session ends.
   */
  readonly endsUnloaded: boolean;
  /** The session the cookie's value names, null when it names none to adopt (bad, or no value). */
  open(value: string | undefined): Promise<SessionRecord | null | typeof GONE>;
  /** The store id the cookie's value names, verified, without loading it. */
  idInCookie(value: string | undefined): string | undefined;
  /** Ends a session (expired, destroyed, logged out) where it is kept, and reports it. */
  discard(ref: SessionRef, type: 'expired' | 'destroyed' | 'logout'): Promise<void>;
  /** Throws SessionDataTooLargeError when `data` would not fit where this backend keeps it. */
  checkFits(key: string, state: SessionState, data: Record<string, unknown>): void;
  /** Writes the request's changes (shouldSave said so) and sends the cookie when it changed. */
  save(state: SessionState, io: SessionRequestIO, now: number): Promise<void>;
}

/** The Set-Cookie line for a cookie value of the session `s`, seen at `now`. */
export function cookieLine(options: ResolvedSessionOptions, cookies: CookieWriter, value: string, s: { createdAt: number; remember: boolean }, now: number): string {
  return cookies.set(value, cookieMaxAge(s, now, options, options.cookie.maxAge));
}

/** A response that sets or clears the session cookie is private to this client. */
export function sendCookie(io: SessionRequestIO, line: string): void {
  io.http.addSetCookie(io.res, line);
  io.http.setHeader(io.res, 'Cache-Control', 'no-store');
}

export function sendClearCookie(io: SessionRequestIO, cookies: CookieWriter): void {
  sendCookie(io, cookies.clear());
}
