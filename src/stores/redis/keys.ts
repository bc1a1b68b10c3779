/*
 * Key layout, P the prefix (plus any ioredis keyPrefix):
 *   P s:<id>       hash: meta fields h (handle) u (user id) c l e a (created, last seen, expires, auth
 *                  times, epoch ms) r (remember, 1/0), and one field 'd:<key>' per data key (JSON)
 *   P h:<handle>   string: the id the handle names now
 *   P u:<userId>   sorted set: the user's session ids, scored by expiresAt
 *   P expiries     sorted set: every session id, scored by expiresAt (prune reads it in batches)
 * The session hash and handle expire natively at expiresAt + the grace (expiryGrace, else the
 * module's idleTimeout); a user's set at the latest of its sessions' (it only ever grows its TTL).
 * The hash is the truth: an index entry whose hash is gone is dropped when met. Encrypted, the data
 * fields are 'd:<hashed key>' plus the sealed marker 'd:!' (see codec.ts). The scripts build the
 * same names from P themselves (scripts.ts).
 */

/** The keys of one store, as the client sees them (before any ioredis keyPrefix). */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  session(id: string): string {
    return `${this.prefix}s:${id}`;
  }

  handle(handle: string): string {
    return `${this.prefix}h:${handle}`;
  }

  user(userId: string): string {
    return `${this.prefix}u:${userId}`;
  }

  get expiries(): string {
    return `${this.prefix}expiries`;
  }
}

/** The field of a data key (or of a hashed key name, or of the seal marker) in a session's hash. */
export const dataField = (name: string): string => `d:${name}`;

/** A hash field's data key name, or undefined for a meta field. */
export const dataName = (field: string): string | undefined => (field.startsWith('d:') ? field.slice(2) : undefined);
