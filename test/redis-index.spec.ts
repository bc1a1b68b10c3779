import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { RedisSessionStore, type SessionRecord } from '../src/index.js';
import { SCRIPTS } from '../src/stores/redis/scripts.js';
import { clusterKeysUnder, describeRedis, holdingClient, describeRedisCluster, dropClusterPrefix, dropPrefix, keysUnder, newCluster, newRedis, testPrefix } from './support/redis.js';

/*
 * The guarantees of the Redis store's handle and user indexes, which a cluster keeps in other slots
 * than the sessions (README, Redis section), checked on one Redis and on the cluster with real
 * concurrent operations: listByUser shows only sessions that load; destroyByUser leaves no session
 * that was logged in when it was called, and no rotation racing it survives; prune by several
 * instances at once reports each session once on every shard; nothing resurrects; a write
 * interrupted mid-rotation leaves nothing that loads or lists.
 */

const id = () => randomBytes(32).toString('hex');
const handle = () => randomBytes(16).toString('base64url');

function record(over: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return { id: id(), handle: handle(), data: {}, userId: null, createdAt: now, lastSeenAt: now, expiresAt: now + 60_000, authAt: null, remember: false, ...over };
}

const touch = (over: object = {}) => ({ lastSeenAt: Date.now(), expiresAt: Date.now() + 60_000, ...over });

interface Target {
  name: string;
  describe: (title: string, body: () => void) => Promise<void>;
  open(): Promise<{ client: Redis | Cluster; keys(prefix: string): Promise<string[]>; drop(prefix: string): Promise<void> }>;
}

const targets: Target[] = [
  {
    name: 'one Redis',
    describe: describeRedis,
    async open() {
      const client = await newRedis();
      return { client, keys: (p) => keysUnder(client, p), drop: (p) => dropPrefix(client, p) };
    },
  },
  {
    name: 'cluster',
    describe: describeRedisCluster,
    async open() {
      const client = await newCluster();
      return { client, keys: (p) => clusterKeysUnder(client, p), drop: (p) => dropClusterPrefix(client, p) };
    },
  },
];

