import type { SessionPatch, SessionRecord, SessionTimeouts, StoredSessionSummary, UserIndexedSessionStore } from '../store.js';
import { SessionSealer } from '../../crypto/seal.js';
import { SessionOptionsError } from '../../errors.js';
import { runScript, sender, type Send } from './client.js';
import { HashCodec, replySummaries, replySummary } from './hash.js';
import { RedisKeys } from './keys.js';
import { SCRIPTS, type Script } from './scripts.js';

export interface RedisSessionStoreOptions {
  /**
   * Prefix of every key the store writes. Default 'sess:'. On Redis Cluster it must carry a hash
   * tag, e.g. '{sess}:', so that every key of the store lives in one slot and each operation stays
   * one atomic script (see the README's Redis section).
   */
  prefix?: string;
  /**
   * How long an expired session's keys are kept past its expiry, so that its end can still be
   * reported as 'expired' (by a load, or by prune()). Default: the module's idleTimeout, which the
   * module gives the store once at start-up (useTimeouts); 30 minutes for a store used without it.
   */
  expiryGrace?: number;
  /** Expired sessions handled per prune() script. Default 500. */
  pruneBatchSize?: number;
  /** Encryption at rest, as in TypeOrmSessionStoreOptions: the first key seals, all open. */
  encryptionKeys?: string[];
}

/** The module's default idleTimeout: the grace of a store that no module configured. */
const DEFAULT_GRACE = 30 * 60_000;

/**
 * Sessions in Redis. One session is one hash (meta fields plus one field per data key), so a
 * request writes only the keys it changed; every write is one Lua script, which applies a patch only
 * while the session exists and has not expired (no resurrection after a logout or an expiry) and rotates an id with RENAME, moving
 * the indexes in the same step. Keys expire natively at the session's expiry plus a grace
 * (`expiryGrace`, by default the module's idleTimeout).
 *
 * Recommended ioredis settings, so that a Redis outage fails requests at once (503) instead of
 * queueing them: `{ enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 }`.
 * The client is yours: close() leaves it open.
 */
export class RedisSessionStore implements UserIndexedSessionStore {
  private readonly send: Send;
  private readonly keys: RedisKeys;
  /** The prefix as seen inside scripts, which build index keys themselves (ioredis keyPrefix included). */
  private readonly scriptPrefix: string;
  /** From expiryGrace; otherwise settled once, by useTimeouts or by the first write. */
  private grace: number | undefined;
  private readonly explicitGrace: boolean;
  private readonly pruneBatch: number;
  private readonly hash: HashCodec;

