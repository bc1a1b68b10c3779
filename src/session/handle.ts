import { ForbiddenException } from '@nestjs/common';
import type { SessionRuntime } from './runtime.js';
import type { SessionRequestIO } from './request-io.js';
import type { CookieCarrier, SessionPatch, SessionRecord } from '../stores/store.js';
import { findCookie } from '../http/cookie.js';
import { newHandle, newToken, signToken, storeKey, verifyCookieValue } from '../crypto/token.js';
import { checkSessionKey, storableText, toJson } from './json.js';
import { defineOwn } from '../stores/codec.js';
import { SessionDataTooLargeError } from '../errors.js';
import { CROSS_SITE_REFUSED, headerText, isCrossSite, isStateChanging } from '../http/cross-site.js';

export interface LoginOptions {
  /** A persistent cookie, whose Max-Age never reaches past the session's absolute expiry. */
  remember?: boolean;
}

/**
 * Typed session data: declare the shape once and get/set/@SessionValue are checked.
 *
 *   declare module 'nestjs-lazy-session' {
 *     interface SessionData { cart: string[]; visits: number }
 *   }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface SessionData {}

/** Once SessionData declares keys, only those keys are accepted. */
export type SessionKey<D = SessionData> = [keyof D] extends [never] ? string : Extract<keyof D, string>;
type ValueOf<D, K> = K extends keyof D ? D[K] : unknown;

/** The session API that handlers and services see. */
export interface SessionHandle<D = SessionData> {
  /**
   * An explicit type argument (`get<Cart>('cart')`) wins; otherwise the declared type of the key.
   * NoInfer: T is never guessed from where the result goes, so `const v: string = await
   * get('visits')` is an error when `visits` is declared a number, not a silent cast.
   */
  get<T = never, K extends SessionKey<D> = SessionKey<D>>(key: K): Promise<([NoInfer<T>] extends [never] ? ValueOf<D, K> : NoInfer<T>) | undefined>;
  has(key: SessionKey<D>): Promise<boolean>;
  set<K extends SessionKey<D>>(key: K, value: ValueOf<D, K>): Promise<void>;
  delete(key: SessionKey<D>): Promise<void>;
  clear(): Promise<void>;
  regenerate(): Promise<void>;
  destroy(): Promise<void>;
  login(userId: string, options?: LoginOptions): Promise<void>;
  logout(): Promise<void>;
  getUserId(): Promise<string | undefined>;
}

/** What guards need beyond the public handle. */
export interface SessionAuthInfo {
  userId: string | undefined;
  authAt: number | undefined;
}

const hasOwn = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/**
 * One request's session. It holds nothing but the request until first used; the first call loads
 * the session once (concurrent callers share the same load), changes are kept as a patch of the
 * keys this request touched, and commit() writes them in one statement before the response.
 */
export class LazySession implements SessionHandle<Record<never, never>> {
  private loading: Promise<void> | undefined;
  /** The stored session as loaded (null: none, or a new one not yet stored). */
  private record: SessionRecord | null = null;
  private data: Record<string, unknown> = {};
  private readonly sets = new Map<string, unknown>();
  private readonly unsets = new Set<string>();
  private replaced = false;
  private rotate = false;
  private pendingLogin: { userId: string; authAt: number; remember: boolean } | undefined;
  /** A cookie of our name came with the request (valid or not). */
  private hadCookie = false;
  /** The request's cookie named a session that is gone now: clear it unless a new one is made. */
  private clearCookie = false;
  private committed = false;
  /** The cookie store's handle for a session made in this request. */
  private newHandle: string | undefined;

  constructor(private readonly rt: SessionRuntime, private readonly ctx: SessionRequestIO) {}

  private load(): Promise<void> {
    if (this.loading === undefined) {
      this.refuseCrossSite();
      this.loading = this.doLoad();
    }
    return this.loading;
  }

  /**
   * A state-changing request from another site may not use the session at all, whether or not it
   * carries a cookie (SameSite=Lax keeps the cookie off a cross-site POST, so a cookie-less request
   * is exactly what a login CSRF looks like). Judged here, at first use, before any header is added,
   * the response held or the store touched, so that routes which never use the session (webhooks)
   * are served and pay nothing.
   */
  private refuseCrossSite(): void {
    const { options } = this.rt;
    const { http, req } = this.ctx;
    if (!options.csrf || !isStateChanging(http.method(req))) return;
    const site = headerText(http.header(req, 'sec-fetch-site'));
    const origin = headerText(http.header(req, 'origin'));
    if (isCrossSite(site, origin, http.scheme(req), headerText(http.header(req, 'host')), options.csrf.allowedOrigins)) {
      throw new ForbiddenException(CROSS_SITE_REFUSED);
    }
  }

