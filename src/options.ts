import { isUserIndexed, type SessionStore } from './stores/store.js';
import { isCookieSessionStore, type CookieSessionStore } from './stores/cookie.store.js';
import type { SessionEvent } from './session/events.js';
import { SessionOptionsError } from './errors.js';

/**
 * The logged-in user as `resolveUser` loads it and `@CurrentUser()` gives it. Declare its shape once:
 *
 *   declare module 'nestjs-lazy-session' {
 *     interface SessionUser { id: string; name: string }
 *   }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface SessionUser {}

/** Loads a user by the session's user id; null or undefined when there is no such user (any more). */
export type ResolveUser = (userId: string) => SessionUser | null | undefined | Promise<SessionUser | null | undefined>;

/** The session cookie's attributes; the defaults are the strictest a browser app works with. */
export interface SessionCookieOptions {
  /**
   * Cookie name. Default '__Host-sid' when `secure`, `path` '/' and no `domain` (the browser then
   * refuses it from a subdomain or over http); otherwise 'sid'. A '__Host-' or '__Secure-' name
   * that its attributes do not allow stops start-up.
   */
  name?: string;
  /**
   * Default true, whatever the request's protocol: no guessing behind proxies. Set false only for
   * plain-http development on hosts other than localhost.
   */
  secure?: boolean;
  /** Default true: scripts cannot read the cookie. */
  httpOnly?: boolean;
  /** Default 'lax'. 'none' requires `secure`. */
  sameSite?: 'lax' | 'strict' | 'none';
  /** Default '/'. */
  path?: string;
  /** Default none: a host-only cookie. Set it only when subdomains need the session. */
  domain?: string;
  /**
   * Milliseconds. Default none: a browser-session cookie. When set, capped by the session's
   * remaining absolute lifetime.
   */
  maxAge?: number;
}

/** The cross-site rule's settings (`csrf: { ... }`); see the README's "Cross-site requests". */
export interface SessionCsrfOptions {
  /**
   * Other origins whose state-changing requests may use the session, e.g.
   * 'https://app.example.com' (scheme, host and port; a trailing '/' and case are ignored).
   * Default none: only the request's own origin. 'null' is never admitted.
   */
  allowedOrigins?: string[];
}

/**
 * `SessionModule.forRoot(options)` / `forRootAsync({ useFactory })`. Durations are milliseconds.
 * Every option is checked at start-up: a bad value stops the application with a SessionOptionsError
 * naming the option.
 */
export interface SessionModuleOptions {
  /**
   * Required: a string, or an array of strings, each at least 32 characters. The first signs new
   * cookies and every one verifies, so you rotate by putting a new secret first and keeping the
   * old one until its cookies have expired.
   */
  secret: string | string[];
  /**
   * Where sessions are kept: any SessionStore (TypeOrmSessionStore, RedisSessionStore,
   * CookieSessionStore, MemorySessionStore, your own). Default: an embedded SQLite file
   * (`sqlitePath`), which needs `typeorm` and `better-sqlite3` installed.
   */
  store?: SessionStore | CookieSessionStore;
  /**
   * A session not used for this long is gone. Default 30 minutes, or `absoluteTimeout` when only
   * that is given and it is shorter.
   */
  idleTimeout?: number;
  /**
   * A session older than this is gone however it is used; id rotation never resets it. Default 12
   * hours, or `idleTimeout` when only that is given and it is longer. An explicit `idleTimeout`
   * above an explicit `absoluteTimeout` stops start-up.
   */
  absoluteTimeout?: number;
  /**
   * An unmodified session's expiry is written back at most this often, so reads stay at one query.
   * Default min(60 seconds, idleTimeout / 10); must be shorter than `idleTimeout`.
   */
  touchInterval?: number;
  /**
   * The largest JSON, in bytes, one session may hold: a set() past it rejects with
   * SessionDataTooLargeError and changes nothing. Default 64 KiB (65536).
   */
  maxDataBytes?: number;
  /**
   * A login beyond this many sessions ends the user's sessions that logged in first. Default
   * unlimited. Needs a store that indexes sessions by user (not CookieSessionStore).
   */
  maxSessionsPerUser?: number;
  /**
   * The cross-site rule: a state-changing request from another site may not use the session.
   * Default true; `{ allowedOrigins }` admits other origins, false turns the rule off.
   */
  csrf?: boolean | SessionCsrfOptions;
  /**
   * Lifecycle events (created, regenerated, login, logout, destroyed, expired). Default none. An
   * error it throws or a promise it rejects is logged, never fails the request.
   */
  onEvent?: (event: SessionEvent) => void | Promise<void>;
  /** The session cookie's attributes; each has its own default (see SessionCookieOptions). */
  cookie?: SessionCookieOptions;
  /**
   * Upper bound on any one store call; past it (or on any store error) a request that needs the
   * session gets 503. Default 5 seconds.
   */
  storeTimeout?: number;
  /**
   * How often expired sessions are deleted from the store, in batches; 0 turns the sweeper off.
   * Default 60 seconds. Its timer never keeps the process alive and stops on shutdown.
   */
  pruneInterval?: number;
  /**
   * File of the embedded SQLite store used when no `store` is given. Default 'sessions.sqlite'
   * (in the working directory).
   */
  sqlitePath?: string;
  /**
   * Run each request in AsyncLocalStorage, which CurrentSession and SessionManager need. Default:
   * on exactly when something injects either of them (found at start-up); set true when you only
   * resolve them dynamically (moduleRef.get).
   */
  trackRequests?: boolean;
  /**
   * Loads the logged-in user for `@CurrentUser()`: called with the session's user id only when a
   * handler asks for the user, at most once per request (and user), never for an anonymous session.
   * Default none: `@CurrentUser()` then fails with SessionOptionsError. An error it throws fails the
   * request as the handler's own would.
   */
  resolveUser?: ResolveUser;
}