  constructor(client: unknown, options: RedisSessionStoreOptions = {}) {
    const { send, keyPrefix, cluster } = sender(client);
    this.send = send;
    const prefix = options.prefix ?? 'sess:';
    if (typeof prefix !== 'string') throw new SessionOptionsError('nestjs-lazy-session: RedisSessionStore prefix must be a string');
    this.keys = new RedisKeys(prefix);
    this.scriptPrefix = keyPrefix + prefix;
    if (cluster && !/\{[^}]+\}/.test(this.scriptPrefix)) {
      throw new SessionOptionsError(
        `nestjs-lazy-session: on Redis Cluster the RedisSessionStore prefix needs a hash tag, e.g. '{sess}:' (got '${prefix}'), so that each operation's keys share one slot`,
      );
    }
    this.grace = options.expiryGrace;
    this.explicitGrace = options.expiryGrace !== undefined;
    if (this.explicitGrace && (typeof this.grace !== 'number' || !Number.isFinite(this.grace) || this.grace < 0)) {
      throw new SessionOptionsError('nestjs-lazy-session: expiryGrace must be a duration in milliseconds, 0 or more');
    }
    this.pruneBatch = options.pruneBatchSize ?? 500;
    if (!Number.isInteger(this.pruneBatch) || this.pruneBatch < 1) throw new SessionOptionsError('nestjs-lazy-session: pruneBatchSize must be a positive whole number');
    this.hash = new HashCodec(options.encryptionKeys === undefined ? undefined : new SessionSealer(options.encryptionKeys));
  }

  /**
   * The module's timeouts, once at start-up: without an explicit expiryGrace, keys are kept one idle
   * timeout past a session's end, never longer. Settled once: a second module with another idle
   * timeout (or one arriving after the store was already used with the 30-minute default) is refused.
   */
  useTimeouts(timeouts: SessionTimeouts): void {
    const idle = timeouts?.idleTimeout;
    if (typeof idle !== 'number' || !Number.isFinite(idle) || idle <= 0) throw new SessionOptionsError('nestjs-lazy-session: RedisSessionStore.useTimeouts needs a positive idleTimeout in milliseconds');
    if (this.explicitGrace) return;
    if (this.grace === undefined) this.grace = idle;
    else if (this.grace !== idle) {
      throw new SessionOptionsError(
        `nestjs-lazy-session: RedisSessionStore's expiry grace is already ${this.grace} ms and cannot follow idleTimeout ${idle}: give each module its own store, or set expiryGrace explicitly`,
      );
    }
  }

  /** The key of a session's hash, as the client sees it (before any ioredis keyPrefix). */
  sessionKey(id: string): string {
    return this.keys.session(id);
  }

  private run(s: Script, keys: string[], args: string[]): Promise<unknown> {
    return runScript(this.send, s, keys, [this.scriptPrefix, ...args]);
  }

  private expireAt(expiresAt: number): string {
    // Used before any module said otherwise: the default idleTimeout, from now on.
    this.grace ??= DEFAULT_GRACE;
    return String(Math.trunc(expiresAt + this.grace));
  }

  async load(id: string): Promise<SessionRecord | null> {
    return this.hash.record(id, await this.send(['HGETALL', this.keys.session(id)]));
  }

  async create(r: SessionRecord): Promise<void> {
    await this.run(SCRIPTS.create, [this.keys.session(r.id)], [
      r.id, r.handle, r.userId ?? '', String(r.createdAt), String(r.lastSeenAt), String(r.expiresAt),
      r.authAt === null ? '' : String(r.authAt), r.remember ? '1' : '0', this.expireAt(r.expiresAt),
      ...this.hash.dataFields(r.data, r.handle),
    ]);
  }

  async update(id: string, patch: SessionPatch): Promise<boolean> {
    const rotate = patch.newId !== undefined && patch.newId !== id;
    const { set, unset } = this.hash.patchFields(patch);
    const login = patch.login;
    const reply = await this.run(SCRIPTS.update, [this.keys.session(id), this.keys.session(rotate ? patch.newId! : id)], [
      id, rotate ? patch.newId! : '', patch.replace !== undefined ? '1' : '0', String(patch.expiresAt), String(patch.lastSeenAt),
      this.expireAt(patch.expiresAt), login ? login.userId : '', login ? String(login.authAt) : '', login?.remember ? '1' : '0',
      String(unset.length), ...unset, ...set,
    ]);
    return Number(reply) === 1;
  }

  async destroy(id: string): Promise<StoredSessionSummary | null> {
    const reply = await this.run(SCRIPTS.destroy, [this.keys.session(id)], [id]);
    return Array.isArray(reply) ? replySummary(reply) : null;
  }

  async listByUser(userId: string): Promise<StoredSessionSummary[]> {
    return replySummaries(await this.run(SCRIPTS.listByUser, [this.keys.user(userId)], []));
  }

  async destroyByUser(userId: string, exceptId?: string): Promise<StoredSessionSummary[]> {
    return replySummaries(await this.run(SCRIPTS.destroyByUser, [this.keys.user(userId)], [exceptId ?? '']));
  }

  async destroyByHandle(handle: string): Promise<StoredSessionSummary | null> {
    const reply = await this.run(SCRIPTS.destroyByHandle, [this.keys.handle(handle)], []);
    return Array.isArray(reply) ? replySummary(reply) : null;
  }

  async prune(now: number, onBatch?: (removed: StoredSessionSummary[]) => void): Promise<number> {
    let total = 0;
    for (;;) {
      const reply = (await this.run(SCRIPTS.prune, [this.keys.expiries], [String(now), String(this.pruneBatch)])) as unknown[];
      const seen = Number(reply[0]);
      const removed = reply.slice(1).map(replySummary);
      total += removed.length;
      if (removed.length > 0) onBatch?.(removed);
      if (seen < this.pruneBatch) return total;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
