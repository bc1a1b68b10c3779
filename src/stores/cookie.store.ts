import type { CookieCarrier, SessionPatch, SessionRecord, SessionStore, StoredSessionSummary } from './store.js';
import { SessionSealer } from '../crypto/seal.js';
import { SessionStoreUnsupportedError } from '../errors.js';

export interface CookieSessionStoreOptions {
  /** Each at least 32 characters; the first seals, every one opens (rotation). */
  keys: string[];
}

/** Format version of the sealed payload, so a later format can still open old cookies. */
const V1 = 1;
const NAME = 'nestjs-lazy-session/cookie';

type Payload = [v: number, handle: string, userId: string | null, createdAt: number, lastSeenAt: number, expiresAt: number, authAt: number | null, remember: 0 | 1, data: Record<string, unknown>];

const cannot = (what: string) =>
  Promise.reject(
    new SessionStoreUnsupportedError(
      `CookieSessionStore cannot ${what}: the sessions live only in the browsers' cookies. Use a server-side store (TypeOrmSessionStore, RedisSessionStore) to list or end sessions.`,
    ),
  );

/**
 * Stateless sessions: the whole session sealed in the cookie with AES-256-GCM under a rotating key
 * list. Nothing is stored server-side, so a session cannot be ended before it expires except by the
 * browser that holds it (logout clears the cookie), and a user's sessions cannot be listed.
 */
export class CookieSessionStore implements SessionStore, CookieCarrier {
  readonly inCookie: CookieCarrier = this;
  /** Browsers keep at least 4096 bytes per cookie; the whole Set-Cookie line is kept under it. */
  readonly maxCookieBytes = 4096;
  private readonly sealer: SessionSealer;

  constructor(options: CookieSessionStoreOptions) {
    if (!options || !Array.isArray(options.keys)) throw new Error('nestjs-lazy-session: CookieSessionStore needs { keys: string[] } (each at least 32 characters)');
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

  // The server-side half of SessionStore: nothing is stored, so there is nothing to find or end.
  async load(): Promise<SessionRecord | null> {
    return null;
  }
  async create(): Promise<void> {}
  async update(_id: string, _patch: SessionPatch): Promise<boolean> {
    return false;
  }
  async destroy(): Promise<StoredSessionSummary | null> {
    return null;
  }
  listByUser(): Promise<StoredSessionSummary[]> {
    return cannot("list a user's sessions");
  }
  destroyByUser(): Promise<StoredSessionSummary[]> {
    return cannot("end a user's sessions");
  }
  destroyByHandle(): Promise<StoredSessionSummary | null> {
    return cannot('end a session by its handle');
  }
  async prune(): Promise<number> {
    return 0;
  }
}