/** Options after defaults and validation: every field set, computed once at start-up. */
export interface ResolvedSessionOptions {
  secrets: string[];
  store?: SessionStore | CookieSessionStore;
  idleTimeout: number;
  absoluteTimeout: number;
  touchInterval: number;
  maxDataBytes: number;
  maxSessionsPerUser: number;
  csrf: false | { allowedOrigins: Set<string> };
  onEvent?: (event: SessionEvent) => void | Promise<void>;
  cookie: Required<Omit<SessionCookieOptions, 'domain' | 'maxAge'>> & { domain?: string; maxAge?: number };
  storeTimeout: number;
  pruneInterval: number;
  sqlitePath: string;
  trackRequests?: boolean;
  resolveUser?: ResolveUser;
}

const MINUTE = 60_000;
const DEFAULT_IDLE = 30 * MINUTE;
const DEFAULT_ABSOLUTE = 12 * 60 * MINUTE;
export const MIN_SECRET_LENGTH = 32;

function fail(message: string): never {
  throw new SessionOptionsError(message);
}

/** A whole number option; `unit` names what it counts in the message ('' for a plain count). */
function wholeNumber(name: string, value: number | undefined, fallback: number, allowZero: boolean, unit: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || !Number.isInteger(value) || value < 0 || (!allowZero && value === 0)) {
    fail(`option '${name}' must be a ${allowZero ? 'non-negative' : 'positive'} whole number${unit ? ` of ${unit}` : ''}, got ${String(value)}`);
  }
  return value;
}

function duration(name: string, value: number | undefined, fallback: number, allowZero = false): number {
  return wholeNumber(name, value, fallback, allowZero, 'milliseconds');
}

const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The store is either the cookie store or a server-side SessionStore; a feature that needs the user
 * index is refused here, at start-up, rather than by the first login that would need it.
 */
function checkStore(store: SessionStore | CookieSessionStore | undefined, limitsSessions: boolean): void {
  if (store === undefined) return;
  if (isCookieSessionStore(store)) {
    if (limitsSessions) fail(`option 'maxSessionsPerUser' needs a server-side store: the cookie store cannot see or end a user's other sessions`);
    return;
  }
  if (store === null || typeof store !== 'object' || typeof store.load !== 'function') fail(`option 'store' must implement SessionStore`);
  if (limitsSessions && !isUserIndexed(store)) {
    fail(`option 'maxSessionsPerUser' needs a store that indexes sessions by user (listByUser, destroyByUser, destroyByHandle): ${store.constructor?.name ?? 'the store'} does not`);
  }
}

