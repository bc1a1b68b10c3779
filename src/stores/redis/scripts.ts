import { createHash } from 'node:crypto';
import { BUCKETS } from './keys.js';

/*
 * The store's Lua scripts. On a cluster, each touches the keys of one slot only, all named in KEYS: a
 * session's hash with its bucket's expiry set, or one index. Every write to a session is one script,
 * so it is atomic; the indexes are kept beside them by the protocol in indexes.ts. On one server,
 * WRITE_INDEXED and ROTATE (below) do a write with its indexes, or a whole rotation, in one script.
 */

const LIB = `
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
local function nowms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/**
 * Creates, updates in place, or receives a rotated session (its fields copied from the old id).
 * KEYS: the hash, its bucket's expiry set.
 * ARGV: mode ('c' create, 'u' update, 'm' move in), id, deadline|'' (an index entry was written for
 * this write: past this server time it is refused, see index.ts), lastSeenAt, expiresAt, expireAt,
 * replace 1/0, loginUser|'', authAt, remember, nCopy, nUnset, then nCopy copied field/value items,
 * nUnset fields to remove, and field/value pairs to set.
 * Returns 1 written, 0 refused (gone, moving, expired meanwhile), -1 past the deadline.
 */
const WRITE_BODY = `
local k, exp = KEYS[1], KEYS[2]
local mode, id, deadline = ARGV[1], ARGV[2], ARGV[3]
local l, e, at = ARGV[4], ARGV[5], ARGV[6]
local nCopy, nUnset = tonumber(ARGV[11]), tonumber(ARGV[12])
local now = nowms()
if deadline ~= '' and now > tonumber(deadline) then return -1 end
if mode == 'u' then
  -- Gone, being moved to a new id, or expired meanwhile (kept only for its grace): never brought back.
  local stored = redis.call('HMGET', k, 'e', 'm')
  if not stored[1] or stored[2] or tonumber(stored[1]) <= tonumber(l) then return 0 end
else
  redis.call('DEL', k)
end
-- Already past its expiry and grace: it would expire at once.
if tonumber(at) <= now then
  redis.call('DEL', k)
  redis.call('ZREM', exp, id)
  return 1
end
local first = 13
if nCopy > 0 then
  chunked('HSET', k, ARGV, first, first + nCopy - 1)
  first = first + nCopy
