import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { RedisSessionStore, type SessionRecord } from '../src/index.js';
import { SCRIPTS } from '../src/stores/redis/scripts.js';
import { clusterKeysUnder, describeRedis, describeRedisCluster, dropClusterPrefix, dropPrefix, keysUnder, newCluster, newRedis, REDIS_PORT, testPrefix } from './support/redis.js';

/*
 * What each write costs in Redis commands, so that neither path regresses silently: on one Redis
 * every write is one script (a create with its index entries, a login, a whole rotation); on a
 * cluster the index entries are written first, in their own slots, and a rotation takes its steps.
 * And the two paths write the same keys, so data written by one is read by the other.
 */

const id = () => randomBytes(32).toString('hex');
const handle = () => randomBytes(16).toString('base64url');
const touch = (over: object = {}) => ({ lastSeenAt: Date.now(), expiresAt: Date.now() + 60_000, ...over });

function record(over: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return { id: id(), handle: handle(), data: { a: 1 }, userId: null, createdAt: now, lastSeenAt: now, expiresAt: now + 60_000, authAt: null, remember: false, ...over };
}

const SCRIPT_NAMES = new Map(Object.entries(SCRIPTS).map(([name, s]) => [s.sha, name]));

/**
 * The client, recording the commands the store sends (a script by its name). The EVAL that follows a
 * NOSCRIPT answer is the same command loaded once, so it is not counted. `asCluster` makes a client
 * of one Redis look like a cluster client, so the cluster path runs against it.
 */