/** The single place where options meet their defaults; it throws a clear message at start-up. */
export function resolveSessionOptions(options: SessionModuleOptions | undefined): ResolvedSessionOptions {
  if (!options || typeof options !== 'object') fail('options are required: SessionModule.forRoot({ secret })');
  const raw = options.secret;
  const secrets = Array.isArray(raw) ? raw : raw === undefined || raw === null ? [] : [raw];
  if (secrets.length === 0) fail(`option 'secret' is required: at least ${MIN_SECRET_LENGTH} random characters (a string, or an array whose first entry signs)`);
  secrets.forEach((s, i) => {
    if (typeof s !== 'string' || s.length < MIN_SECRET_LENGTH) {
      fail(`option 'secret'${secrets.length > 1 ? `[${i}]` : ''} must be a string of at least ${MIN_SECRET_LENGTH} characters (got ${typeof s === 'string' ? `${s.length}` : typeof s})`);
    }
  });

  // A default never contradicts what was set: with only one of the two given, the other's default
  // yields to it, so that only two explicit values can conflict.
  const idleGiven = duration('idleTimeout', options.idleTimeout, 0);
  const absoluteGiven = duration('absoluteTimeout', options.absoluteTimeout, 0);
  const idleTimeout = idleGiven || Math.min(DEFAULT_IDLE, absoluteGiven || DEFAULT_IDLE);
  const absoluteTimeout = absoluteGiven || Math.max(DEFAULT_ABSOLUTE, idleTimeout);
  if (idleTimeout > absoluteTimeout) fail(`option 'idleTimeout' (${idleTimeout}) must not exceed 'absoluteTimeout' (${absoluteTimeout})`);
  const touchInterval = duration('touchInterval', options.touchInterval, Math.min(MINUTE, Math.floor(idleTimeout / 10)), true);
  if (touchInterval >= idleTimeout) fail(`option 'touchInterval' (${touchInterval}) must be shorter than 'idleTimeout' (${idleTimeout})`);
  const maxDataBytes = wholeNumber('maxDataBytes', options.maxDataBytes, 64 * 1024, false, 'bytes');
  const maxSessionsPerUser = wholeNumber('maxSessionsPerUser', options.maxSessionsPerUser, Infinity, false, '');
  const storeTimeout = duration('storeTimeout', options.storeTimeout, 5_000);
  const pruneInterval = duration('pruneInterval', options.pruneInterval, MINUTE, true);

  const c = options.cookie ?? {};
  const secure = c.secure ?? true;
  const path = c.path ?? '/';
  const sameSite = c.sameSite ?? 'lax';
  if (!['lax', 'strict', 'none'].includes(sameSite)) fail(`option 'cookie.sameSite' must be 'lax', 'strict' or 'none', got ${String(sameSite)}`);
  if (sameSite === 'none' && !secure) fail(`option 'cookie.sameSite' 'none' needs 'cookie.secure' true: browsers drop such cookies`);
  if (typeof path !== 'string' || !path.startsWith('/') || /[;\s]/.test(path)) fail(`option 'cookie.path' must start with '/' and hold no ';' or spaces`);
  if (c.domain !== undefined && (typeof c.domain !== 'string' || !/^[A-Za-z0-9.-]+$/.test(c.domain))) fail(`option 'cookie.domain' is not a valid domain: ${String(c.domain)}`);
  const hostOnly = secure && path === '/' && c.domain === undefined;
  const name = c.name ?? (hostOnly ? '__Host-sid' : 'sid');
  if (typeof name !== 'string' || !COOKIE_NAME.test(name)) fail(`option 'cookie.name' is not a valid cookie name: ${String(name)}`);
  if (name.startsWith('__Host-') && !hostOnly) fail(`cookie name '${name}' needs secure: true, path '/' and no domain (browsers reject it otherwise)`);
  if (name.startsWith('__Secure-') && !secure) fail(`cookie name '${name}' needs secure: true`);
  const maxAge = c.maxAge === undefined ? undefined : duration('cookie.maxAge', c.maxAge, 0);

  let csrf: ResolvedSessionOptions['csrf'];
  if (options.csrf === false) csrf = false;
  else if (options.csrf === undefined || options.csrf === true) csrf = { allowedOrigins: new Set() };
  else if (typeof options.csrf === 'object') {
    const origins = options.csrf.allowedOrigins ?? [];
    if (!Array.isArray(origins) || origins.some((o) => typeof o !== 'string')) fail(`option 'csrf.allowedOrigins' must be an array of origins such as 'https://app.example.com'`);
    csrf = { allowedOrigins: new Set(origins.map((o) => o.replace(/\/+$/, '').toLowerCase())) };
  } else fail(`option 'csrf' must be a boolean or { allowedOrigins }`);

  if (options.onEvent !== undefined && typeof options.onEvent !== 'function') fail(`option 'onEvent' must be a function`);
  if (options.resolveUser !== undefined && typeof options.resolveUser !== 'function') fail(`option 'resolveUser' must be a function (userId) => user`);
  checkStore(options.store, options.maxSessionsPerUser !== undefined);

  return {
    secrets,
    store: options.store,
    idleTimeout,
    absoluteTimeout,
    touchInterval,
    maxDataBytes,
    maxSessionsPerUser,
    csrf,
    onEvent: options.onEvent,
    cookie: { name, secure, httpOnly: c.httpOnly ?? true, sameSite, path, domain: c.domain, maxAge },
    storeTimeout,
    pruneInterval,
    sqlitePath: options.sqlitePath ?? 'sessions.sqlite',
    trackRequests: options.trackRequests === undefined ? undefined : options.trackRequests === true,
    resolveUser: options.resolveUser,
  };
}