end
if ARGV[7] == '1' then
  local del = {}
  for _, f in ipairs(redis.call('HKEYS', k)) do
    if string.sub(f, 1, 2) == 'd:' then del[#del + 1] = f end
  end
  chunked('HDEL', k, del, 1, #del)
end
chunked('HDEL', k, ARGV, first, first + nUnset - 1)
chunked('HSET', k, ARGV, first + nUnset, #ARGV)
if ARGV[8] ~= '' then redis.call('HSET', k, 'u', ARGV[8], 'a', ARGV[9], 'r', ARGV[10]) end
redis.call('HSET', k, 'l', l, 'e', e)
redis.call('PEXPIREAT', k, at)
redis.call('ZADD', exp, e, id)
return 1
`;
const WRITE = `${LIB}${WRITE_BODY}`;

/**
 * The first step of a rotation: marks the old hash as moving to the new id and returns its fields,
 * or nothing when it is gone, already moving, or expired. From here on the old id neither loads nor
 * takes writes; a destroy still deletes it, which cancels the move (see COMMIT).
 * KEYS: the old hash. ARGV: newId, lastSeenAt.
 */
const MOVE_OUT_BODY = `
local stored = redis.call('HMGET', KEYS[1], 'e', 'm')
if not stored[1] or stored[2] or tonumber(stored[1]) <= tonumber(ARGV[2]) then return false end
local fields = redis.call('HGETALL', KEYS[1])
redis.call('HSET', KEYS[1], 'm', ARGV[1])
return fields
`;
const MOVE_OUT = `${LIB}${MOVE_OUT_BODY}`;

/** The last step: deletes the old hash if it is still marked for this move; 0 when a destroy cancelled it. KEYS: old hash, its expiry set. ARGV: oldId, newId. */
const COMMIT_BODY = `
if redis.call('HGET', KEYS[1], 'm') ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`;
const COMMIT = COMMIT_BODY;

/** A move that could not finish: the old id is served again. KEYS: old hash. ARGV: newId. */
const ROLLBACK = `
if redis.call('HGET', KEYS[1], 'm') == ARGV[1] then redis.call('HDEL', KEYS[1], 'm') end
return 1
`;

/**
 * Deletes a session (moving or not: that cancels the move), only when its field ARGV[2] holds
 * ARGV[3] if given. KEYS: the hash, its expiry set. ARGV: id, field|'', value. Returns its summary.
 */
const DESTROY = `${LIB}
local k = KEYS[1]
if redis.call('EXISTS', k) == 0 then return false end
if ARGV[2] ~= '' and redis.call('HGET', k, ARGV[2]) ~= ARGV[3] then return false end
local m = meta(k, ARGV[1])
redis.call('DEL', k)
redis.call('ZREM', KEYS[2], ARGV[1])
return m
`;

/**
 * KEYS: one bucket's expiry set. ARGV: the bucket's session key prefix, now, batch. Returns
 * { entries seen, removed summaries... }. An entry whose session was written meanwhile gets its new
 * score back; one whose hash expired natively (past the grace) is only dropped.
 */
const PRUNE = `${LIB}
local S, now = ARGV[1], tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = { #ids }
for _, id in ipairs(ids) do
  local key = S .. id
  local e = redis.call('HGET', key, 'e')
  if not e then redis.call('ZREM', KEYS[1], id)
  elseif tonumber(e) <= now then
    out[#out + 1] = meta(key, id)
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], id)
  else redis.call('ZADD', KEYS[1], e, id) end
end
return out
`;

/**
 * Adds an id to an index (a handle's or a user's), scored by the server's time, and keeps the index
 * at least until ARGV[2], or for ever when that is '' (it then only shrinks as stale entries are
 * dropped); an index without a TTL keeps none unless it is new. KEYS: the index. ARGV: id,
 * expireAt|''. Returns the score (now).
 */
const INDEX_ADD_BODY = `
local now = nowms()
redis.call('ZADD', KEYS[1], now, ARGV[1])
if ARGV[2] == '' then
  redis.call('PERSIST', KEYS[1])
else
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl >= 0 and now + ttl < tonumber(ARGV[2]) then redis.call('PEXPIREAT', KEYS[1], ARGV[2])
  elseif ttl == -1 and redis.call('ZCARD', KEYS[1]) == 1 then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
end
return now
`;
const INDEX_ADD = `${LIB}${INDEX_ADD_BODY}`;

/** KEYS: an index. Returns { server time, id, score, id, score... }. */
const INDEX_READ = `${LIB}
local out = { nowms() }
local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #all do out[#out + 1] = all[i] end
return out
`;

/** Drops entries still at the score they were seen with (a re-added entry has a newer one). KEYS: an index. ARGV: id, score pairs. */
const INDEX_DROP = `
local n = 0
for i = 1, #ARGV, 2 do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and tonumber(s) == tonumber(ARGV[i + 1]) then n = n + redis.call('ZREM', KEYS[1], ARGV[i]) end
end
return n
`;

/*
 * One server (no cluster): a write and its index entries, or a whole rotation, in one script, so one
 * round trip and atomic. Composed of the cluster's steps, each body run as a function of its own
 * KEYS and ARGV; keys of several slots are fine on one server. The index entries are the same
 * (scored by server time) so listing, destroys and prune read both layouts alike.
 */
const step = (name: string, body: string) => `local function ${name}(KEYS, ARGV)${body}end\n`;
const STEPS = `${LIB}${step('write', WRITE_BODY)}${step('indexAdd', INDEX_ADD_BODY)}${step('moveOut', MOVE_OUT_BODY)}${step('commit', COMMIT_BODY)}
local function from(list, first)
  local out = {}
  for i = first, #list do out[#out + 1] = list[i] end
  return out
end
`;

/**
 * A write, then (when written) its id added to the indexes. KEYS: the hash, its expiry set, the
 * indexes. ARGV: the indexes' expireAt|'', then WRITE's ARGV. Returns WRITE's reply.
 */
const WRITE_INDEXED = `${STEPS}
local written = write({ KEYS[1], KEYS[2] }, from(ARGV, 2))
if written == 1 then
  for i = 3, #KEYS do indexAdd({ KEYS[i] }, { ARGV[3], ARGV[1] }) end
end
return written
`;

/**
 * A whole rotation: move out of the old hash, write the new one (the old fields copied, then the
 * patch), index the new id under the session's handle and user, delete the old hash. The index keys
 * are named here, from the moved fields, as keys.ts names them. KEYS: old hash, its expiry set, new
 * hash, its expiry set. ARGV: key prefix (with any ioredis keyPrefix), the index lifetime past
 * createdAt|'', oldId ('' leaves the old hash marked, for a COMMIT to follow), then WRITE's ARGV for
 * mode 'm' with nCopy 0. Returns 1 moved, 0 refused.
 */
const ROTATE = `${STEPS}
local P, life, oldId = ARGV[1], ARGV[2], ARGV[3]
local w = from(ARGV, 4)
local newId, at, user = w[2], w[6], w[8]
local fields = moveOut({ KEYS[1] }, { newId, w[4] })
if not fields then return 0 end
local m = redis.call('HMGET', KEYS[1], 'h', 'u', 'c')
-- WRITE's ARGV with the old fields as its copied items (nCopy, then them before the patch's fields).
local args = {}
for i = 1, 12 do args[i] = w[i] end
args[11] = tostring(#fields)
for i = 1, #fields do args[#args + 1] = fields[i] end
for i = 13, #w do args[#args + 1] = w[i] end
if write({ KEYS[3], KEYS[4] }, args) ~= 1 then return 0 end
local function indexKey(kind, value)
  local b = tonumber(string.sub(redis.sha1hex(kind .. ':' .. value), 1, 8), 16) % ${BUCKETS}
  return P .. '{' .. string.format('%x', b) .. '}' .. kind .. ':' .. value
end
local expireAt = ''
if life ~= '' and tonumber(m[3]) then expireAt = string.format('%d', math.max(tonumber(at), tonumber(m[3]) + tonumber(life))) end
if user == '' then user = m[2] end
if m[1] then indexAdd({ indexKey('h', m[1]) }, { newId, expireAt }) end
if user then indexAdd({ indexKey('u', user) }, { newId, expireAt }) end
if oldId ~= '' then commit({ KEYS[1], KEYS[2] }, { oldId, newId }) end
return 1
`;

export interface Script {
  source: string;
  sha: string;
}

const script = (source: string): Script => ({ source, sha: createHash('sha1').update(source).digest('hex') });
export const SCRIPTS = {
  write: script(WRITE),
  moveOut: script(MOVE_OUT),
  commit: script(COMMIT),
  rollback: script(ROLLBACK),
  destroy: script(DESTROY),
  prune: script(PRUNE),
  indexAdd: script(INDEX_ADD),
  indexRead: script(INDEX_READ),
  indexDrop: script(INDEX_DROP),
  writeIndexed: script(WRITE_INDEXED),
  rotate: script(ROTATE),
};
