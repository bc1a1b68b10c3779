import type { SessionPatch, SessionRecord, SessionTimeouts, StoredSessionSummary, UserIndexedSessionStore } from '../store.js';
import { SessionSealer } from '../../crypto/seal.js';
import { SessionOptionsError } from '../../errors.js';
import { connect, ReplicaWaitError, runScript, type RedisConn } from './client.js';
import { RedisExpiry } from './expiry.js';
import { HashCodec, movedFields, replySummary } from './hash.js';
import { RedisIndexes } from './indexes.js';
import { migrate010 } from './legacy.js';
import { BUCKETS, checkPrefix, RedisKeys } from './keys.js';
import { SCRIPTS, type Script } from './scripts.js';

export interface RedisSessionStoreOptions {
  /**
   * Prefix of every key the store writes. Default 'sess:'. It must not hold '{' or '}': the store
   * gives each session a hash tag of its own, so that sessions spread over a Redis Cluster.
   */
  prefix?: string;
  /**
   * How long an expired session's keys are kept past its expiry, so that its end can still be
   * reported as 'expired' (by a load, or by prune()). Default: the module's idleTimeout, which the
   * module gives the store once at start-up (useTimeouts); 30 minutes for a store used without it.
   */
  expiryGrace?: number;
  /** Expired sessions handled per prune() script (prune visits every bucket). Default 500. */
  pruneBatchSize?: number;
  /** Encryption at rest, as in TypeOrmSessionStoreOptions: the first key seals, all open. */
  encryptionKeys?: string[];
  /**
   * Durability: each write waits (`WAIT 1 <ms>`) until a replica has it, and fails (503) when none
   * acknowledged it within this many milliseconds, so an acknowledged write survives the loss of its
   * master. Costs a replica round trip per write. Default: off (undefined).
   */
  waitForReplica?: number;
}

/** Buckets pruned at once. */
const PRUNE_CONCURRENCY = 16;

type Mode = 'c' | 'u' | 'm';

/**
 * Sessions in Redis, on one server or sharded over a Redis Cluster. One session is one hash (meta
 * fields plus one field per data key) in a slot of its own bucket, so a request writes only the keys
 * it changed, and every write is one Lua script on one shard, which applies a patch only while the
 * session exists and has not expired (no resurrection after a logout or an expiry). Keys expire
 * natively at the session's expiry plus a grace (`expiryGrace`, by default the module's idleTimeout).
 * The handle and user indexes live in their own slots: see indexes.ts for how they stay exact on a
 * cluster, where they are written first. On one server, a write with its index entries, and a whole
 * rotation, are one script (round trip) each, as in 0.1.0, with the same keys as on a cluster.
 *
 * Recommended ioredis settings, so that a Redis outage fails requests at once (503) instead of
 * queueing them: `{ enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 }`.
 * The client is yours: close() leaves it open.
 */
export class RedisSessionStore implements UserIndexedSessionStore {
  private readonly conn: RedisConn;
  private readonly keys: RedisKeys;
  private readonly expiry: RedisExpiry;
  private readonly pruneBatch: number;
  private readonly hash: HashCodec;
  private readonly wait: number | undefined;
  private readonly indexes: RedisIndexes;

  constructor(
    private readonly client: unknown,
    options: RedisSessionStoreOptions = {},
  ) {
    this.conn = connect(client);
    this.keys = new RedisKeys(checkPrefix(options.prefix ?? 'sess:', this.conn.keyPrefix));
    this.expiry = new RedisExpiry(options.expiryGrace);
    this.pruneBatch = options.pruneBatchSize ?? 500;
    if (!Number.isInteger(this.pruneBatch) || this.pruneBatch < 1) throw new SessionOptionsError('nestjs-lazy-session: pruneBatchSize must be a positive whole number');
    this.wait = options.waitForReplica;
    if (this.wait !== undefined && (!Number.isInteger(this.wait) || this.wait < 1)) throw new SessionOptionsError('nestjs-lazy-session: waitForReplica must be a timeout in whole milliseconds, 1 or more');
    this.hash = new HashCodec(options.encryptionKeys === undefined ? undefined : new SessionSealer(options.encryptionKeys));
    this.indexes = new RedisIndexes(this.keys, this.run, (args) => this.conn.send(args));
  }

  /**
   * The module's timeouts, once at start-up: without an explicit expiryGrace, keys are kept one idle
   * timeout past a session's end, never longer. Settled once: a second module with another idle
   * timeout (or one arriving after the store was already used with the 30-minute default) is refused.
   */
  useTimeouts(timeouts: SessionTimeouts): void {
    this.expiry.useTimeouts(timeouts);
  }

