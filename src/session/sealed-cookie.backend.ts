import type { SessionRecord } from '../stores/store.js';
import type { CookieSessionStore } from '../stores/cookie.store.js';
import { SessionDataTooLargeError } from '../errors.js';
import type { SessionRequestIO } from './request-io.js';
import type { SessionState } from './state.js';
import { cookieLine, sendCookie, type BackendRuntime, type SessionBackend, type SessionRef } from './backend.js';
import { shouldSetCookie } from './decisions.js';

/**
 * The whole session sealed in the cookie (CookieSessionStore seals and opens it): nothing is kept
 * server-side, so every change re-sends the whole session, and ending one is clearing its cookie.
 */
export class SealedCookieBackend implements SessionBackend {
  readonly endsUnloaded = false;

  constructor(
    private readonly rt: BackendRuntime,
    private readonly sealer: CookieSessionStore,
  ) {}

  /** A cookie that does not open is no session, like a bad signature. */
  async open(value: string | undefined): Promise<SessionRecord | null> {
    return value === undefined ? null : this.sealer.open(value);
  }

  /** The session is only known by opening the cookie. */
  idInCookie(): undefined {
    return undefined;
  }

  /** Nothing server-side to delete: the cookie is cleared, and that is the end of it. */
  async discard(ref: SessionRef, type: 'expired' | 'destroyed' | 'logout'): Promise<void> {
    if ('handle' in ref) this.rt.emit(type, ref.handle, ref.userId);
  }

  /** Measured on the real thing: the sealed Set-Cookie line this data would produce. */
  checkFits(key: string, state: SessionState, data: Record<string, unknown>): void {
    const now = Date.now();
    const line = Buffer.byteLength(this.line(state.next(now, this.rt.options, data), now));
    const limit = this.sealer.maxCookieBytes;
    if (line > limit) throw new SessionDataTooLargeError(key, line, limit, 'the Set-Cookie line of the cookie store');
  }

  async save(state: SessionState, io: SessionRequestIO, now: number): Promise<void> {
    const prev = state.record;
    const record = state.next(now, this.rt.options);
    if (shouldSetCookie({ created: prev === null, rotated: state.rotate, cookieHoldsSession: true })) sendCookie(io, this.line(record, now));
    if (prev === null) this.rt.emit('created', record.handle, record.userId);
    else if (state.rotate) this.rt.emit('regenerated', record.handle, record.userId);
    if (state.login) this.rt.emit('login', record.handle, record.userId);
  }

  private line(record: SessionRecord, now: number): string {
    const { options, cookies } = this.rt;
    return cookieLine(options, cookies, this.sealer.seal(record), record, now);
  }
}
