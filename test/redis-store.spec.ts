import { randomBytes } from 'node:crypto';
import request from 'supertest';
import type { INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import { RedisSessionStore, SessionOptionsError, type SessionEvent, type SessionRecord } from '../src/index.js';
import { createTestApp, PLATFORMS, sessionCookie } from './support/test-app.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { closedPort, describeRedis, dropPrefix, keysUnder, newRedis, RECOMMENDED, REDIS_PORT, testPrefix } from './support/redis.js';

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

  it('on Redis Cluster, needs a hash-tagged prefix', () => {
    const fakeCluster = { isCluster: true, call: async () => null, defineCommand: () => {}, options: {} };
    expect(() => new RedisSessionStore(fakeCluster)).toThrow(/hash tag/);
    expect(() => new RedisSessionStore(fakeCluster)).toThrow(SessionOptionsError);
    expect(() => new RedisSessionStore(fakeCluster, { prefix: '{sess}:' })).not.toThrow();
  });

  it('checks its options', () => {
    const client = { call: async () => null, defineCommand: () => {}, options: {} };
    expect(() => new RedisSessionStore(client, { expiryGrace: -1 })).toThrow(/expiryGrace/);
    expect(() => new RedisSessionStore(client, { pruneBatchSize: 0 })).toThrow(/pruneBatchSize/);
    for (const bad of [{ expiryGrace: -1 }, { pruneBatchSize: 0 }, { prefix: 1 as unknown as string }]) expect(() => new RedisSessionStore(client, bad)).toThrow(SessionOptionsError);
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

  it('keeps one hash per session, one field per data key, and expires it at expiresAt + grace', async () => {
    const r = record({ data: { a: 1, b: { c: 'x' } }, userId: 'u1' });
    await store.create(r);
    const hash = await client.hgetall(`${prefix}s:${r.id}`);
    expect(hash).toMatchObject({ h: r.handle, u: 'u1', 'd:a': '1', 'd:b': '{"c":"x"}', e: String(r.expiresAt), r: '0' });
    expect(Number(await client.pexpiretime(`${prefix}s:${r.id}`))).toBe(r.expiresAt + 120_000);
    expect(await client.get(`${prefix}h:${r.handle}`)).toBe(r.id);
    expect(Number(await client.pexpiretime(`${prefix}h:${r.handle}`))).toBe(r.expiresAt + 120_000);
    expect(await client.zscore(`${prefix}u:u1`, r.id)).toBe(String(r.expiresAt));
    expect(Number(await client.pexpiretime(`${prefix}u:u1`))).toBe(r.expiresAt + 120_000);
    expect(await client.zscore(`${prefix}expiries`, r.id)).toBe(String(r.expiresAt));
    // A touch moves every TTL; the user's set never shortens.
    const later = r.expiresAt + 30_000;
    expect(await store.update(r.id, { lastSeenAt: Date.now(), expiresAt: later, set: { a: 2 } })).toBe(true);
    expect(Number(await client.pexpiretime(`${prefix}s:${r.id}`))).toBe(later + 120_000);
    expect(await client.zscore(`${prefix}expiries`, r.id)).toBe(String(later));
    const other = record({ userId: 'u1', expiresAt: Date.now() + 1000 });
    await store.create(other);
    expect(Number(await client.pexpiretime(`${prefix}u:u1`))).toBe(later + 120_000);
    expect(await client.hget(`${prefix}s:${r.id}`, 'd:a')).toBe('2');
  });

  it('rotation renames the hash and moves every index in the same step', async () => {
    const r = record({ userId: 'u2', data: { a: 1 } });
    await store.create(r);
    const newId = id();
    expect(await store.update(r.id, { lastSeenAt: Date.now(), expiresAt: r.expiresAt, newId })).toBe(true);
    expect(await client.exists(`${prefix}s:${r.id}`)).toBe(0);
    expect(await client.get(`${prefix}h:${r.handle}`)).toBe(newId);
    expect(await client.zrange(`${prefix}u:u2`, 0, -1)).toEqual([newId]);
    expect(await client.zrange(`${prefix}expiries`, 0, -1)).toEqual([newId]);
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
    expect(await keysUnder(client, `${prefix}u:`)).toEqual([]);
  });

  it('prunes in batches and drops index entries whose session Redis already expired', async () => {
    const now = Date.now();
    const expired = Array.from({ length: 8 }, () => record({ userId: 'pu', expiresAt: now - 10 }));
    for (const r of expired) await store.create(r);
    // Gone natively (e.g. past its grace) while still listed.
    await client.del(`${prefix}s:${expired[0].id}`);
    const batches: number[] = [];
    const n = await store.prune(now, (b) => batches.push(b.length));
    expect(n).toBe(7);
    expect(batches.length).toBeGreaterThan(1);
    expect(await client.zcard(`${prefix}expiries`)).toBe(0);
    expect(await store.listByUser('pu')).toEqual([]);
    expect((await keysUnder(client, prefix)).filter((k) => !k.startsWith(`${prefix}h:${expired[0].handle}`))).toEqual([]);
  });

  it('listByUser drops ids whose session is gone', async () => {
    const r = record({ userId: 'lu' });
    await store.create(r);
    await client.del(`${prefix}s:${r.id}`);
    expect(await store.listByUser('lu')).toEqual([]);
    expect(await client.exists(`${prefix}u:lu`)).toBe(0);
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
      expect(keys.sort()).toEqual([`${prefix}kp:x:expiries`, `${prefix}kp:x:h:${r.handle}`, `${prefix}kp:x:s:${r.id}`, `${prefix}kp:x:u:kp`].sort());
      expect(await s.prune(Date.now())).toBe(1);
      expect(await keysUnder(client, `${prefix}kp:`)).toEqual([]);
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

for (const platform of PLATFORMS) {
  await describeRedis(`HTTP with RedisSessionStore (${platform})`, () => {
    let client: Redis;
    let prefix: string;
    let app: INestApplication | undefined;
    beforeAll(async () => {
      client = await newRedis();
    });
    beforeEach(() => {
      prefix = testPrefix('http');
    });
    afterEach(async () => {
      await app?.close();
      app = undefined;
      await dropPrefix(client, prefix);
    });
    afterAll(() => client.disconnect());

    it('set → read → logout → gone', async () => {
      const store = new RedisSessionStore(client, { prefix });
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
      expect((await keysUnder(client, prefix)).filter((k) => !k.endsWith('expiries'))).toEqual([]);
      expect(await client.zcard(`${prefix}expiries`)).toBe(0);
    });

    it('reports a session that expired while Redis kept it for the grace', async () => {
      const events: SessionEvent[] = [];
      const store = new RedisSessionStore(client, { prefix, expiryGrace: 60_000 });
      app = await createTestApp({ platform, store, options: { idleTimeout: 300, touchInterval: 100, onEvent: (e) => void events.push(e) } });
      const server = app.getHttpServer();
      const cookie = sessionCookie(await request(server).post('/set').send({ a: 1 }))!;
      await sleep(400);
      const res = await request(server).get('/read').set('Cookie', cookie).expect(200);
      expect(res.body.a).toBeNull();
      expect(events.map((e) => e.type)).toEqual(['created', 'expired']);
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