  /** The key of a session's hash, as the client sees it (before any ioredis keyPrefix). */
  sessionKey(id: string): string {
    return this.keys.session(id);
  }

  /** Writes wait for a replica when asked to (waitForReplica); reads never do. */
  private readonly run = (s: Script, keys: string[], args: string[], write = false): Promise<unknown> => runScript(this.conn, s, keys, args, write ? this.wait : undefined);

  /**
   * A write, after its id was added to `indexes` (expiring at `indexExpire`): on a cluster the index
   * entries first, then the write with their deadline; on one server both in one script.
   */
  private async write(mode: Mode, id: string, patch: Pick<SessionPatch, 'lastSeenAt' | 'expiresAt' | 'login'>, at: string, replace: boolean, copy: string[], unset: string[], set: string[], indexes: string[], indexExpire: string): Promise<boolean> {
    const one = !this.conn.cluster && indexes.length > 0;
    const deadline = one || indexes.length === 0 ? '' : await this.indexes.add(indexes, id, indexExpire);
    const args = writeArgs(mode, id, deadline, patch, at, replace, copy, unset, set);
    const target = [this.keys.session(id), this.keys.expiriesOf(id)];
    const reply = Number(await (one ? this.run(SCRIPTS.writeIndexed, [...target, ...indexes], [indexExpire, ...args], true) : this.run(SCRIPTS.write, target, args, true)));
    // The index entry written for this write may already have been judged stale: refuse, never write unindexed.
    if (reply === -1) throw new Error(`nestjs-lazy-session: a session write came more than its deadline after its index entry (server time)`);
    return reply === 1;
  }

  async load(id: string): Promise<SessionRecord | null> {
    return this.hash.record(id, await this.conn.send(['HGETALL', this.keys.session(id)]));
  }

  async create(r: SessionRecord): Promise<void> {
    const at = this.expiry.expireAt(r.expiresAt);
    // Already past its grace: nothing will be written, nothing to index.
    const indexes = Number(at) <= Date.now() ? [] : [this.keys.handle(r.handle), ...(r.userId !== null ? [this.keys.user(r.userId)] : [])];
    const copy = ['h', r.handle, 'c', String(r.createdAt), 'r', r.remember ? '1' : '0'];
    if (r.userId !== null) copy.push('u', r.userId);
    if (r.authAt !== null) copy.push('a', String(r.authAt));
    await this.write('c', r.id, r, at, false, copy, [], this.hash.dataFields(r.data, r.handle), indexes, this.expiry.indexExpireAt(r.createdAt, at));
  }

  async update(id: string, patch: SessionPatch): Promise<boolean> {
    if (patch.newId !== undefined && patch.newId !== id) return this.rotate(id, patch.newId, patch);
    const { set, unset } = this.hash.patchFields(patch);
    const at = this.expiry.expireAt(patch.expiresAt);
    return this.write('u', id, patch, at, patch.replace !== undefined, [], unset, set, patch.login ? [this.keys.user(patch.login.userId)] : [], '');
  }

