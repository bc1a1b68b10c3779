import { randomBytes } from 'node:crypto';
import request from 'supertest';
import type { INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import { RedisSessionStore, SessionOptionsError, type SessionEvent, type SessionRecord } from '../src/index.js';
import { createTestApp, gate, PLATFORMS, sessionCookie } from './support/test-app.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { createCluster } from 'redis';
import { Client } from './support/http.js';
import { CLUSTER_BASE, closedPort, clusterKeysUnder, describeRedis, describeRedisCluster, dropClusterPrefix, dropPrefix, keysUnder, newCluster, newRedis, RECOMMENDED, REDIS_PORT, testPrefix } from './support/redis.js';

const id = () => randomBytes(32).toString('hex');
const handle = () => randomBytes(16).toString('base64url');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function record(over: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return { id: id(), handle: handle(), data: {}, userId: null, createdAt: now, lastSeenAt: now, expiresAt: now + 60_000, authAt: null, remember: false, ...over };
}

describe('RedisSessionStore construction', () => {
  it('refuses what is not a Redis client', () => {
    expect(() => new RedisSessionStore({})).toThrow(/ioredis client/);
    expect(() => new RedisSessionStore(null)).toThrow(/ioredis client/);
    expect(() => new RedisSessionStore({})).toThrow(SessionOptionsError);
  });

  it('refuses a prefix that would choose the slot itself (a hash tag), on a cluster as on one Redis', () => {
    const fakeCluster = { isCluster: true, call: async () => null, defineCommand: () => {}, pipeline: () => null, options: {} };
    expect(() => new RedisSessionStore(fakeCluster, { prefix: '{sess}:' })).toThrow(/must not hold '\{' or '\}'.*'sess:'/);
    expect(() => new RedisSessionStore(fakeCluster, { prefix: '{sess}:' })).toThrow(SessionOptionsError);
    expect(() => new RedisSessionStore({ ...fakeCluster, options: { keyPrefix: 'app{x}:' } })).toThrow(/app\{x\}:sess:/);
    expect(() => new RedisSessionStore(fakeCluster)).not.toThrow();
    expect(() => new RedisSessionStore({ sendCommand: async () => null, connect: async () => {}, masters: [] })).not.toThrow();
  });

  it('checks its options', () => {
    const client = { call: async () => null, defineCommand: () => {}, pipeline: () => null, options: {} };
    expect(() => new RedisSessionStore(client, { expiryGrace: -1 })).toThrow(/expiryGrace/);
    expect(() => new RedisSessionStore(client, { pruneBatchSize: 0 })).toThrow(/pruneBatchSize/);
    for (const waitForReplica of [0, -5, 1.5, NaN]) expect(() => new RedisSessionStore(client, { waitForReplica })).toThrow(/waitForReplica/);
    for (const bad of [{ expiryGrace: -1 }, { pruneBatchSize: 0 }, { prefix: 1 as unknown as string }, { waitForReplica: 0 }]) expect(() => new RedisSessionStore(client, bad)).toThrow(SessionOptionsError);
    expect(() => new RedisSessionStore(client, { encryptionKeys: ['short'] })).toThrow(/32 characters/);
  });

  it('rejects at once when Redis cannot be reached (recommended client settings)', async () => {
    const client = new Redis({ host: '127.0.0.1', port: await closedPort(), ...RECOMMENDED, retryStrategy: () => null, disconnectTimeout: 50 });
    client.on('error', () => {});
    try {
      const store = new RedisSessionStore(client, { prefix: testPrefix('down') });
      const started = Date.now();
      await expect(store.load(id())).rejects.toThrow();
      await expect(store.update(id(), { lastSeenAt: 1, expiresAt: 2 })).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(500);
    } finally {
      client.disconnect();
    }
  });
});

await describeRedis('RedisSessionStore', () => {
  let client: Redis;
  let prefix: string;
  let store: RedisSessionStore;
  beforeAll(async () => {
    client = await newRedis();
  });
  beforeEach(() => {
    prefix = testPrefix('redis');
    store = new RedisSessionStore(client, { prefix, expiryGrace: 120_000, pruneBatchSize: 3 });
  });
  afterEach(async () => {
    await dropPrefix(client, prefix);
  });
  afterAll(() => client.disconnect());

  /** A key of the layout: the prefix, a bucket's hash tag, then the name. */
  const layoutKey = (name: RegExp) => new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\{[0-9a-f]{1,3}\\}${name.source}$`);

  it('keeps one hash per session in a bucket of its own, expiring at expiresAt + grace, and indexes written first', async () => {
    const r = record({ data: { a: 1, b: { c: 'x' } }, userId: 'u1' });
    await store.create(r);
    const key = store.sessionKey(r.id);
    expect(key).toMatch(layoutKey(new RegExp(`s:${r.id}`)));
    const hash = await client.hgetall(key);
    expect(hash).toMatchObject({ h: r.handle, u: 'u1', 'd:a': '1', 'd:b': '{"c":"x"}', e: String(r.expiresAt), r: '0' });
    expect(Number(await client.pexpiretime(key))).toBe(r.expiresAt + 120_000);
    const keys = await keysUnder(client, prefix);
    const find = (name: RegExp) => keys.filter((k) => layoutKey(name).test(k));
    // The bucket's expiry set shares the hash's tag, so that one script writes both.
    const [expiries] = find(/e/);
    expect(expiries.slice(0, expiries.length - 1)).toBe(key.slice(0, key.indexOf('}') + 1));
    expect(await client.zscore(expiries, r.id)).toBe(String(r.expiresAt));
    const [handleIndex] = find(new RegExp(`h:${r.handle}`));
    const [userIndex] = find(/u:u1/);
    expect(await client.zrange(handleIndex, 0, -1)).toEqual([r.id]);
    expect(await client.zrange(userIndex, 0, -1)).toEqual([r.id]);
    // A touch moves the hash's TTL and its expiry score.
    const later = r.expiresAt + 30_000;
    expect(await store.update(r.id, { lastSeenAt: Date.now(), expiresAt: later, set: { a: 2 } })).toBe(true);
    expect(Number(await client.pexpiretime(key))).toBe(later + 120_000);
    expect(await client.zscore(expiries, r.id)).toBe(String(later));
    expect(await client.hget(key, 'd:a')).toBe('2');
  });

  it('the indexes live as long as the absolute timeout allows a session to, and hold only ids', async () => {
    store.useTimeouts({ idleTimeout: 60_000, absoluteTimeout: 600_000 });
    const r = record({ userId: 'ttl-user', data: { secret: 'x' } });
    await store.create(r);
    for (const k of (await keysUnder(client, prefix)).filter((k) => /\}(h|u):/.test(k))) {
      expect(Number(await client.pexpiretime(k))).toBe(r.createdAt + 600_000 + 120_000);
      expect(JSON.stringify(await client.zrange(k, 0, -1))).not.toContain('secret');
    }
  });

  it('rotation moves the hash to the new id\u2019s bucket and indexes the new id', async () => {
    const r = record({ userId: 'u2', data: { a: 1 } });
    await store.create(r);
    const newId = id();
    expect(await store.update(r.id, { lastSeenAt: Date.now(), expiresAt: r.expiresAt, newId })).toBe(true);
    expect(await client.exists(store.sessionKey(r.id))).toBe(0);
    expect(await client.hget(store.sessionKey(newId), 'd:a')).toBe('1');
    expect((await store.listByUser('u2')).map((s) => s.id)).toEqual([newId]);
    expect((await store.destroyByHandle(r.handle))?.id).toBe(newId);
    // Only index entries are left, too young to be judged stale; no session data.
    expect((await keysUnder(client, prefix)).filter((k) => !/\}(h|u):/.test(k))).toEqual([]);
  });

  it('keeps an expired session for its grace, so a load can still report it', async () => {
    const r = record({ expiresAt: Date.now() - 1000 });
    await store.create(r);
    expect((await store.load(r.id))?.handle).toBe(r.handle);
    // Past the grace, Redis has dropped it by itself.
    const noGrace = new RedisSessionStore(client, { prefix, expiryGrace: 0 });
    const gone = record({ expiresAt: Date.now() - 1000, userId: 'u3' });
    await noGrace.create(gone);
    expect(await noGrace.load(gone.id)).toBeNull();
    expect((await keysUnder(client, prefix)).filter((k) => k.includes('}u:'))).toEqual([]);
  });

  it('prunes in batches and drops expiry entries whose session Redis already expired', async () => {
    const now = Date.now();
    const expired = Array.from({ length: 8 }, () => record({ userId: 'pu', expiresAt: now - 10 }));
    for (const r of expired) await store.create(r);
    // Gone natively (e.g. past its grace) while still listed.
    await client.del(store.sessionKey(expired[0].id));
    const seen: string[] = [];
    const n = await store.prune(now, (b) => {
      expect(b.length).toBeLessThanOrEqual(3);
      seen.push(...b.map((s) => s.id));
    });
    expect(n).toBe(7);
    expect(seen.sort()).toEqual(expired.slice(1).map((r) => r.id).sort());
    expect(await store.listByUser('pu')).toEqual([]);
    expect((await keysUnder(client, prefix)).filter((k) => /\}(s:|e$)/.test(k))).toEqual([]);
  });

  it('a batch past pruneBatchSize in one bucket takes several scripts', async () => {
    const now = Date.now();
    // Ids of one bucket: the batch limit applies per bucket.
    const target = store.sessionKey('x').match(/\{[0-9a-f]+\}/)![0];
    const ids: string[] = [];
    for (let i = 0; ids.length < 7; i++) if (store.sessionKey(`same-${i}`).includes(target)) ids.push(`same-${i}`);
    for (const sid of ids) await store.create(record({ id: sid, expiresAt: now - 10 }));
    const batches: number[] = [];
    expect(await store.prune(now, (b) => batches.push(b.length))).toBe(7);
    expect(batches.sort()).toEqual([1, 3, 3]);
  });

  it('listByUser shows only sessions that load; drops entries once they are settled', async () => {
    const r = record({ userId: 'lu' });
    await store.create(r);
    await client.del(store.sessionKey(r.id));
    expect(await store.listByUser('lu')).toEqual([]);
    const index = (await keysUnder(client, prefix)).find((k) => k.endsWith('}u:lu'))!;
    // Too young to be judged: the write it announced may still come.
    expect(await client.zcard(index)).toBe(1);
    await client.zadd(index, Date.now() - 60_000, r.id);
    expect(await store.listByUser('lu')).toEqual([]);
    expect(await client.exists(index)).toBe(0);
  });

  it('works under an ioredis keyPrefix', async () => {
    const prefixed = await newRedis(REDIS_PORT, { keyPrefix: `${prefix}kp:` });
    try {
      const s = new RedisSessionStore(prefixed, { prefix: 'x:' });
      const r = record({ userId: 'kp', data: { a: 1 }, expiresAt: Date.now() - 5 });
      await s.create(r);
      expect((await s.load(r.id))?.data).toEqual({ a: 1 });
      expect((await s.listByUser('kp')).map((x) => x.id)).toEqual([r.id]);
      const keys = await keysUnder(client, `${prefix}kp:x:`);
      expect(keys).toContain(`${prefix}kp:${s.sessionKey(r.id)}`);
      expect(keys).toHaveLength(4);
      expect(await s.prune(Date.now())).toBe(1);
      expect((await keysUnder(client, `${prefix}kp:`)).filter((k) => /\}(s:|e$)/.test(k))).toEqual([]);
    } finally {
      prefixed.disconnect();
    }
  });

  it('keeps large patches within Lua limits (3000 keys in one write)', async () => {
    const r = record();
    await store.create(r);
    const set: Record<string, number> = {};
    for (let i = 0; i < 3000; i++) set[`k${i}`] = i;
    expect(await store.update(r.id, { lastSeenAt: Date.now(), expiresAt: r.expiresAt, set })).toBe(true);
    expect(Object.keys((await store.load(r.id))!.data)).toHaveLength(3000);
    expect(await store.update(r.id, { lastSeenAt: Date.now(), expiresAt: r.expiresAt, unset: Object.keys(set) })).toBe(true);
    expect((await store.load(r.id))!.data).toEqual({});
  });
});

/** Where the HTTP suite runs: one Redis, and the cluster (ioredis Cluster and node-redis createCluster). */
interface HttpTarget {
  name: string;
  describe: (title: string, body: () => void) => Promise<void>;
  open(): Promise<{ client: unknown; keys(prefix: string): Promise<string[]>; drop(prefix: string): Promise<void>; close(): Promise<void> }>;
}
const httpTargets: HttpTarget[] = [
  {
    name: 'ioredis',
    describe: describeRedis,
    async open() {
      const client = await newRedis();
      return { client, keys: (p) => keysUnder(client, p), drop: (p) => dropPrefix(client, p), close: async () => client.disconnect() };
    },
  },
  {
    name: 'ioredis Cluster',
    describe: describeRedisCluster,
    async open() {
      const client = await newCluster();
      return { client, keys: (p) => clusterKeysUnder(client, p), drop: (p) => dropClusterPrefix(client, p), close: async () => client.disconnect() };
    },
  },
  {
    name: 'node-redis createCluster',
    describe: describeRedisCluster,
    async open() {
      const client = createCluster({ rootNodes: [{ socket: { host: '127.0.0.1', port: CLUSTER_BASE } }], defaults: { socket: { reconnectStrategy: false }, disableOfflineQueue: true } });
      client.on('error', () => {});
      await client.connect();
      const admin = await newCluster();
      return {
        client,
        keys: (p) => clusterKeysUnder(admin, p),
        drop: (p) => dropClusterPrefix(admin, p),
        close: async () => {
          admin.disconnect();
          await client.close();
        },
      };
    },
  },
];

for (const target of httpTargets) {
  for (const platform of PLATFORMS) {
    await target.describe(`HTTP with RedisSessionStore on ${target.name} (${platform})`, () => {
      let conn: Awaited<ReturnType<HttpTarget['open']>>;
      let prefix: string;
      let app: INestApplication | undefined;
      beforeAll(async () => {
        conn = await target.open();
      });
      beforeEach(() => {
        prefix = testPrefix('http');
      });
      afterEach(async () => {
        await app?.close();
        app = undefined;
        await conn.drop(prefix);
      });
      afterAll(() => conn.close());

      it('set → read → logout → gone', async () => {
        const store = new RedisSessionStore(conn.client, { prefix });
        app = await createTestApp({ platform, store });
        const server = app.getHttpServer();
        const login = await request(server).post('/login/alice').send({});
        const cookie = sessionCookie(login)!;
        expect(cookie).toBeDefined();
        await request(server).post('/set').set('Cookie', cookie).send({ a: 'x', b: { n: 1 } }).expect(200);
        const read = await request(server).get('/read').set('Cookie', cookie).expect(200);
        expect(read.body).toMatchObject({ a: 'x', b: { n: 1 } });
        expect(await store.listByUser('alice')).toHaveLength(1);
        const logout = await request(server).post('/logout').set('Cookie', cookie).expect(200);
        expect(String(logout.headers['set-cookie'])).toMatch(/Max-Age=0/);
        const after = await request(server).get('/read').set('Cookie', cookie).expect(200);
        expect(after.body).toMatchObject({ a: null, b: null });
        // No session hash left, no expiry entry: only index entries, too young to be judged stale.
        expect((await conn.keys(prefix)).filter((k) => !/\}(h|u):/.test(k))).toEqual([]);
        expect(await store.listByUser('alice')).toEqual([]);
      });

      it('reports a session that expired while Redis kept it for the grace', async () => {
        const events: SessionEvent[] = [];
        const store = new RedisSessionStore(conn.client, { prefix, expiryGrace: 60_000 });
        app = await createTestApp({ platform, store, options: { idleTimeout: 300, touchInterval: 100, onEvent: (e) => void events.push(e) } });
        const server = app.getHttpServer();
        const cookie = sessionCookie(await request(server).post('/set').send({ a: 1 }))!;
        await sleep(400);
        const res = await request(server).get('/read').set('Cookie', cookie).expect(200);
        expect(res.body.a).toBeNull();
        expect(events.map((e) => e.type)).toEqual(['created', 'expired']);
      });

      it('concurrent writes to different keys are all kept; logout and rotation win over writes in flight', async () => {
        const store = new RedisSessionStore(conn.client, { prefix });
        app = await createTestApp({ platform, store });
        const server = app.getHttpServer();
        const cookie = sessionCookie(await request(server).post('/set').send({ a: 0 }).expect(200))!;
        await Promise.all(Array.from({ length: 10 }, (_, i) => request(server).post('/set').set('Cookie', cookie).send({ [`k${i}`]: i }).expect(200)));
        const read = await request(server).get('/get/k9').set('Cookie', cookie).expect(200);
        expect(read.body).toEqual({ value: 9, has: true });
        // A write that loaded the session before a login rotated it: the old id stays gone.
        const g1 = gate();
        const late = request(server).post(`/set-gated/${g1.name}`).set('Cookie', cookie).send({ late: true }).then((r) => r);
        await g1.entered;
        const loggedIn = sessionCookie(await request(server).post('/login/carol').set('Cookie', cookie).send({}).expect(200))!;
        g1.release();
        expect(sessionCookie(await late)).toBeUndefined();
        expect((await request(server).get('/get/late').set('Cookie', cookie).expect(200)).body).toEqual({ value: null, has: false });
        expect((await request(server).get('/whoami').set('Cookie', loggedIn).expect(200)).body).toEqual({ userId: 'carol' });
        // A write in flight when the user logs out: never brought back.
        const g2 = gate();
        const late2 = request(server).post(`/set-gated/${g2.name}`).set('Cookie', loggedIn).send({ late: true }).then((r) => r);
        await g2.entered;
        await request(server).post('/logout').set('Cookie', loggedIn).expect(200);
        g2.release();
        expect((await late2).status).toBe(200);
        expect(sessionCookie(await late2)).toBeUndefined();
        expect((await request(server).get('/whoami').set('Cookie', loggedIn).expect(200)).body).toEqual({ userId: null });
        expect(await store.listByUser('carol')).toEqual([]);
        expect((await conn.keys(prefix)).filter((k) => /\}s:/.test(k))).toEqual([]);
      });

      it('lists, ends others, ends one by handle, and holds maxSessionsPerUser', async () => {
        const store = new RedisSessionStore(conn.client, { prefix });
        app = await createTestApp({ platform, store, options: { maxSessionsPerUser: 3 } });
        const clients = Array.from({ length: 5 }, () => new Client(app!));
        for (const c of clients) {
          expect((await c.post('/login/bob')).status).toBe(200);
          expect((await c.post('/cart/x')).status).toBe(200);
        }
        // The two oldest logins were ended; each listed session still loads.
        const listed = (await clients[4].get('/sessions')).body as { handle: string }[];
        expect(listed).toHaveLength(3);
        const who = await Promise.all(clients.map(async (c) => (await c.get('/whoami')).body.userId));
        expect(who).toEqual([null, null, 'bob', 'bob', 'bob']);
        const other = listed.find((s) => s.handle !== listed[0].handle)!;
        expect((await clients[4].delete(`/sessions/${other.handle}`)).status).toBe(200);
        expect((await clients[4].get('/sessions')).body).toHaveLength(2);
        expect((await clients[4].post('/sessions/end-others')).status).toBe(200);
        expect((await clients[4].get('/sessions')).body).toHaveLength(1);
        expect((await Promise.all(clients.map(async (c) => (await c.get('/whoami')).body.userId)))).toEqual([null, null, null, null, 'bob']);
        expect((await clients[4].get('/cart')).body).toEqual({ items: ['x'] });
      });
    });
  }
}

for (const platform of PLATFORMS) {
  await describeRedis(`HTTP with RedisSessionStore: outages (${platform})`, () => {
    let prefix: string;
    let app: INestApplication | undefined;
    beforeEach(() => {
      prefix = testPrefix('http');
    });
    afterEach(async () => {
      await app?.close();
      app = undefined;
    });

    it('answers 503 when Redis cannot be reached, serves routes that need no session', async () => {
      const down = new Redis({ host: '127.0.0.1', port: await closedPort(), ...RECOMMENDED, retryStrategy: () => null, disconnectTimeout: 50 }); // ioredis leaves a disconnectTimeout timer after a refused connect
      down.on('error', () => {});
      try {
        app = await createTestApp({ platform, store: new RedisSessionStore(down, { prefix }) });
        const server = app.getHttpServer();
        const started = Date.now();
        await request(server).post('/set').send({ a: 1 }).expect(503);
        await request(server).get('/public').expect(200);
        expect(Date.now() - started).toBeLessThan(1000);
      } finally {
        down.disconnect();
      }
    });

    it('recovers by itself when Redis is back', async () => {
      const proxy = new TcpProxy(REDIS_PORT);
      await proxy.start();
      const viaProxy = new Redis({ host: '127.0.0.1', port: proxy.port, ...RECOMMENDED, retryStrategy: () => 100, lazyConnect: true });
      viaProxy.on('error', () => {});
      // With the offline queue off, a command sent before the first connection fails: connect first.
      await viaProxy.connect();
      try {
        app = await createTestApp({ platform, store: new RedisSessionStore(viaProxy, { prefix }) });
        const server = app.getHttpServer();
        const cookie = sessionCookie(await request(server).post('/set').send({ a: 'before' }).expect(200))!;
        proxy.cut('refuse');
        await request(server).get('/read').set('Cookie', cookie).expect(503);
        await request(server).get('/public').expect(200);
        proxy.restore();
        let status = 0;
        let body: Record<string, unknown> = {};
        for (let i = 0; i < 50 && status !== 200; i++) {
          await sleep(100);
          const res = await request(server).get('/read').set('Cookie', cookie);
          status = res.status;
          body = res.body;
        }
        expect(status).toBe(200);
        expect(body.a).toBe('before');
      } finally {
        viaProxy.disconnect();
        await proxy.close();
      }
    });
  });
}
