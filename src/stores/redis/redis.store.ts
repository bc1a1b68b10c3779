import { createHash } from 'node:crypto';
import type { SessionPatch, SessionRecord, SessionStore, SessionTimeouts, StoredSessionSummary } from '../store.js';
import { defineOwn, openEntries, patchHandle, sealPatch } from '../codec.js';
import { SEAL_MARKER, SessionSealer } from '../../crypto/seal.js';

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

type Send = (args: string[]) => Promise<unknown>;

/** The module's default idleTimeout: the grace of a store that no module configured. */
const DEFAULT_GRACE = 30 * 60_000;

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
 * fields are 'd:<hashed key>' plus the sealed marker 'd:!' (see session.codec.ts).
 */

const LIB = `
local P = ARGV[1]
local function chunked(cmd, key, list, from, to)
  local i = from
  while i <= to do
    local last = math.min(i + 999, to)
    redis.call(cmd, key, unpack(list, i, last))
    i = last + 1
  end
end
local function meta(key, id)
  local m = redis.call('HMGET', key, 'h', 'u', 'c', 'l', 'e', 'a')
  return { id, m[1] or '', m[2] or '', m[3] or '', m[4] or '', m[5] or '', m[6] or '' }
end
local function remove(id)
  local key = P .. 's:' .. id
  if redis.call('EXISTS', key) == 0 then return false end
  local m = meta(key, id)
  redis.call('DEL', key)
  if m[2] ~= '' and redis.call('GET', P .. 'h:' .. m[2]) == id then redis.call('DEL', P .. 'h:' .. m[2]) end
  if m[3] ~= '' then redis.call('ZREM', P .. 'u:' .. m[3], id) end
  redis.call('ZREM', P .. 'expiries', id)
  return m
end
local function nowms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Only ever lengthens a key's life (callers make sure that \`at\` is in the future).
local function extend(key, at)
  local ttl = redis.call('PTTL', key)
  if ttl >= 0 and nowms() + ttl >= tonumber(at) then return end
  redis.call('PEXPIREAT', key, at)
end
`;

/** ARGV: P, id, handle, user, c, l, e, a, r, expireAt, then field/value pairs. */
const CREATE = `${LIB}
local k = KEYS[1]
local id, handle, user, e, at = ARGV[2], ARGV[3], ARGV[4], ARGV[7], ARGV[10]
redis.call('DEL', k)
-- Already past its expiry and grace: it would expire at once, and must not shorten an index's life.
if tonumber(at) <= nowms() then return 1 end
local f = { 'h', handle, 'c', ARGV[5], 'l', ARGV[6], 'e', e, 'r', ARGV[9] }
if user ~= '' then f[#f + 1] = 'u'; f[#f + 1] = user end
if ARGV[8] ~= '' then f[#f + 1] = 'a'; f[#f + 1] = ARGV[8] end
for i = 11, #ARGV do f[#f + 1] = ARGV[i] end
chunked('HSET', k, f, 1, #f)
redis.call('PEXPIREAT', k, at)
redis.call('SET', P .. 'h:' .. handle, id)
redis.call('PEXPIREAT', P .. 'h:' .. handle, at)
if user ~= '' then
  redis.call('ZADD', P .. 'u:' .. user, e, id)
  extend(P .. 'u:' .. user, at)
end
redis.call('ZADD', P .. 'expiries', e, id)
return 1
`;

/**
 * KEYS: the session, the session under its new id (the same key when not rotating).
 * ARGV: P, id, newId|'', replace 1/0, e, l, expireAt, loginUser|'', authAt, remember, nUnset,
 * unset fields..., set field/value pairs.
 */
const UPDATE = `${LIB}
local k = KEYS[1]
-- Gone, or expired meanwhile (kept only for its grace): never brought back.
local stored = redis.call('HGET', k, 'e')
if not stored or tonumber(stored) <= tonumber(ARGV[6]) then return 0 end
local id, newId, e, at = ARGV[2], ARGV[3], ARGV[5], ARGV[7]
if tonumber(at) <= nowms() then
  remove(id)
  return 1
end
if ARGV[4] == '1' then
  local del = {}
  for _, f in ipairs(redis.call('HKEYS', k)) do
    if string.sub(f, 1, 2) == 'd:' then del[#del + 1] = f end
  end
  chunked('HDEL', k, del, 1, #del)
end
local n = tonumber(ARGV[11])
chunked('HDEL', k, ARGV, 12, 11 + n)
chunked('HSET', k, ARGV, 12 + n, #ARGV)
local user = redis.call('HGET', k, 'u')
if ARGV[8] ~= '' then
  if user and user ~= ARGV[8] then redis.call('ZREM', P .. 'u:' .. user, id) end
  user = ARGV[8]
  redis.call('HSET', k, 'u', user, 'a', ARGV[9], 'r', ARGV[10])
end
redis.call('HSET', k, 'l', ARGV[6], 'e', e)
local handle = redis.call('HGET', k, 'h')
local cur = id
if newId ~= '' and newId ~= id then
  redis.call('RENAME', k, KEYS[2])
  k = KEYS[2]
  cur = newId
  if user then redis.call('ZREM', P .. 'u:' .. user, id) end
  redis.call('ZREM', P .. 'expiries', id)
end
redis.call('PEXPIREAT', k, at)
if handle then
  redis.call('SET', P .. 'h:' .. handle, cur)
  redis.call('PEXPIREAT', P .. 'h:' .. handle, at)
end
if user then
  redis.call('ZADD', P .. 'u:' .. user, e, cur)
  extend(P .. 'u:' .. user, at)
end
redis.call('ZADD', P .. 'expiries', e, cur)
return 1
`;

