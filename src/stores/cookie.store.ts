import type { SessionRecord } from './store.js';
import { SessionSealer } from '../crypto/seal.js';
import { SessionOptionsError } from '../errors.js';

export interface CookieSessionStoreOptions {
  /** Each at least 32 characters; the first seals, every one opens (rotation). */
  keys: string[];
}

/** What the sealed-cookie backend needs of a cookie store: the cookie value is the session. */
export interface CookieCarrier {
  /** The cookie value for a record: sealed, so the client can neither read nor alter it. */
  seal(record: SessionRecord): string;
  /** The record inside a cookie value, or null when it does not open. */
  open(value: string): SessionRecord | null;
  /** The longest Set-Cookie line (name, value and attributes) this store lets a session reach. */
  readonly maxCookieBytes: number;
}

/** Format version of the sealed payload, so a later format can still open old cookies. */
const V1 = 1;
const NAME = 'nestjs-lazy-session/cookie';
/** Recognised across copies of the library, where instanceof would not be. */
const BRAND = Symbol.for('nestjs-lazy-session.CookieSessionStore');

type Payload = [v: number, handle: string, userId: string | null, createdAt: number, lastSeenAt: number, expiresAt: number, authAt: number | null, remember: 0 | 1, data: Record<string, unknown>];

/**
 * Stateless sessions: the whole session sealed in the cookie with AES-256-GCM under a rotating key
 * list. Not a SessionStore: nothing is stored server-side, so a session cannot be ended before it
 * expires except by the browser that holds it (logout clears the cookie), and a user's sessions
 * cannot be listed. The module sees it at start-up and carries sessions in the cookie instead.
 */
export class CookieSessionStore implements CookieCarrier {
  /** Browsers keep at least 4096 bytes per cookie; the whole Set-Cookie line is kept under it. */
  readonly maxCookieBytes = 4096;
  private readonly sealer: SessionSealer;

  /** @deprecated The store is its own carrier; kept so that 0.1.0 code reading it still compiles. */
  get inCookie(): CookieCarrier {
    return this;
  }

  constructor(options: CookieSessionStoreOptions) {
    if (!options || !Array.isArray(options.keys)) throw new SessionOptionsError('CookieSessionStore needs { keys: string[] } (each at least 32 characters)');
    // Its own purpose: a key list shared with encryption at rest never opens one's values as the other's.
    this.sealer = new SessionSealer(options.keys, 'cookie');
  }

  seal(r: SessionRecord): string {
    const payload: Payload = [V1, r.handle, r.userId, r.createdAt, r.lastSeenAt, r.expiresAt, r.authAt, r.remember ? 1 : 0, r.data];
    return this.sealer.sealValue(NAME, payload);
  }

  open(value: string): SessionRecord | null {
    const p = this.sealer.openValue(NAME, value) as Payload | undefined;
    if (!Array.isArray(p) || p.length !== 9 || p[0] !== V1 || typeof p[8] !== 'object' || p[8] === null || Array.isArray(p[8])) return null;
    const [, handle, userId, createdAt, lastSeenAt, expiresAt, authAt, remember, data] = p;
    return { id: handle, handle, userId, createdAt, lastSeenAt, expiresAt, authAt, remember: remember === 1, data };
  }
}
Object.defineProperty(CookieSessionStore.prototype, BRAND, { value: true });

/** Whether the configured store is the cookie store (sessions travel sealed in the cookie). */
export function isCookieSessionStore(store: unknown): store is CookieSessionStore {
  return typeof store === 'object' && store !== null && (store as Record<symbol, unknown>)[BRAND] === true;
}
