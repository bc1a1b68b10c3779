/**
 * What a store keeps for one session. `id` is the SHA-256 of the cookie's token (never the token);
 * `handle` is a separate random name, stable across id rotation, for listing and revoking.
 * Times are epoch milliseconds.
 */
export interface SessionRecord {
  id: string;
  handle: string;
  data: Record<string, unknown>;
  userId: string | null;
  createdAt: number;
  lastSeenAt: number;
  /** The earlier of the idle and the absolute expiry, as computed at the last write. */
  expiresAt: number;
  authAt: number | null;
  remember: boolean;
}

/**
 * One request's changes to a stored session. Only what the request changed is sent, so concurrent
 * requests that touch different keys never overwrite each other.
 */
export interface SessionPatch {
  /**
   * The session's handle (stable across rotation). Stores that encrypt at rest bind each sealed
   * value to it, so they need it whenever the patch carries data; the module always sends it.
   */
  handle?: string;
  /** Rotate: the row moves to this id, and the old id stops matching in the same statement. */
  newId?: string;
  /** Replace the whole data object (after clear(), or a login as another user). */
  replace?: Record<string, unknown>;
  /** Keys to set (applied after `replace`/`unset`). */
  set?: Record<string, unknown>;
  /** Keys to remove. */
  unset?: string[];
  /** Present on login: the user, login time and persistence of the cookie. */
  login?: { userId: string; authAt: number; remember: boolean };
  lastSeenAt: number;
  expiresAt: number;
}

/** A session as SessionManager lists it: never the id. */
export interface StoredSessionSummary {
  id: string;
  handle: string;
  userId: string | null;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  authAt: number | null;
}

/**
 * The contract every server-side store meets. Every method is one atomic step in the store: a write
 * to a session that another request destroyed or rotated meanwhile must not bring it back.
 */
export interface SessionStore {
  /** The stored session under this id, or null. Expiry is judged by the caller. */
  load(id: string): Promise<SessionRecord | null>;
  /** Store a new session. */
  create(record: SessionRecord): Promise<void>;
  /**
   * Apply a patch; false when no session has this id any more, or its stored expiresAt is at or
   * before `patch.lastSeenAt` (expired meanwhile): nothing is written then.
   */
  update(id: string, patch: SessionPatch): Promise<boolean>;
  /** Delete; the deleted session's summary, or null when there was none. */
  destroy(id: string): Promise<StoredSessionSummary | null>;
  /** Delete every session whose expiresAt is at or before `now`, in bounded batches. */
  prune(now: number, onBatch?: (removed: StoredSessionSummary[]) => void): Promise<number>;
  /**
   * Called once by the module at start-up, before the application serves: make what the store needs
   * (when it is told to) and check that it is there. A rejection stops the start-up with its message,
   * so a missing table is found then, not by the first request (503). `log.warn` reports a
   * configuration that works but should be changed.
   */
  init?(log: { warn(message: string): void }): Promise<void>;
  /**
   * Called once by the module at start-up, before any request, with its resolved timeouts: a store
   * constructed before the options were resolved learns them here. A store may refuse (throw) when
   * it already settled on other values; that fails the start-up.
   */
  useTimeouts?(timeouts: SessionTimeouts): void;
  /** Release what the store opened itself (never a DataSource it was given). */
  close?(): Promise<void>;
}

/**
 * A store that also indexes sessions by user: what SessionManager and `maxSessionsPerUser` need.
 * Optional, as Spring Session's FindByIndexNameSessionRepository is: the module checks for it once
 * at start-up and refuses to start when a feature that needs it is used with a store that lacks it.
 */
export interface UserIndexedSessionStore extends SessionStore {
  /** The sessions of one user, in any order, expired ones included. */
  listByUser(userId: string): Promise<StoredSessionSummary[]>;
  /** Delete a user's sessions, all but `exceptId` when given; the deleted sessions' summaries. */
  destroyByUser(userId: string, exceptId?: string): Promise<StoredSessionSummary[]>;
  /** Delete by handle; the deleted session's summary, or null. */
  destroyByHandle(handle: string): Promise<StoredSessionSummary | null>;
}

/** Whether a store has the user index (all three methods). */
export function isUserIndexed(store: SessionStore): store is UserIndexedSessionStore {
  const s = store as Partial<UserIndexedSessionStore>;
  return typeof s.listByUser === 'function' && typeof s.destroyByUser === 'function' && typeof s.destroyByHandle === 'function';
}

/** The module's resolved timeouts, in milliseconds. */
export interface SessionTimeouts {
  idleTimeout: number;
  absoluteTimeout: number;
}