  /** First use in this request: the response now depends on the cookie, and must wait for commit(). */
  private begin(): void {
    const { http } = this.ctx;
    http.addVary(this.ctx.res, 'Cookie');
    // Stored unless the request ends in a 5xx.
    http.holdResponse(this.ctx.res, (status) => (status < 500 ? this.commit() : undefined));
  }

  private async doLoad(): Promise<void> {
    const { options } = this.rt;
    const { http } = this.ctx;
    this.begin();
    const found = findCookie(http.header(this.ctx.req, 'cookie'), options.cookie.name);
    if (found.kind === 'absent') return;
    this.hadCookie = true;
    const carrier = this.rt.store.inCookie;
    if (carrier) return this.openCookie(carrier, found.kind === 'value' ? found.value : undefined);
    const token = found.kind === 'value' ? verifyCookieValue(found.value, options.secrets) : undefined;
    // A bad signature costs no query, and a client-chosen id is never adopted.
    if (token === undefined) return;
    const id = storeKey(token);
    const record = await this.rt.sessions.load(id);
    if (!record) {
      this.clearCookie = true;
      return;
    }
    if (this.rt.isExpired(record, Date.now())) {
      this.clearCookie = true;
      const removed = await this.rt.sessions.destroy(id);
      if (removed) this.rt.emit('expired', removed.handle, removed.userId);
      return;
    }
    this.record = record;
    this.data = record.data;
  }

  /** The cookie is the store: it opens, or it is no session (a bad one is like a bad signature). */
  private openCookie(carrier: CookieCarrier, value: string | undefined): void {
    const record = value === undefined ? null : carrier.open(value);
    if (!record) return;
    if (this.rt.isExpired(record, Date.now())) {
      this.clearCookie = true;
      this.rt.emit('expired', record.handle, record.userId);
      return;
    }
    this.record = record;
    this.data = record.data;
  }

  async get<T = unknown>(key: string): Promise<T | undefined> {
    await this.load();
    return hasOwn(this.data, key) ? (this.data[key] as T) : undefined;
  }

  async has(key: string): Promise<boolean> {
    await this.load();
    return hasOwn(this.data, key);
  }

  async set(key: string, value: unknown): Promise<void> {
    const json = toJson(key, value);
    await this.load();
    const next = { ...this.data };
    // Our own copy: later changes to the caller's object are not silently half-stored.
    defineOwn(next, key, JSON.parse(json));
    this.checkSize(key, next);
    this.data = next;
    this.sets.set(key, next[key]);
    this.unsets.delete(key);
  }

  async delete(key: string): Promise<void> {
    checkSessionKey(key);
    await this.load();
    if (!hasOwn(this.data, key)) return;
    const next = { ...this.data };
    delete next[key];
    this.data = next;
    this.sets.delete(key);
    this.unsets.add(key);
  }

  async clear(): Promise<void> {
    await this.load();
    this.data = {};
    this.replaced = true;
    this.sets.clear();
    this.unsets.clear();
  }

  async regenerate(): Promise<void> {
    await this.load();
    if (this.record) this.rotate = true;
  }

  async destroy(): Promise<void> {
    await this.end('destroyed');
  }

  async logout(): Promise<void> {
    await this.end('logout');
  }

  async login(userId: string, options: LoginOptions = {}): Promise<void> {
    if (typeof userId !== 'string' || userId.length === 0 || userId.length > 255 || !storableText(userId)) {
      throw new TypeError('session.login(userId): userId must be a non-empty string of at most 255 characters, valid UTF-16 without U+0000');
    }
    await this.load();
    const current = this.pendingLogin?.userId ?? this.record?.userId ?? undefined;
    // Another user's data never carries over into this user's session.
    if (current !== undefined && current !== userId) await this.clear();
    this.pendingLogin = { userId, authAt: Date.now(), remember: options.remember === true };
    if (this.record) this.rotate = true;
  }

  async getUserId(): Promise<string | undefined> {
    return (await this.authInfo()).userId;
  }

  async authInfo(): Promise<SessionAuthInfo> {
    await this.load();
    if (this.pendingLogin) return { userId: this.pendingLogin.userId, authAt: this.pendingLogin.authAt };
    return { userId: this.record?.userId ?? undefined, authAt: this.record?.authAt ?? undefined };
  }

