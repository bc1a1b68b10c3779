import type { SessionPatch, SessionRecord } from '../stores/store.js';
import { newToken, signToken, storeKey, verifyCookieValue } from '../crypto/token.js';
import type { SessionRequestIO } from './request-io.js';
import type { PendingLogin, SessionState } from './state.js';
import { GONE, cookieLine, sendCookie, type BackendRuntime, type SessionBackend, type SessionRef } from './backend.js';
import { sessionsOverLimit, shouldSetCookie } from './decisions.js';
import { expiresAt } from './expiry.js';

/**
 * The session kept in the store (always through the guarded `rt.sessions`), named by a signed
 * random token in the cookie of which the store only ever sees the hash. Every write is one
 * statement; rotation moves the row to a new id in that same statement.
 */
export class ServerSideBackend implements SessionBackend {
  readonly endsUnloaded = true;

  constructor(private readonly rt: BackendRuntime) {}

  async open(value: string | undefined): Promise<SessionRecord | null | typeof GONE> {
    const id = this.idInCookie(value);
    // A bad signature costs no query, and a client-chosen id is never adopted.
    if (id === undefined) return null;
    return (await this.rt.sessions.load(id)) ?? GONE;
  }

  idInCookie(value: string | undefined): string | undefined {
    const token = value === undefined ? undefined : verifyCookieValue(value, this.rt.options.secrets);
    return token === undefined ? undefined : storeKey(token);
  }

  async discard(ref: SessionRef, type: 'expired' | 'destroyed' | 'logout'): Promise<void> {
    const removed = await this.rt.sessions.destroy(ref.id);
    if (removed) this.rt.emit(type, removed.handle, removed.userId);
  }

  /** maxDataBytes is the store's whole limit. */
  checkFits(): void {}

  save(state: SessionState, io: SessionRequestIO, now: number): Promise<void> {
    return state.record === null ? this.create(state, io, now) : this.update(state.record, state, io, now);
  }

  private async create(state: SessionState, io: SessionRequestIO, now: number): Promise<void> {
    const token = newToken();
    const record: SessionRecord = { ...state.next(now, this.rt.options), id: storeKey(token) };
    await this.rt.sessions.create(record);
    this.sendToken(io, token, record, now);
    this.rt.emit('created', record.handle, record.userId);
    if (state.login) await this.afterLogin(state.login, record.handle, record.id);
  }

  private async update(record: SessionRecord, state: SessionState, io: SessionRequestIO, now: number): Promise<void> {
    const login = state.login;
    const patch: SessionPatch = { handle: record.handle, lastSeenAt: now, expiresAt: expiresAt(record.createdAt, now, this.rt.options) };
    const token = state.rotate ? newToken() : undefined;
    if (token !== undefined) patch.newId = storeKey(token);
    Object.assign(patch, state.changes.toPatch(state.data));
    if (login) patch.login = login;
    const stored = await this.rt.sessions.update(record.id, patch);
    // Destroyed, expired or rotated by another request meanwhile: nothing is brought back, and the
    // cookie is left alone (the other request may have just sent the client its new one).
    if (!stored) return;
    if (shouldSetCookie({ created: false, rotated: token !== undefined, cookieHoldsSession: false })) {
      this.sendToken(io, token!, { createdAt: record.createdAt, remember: login?.remember ?? record.remember }, now);
      this.rt.emit('regenerated', record.handle, login?.userId ?? record.userId);
    }
    if (login) await this.afterLogin(login, record.handle, patch.newId ?? record.id);
  }

  private sendToken(io: SessionRequestIO, token: string, s: { createdAt: number; remember: boolean }, now: number): void {
    const { options, cookies } = this.rt;
    sendCookie(io, cookieLine(options, cookies, signToken(token, options.secrets[0]), s, now));
  }

  /** Reports the login, then ends the user's oldest sessions when the login took them over the limit. */
  private async afterLogin(login: PendingLogin, handle: string, id: string): Promise<void> {
    this.rt.emit('login', handle, login.userId);
    const max = this.rt.options.maxSessionsPerUser;
    // No limit, no query.
    if (!Number.isFinite(max)) return;
    const sessions = await this.rt.sessions.listByUser(login.userId);
    for (const s of sessionsOverLimit(sessions, max, id, Date.now(), this.rt.options)) {
      const removed = await this.rt.sessions.destroy(s.id);
      if (removed) this.rt.emit('destroyed', removed.handle, removed.userId);
    }
  }
}