  /**
   * A rotation moves the session to another slot: mark the old hash (it stops loading), index the
   * new id, write the new hash with the patch, then delete the old one, unless a destroy deleted it
   * meanwhile, which then also ends the new one. A failure before that unmarks the old hash and
   * removes the new one: the session goes on under its old id. On one server, all in one script.
   */
  private async rotate(id: string, newId: string, patch: SessionPatch): Promise<boolean> {
    const old = [this.keys.session(id), this.keys.expiriesOf(id)];
    const undo = async () => {
      await this.destroy(newId).catch(() => undefined);
      await this.run(SCRIPTS.rollback, [old[0]], [newId], true).catch(() => undefined);
    };
    try {
      if (!this.conn.cluster) {
        const { set, unset } = this.hash.patchFields(patch);
        const args = writeArgs('m', newId, '', patch, this.expiry.expireAt(patch.expiresAt), patch.replace !== undefined, [], unset, set);
        // All steps in one script; waiting for a replica, all but the commit, so that a move the
        // replica did not confirm can still be undone (the session goes on under its old id).
        const keys = [...old, this.keys.session(newId), this.keys.expiriesOf(newId)];
        const moved = await this.run(SCRIPTS.rotate, keys, [this.conn.keyPrefix + this.keys.prefix, this.expiry.indexLife(), this.wait === undefined ? id : '', ...args], true);
        if (Number(moved) !== 1) return false;
        if (this.wait === undefined) return true;
      } else {
        const fields = await this.run(SCRIPTS.moveOut, [old[0]], [newId, String(patch.lastSeenAt)], true);
        if (!Array.isArray(fields)) return false;
        const { copy, meta } = movedFields(fields);
        const { set, unset } = this.hash.patchFields(patch);
        const at = this.expiry.expireAt(patch.expiresAt);
        const user = patch.login?.userId ?? meta.u;
        const indexes = [this.keys.handle(meta.h), ...(user !== undefined ? [this.keys.user(user)] : [])];
        await this.write('m', newId, patch, at, patch.replace !== undefined, copy, unset, set, indexes, this.expiry.indexExpireAt(Number(meta.c), at));
      }
    } catch (err) {
      await undo();
      throw err;
    }
    let committed: boolean;
    try {
      committed = Number(await this.run(SCRIPTS.commit, old, [id, newId], true)) === 1;
    } catch (err) {
      // Applied by the master, only unconfirmed by its replica: the new hash itself was confirmed.
      if (!(err instanceof ReplicaWaitError) || Number(err.reply) !== 1) {
        // Unknown: end the session rather than leave it alive behind a destroy that may have won.
        await this.destroy(newId).catch(() => undefined);
        throw err;
      }
      committed = true;
    }
    // Cancelled by a destroy of the old id: that destroy wins, the new session ends too.
    if (!committed) await this.destroy(newId);
    return committed;
  }

  /**
   * The one-step migration from 0.1.0, whose keys shared one slot: copies every session of that
   * layout under `legacyPrefix` (default: this store's prefix), read through `source` (default: this
   * store's client; on a cluster, a client of the master that held them), then deletes the old keys.
   * Run it once at deploy, before the new version serves; returns the sessions copied.
   */
  migrateFrom010(legacyPrefix: string = this.keys.prefix, source: unknown = this.client): Promise<number> {
    return migrate010(source, legacyPrefix, this.hash, (r) => this.create(r));
  }

  async destroy(id: string): Promise<StoredSessionSummary | null> {
    const reply = await this.run(SCRIPTS.destroy, [this.keys.session(id), this.keys.expiriesOf(id)], [id, '', ''], true);
    return Array.isArray(reply) ? replySummary(reply) : null;
  }

  async listByUser(userId: string): Promise<StoredSessionSummary[]> {
    return this.indexes.list(userId);
  }

  async destroyByUser(userId: string, exceptId?: string): Promise<StoredSessionSummary[]> {
    return this.indexes.destroyAll(this.keys.user(userId), 'u', userId, exceptId);
  }

  async destroyByHandle(handle: string): Promise<StoredSessionSummary | null> {
    const removed = await this.indexes.destroyAll(this.keys.handle(handle), 'h', handle);
    return removed[removed.length - 1] ?? null;
  }

  /** Every bucket, PRUNE_CONCURRENCY at a time, each in batches of pruneBatchSize. */
  async prune(now: number, onBatch?: (removed: StoredSessionSummary[]) => void): Promise<number> {
    let total = 0;
    let next = 0;
    const worker = async () => {
      for (let b = next++; b < BUCKETS; b = next++) {
        for (;;) {
          const reply = (await this.run(SCRIPTS.prune, [this.keys.expiries(b)], [this.conn.keyPrefix + this.keys.sessionsIn(b), String(now), String(this.pruneBatch)], true)) as unknown[];
          const removed = reply.slice(1).map(replySummary);
          total += removed.length;
          if (removed.length > 0) onBatch?.(removed);
          if (Number(reply[0]) < this.pruneBatch) break;
        }
      }
    };
    await Promise.all(Array.from({ length: PRUNE_CONCURRENCY }, worker));
    return total;
  }
}

/** WRITE's ARGV (see scripts.ts). */
function writeArgs(mode: Mode, id: string, deadline: string, patch: Pick<SessionPatch, 'lastSeenAt' | 'expiresAt' | 'login'>, at: string, replace: boolean, copy: string[], unset: string[], set: string[]): string[] {
  const login = patch.login;
  return [
    mode, id, deadline, String(patch.lastSeenAt), String(patch.expiresAt), at, replace ? '1' : '0',
    login ? login.userId : '', login ? String(login.authAt) : '', login?.remember ? '1' : '0',
    String(copy.length), String(unset.length), ...copy, ...unset, ...set,
  ];
}