  /** The store id of the session the request's cookie carries, verified but not loaded. */
  cookieSessionId(): string | undefined {
    if (this.record) return this.record.id;
    // Which session is the caller's is itself a use of the session.
    this.refuseCrossSite();
    const found = findCookie(this.ctx.http.header(this.ctx.req, 'cookie'), this.rt.options.cookie.name);
    const token = found.kind === 'value' ? verifyCookieValue(found.value, this.rt.options.secrets) : undefined;
    return token === undefined ? undefined : storeKey(token);
  }

  private async end(type: 'destroyed' | 'logout'): Promise<void> {
    if (this.rt.store.inCookie) {
      // Nothing server-side to delete: the cookie is cleared, and that is the end of it.
      await this.load();
      const record = this.record;
      this.resetToNew();
      if (record) this.rt.emit(type, record.handle, record.userId);
      if (this.hadCookie) this.clearCookie = true;
      return;
    }
    let id: string | undefined;
    if (this.loading) {
      await this.loading;
      id = this.record?.id;
    } else {
      this.refuseCrossSite();
      // Ending needs no load: the verified cookie names the row to delete.
      this.loading = Promise.resolve();
      this.begin();
      this.hadCookie = findCookie(this.ctx.http.header(this.ctx.req, 'cookie'), this.rt.options.cookie.name).kind !== 'absent';
      id = this.cookieSessionId();
    }
    this.resetToNew();
    if (id !== undefined) {
      // Deleted at once, not at commit: a logout holds even if the handler fails afterwards, and
      // a write still in flight in another request finds no row to bring back.
      const removed = await this.rt.sessions.destroy(id);
      if (removed) this.rt.emit(type, removed.handle, removed.userId);
    }
    if (this.hadCookie) this.clearCookie = true;
  }

  private resetToNew(): void {
    this.record = null;
    this.data = {};
    this.sets.clear();
    this.unsets.clear();
    this.replaced = false;
    this.rotate = false;
    this.pendingLogin = undefined;
  }

  private checkSize(key: string, data: Record<string, unknown>): void {
    const limit = this.rt.options.maxDataBytes;
    const bytes = Buffer.byteLength(JSON.stringify(data));
    if (bytes > limit) throw new SessionDataTooLargeError(key, bytes, limit);
    const carrier = this.rt.store.inCookie;
    if (!carrier) return;
    // Measured on the real thing: the sealed cookie line this data would produce.
    const record = this.nextRecord(this.record, Date.now(), data);
    const line = Buffer.byteLength(this.rt.cookies.set(carrier.seal(record), this.cookieMaxAge(record, Date.now())));
    if (line > carrier.maxCookieBytes) throw new SessionDataTooLargeError(key, line, carrier.maxCookieBytes, 'the Set-Cookie line of the cookie store');
  }

  /** The session as it will be after this request, for the cookie store. */
  private nextRecord(prev: SessionRecord | null, now: number, data = this.data): SessionRecord {
    const login = this.pendingLogin;
    const createdAt = prev?.createdAt ?? now;
    const handle = prev?.handle ?? (this.newHandle ??= newHandle());
    return {
      id: handle,
      handle,
      data,
      userId: login?.userId ?? prev?.userId ?? null,
      createdAt,
      lastSeenAt: now,
      expiresAt: this.rt.expiresAt(createdAt, now),
      authAt: login?.authAt ?? prev?.authAt ?? null,
      remember: login?.remember ?? prev?.remember ?? false,
    };
  }

  /** Every change re-sends the whole sealed session. */
  private writeCookie(carrier: CookieCarrier, now: number): void {
    const prev = this.record;
    if (prev === null && !this.dirty) {
      if (this.clearCookie) this.sendClear();
      return;
    }
    const touch = prev !== null && now - prev.lastSeenAt >= this.rt.options.touchInterval;
    if (prev !== null && !this.dirty && !this.rotate && !touch) return;
    const record = this.nextRecord(prev, now);
    this.sendCookie(carrier.seal(record), record, now);
    if (prev === null) this.rt.emit('created', record.handle, record.userId);
    else if (this.rotate) this.rt.emit('regenerated', record.handle, record.userId);
    if (this.pendingLogin) this.rt.emit('login', record.handle, record.userId);
  }

  private get dirty(): boolean {
    return this.replaced || this.sets.size > 0 || this.unsets.size > 0 || this.pendingLogin !== undefined;
  }

