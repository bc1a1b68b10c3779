import type { SessionRuntime } from './runtime.js';
import type { SessionRequestIO } from './request-io.js';
import { checkSessionKey, checkUserId, toJson } from './json.js';
import { SessionDataTooLargeError, SessionOverSocketError } from '../errors.js';
import { refuseCrossSite, sessionCookie } from './first-use.js';
import { GONE, sendClearCookie, type SessionBackend, type SessionRef } from './backend.js';
import { SessionState } from './state.js';
import { isUserSwitch, shouldClearCookie, shouldSave, shouldWrite } from './decisions.js';
import { isExpired } from './expiry.js';

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

/**
 * One request's session. It holds nothing but the request until first used; the first call loads
 * the session once (concurrent callers share the same load), changes are kept as a patch of the
 * keys this request touched, and commit() writes them before the response. Where the session is
 * kept and how it travels is the backend's business (chosen at start-up): this is the lifecycle.
 */
export class LazySession implements SessionHandle<Record<never, never>> {
  /** Unset until first use; once set, the response waits for commit(). */
  private loading: Promise<void> | undefined;
  /** The load finished without an error: commit() can then decide at once whether to write. */
  private loaded = false;
  private committed = false;
  private readonly state = new SessionState();
  private readonly backend: SessionBackend;

  constructor(private readonly rt: SessionRuntime, private readonly io: SessionRequestIO) {
    this.backend = rt.backend;
  }

  private load(): Promise<void> {
    if (this.loading === undefined) {
      this.refuseCrossSite();
      this.loading = this.doLoad().then(() => void (this.loaded = true));
    }
    return this.loading;
  }

  private refuseCrossSite(): void {
    refuseCrossSite(this.rt.options.csrf, this.io);
  }

  /** First use in this request: the response now depends on the cookie (and waits for commit(), see RequestContext). */
  private begin(): { present: boolean; value: string | undefined } {
    const { http, res } = this.io;
    http.addVary(res, 'Cookie');
    const found = this.cookie();
    this.state.sawCookie(found.present);
    return found;
  }

  private cookie(): { present: boolean; value: string | undefined } {
    return sessionCookie(this.io, this.rt.options.cookie.name);
  }

  private async doLoad(): Promise<void> {
    const found = this.begin();
    if (!found.present) return;
    const opened = await this.backend.open(found.value);
    if (opened === null) return;
    if (opened === GONE) {
      this.state.markCookieStale();
    } else if (isExpired(opened, Date.now(), this.rt.options)) {
      this.state.markCookieStale();
      await this.backend.discard(opened, 'expired');
    } else {
      return this.state.adopt(opened);
    }
    // A socket's session was ended since its handshake: the socket is no longer anybody's.
    if (this.io.overSocket) throw SessionOverSocketError.ended();
  }

  async get<T = unknown>(key: string): Promise<T | undefined> {
    await this.load();
    return this.state.get(key) as T | undefined;
  }

  async has(key: string): Promise<boolean> {
    await this.load();
    return this.state.has(key);
  }

  async set(key: string, value: unknown): Promise<void> {
    const json = toJson(key, value);
    refuseUnstored(this.io, this.committed);
    await this.load();
    // Our own copy: later changes to the caller's object are not silently half-stored.
    const next = this.state.withValue(key, JSON.parse(json));
    this.checkSize(key, next);
    this.state.accept(key, next);
  }

  async delete(key: string): Promise<void> {
    checkSessionKey(key);
    refuseUnstored(this.io, this.committed);
    await this.load();
    this.state.remove(key);
  }

  async clear(): Promise<void> {
    refuseUnstored(this.io, this.committed);
    await this.load();
    this.state.clear();
  }

  async regenerate(): Promise<void> {
    refuseOverSocket(this.io, 'regenerate()');
    await this.load();
    this.state.regenerate();
  }

  async destroy(): Promise<void> {
    await this.end('destroyed');
  }

  async logout(): Promise<void> {
    refuseOverSocket(this.io, 'logout()');
    await this.end('logout');
  }