/** KEYS: the session. ARGV: P, id. */
const DESTROY = `${LIB}
return remove(ARGV[2])
`;

/** KEYS: the handle's key. ARGV: P. */
const DESTROY_BY_HANDLE = `${LIB}
local id = redis.call('GET', KEYS[1])
if not id then return false end
local m = remove(id)
if not m then redis.call('DEL', KEYS[1]) end
return m
`;

/** KEYS: the user's set. ARGV: P. Sessions whose hash is gone are dropped from the set. */
const LIST_BY_USER = `${LIB}
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = P .. 's:' .. id
  if redis.call('EXISTS', key) == 1 then out[#out + 1] = meta(key, id)
  else redis.call('ZREM', KEYS[1], id) end
end
return out
`;

/** KEYS: the user's set. ARGV: P, exceptId|''. */
const DESTROY_BY_USER = `${LIB}
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if id ~= ARGV[2] then
    local m = remove(id)
    if m then out[#out + 1] = m else redis.call('ZREM', KEYS[1], id) end
  end
end
return out
`;

/**
 * KEYS: the expiries set. ARGV: P, now, batch. Returns { entries seen, removed summaries... }.
 * An entry whose session was written meanwhile gets its new score back; one whose hash expired
 * natively (past the grace) is only dropped: there is nothing left to report.
 */
const PRUNE = `${LIB}
local now = tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = { #ids }
for _, id in ipairs(ids) do
  local key = P .. 's:' .. id
  local e = redis.call('HGET', key, 'e')
  if not e then redis.call('ZREM', KEYS[1], id)
  elseif tonumber(e) <= now then out[#out + 1] = remove(id)
  else redis.call('ZADD', KEYS[1], e, id) end
end
return out
`;

interface Script {
  source: string;
  sha: string;
}

const script = (source: string): Script => ({ source, sha: createHash('sha1').update(source).digest('hex') });
const SCRIPTS = {
  create: script(CREATE),
  update: script(UPDATE),
  destroy: script(DESTROY),
  destroyByHandle: script(DESTROY_BY_HANDLE),
  listByUser: script(LIST_BY_USER),
  destroyByUser: script(DESTROY_BY_USER),
  prune: script(PRUNE),
};

function toSummary(m: unknown): StoredSessionSummary {
  const [id, handle, user, c, l, e, a] = (m as unknown[]).map((x) => (x === null || x === undefined ? '' : String(x)));
  return { id, handle, userId: user === '' ? null : user, createdAt: Number(c), lastSeenAt: Number(l), expiresAt: Number(e), authAt: a === '' ? null : Number(a) };
}

const summaries = (reply: unknown): StoredSessionSummary[] => (Array.isArray(reply) ? reply.map(toSummary) : []);

/** A command sender over an ioredis client (Redis or Cluster) or a node-redis client. */
function sender(client: unknown): { send: Send; keyPrefix: string; cluster: boolean } {
  const c = client as Record<string, unknown> & { options?: { keyPrefix?: unknown } };
  if (c && typeof c.call === 'function' && typeof c.defineCommand === 'function') {
    const call = c.call as (...args: string[]) => Promise<unknown>;
    const keyPrefix = typeof c.options?.keyPrefix === 'string' ? c.options.keyPrefix : '';
    return { send: (args) => call.apply(c, args), keyPrefix, cluster: c.isCluster === true };
  }
  if (c && typeof c.sendCommand === 'function' && typeof c.connect === 'function') {
    if (typeof c.getSlotRandomNode === 'function' || 'masters' in c) {
      throw new TypeError('nestjs-lazy-session: RedisSessionStore takes a node-redis client, not a node-redis cluster; use an ioredis Cluster for Redis Cluster');
    }
    const sendCommand = c.sendCommand as (args: string[]) => Promise<unknown>;
    return { send: (args) => sendCommand.call(c, args), keyPrefix: '', cluster: false };
  }
  throw new TypeError('nestjs-lazy-session: RedisSessionStore needs an ioredis client (new Redis(...) or new Cluster(...)) or a node-redis client');
}

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
export class RedisSessionStore implements SessionStore {
  private readonly send: Send;
  private readonly prefix: string;
  /** The prefix as seen inside scripts, which build index keys themselves (ioredis keyPrefix included). */
  private readonly scriptPrefix: string;
  /** From expiryGrace; otherwise settled once, by useTimeouts or by the first write. */
  private grace: number | undefined;
  private readonly explicitGrace: boolean;
  private readonly pruneBatch: number;
  private readonly sealer: SessionSealer | undefined;