  /**
   * Writes this request's changes, at most one statement (plus the user's oldest sessions ended
   * after a login over maxSessionsPerUser), and sets the cookie headers. Called once, before the
   * response is sent; a session that was never used returns at once.
   */
  commit(): Promise<void> | undefined {
    if (this.loading === undefined || this.committed) return undefined;
    this.committed = true;
    return this.write();
  }

  private async write(): Promise<void> {
    await this.loading;
    const now = Date.now();
    const carrier = this.rt.store.inCookie;
    if (carrier) return this.writeCookie(carrier, now);
    if (this.record === null) {
      if (this.dirty) return this.createNew(now);
      if (this.clearCookie) this.sendClear();
      return;
    }
    const record = this.record;
    const touch = now - record.lastSeenAt >= this.rt.options.touchInterval;
    if (!this.dirty && !this.rotate && !touch) return;
    const patch: SessionPatch = { handle: record.handle, lastSeenAt: now, expiresAt: this.rt.expiresAt(record.createdAt, now) };
    let token: string | undefined;
    if (this.rotate) {
      token = newToken();
      patch.newId = storeKey(token);
    }
    if (this.replaced) patch.replace = this.data;
    else {
      if (this.sets.size > 0) patch.set = Object.fromEntries(this.sets);
      if (this.unsets.size > 0) patch.unset = [...this.unsets];
    }
    if (this.pendingLogin) patch.login = this.pendingLogin;
    const stored = await this.rt.sessions.update(record.id, patch);
    // Destroyed, expired or rotated by another request meanwhile: nothing is brought back, and the
    // cookie is left alone (the other request may have just sent the client its new one).
    if (!stored) return;
    if (token !== undefined) {
      this.sendCookie(signToken(token, this.rt.options.secrets[0]), { createdAt: record.createdAt, remember: this.pendingLogin?.remember ?? record.remember }, now);
      this.rt.emit('regenerated', record.handle, this.pendingLogin?.userId ?? record.userId);
    }
    if (this.pendingLogin) await this.afterLogin(record.handle, patch.newId ?? record.id);
  }

  private async createNew(now: number): Promise<void> {
    const token = newToken();
    const login = this.pendingLogin;
    const record: SessionRecord = {
      id: storeKey(token),
      handle: newHandle(),
      data: this.data,
      userId: login?.userId ?? null,
      createdAt: now,
      lastSeenAt: now,
      expiresAt: this.rt.expiresAt(now, now),
      authAt: login?.authAt ?? null,
      remember: login?.remember ?? false,
    };
    await this.rt.sessions.create(record);
    this.sendCookie(signToken(token, this.rt.options.secrets[0]), record, now);
    this.rt.emit('created', record.handle, record.userId);
    if (login) await this.afterLogin(record.handle, record.id);
  }

  private async afterLogin(handle: string, id: string): Promise<void> {
    const login = this.pendingLogin!;
    this.rt.emit('login', handle, login.userId);
    const max = this.rt.options.maxSessionsPerUser;
    if (!Number.isFinite(max)) return;
    const sessions = await this.rt.sessions.listByUser(login.userId);
    const now = Date.now();
    const live = sessions.filter((s) => !this.rt.isExpired(s, now));
    if (live.length <= max) return;
    // The ones that logged in first go; never the session that is logging in now.
    const others = live.filter((s) => s.id !== id).sort((a, b) => (a.authAt ?? a.createdAt) - (b.authAt ?? b.createdAt));
    for (const s of others.slice(0, live.length - max)) {
      const removed = await this.rt.sessions.destroy(s.id);
      if (removed) this.rt.emit('destroyed', removed.handle, removed.userId);
    }
  }

  /** Persistent only with remember (or cookie.maxAge), and never past the absolute expiry. */
  private cookieMaxAge(s: { createdAt: number; remember: boolean }, now: number): number | undefined {
    const { options } = this.rt;
    const remaining = s.createdAt + options.absoluteTimeout - now;
    const configured = options.cookie.maxAge;
    return s.remember ? remaining : configured !== undefined ? Math.min(configured, remaining) : undefined;
  }

  private sendCookie(value: string, s: { createdAt: number; remember: boolean }, now: number): void {
    const { cookies } = this.rt;
    const { http } = this.ctx;
    http.addSetCookie(this.ctx.res, cookies.set(value, this.cookieMaxAge(s, now)));
    http.setHeader(this.ctx.res, 'Cache-Control', 'no-store');
  }

  private sendClear(): void {
    this.ctx.http.addSetCookie(this.ctx.res, this.rt.cookies.clear());
    this.ctx.http.setHeader(this.ctx.res, 'Cache-Control', 'no-store');
  }
}