for (const target of targets) {
  await target.describe(`Redis store index guarantees on ${target.name}`, () => {
    let conn: Awaited<ReturnType<Target['open']>>;
    let prefix: string;
    let store: RedisSessionStore;
    beforeAll(async () => {
      conn = await target.open();
    });
    beforeEach(() => {
      prefix = testPrefix('index');
      store = new RedisSessionStore(conn.client, { prefix, pruneBatchSize: 4 });
    });
    afterEach(async () => {
      await conn.drop(prefix);
    });
    afterAll(() => conn.client.disconnect());

    /** An anonymous session, then a login that rotates it (as the module does). */
    async function login(userId: string): Promise<string | null> {
      const r = record();
      await store.create(r);
      const newId = id();
      return (await store.update(r.id, { ...touch(), handle: r.handle, newId, login: { userId, authAt: Date.now(), remember: false } })) ? newId : null;
    }

    it('listByUser shows exactly the sessions that load and carry the user, while logins, rotations and logouts race it', async () => {
      const ids = (await Promise.all(Array.from({ length: 6 }, () => login('lister')))).filter((x): x is string => x !== null);
      const live = new Set(ids);
      /** Ids that stopped loading (destroyed, rotated away) before the moment noted. */
      const dead = new Set<string>();
      const churn = async () => {
        for (let i = 0; i < 12; i++) {
          const current = [...live][i % live.size];
          if (i % 3 === 0) {
            live.delete(current);
            await store.destroy(current);
            dead.add(current);
          } else if (i % 3 === 1) {
            const newId = id();
            live.delete(current);
            if (await store.update(current, { ...touch(), newId })) live.add(newId);
            dead.add(current);
          } else {
            const fresh = await login('lister');
            if (fresh) live.add(fresh);
          }
        }
      };
      let listings = 0;
      const lists = async () => {
        for (let i = 0; i < 12; i++) {
          const deadBefore = new Set(dead);
          const listed = await store.listByUser('lister');
          listings++;
          // Their index entries are still there (too young to drop), yet none is shown.
          expect(listed.filter((s) => deadBefore.has(s.id))).toEqual([]);
          for (const s of listed) expect(s.userId).toBe('lister');
        }
      };
      await Promise.all([churn(), lists()]);
      expect(listings).toBe(12);
      expect(dead.size).toBeGreaterThan(0);
      // Once settled: the list is exactly the live sessions.
      const final = (await store.listByUser('lister')).map((s) => s.id).sort();
      expect(final).toEqual([...live].sort());
      for (const sid of final) expect((await store.load(sid))?.userId).toBe('lister');
    });

    it('destroyByUser leaves no session that was logged in before it, and no rotation racing it survives', async () => {
      const before = (await Promise.all(Array.from({ length: 8 }, () => login('victim')))).filter((x): x is string => x !== null);
      expect(before).toHaveLength(8);
      // Rotations of the logged-in sessions and new logins, all racing the destroy.
      const rotated: (string | null)[] = [];
      const racers = [
        ...before.map(async (old) => {
          const newId = id();
          rotated.push((await store.update(old, { ...touch(), newId })) ? newId : null);
        }),
        ...Array.from({ length: 4 }, () => login('victim')),
      ];
      const destroyed = store.destroyByUser('victim');
      const results = await Promise.all([destroyed, ...racers]);
      const fresh = results.slice(1 + before.length) as (string | null)[];
      for (const old of before) expect(await store.load(old)).toBeNull();
      // A rotation of a session that existed when the destroy began never survives it.
      for (const r of rotated) if (r !== null) expect(await store.load(r)).toBeNull();
      // A login that completed meanwhile may survive (it came after), but is then listed, and ended by the next call.
      const survivors = fresh.filter((x): x is string => x !== null);
      const alive = [];
      for (const s of survivors) if (await store.load(s)) alive.push(s);
      expect((await store.listByUser('victim')).map((s) => s.id).sort()).toEqual(alive.sort());
      await store.destroyByUser('victim');
      for (const s of survivors) expect(await store.load(s)).toBeNull();
      expect(await store.listByUser('victim')).toEqual([]);
    });

    it.each(['user', 'handle'] as const)('destroy by %s follows a session that rotated between its reading the index and its destroying the old id', async (by) => {
      const r = record();
      await store.create(r);
      const x = id();
      expect(await store.update(r.id, { ...touch(), handle: r.handle, newId: x, login: { userId: 'racer', authAt: Date.now(), remember: false } })).toBe(true);
      // The destroyer reads the index (x), then its destroy of x waits while x rotates to y.
      const gated = holdingClient(conn.client, (args) => args[0] === 'EVALSHA' && args[1] === SCRIPTS.destroy.sha && args[3] === store.sessionKey(x));
      const destroyer = new RedisSessionStore(gated.client, { prefix });
      const destroying = by === 'user' ? destroyer.destroyByUser('racer') : destroyer.destroyByHandle(r.handle);
      await gated.held;
      const y = id();
      expect(await store.update(x, { ...touch(), newId: y, set: { after: true } })).toBe(true);
      expect((await store.load(y))?.data).toEqual({ after: true });
      gated.release();
      const removed = await destroying;
      expect(await store.load(y)).toBeNull();
      expect(await store.load(x)).toBeNull();
      expect(Array.isArray(removed) ? removed.map((s) => s.id) : removed?.id).toEqual(by === 'user' ? [y] : y);
    });

    it('a rotation whose old id a destroy deleted before it completed ends the new session too (the destroy wins)', async () => {
      const r = record({ userId: 'mid' });
      await store.create(r);
      const y = id();
      // On a cluster the rotation's new hash is written, then its commit waits while a destroy deletes
      // the old id; on one Redis the rotation is one script, which waits before it starts.
      const gate = target.name === 'cluster' ? SCRIPTS.commit.sha : SCRIPTS.rotate.sha;
      const gated = holdingClient(conn.client, (args) => args[0] === 'EVALSHA' && args[1] === gate);
      const rotating = new RedisSessionStore(gated.client, { prefix }).update(r.id, { ...touch(), handle: r.handle, newId: y });
      await gated.held;
      expect((await store.destroyByUser('mid')).map((s) => s.id)).toContain(r.id);
      gated.release();
      expect(await rotating).toBe(false);
      expect(await store.load(y)).toBeNull();
      expect(await store.listByUser('mid')).toEqual([]);
    });

    it('nothing resurrects: updates, rotations and destroys racing on the same sessions', async () => {
      const sessions = await Promise.all(Array.from({ length: 10 }, async () => {
        const r = record({ userId: 'res', data: { n: 0 } });
        await store.create(r);
        return r;
      }));
      const rotatedTo: string[] = [];
      await Promise.all(sessions.flatMap((r) => [
        store.destroy(r.id),
        store.update(r.id, { ...touch(), set: { n: 1 } }),
        (async () => {
          const newId = id();
          rotatedTo.push(newId);
          await store.update(r.id, { ...touch(), newId, set: { n: 2 } });
        })(),
      ]));
      await store.destroyByUser('res');
      for (const r of sessions) expect(await store.load(r.id)).toBeNull();
      for (const n of rotatedTo) expect(await store.load(n)).toBeNull();
      // Late writes to any of them are refused and create nothing.
      for (const sid of [...sessions.map((r) => r.id), ...rotatedTo]) expect(await store.update(sid, touch({ set: { back: true } }))).toBe(false);
      for (const sid of [...sessions.map((r) => r.id), ...rotatedTo]) expect(await store.load(sid)).toBeNull();
      expect((await conn.keys(prefix)).filter((k) => /\}s:/.test(k))).toEqual([]);
    });

    it('a rotation interrupted after its first step: the old id neither loads, lists nor takes writes; a destroy removes it', async () => {
      const r = record({ userId: 'halfway', data: { a: 1 } });
      await store.create(r);
      // The first step of a rotation, as a crashed instance would leave it.
      await conn.client.hset(store.sessionKey(r.id), 'm', id());
      expect(await store.load(r.id)).toBeNull();
      expect(await store.listByUser('halfway')).toEqual([]);
      expect(await store.update(r.id, touch({ set: { a: 2 } }))).toBe(false);
      expect(await store.update(r.id, touch({ newId: id() }))).toBe(false);
      expect((await store.destroyByUser('halfway')).map((s) => s.id)).toEqual([r.id]);
      expect(await conn.client.exists(store.sessionKey(r.id))).toBe(0);
    });

    it('an index entry whose session write never came is not listed, and is dropped once settled', async () => {
      const r = record({ userId: 'ghost' });
      await store.create(r);
      await conn.client.del(store.sessionKey(r.id));
      expect(await store.listByUser('ghost')).toEqual([]);
      expect(await store.destroyByUser('ghost')).toEqual([]);
      expect(await store.destroyByHandle(r.handle)).toBeNull();
    });

    it('prune by three instances at once empties every shard, reporting each session once', async () => {
      const now = Date.now();
      const expired = Array.from({ length: 120 }, () => record({ userId: 'pr', expiresAt: now - 10 }));
      const kept = Array.from({ length: 10 }, () => record({ userId: 'pr', expiresAt: now + 60_000 }));
      await Promise.all([...expired, ...kept].map((r) => store.create(r)));
      const instances = [store, new RedisSessionStore(conn.client, { prefix, pruneBatchSize: 4 }), new RedisSessionStore(conn.client, { prefix, pruneBatchSize: 4 })];
      const reported: string[] = [];
      const totals = await Promise.all(instances.map((s) => s.prune(now, (b) => reported.push(...b.map((x) => x.id)))));
      expect(totals.reduce((a, b) => a + b, 0)).toBe(120);
      expect(reported.sort()).toEqual(expired.map((r) => r.id).sort());
      for (const r of kept) expect(await store.load(r.id)).not.toBeNull();
      expect((await store.listByUser('pr')).map((s) => s.id).sort()).toEqual(kept.map((r) => r.id).sort());
      const sessionKeys = (await conn.keys(prefix)).filter((k) => /\}s:/.test(k));
      expect(sessionKeys.sort()).toEqual(kept.map((r) => store.sessionKey(r.id)).sort());
    });
  });
}

