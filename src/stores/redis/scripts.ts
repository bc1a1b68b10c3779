import { createHash } from 'node:crypto';

/*
 * The store's Lua scripts: every write is one script, so it is atomic in Redis. Each script gets
 * the key prefix as ARGV[1] (P) and builds the index keys it needs from it; the key layout is in
 * keys.ts.
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
-- Points the indexes at the session now under \`id\`: its handle (kept until \`at\`), its user's set
-- and the expiries set, both scored by its expiry \`e\`.
local function index(id, handle, user, e, at)
  if handle then
    redis.call('SET', P .. 'h:' .. handle, id)
    redis.call('PEXPIREAT', P .. 'h:' .. handle, at)
  end
  if user then
    redis.call('ZADD', P .. 'u:' .. user, e, id)
    extend(P .. 'u:' .. user, at)
  end
  redis.call('ZADD', P .. 'expiries', e, id)
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
index(id, handle, user ~= '' and user or nil, e, at)
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
index(cur, handle, user, e, at)
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

export interface Script {
  source: string;
  sha: string;
}

const script = (source: string): Script => ({ source, sha: createHash('sha1').update(source).digest('hex') });
export const SCRIPTS = {
  create: script(CREATE),
  update: script(UPDATE),
  destroy: script(DESTROY),
  destroyByHandle: script(DESTROY_BY_HANDLE),
  listByUser: script(LIST_BY_USER),
  destroyByUser: script(DESTROY_BY_USER),
  prune: script(PRUNE),
};
