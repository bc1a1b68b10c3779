import { createConnection, createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
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
