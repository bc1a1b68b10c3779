import { createHash } from 'node:crypto';
import { SessionOptionsError } from '../../errors.js';

/*
 * Key layout, P the prefix (plus any ioredis keyPrefix), {b} a bucket's hash tag:
 *   P{b}s:<id>       hash: meta fields h (handle) u (user id) c l e a (created, last seen, expires, auth
 *                    times, epoch ms) r (remember, 1/0), one field 'd:<key>' per data key (JSON), and,
 *                    while an id rotation moves it, m (the id it moves to)
 *   P{b}e            sorted set: the ids of bucket b's sessions, scored by expiresAt (prune)
 *   P{b}h:<handle>   sorted set: the ids that carried this handle, scored by when each was added
 *   P{b}u:<userId>   sorted set: the user's session ids, scored by when each was added
 * A session's hash and its bucket's expiry set share one slot (the bucket of its id), so every write
 * to a session is one script on one shard. The handle and user indexes live in the buckets of the
 * handle and the user, elsewhere in a cluster: they are written before the session (see index.ts).
 * Encrypted, the data fields are 'd:<hashed key>' plus the sealed marker 'd:!' (see codec.ts).
 */

/**
 * Buckets: hash tags '{0}'..'{3ff}'. Enough to spread over a large cluster's 16384 slots evenly
 * (a few dozen masters), few enough that prune visits them all cheaply. Never changes: it places data.
 */
export const BUCKETS = 1024;

export function bucketOf(value: string): number {
  return createHash('sha1').update(value).digest().readUInt32BE(0) % BUCKETS;
}

/** The keys of one store, as the client sees them (before any ioredis keyPrefix). */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  private tag(b: number): string {
    return `${this.prefix}{${b.toString(16)}}`;
  }

  session(id: string): string {
    return `${this.tag(bucketOf(id))}s:${id}`;
  }

  /** The expiry set of the bucket a session id falls in. */
  expiriesOf(id: string): string {
    return this.expiries(bucketOf(id));
  }

  expiries(b: number): string {
    return `${this.tag(b)}e`;
  }

  /** What the prune script puts before an id to name its hash: bucket b's session prefix. */
  sessionsIn(b: number): string {
    return `${this.tag(b)}s:`;
  }

  handle(handle: string): string {
    return `${this.tag(bucketOf(`h:${handle}`))}h:${handle}`;
  }

  user(userId: string): string {
    return `${this.tag(bucketOf(`u:${userId}`))}u:${userId}`;
  }
}

/** The prefix as Redis sees it must not choose the slot itself: the store's own hash tags do. */
export function checkPrefix(prefix: unknown, keyPrefix: string): string {
  if (typeof prefix !== 'string') throw new SessionOptionsError('nestjs-lazy-session: RedisSessionStore prefix must be a string');
  if (/[{}]/.test(keyPrefix + prefix)) {
    throw new SessionOptionsError(
      `nestjs-lazy-session: the RedisSessionStore prefix (and ioredis keyPrefix) must not hold '{' or '}' (got '${keyPrefix}${prefix}'): ` +
        'the store gives every session a hash tag of its own so that sessions spread over a Redis Cluster; a prefix of 0.1.0 such as \'{sess}:\' becomes \'sess:\' (see the README, Redis section)',
    );
  }
  return prefix;
}

/** The field of a data key (or of a hashed key name, or of the seal marker) in a session's hash. */
export const dataField = (name: string): string => `d:${name}`;

/** A hash field's data key name, or undefined for a meta field. */
export const dataName = (field: string): string | undefined => (field.startsWith('d:') ? field.slice(2) : undefined);
