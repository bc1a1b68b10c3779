import { createConnection, createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { REQUIRED } from './databases.js';

/** TEST_REDIS_PORT moves it (and shows the skip path). */
export const REDIS_PORT = Number(process.env.TEST_REDIS_PORT ?? 6379);

/** The settings the README recommends: a Redis outage fails a request at once instead of queueing it. */
export const RECOMMENDED: RedisOptions = { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 };

let cached: Promise<string | undefined> | undefined;

/** Why Redis cannot be used here; undefined when it can. */
export function redisMissing(): Promise<string | undefined> {
  return (cached ??= new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port: REDIS_PORT, timeout: 1000 });
    socket.once('connect', () => (socket.destroy(), resolve(undefined)));
    socket.once('timeout', () => (socket.destroy(), resolve(`redis is not reachable on 127.0.0.1:${REDIS_PORT}`)));
    socket.once('error', () => resolve(`redis is not reachable on 127.0.0.1:${REDIS_PORT}`));
  }));
}

/**
 * describe() when Redis answers. Otherwise skipped with a loud warning, or, with
 * REQUIRE_DATABASES=1, failing with the reason (as describeEngines does for the SQL engines).
 */
export async function describeRedis(title: string, body: () => void): Promise<void> {
  const missing = await redisMissing();
  if (missing === undefined) describe(`${title} [redis]`, body);
  else if (REQUIRED) {
    describe(`${title} [redis]`, () => {
      it('needs redis', () => {
        throw new Error(`REQUIRE_DATABASES is set but ${missing}`);
      });
    });
  } else {
    console.warn(`\n!!! SKIPPED: "${title}" on redis: ${missing}. Set REQUIRE_DATABASES=1 to make this a failure.\n`);
    describe.skip(`${title} [redis] (skipped: ${missing})`, body);
  }
}

/** A prefix of the test's own: others run tests on the same server at the same time. */
export function testPrefix(name: string): string {
  return `test:${name}:${randomBytes(6).toString('hex')}:`;
}

/** An ioredis client with the recommended settings, connected. */
export async function newRedis(port = REDIS_PORT, extra: RedisOptions = {}): Promise<Redis> {
  const client = new Redis({ host: '127.0.0.1', port, ...RECOMMENDED, lazyConnect: true, ...extra });
  await client.connect();
  return client;
}

/** Every key under a prefix (SCAN, for tests only). */
export async function keysUnder(client: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

export async function dropPrefix(client: Redis, prefix: string): Promise<void> {
  const keys = await keysUnder(client, prefix);
  for (let i = 0; i < keys.length; i += 500) await client.del(...keys.slice(i, i + 500));
}

/** A port on which nothing listens. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The local cluster of scripts/redis-cluster.sh: REDIS_CLUSTER_BASE..+5 (masters first). */
export const CLUSTER_BASE = Number(process.env.REDIS_CLUSTER_BASE ?? 7000);
export const CLUSTER_PORTS = Array.from({ length: 6 }, (_, i) => CLUSTER_BASE + i);

/**
 * The recommended ioredis Cluster settings: a shard that is down fails its requests at once (503)
 * and the slot map is refreshed promptly after a failover.
 */
export const RECOMMENDED_CLUSTER: ClusterOptions = {
  enableOfflineQueue: false,
  // (The cluster's enableOfflineQueue applies to its node connections too.)
  redisOptions: { maxRetriesPerRequest: 1, connectTimeout: 2000 },
  slotsRefreshTimeout: 2000,
  slotsRefreshInterval: 1000,
  retryDelayOnFailover: 100,
  retryDelayOnClusterDown: 100,
  retryDelayOnTryAgain: 100,
  maxRedirections: 3,
};

let clusterCached: Promise<string | undefined> | undefined;

/** Why the local cluster cannot be used here; undefined when every node answers cluster_state:ok. */
export function clusterMissing(): Promise<string | undefined> {
  return (clusterCached ??= (async () => {
    const where = `127.0.0.1:${CLUSTER_BASE}-${CLUSTER_BASE + 5}`;
    for (const port of CLUSTER_PORTS) {
      const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
      client.on('error', () => {});
      try {
        await client.connect();
        const info = String(await client.call('CLUSTER', 'INFO'));
        if (!/cluster_state:ok/.test(info)) return `the redis cluster on ${where} is not ok (node ${port}); run bash scripts/redis-cluster.sh start`;
      } catch {
        return `no redis cluster on ${where} (run bash scripts/redis-cluster.sh start)`;
      } finally {
        client.disconnect();
      }
    }
    return undefined;
  })());
}

/** describeRedis for the local Redis Cluster: skipped loudly, or failing under REQUIRE_DATABASES=1. */
export async function describeRedisCluster(title: string, body: () => void): Promise<void> {
  const missing = await clusterMissing();
  if (missing === undefined) describe(`${title} [redis cluster]`, body);
  else if (REQUIRED) {
    describe(`${title} [redis cluster]`, () => {
      it('needs the redis cluster', () => {
        throw new Error(`REQUIRE_DATABASES is set but ${missing}`);
      });
    });
  } else {
    console.warn(`\n!!! SKIPPED: "${title}" on the redis cluster: ${missing}. Set REQUIRE_DATABASES=1 to make this a failure.\n`);
    describe.skip(`${title} [redis cluster] (skipped: ${missing})`, body);
  }
}

/** An ioredis Cluster over the local cluster, with the recommended settings, connected. */
export async function newCluster(extra: ClusterOptions = {}): Promise<Cluster> {
  const cluster = new Cluster([{ host: '127.0.0.1', port: CLUSTER_BASE }], { ...RECOMMENDED_CLUSTER, lazyConnect: true, ...extra });
  cluster.on('error', () => {});
  await cluster.connect();
  return cluster;
}

/** Every key under a prefix on every master of a cluster (tests only). */
export async function clusterKeysUnder(cluster: Cluster, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for (const node of cluster.nodes('master')) keys.push(...(await keysUnder(node, prefix)));
  return keys;
}

export async function dropClusterPrefix(cluster: Cluster, prefix: string): Promise<void> {
  for (const node of cluster.nodes('master')) {
    // One DEL per key (the keys of one call must share a slot), pipelined.
    const keys = await keysUnder(node, prefix);
    for (let i = 0; i < keys.length; i += 1000) await node.pipeline(keys.slice(i, i + 1000).map((k) => ['del', k])).exec();
  }
}

/**
 * The same ioredis client, except that the first command matching `hold` waits until release():
 * races are set up from observed events instead of sleeps.
 */
export function holdingClient<T extends Redis | Cluster>(client: T, hold: (args: string[]) => boolean): { client: T; held: Promise<void>; release(): void } {
  let onHeld!: () => void;
  let onRelease!: () => void;
  const held = new Promise<void>((r) => (onHeld = r));
  const released = new Promise<void>((r) => (onRelease = r));
  let done = false;
  const proxy = new Proxy(client, {
    get(target, prop) {
      if (prop === 'call') {
        return async (...args: string[]) => {
          if (!done && hold(args.map(String))) {
            done = true;
            onHeld();
            await released;
          }
          return (target.call as (...a: string[]) => Promise<unknown>)(...args);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { client: proxy, held, release: onRelease };
}