  constructor(client: unknown, options: RedisSessionStoreOptions = {}) {
    const { send, keyPrefix, cluster } = sender(client);
    this.send = send;
    this.prefix = options.prefix ?? 'sess:';
    if (typeof this.prefix !== 'string') throw new TypeError('nestjs-lazy-session: RedisSessionStore prefix must be a string');
    this.scriptPrefix = keyPrefix + this.prefix;
    if (cluster && !/\{[^}]+\}/.test(this.scriptPrefix)) {
      throw new Error(
        `nestjs-lazy-session: on Redis Cluster the RedisSessionStore prefix needs a hash tag, e.g. '{sess}:' (got '${this.prefix}'), so that each operation's keys share one slot`,
      );
    }
    this.grace = options.expiryGrace;
    this.explicitGrace = options.expiryGrace !== undefined;
    if (this.explicitGrace && (typeof this.grace !== 'number' || !Number.isFinite(this.grace) || this.grace < 0)) {
      throw new Error('nestjs-lazy-session: expiryGrace must be a duration in milliseconds, 0 or more');
    }
    this.pruneBatch = options.pruneBatchSize ?? 500;
    if (!Number.isInteger(this.pruneBatch) || this.pruneBatch < 1) throw new Error('nestjs-lazy-session: pruneBatchSize must be a positive whole number');
    this.sealer = options.encryptionKeys === undefined ? undefined : new SessionSealer(options.encryptionKeys);
  }

  /**
   * The module's timeouts, once at start-up: without an explicit expiryGrace, keys are kept one idle
   * timeout past a session's end, never longer. Settled once: a second module with another idle
   * timeout (or one arriving after the store was already used with the 30-minute default) is refused.
   */
  useTimeouts(timeouts: SessionTimeouts): void {
    const idle = timeouts?.idleTimeout;
    if (typeof idle !== 'number' || !Number.isFinite(idle) || idle <= 0) throw new Error('nestjs-lazy-session: RedisSessionStore.useTimeouts needs a positive idleTimeout in milliseconds');
    if (this.explicitGrace) return;
    if (this.grace === undefined) this.grace = idle;
    else if (this.grace !== idle) {
      throw new Error(
        `nestjs-lazy-session: RedisSessionStore's expiry grace is already ${this.grace} ms and cannot follow idleTimeout ${idle}: give each module its own store, or set expiryGrace explicitly`,
      );
    }
  }

  /** The key of a session's hash, as the client sees it (before any ioredis keyPrefix). */
  sessionKey(id: string): string {
    return `${this.prefix}s:${id}`;
  }

  private async run(s: Script, keys: string[], args: string[]): Promise<unknown> {
    const tail = [String(keys.length), ...keys, this.scriptPrefix, ...args];
    try {
      return await this.send(['EVALSHA', s.sha, ...tail]);
    } catch (err) {
      if (!/NOSCRIPT/.test(String((err as Error)?.message))) throw err;
      return this.send(['EVAL', s.source, ...tail]);
    }
  }

  private expireAt(expiresAt: number): string {
    // Used before any module said otherwise: the default idleTimeout, from now on.
    this.grace ??= DEFAULT_GRACE;
    return String(Math.trunc(expiresAt + this.grace));
  }

  /** Field/value pairs of a whole data object (sealed: with the session's marker). */
  private dataFields(data: Record<string, unknown>, handle: string | undefined): string[] {
    const out: string[] = [];
    if (this.sealer) {
      const h = patchHandle(handle);
      out.push(`d:${SEAL_MARKER}`, this.sealer.sealMarker(h));
      for (const k of Object.keys(data)) {
        const e = this.sealer.seal(k, data[k], h);
        out.push(`d:${e.name}`, e.sealed);
      }
    } else {
      for (const k of Object.keys(data)) out.push(`d:${k}`, JSON.stringify(data[k]));
    }
    return out;
  }

  async load(id: string): Promise<SessionRecord | null> {
    const reply = await this.send(['HGETALL', this.sessionKey(id)]);
    const pairs: [string, string][] = [];
    if (Array.isArray(reply)) {
      for (let i = 0; i + 1 < reply.length; i += 2) pairs.push([String(reply[i]), String(reply[i + 1])]);
    } else if (reply && typeof reply === 'object') {
      for (const [k, v] of Object.entries(reply)) pairs.push([k, String(v)]);
    }
    if (pairs.length === 0) return null;
    const meta: Record<string, string> = {};
    let data: Record<string, unknown> | null = {};
    let sealed: [string, string][] | undefined;
    for (const [f, v] of pairs) {
      if (f.startsWith('d:')) {
        if (this.sealer) (sealed ??= []).push([f.slice(2), v]);
        else {
          try {
            defineOwn(data, f.slice(2), JSON.parse(v));
          } catch {
            // not JSON: ignored, as the SQL stores ignore a malformed entry
          }
        }
      } else meta[f] = v;
    }
    if (meta.h === undefined || meta.e === undefined || meta.c === undefined) return null;
    // Sealed data that does not open (or a hash written without encryption, which has no marker): no session, never an error.
    if (this.sealer) data = openEntries(this.sealer, sealed ?? [], meta.h);
    if (data === null) return null;
    return {
      id,
      handle: meta.h,
      data,
      userId: meta.u ?? null,
      createdAt: Number(meta.c),
      lastSeenAt: Number(meta.l ?? meta.c),
      expiresAt: Number(meta.e),
      authAt: meta.a === undefined ? null : Number(meta.a),
      remember: meta.r === '1',
    };
  }

  async create(r: SessionRecord): Promise<void> {
    await this.run(SCRIPTS.create, [this.sessionKey(r.id)], [
      r.id, r.handle, r.userId ?? '', String(r.createdAt), String(r.lastSeenAt), String(r.expiresAt),
      r.authAt === null ? '' : String(r.authAt), r.remember ? '1' : '0', this.expireAt(r.expiresAt),
      ...this.dataFields(r.data, r.handle),
    ]);
  }

  async update(id: string, patch: SessionPatch): Promise<boolean> {
    const rotate = patch.newId !== undefined && patch.newId !== id;
    let setFields: string[];
    let unset: string[];
    if (patch.replace !== undefined) {
      setFields = this.dataFields({ ...patch.replace, ...patch.set }, patch.handle);
      unset = [];
    } else if (this.sealer) {
      const sealed = sealPatch(this.sealer, patch.set, patch.unset, patch.handle);
      setFields = [];
      for (const name of Object.keys(sealed.set)) setFields.push(`d:${name}`, sealed.set[name]);
      unset = sealed.unset.map((n) => `d:${n}`);
    } else {
      setFields = patch.set ? this.dataFields(patch.set, undefined) : [];
      unset = patch.unset ? patch.unset.map((k) => `d:${k}`) : [];
    }
    const login = patch.login;
    const reply = await this.run(SCRIPTS.update, [this.sessionKey(id), this.sessionKey(rotate ? patch.newId! : id)], [
      id, rotate ? patch.newId! : '', patch.replace !== undefined ? '1' : '0', String(patch.expiresAt), String(patch.lastSeenAt),
      this.expireAt(patch.expiresAt), login ? login.userId : '', login ? String(login.authAt) : '', login?.remember ? '1' : '0',
      String(unset.length), ...unset, ...setFields,
    ]);
    return Number(reply) === 1;
  }

  async destroy(id: string): Promise<StoredSessionSummary | null> {
    const reply = await this.run(SCRIPTS.destroy, [this.sessionKey(id)], [id]);
    return Array.isArray(reply) ? toSummary(reply) : null;
  }

  async listByUser(userId: string): Promise<StoredSessionSummary[]> {
    return summaries(await this.run(SCRIPTS.listByUser, [`${this.prefix}u:${userId}`], []));
  }

  async destroyByUser(userId: string, exceptId?: string): Promise<StoredSessionSummary[]> {
    return summaries(await this.run(SCRIPTS.destroyByUser, [`${this.prefix}u:${userId}`], [exceptId ?? '']));
  }

  async destroyByHandle(handle: string): Promise<StoredSessionSummary | null> {
    const reply = await this.run(SCRIPTS.destroyByHandle, [`${this.prefix}h:${handle}`], []);
    return Array.isArray(reply) ? toSummary(reply) : null;
  }

  async prune(now: number, onBatch?: (removed: StoredSessionSummary[]) => void): Promise<number> {
    let total = 0;
    for (;;) {
      const reply = (await this.run(SCRIPTS.prune, [`${this.prefix}expiries`], [String(now), String(this.pruneBatch)])) as unknown[];
      const seen = Number(reply[0]);
      const removed = reply.slice(1).map(toSummary);
      total += removed.length;
      if (removed.length > 0) onBatch?.(removed);
      if (seen < this.pruneBatch) return total;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
