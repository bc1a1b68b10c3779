import type { SessionTimeouts } from '../stores/store.js';

/** The three times a session's expiry is judged from (a record, a summary, or a sealed cookie). */
export interface SessionTimes {
  createdAt: number;
  lastSeenAt: number;
  /** As computed at the last write, which may have been under other timeouts than today's. */
  expiresAt: number;
}

/**
 * The one expiry rule (Spring's MapSession.isExpired): a session ends at its stored expiry, at
 * idleTimeout after it was last seen, or at absoluteTimeout after it was made, whichever comes
 * first. Judged against today's timeouts too, so shortening them takes effect on sessions already
 * stored, not only on those written after the change.
 */
export function effectiveExpiry(s: SessionTimes, t: SessionTimeouts): number {
  return Math.min(s.expiresAt, s.lastSeenAt + t.idleTimeout, absoluteExpiry(s.createdAt, t));
}

export function isExpired(s: SessionTimes, now: number, t: SessionTimeouts): boolean {
  return now >= effectiveExpiry(s, t);
}

/** The expiry to store for a session seen at `now`: the earlier of the idle and the absolute one. */
export function expiresAt(createdAt: number, now: number, t: SessionTimeouts): number {
  return Math.min(now + t.idleTimeout, absoluteExpiry(createdAt, t));
}

/** No session outlives this, however often it is seen (nor does its cookie). */
export function absoluteExpiry(createdAt: number, t: SessionTimeouts): number {
  return createdAt + t.absoluteTimeout;
}