function recording<T extends Redis | Cluster>(client: T, asCluster = false): { client: T; sent: string[] } {
  const sent: string[] = [];
  const proxy = new Proxy(client, {
    get(target, prop) {
      if (prop === 'call') {
        return (...args: string[]) => {
          if (args[0] !== 'EVAL') sent.push(args[0] === 'EVALSHA' ? (SCRIPT_NAMES.get(args[1]) ?? 'unknown script') : args[0]);
          return (target.call as (...a: string[]) => Promise<unknown>)(...args);
        };
      }
      if (prop === 'isCluster' && asCluster) return true;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { client: proxy, sent };
}

interface Costs {
  create: string[];
  createLoggedIn: string[];
  update: string[];
  login: string[];
  rotateLogin: string[];
  rotate: string[];
}

/** The commands of each write, measured on `store` (whose client records into `sent`). */
async function measure(store: RedisSessionStore, sent: string[]): Promise<Costs> {
  const counted = async (fn: () => Promise<unknown>) => {
    sent.length = 0;
    await fn();
    return [...sent];
  };
  const r = record();
  const create = await counted(() => store.create(r));
  const createLoggedIn = await counted(() => store.create(record({ userId: 'u1', authAt: Date.now() })));
  const update = await counted(() => store.update(r.id, touch({ set: { b: 2 } })));
  const login = await counted(() => store.update(r.id, touch({ login: { userId: 'u2', authAt: Date.now(), remember: false } })));
  const x = id();
  const rotateLogin = await counted(() => store.update(r.id, touch({ newId: x, login: { userId: 'u3', authAt: Date.now(), remember: false } })));
  const anonymous = record();
  await store.create(anonymous);
  const rotate = await counted(() => store.update(anonymous.id, touch({ newId: id() })));
  // The writes took effect: the measure is of working writes.
  expect((await store.load(x))?.userId).toBe('u3');
  expect((await store.load(x))?.data).toEqual({ a: 1, b: 2 });
  expect((await store.listByUser('u3')).map((s) => s.id)).toEqual([x]);
  return { create, createLoggedIn, update, login, rotateLogin, rotate };
}

await describeRedis('RedisSessionStore on one Redis: one script per write', () => {
  let client: Redis;
  let prefix: string;
  beforeAll(async () => {
    client = await newRedis();
  });
  beforeEach(() => {
    prefix = testPrefix('budget');
  });
  afterEach(async () => {
    await dropPrefix(client, prefix);
  });
  afterAll(() => client.disconnect());

  it('create, login and rotation are one EVALSHA each (and the cluster path on the same server is not)', async () => {
    const one = recording(client);
    expect(await measure(new RedisSessionStore(one.client, { prefix }), one.sent)).toEqual({
      create: ['writeIndexed'],
      createLoggedIn: ['writeIndexed'],
      update: ['write'],
      login: ['writeIndexed'],
      rotateLogin: ['rotate'],
      rotate: ['rotate'],
    });
    // The check above cannot pass by counting nothing: the cluster path, forced on the same server, costs more.
    const forced = recording(client, true);
    expect((await measure(new RedisSessionStore(forced.client, { prefix: `${prefix}c:` }), forced.sent)).create).toEqual(['indexAdd', 'write']);
  });

  it.each([false, true])('writes the same keys and index entries as the cluster path (ioredis keyPrefix: %s)', async (withKeyPrefix) => {
    const kp = withKeyPrefix ? `${prefix}kp:` : '';
    const raw = withKeyPrefix ? await newRedis(REDIS_PORT, { keyPrefix: kp }) : client;
    try {
      // Names outside ASCII: the index keys the one-server script names must hash the same bytes.
      const r = record({ userId: 'sämé ✓', handle: `${handle()}ü` });
      const [x, y] = [id(), id()];
      const layouts: string[][] = [];
      for (const [path, asCluster] of [['one', false], ['cluster', true]] as const) {
        const p = `${prefix}${path}:`;
        const store = new RedisSessionStore(recording(raw, asCluster).client, { prefix: p });
        store.useTimeouts({ idleTimeout: 60_000, absoluteTimeout: 3_600_000 });
        await store.create({ ...r });
        await store.update(r.id, touch({ newId: x, login: { userId: 'öther 😀', authAt: Date.now(), remember: true } }));
        await store.update(x, touch({ newId: y, set: { z: 1 } }));
        const keys = (await keysUnder(client, `${kp}${p}`)).sort();
        const layout: string[] = [];
        for (const key of keys) {
          const type = await client.type(key);
          const content = type === 'hash' ? Object.keys(await client.hgetall(key)).sort() : (await client.zrange(key, 0, -1)).sort();
          // Index keys expire (the absolute timeout is known): at the same time to the second on both paths.
          const ttl = Math.round((await client.pttl(key)) / 60_000);
          layout.push(`${key.slice(kp.length + p.length)} ${type} ${content.join(',')} ${ttl}`);
        }
        layouts.push(layout);
      }
      expect(layouts[0]).toEqual(layouts[1]);
      // One handle index (three ids), the first user's (one id), the second user's (two ids).
      expect(layouts[0].filter((l) => /\}h:|\}u:/.test(l))).toHaveLength(3);
    } finally {
      if (withKeyPrefix) raw.disconnect();
    }
  });

  it('data written by one path is read, listed, rotated and destroyed by the other', async () => {
    const one = new RedisSessionStore(client, { prefix });
    const cluster = new RedisSessionStore(recording(client, true).client, { prefix });
    for (const [writer, reader] of [[one, cluster], [cluster, one]]) {
      const r = record();
      await writer.create(r);
      const x = id();
      expect(await writer.update(r.id, touch({ newId: x, login: { userId: 'mixed', authAt: Date.now(), remember: false } }))).toBe(true);
      expect((await reader.load(x))?.data).toEqual({ a: 1 });
      expect((await reader.listByUser('mixed')).map((s) => s.id)).toEqual([x]);
      const y = id();
      expect(await reader.update(x, touch({ newId: y }))).toBe(true);
      expect((await writer.listByUser('mixed')).map((s) => s.id)).toEqual([y]);
      expect((await writer.destroyByHandle(r.handle))?.id).toBe(y);
      expect(await reader.load(y)).toBeNull();
      expect(await reader.listByUser('mixed')).toEqual([]);
    }
  });
});

await describeRedisCluster('RedisSessionStore on a cluster: index entries first, rotation in steps', () => {
  let cluster: Cluster;
  let prefix: string;
  beforeAll(async () => {
    cluster = await newCluster();
    prefix = testPrefix('budget-cl');
  });
  afterAll(async () => {
    await dropClusterPrefix(cluster, prefix);
    cluster.disconnect();
  });

  it('a create costs its index entries plus the write; a rotation moveOut, index entries, write, commit', async () => {
    const rec = recording(cluster);
    expect(await measure(new RedisSessionStore(rec.client, { prefix }), rec.sent)).toEqual({
      create: ['indexAdd', 'write'],
      createLoggedIn: ['indexAdd', 'indexAdd', 'write'],
      update: ['write'],
      login: ['indexAdd', 'write'],
      rotateLogin: ['moveOut', 'indexAdd', 'indexAdd', 'write', 'commit'],
      rotate: ['moveOut', 'indexAdd', 'write', 'commit'],
    });
    expect((await clusterKeysUnder(cluster, prefix)).length).toBeGreaterThan(0);
  });
});