await describeRedis('RedisSessionStore: sessions written by 0.1.0', () => {
  let client: Redis;
  let prefix: string;
  beforeAll(async () => {
    client = await newRedis();
  });
  beforeEach(() => {
    prefix = testPrefix('legacy');
  });
  afterEach(async () => {
    await dropPrefix(client, prefix);
  });
  afterAll(() => client.disconnect());

  /** A session as 0.1.0 wrote it: one slot, `s:` hash, `h:` string, `u:` and `expiries` sorted sets. */
  async function write010(r: SessionRecord): Promise<void> {
    const at = r.expiresAt + 60_000;
    const fields = ['h', r.handle, 'c', String(r.createdAt), 'l', String(r.lastSeenAt), 'e', String(r.expiresAt), 'r', r.remember ? '1' : '0'];
    if (r.userId) fields.push('u', r.userId);
    if (r.authAt !== null) fields.push('a', String(r.authAt));
    for (const [k, v] of Object.entries(r.data)) fields.push(`d:${k}`, JSON.stringify(v));
    await client.hset(`${prefix}s:${r.id}`, ...fields);
    await client.pexpireat(`${prefix}s:${r.id}`, at);
    await client.set(`${prefix}h:${r.handle}`, r.id, 'PXAT', at);
    if (r.userId) await client.zadd(`${prefix}u:${r.userId}`, r.expiresAt, r.id);
    await client.zadd(`${prefix}expiries`, r.expiresAt, r.id);
  }

  it('migrateFrom010 copies them into the new layout in one step, and removes the old keys', async () => {
    const store = new RedisSessionStore(client, { prefix });
    const old = [record({ userId: 'legacy-user', authAt: Date.now(), data: { cart: ['a', 'b'], n: 3 } }), record({ data: { anonymous: true } }), record({ userId: 'legacy-user' })];
    for (const r of old) await write010(r);
    // Before: the new layout does not see them.
    expect(await store.load(old[0].id)).toBeNull();
    expect(await store.migrateFrom010()).toBe(3);
    for (const r of old) expect(await store.load(r.id)).toEqual(r);
    expect((await store.listByUser('legacy-user')).map((s) => s.id).sort()).toEqual([old[0].id, old[2].id].sort());
    expect((await store.destroyByHandle(old[1].handle))?.id).toBe(old[1].id);
    // Nothing of the old layout is left.
    expect((await keysUnder(client, prefix)).filter((k) => !/^[^{]*\{/.test(k))).toEqual([]);
    expect(await store.migrateFrom010()).toBe(0);
  });
});

await describeRedis('RedisSessionStore waitForReplica on a server without replicas', () => {
  let client: Redis;
  let prefix: string;
  beforeAll(async () => {
    client = await newRedis();
  });
  beforeEach(() => {
    prefix = testPrefix('wait');
  });
  afterEach(async () => {
    await dropPrefix(client, prefix);
  });
  afterAll(() => client.disconnect());

  it('refuses every write as unconfirmed, and a refused rotation leaves the session under its old id (no logout)', async () => {
    const plain = new RedisSessionStore(client, { prefix });
    const waiting = new RedisSessionStore(client, { prefix, waitForReplica: 5 });
    const r = record({ userId: 'w', data: { a: 1 } });
    await plain.create(r);
    await expect(waiting.update(r.id, touch({ set: { a: 2 } }))).rejects.toThrow(/no replica acknowledged the write within 5 ms/);
    const newId = id();
    await expect(waiting.update(r.id, { ...touch(), handle: r.handle, newId, login: { userId: 'w2', authAt: Date.now(), remember: false } })).rejects.toThrow(/no replica/);
    expect(await plain.load(newId)).toBeNull();
    const still = await plain.load(r.id);
    expect(still?.userId).toBe('w');
    expect(await plain.update(r.id, touch({ set: { b: 1 } }))).toBe(true);
    expect((await plain.listByUser('w')).map((s) => s.id)).toEqual([r.id]);
    expect(await plain.listByUser('w2')).toEqual([]);
    await expect(waiting.create(record())).rejects.toThrow(/no replica/);
  });
});
