import type { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { RedisSessionStore } from '../src/index.js';
import { createTestApp, PLATFORMS } from './support/test-app.js';
import { Client } from './support/http.js';
import { describeRedis, dropPrefix, keysUnder, newRedis, testPrefix } from './support/redis.js';

/*
 * How long an ended session's keys stay in Redis: the store cannot know the module's idleTimeout
 * when the application constructs it, so the module tells it once at start-up.
 */

const MINUTE = 60_000;

await describeRedis('RedisSessionStore expiry grace', () => {
  let client: Redis;
  const prefixes: string[] = [];
  beforeAll(async () => {
    client = await newRedis();
  });
  afterAll(async () => {
    for (const p of prefixes) await dropPrefix(client, p);
    client.disconnect();
  });
  const newPrefix = () => {
    const p = testPrefix('grace');
    prefixes.push(p);
    return p;
  };

  /** The TTL of the session hash after one write over HTTP (its handle's index holds only ids: it lives until the absolute timeout). */
  async function ttlsAfterWrite(platform: (typeof PLATFORMS)[number], store: RedisSessionStore, prefix: string, idleTimeout: number): Promise<number[]> {
    const app = await createTestApp({ platform, store, options: { idleTimeout, pruneInterval: 0 } });
    try {
      expect((await new Client(app).post('/set', { a: 1 })).status).toBe(200);
      const keys = (await keysUnder(client, prefix)).filter((k) => /^[^{]*\{[0-9a-f]+\}s:/.test(k));
      expect(keys).toHaveLength(1);
      return Promise.all(keys.map((k) => client.pttl(k)));
    } finally {
      await app.close();
    }
  }

  it.each(PLATFORMS)('defaults to the idle timeout, never 30 minutes past a shorter one (%s)', async (platform) => {
    const prefix = newPrefix();
    const ttls = await ttlsAfterWrite(platform, new RedisSessionStore(client, { prefix }), prefix, MINUTE);
    // Expiry is at most one idle timeout away, and the grace adds at most one more.
    for (const ttl of ttls) {
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(2 * MINUTE);
    }
  });

  it.each(PLATFORMS)('an explicit expiryGrace still wins (%s)', async (platform) => {
    const prefix = newPrefix();
    const ttls = await ttlsAfterWrite(platform, new RedisSessionStore(client, { prefix, expiryGrace: 5_000 }), prefix, 10 * MINUTE);
    for (const ttl of ttls) {
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(10 * MINUTE + 5_000);
    }
    const longer = newPrefix();
    const kept = await ttlsAfterWrite(platform, new RedisSessionStore(client, { prefix: longer, expiryGrace: 60 * MINUTE }), longer, MINUTE);
    for (const ttl of kept) expect(ttl).toBeGreaterThan(60 * MINUTE);
  });

  it('is decided once: a second module with another idle timeout is refused at start-up', async () => {
    const prefix = newPrefix();
    const store = new RedisSessionStore(client, { prefix });
    store.useTimeouts({ idleTimeout: MINUTE, absoluteTimeout: 60 * MINUTE });
    store.useTimeouts({ idleTimeout: MINUTE, absoluteTimeout: 2 * 60 * MINUTE });
    expect(() => store.useTimeouts({ idleTimeout: 2 * MINUTE, absoluteTimeout: 60 * MINUTE })).toThrow(
      /RedisSessionStore's expiry grace is already 60000 ms.*idleTimeout 120000.*expiryGrace/,
    );
    await expect(createTestApp({ store, options: { idleTimeout: 2 * MINUTE } })).rejects.toThrow(/expiry grace is already 60000 ms/);
    // With an explicit grace the idle timeouts do not matter.
    const fixed = new RedisSessionStore(client, { prefix, expiryGrace: 1000 });
    fixed.useTimeouts({ idleTimeout: MINUTE, absoluteTimeout: MINUTE });
    expect(() => fixed.useTimeouts({ idleTimeout: 2 * MINUTE, absoluteTimeout: 2 * MINUTE })).not.toThrow();
  });

  it('used before any module told it: 30 minutes, then fixed', async () => {
    const prefix = newPrefix();
    const store = new RedisSessionStore(client, { prefix });
    const now = Date.now();
    const id = randomBytes(32).toString('hex');
    await store.create({ id, handle: randomBytes(16).toString('base64url'), data: {}, userId: null, createdAt: now, lastSeenAt: now, expiresAt: now + 1000, authAt: null, remember: false });
    const ttl = await client.pttl(store.sessionKey(id));
    expect(ttl).toBeGreaterThan(30 * MINUTE - 10_000);
    expect(ttl).toBeLessThanOrEqual(30 * MINUTE + 1000);
    expect(() => store.useTimeouts({ idleTimeout: MINUTE, absoluteTimeout: MINUTE })).toThrow(/already 1800000 ms/);
    expect(() => store.useTimeouts({ idleTimeout: 30 * MINUTE, absoluteTimeout: 60 * MINUTE })).not.toThrow();
  });

  it('refuses a timeout that is not a positive duration', () => {
    const store = new RedisSessionStore(client, { prefix: newPrefix() });
    expect(() => store.useTimeouts({ idleTimeout: -1, absoluteTimeout: 1 })).toThrow(/idleTimeout/);
    expect(() => store.useTimeouts(undefined as never)).toThrow(/idleTimeout/);
  });
});