  async login(userId: string, options: LoginOptions = {}): Promise<void> {
    checkUserId(userId);
    refuseOverSocket(this.io, 'login()');
    await this.load();
    // Another user's data never carries over into this user's session.
    if (isUserSwitch(this.state.userId, userId)) this.state.clear();
    this.state.logIn({ userId, authAt: Date.now(), remember: options.remember === true });
  }

  /** The keys the session holds, for the express-session-compatible view (src/compat/), which copies them all. */
  async keys(): Promise<string[]> {
    await this.load();
    return Object.keys(this.state.data);
  }

  async getUserId(): Promise<string | undefined> {
    return (await this.authInfo()).userId;
  }

  async authInfo(): Promise<SessionAuthInfo> {
    await this.load();
    return this.state.authInfo();
  }

  /** The store id of the session the request's cookie carries, verified but not loaded. */
  cookieSessionId(): string | undefined {
    if (this.state.record) return this.state.record.id;
    // Which session is the caller's is itself a use of the session.
    this.refuseCrossSite();
    return this.backend.idInCookie(this.cookie().value);
  }

  /**
   * Ends the session at once, not at commit: a logout holds even if the handler fails afterwards,
   * and a write still in flight in another request finds nothing to bring back. Where the cookie
   * alone names the session, it is ended without being loaded.
   */
  private async end(type: 'destroyed' | 'logout'): Promise<void> {
    let ref: SessionRef | undefined;
    if (this.loading !== undefined || !this.backend.endsUnloaded) {
      await this.load();
      ref = this.state.record ?? undefined;
    } else {
      this.refuseCrossSite();
      this.loading = Promise.resolve();
      const id = this.backend.idInCookie(this.begin().value);
      ref = id === undefined ? undefined : { id };
    }
    this.state.reset();
    if (ref) await this.backend.discard(ref, type);
    this.state.markCookieStale();
  }

  private checkSize(key: string, data: Record<string, unknown>): void {
    const limit = this.rt.options.maxDataBytes;
    const bytes = Buffer.byteLength(JSON.stringify(data));
    if (bytes > limit) throw new SessionDataTooLargeError(key, bytes, limit);
    this.backend.checkFits(key, this.state, data);
  }

  /**
   * Writes this request's changes and sets the cookie headers. Called once, before the response is
   * sent; a session that was never used returns at once.
   */
  commit(): Promise<void> | undefined {
    if (this.loading === undefined || this.committed) return undefined;
    this.committed = true;
    // Most requests only read their session: decided here, without a promise, their response
    // leaves at once instead of a few microtasks later.
    if (this.loaded && !this.io.overSocket && !shouldWrite(this.state, Date.now(), this.rt.options.touchInterval)) return undefined;
    return this.write();
  }

  private async write(): Promise<void> {
    await this.loading;
    const now = Date.now();
    const { state } = this;
    if (this.io.overSocket) return this.writeOverSocket(now);
    if (shouldClearCookie(state.record, state, state.staleCookie)) return sendClearCookie(this.io, this.rt.cookies);
    if (shouldSave(state.record, state, now, this.rt.options.touchInterval)) await this.backend.save(state, this.io, now);
  }

  /**
   * A message only stores changes to the session its handshake named: it cannot send the cookie
   * that a new session needs, nor clear one. Reads do not touch the session (its idle time runs on
   * HTTP requests), which keeps a busy socket from writing on every message.
   */
  private async writeOverSocket(now: number): Promise<void> {
    const { state } = this;
    if (!state.dirty) return;
    if (state.record === null) throw SessionOverSocketError.cannotSetCookie('starting a session');
    await this.backend.save(state, this.io, now);
  }
}

/**
 * A message's change that nothing would store (a gateway without SessionInterceptor, or a context
 * already stored) is refused rather than lost.
 */
function refuseUnstored(io: SessionRequestIO, committed: boolean): void {
  if (io.overSocket && (!io.overSocket.storesChanges || committed)) throw SessionOverSocketError.notStored(committed);
}

/** login(), regenerate() and logout() change the cookie, which only an HTTP response can carry. */
function refuseOverSocket(io: SessionRequestIO, what: string): void {
  if (io.overSocket) throw SessionOverSocketError.cannotSetCookie(what);
}
