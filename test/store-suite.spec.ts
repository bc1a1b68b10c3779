import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Redis } from 'ioredis';
import { createClient, createCluster } from 'redis';
import { MemorySessionStore, RedisSessionStore, TypeOrmSessionStore, type SessionPatch, type SessionRecord, type SessionStore as SessionStoreContractOnly, type UserIndexedSessionStore as SessionStore } from '../src/index.js';
import { describeSessionStore } from '../src/testing.js';
import { databaseTargets, openStore, REQUIRED, type Engine } from './support/databases.js';
import { CLUSTER_BASE, clusterKeysUnder, clusterMissing, dropClusterPrefix, dropPrefix, keysUnder, newCluster, newRedis, REDIS_PORT, redisMissing, testPrefix } from './support/redis.js';

/*
 * The store conformance suite (nestjs-lazy-session/testing, as store authors run it), run against
 * every store: memory, the SQL engines, Redis (over ioredis and node-redis); and, here only, the SQL
 * and Redis stores with encryption at rest.
 */

/** Small, so that the conformance suite's batch check runs prune over several batches. */
const PRUNE_BATCH = 5;

const KEY_A = 'encryption-key-A-0123456789abcdefghijklmnop';
const KEY_B = 'encryption-key-B-0123456789abcdefghijklmnop';

/** Direct access to what a store wrote, for the encryption tests. */
interface Raw {
  /** Everything stored for the session, as text. */
  dump(id: string): Promise<string>;
  /** Another store over the same rows/keys, with other encryption keys. */
  reopen(encryptionKeys: string[] | undefined): SessionStore;
}

interface Opened {
  store: SessionStore;
  raw?: Raw;
  close(): Promise<void>;
}

interface Target {
  name: string;
  encrypted: boolean;
  pruneBatchSize?: number;
  missing?: string;
  open?: () => Promise<Opened>;
}

const tableCounter = { n: 0 };
const tableName = (engine: Engine) => `store_suite_${engine}_${process.pid}_${++tableCounter.n}`;

function sqlTarget(engine: Engine, encrypted: boolean, missing: string | undefined): Target {
  return {
    name: `${engine}${encrypted ? ' +encryption' : ''}`,
    encrypted,
    pruneBatchSize: PRUNE_BATCH,
    missing,
    open: async () => {
      const table = tableName(engine);
      const opened: { dataSource: DataSource } = await openStore(engine, table);
      const ds = opened.dataSource;
      const make = (keys: string[] | undefined) => new TypeOrmSessionStore(ds, { tableName: table, encryptionKeys: keys, pruneBatchSize: PRUNE_BATCH });
      const q = engine === 'mariadb' || engine === 'mysql' ? `\`${table}\`` : `"${table}"`;
      return {
        store: make(encrypted ? [KEY_A] : undefined),
        raw: {
          async dump(id) {
            const rows = (await ds.query(`SELECT * FROM ${q} WHERE id = ${engine === 'postgres' ? '$1' : '?'}`, [id])) as Record<string, unknown>[];
            return JSON.stringify(rows);
          },
          reopen: make,
        },
        close: async () => {
          await ds.query(`DROP TABLE IF EXISTS ${q}`);
          await ds.destroy();
        },
      };
    },
  };
}

function redisTarget(encrypted: boolean, missing: string | undefined): Target {
  return {
    name: `redis${encrypted ? ' +encryption' : ''}`,
    encrypted,
    pruneBatchSize: PRUNE_BATCH,
    missing,
    open: async () => {
      const client: Redis = await newRedis();
      const prefix = testPrefix('suite');
      const make = (keys: string[] | undefined) => new RedisSessionStore(client, { prefix, encryptionKeys: keys, pruneBatchSize: PRUNE_BATCH });
      return {
        store: make(encrypted ? [KEY_A] : undefined),
        raw: {
          async dump(id) {
            const all: Record<string, unknown> = {};
            for (const key of await keysUnder(client, prefix)) {
              const type = await client.type(key);
              all[key] = type === 'hash' ? await client.hgetall(key) : type === 'string' ? await client.get(key) : await client.zrange(key, 0, -1, 'WITHSCORES');
            }
            return JSON.stringify({ id, all });
          },
          reopen: make,
        },
        close: async () => {
          await dropPrefix(client, prefix);
          client.disconnect();
        },
      };
    },
  };
}

function nodeRedisTarget(missing: string | undefined): Target {
  return {
    name: 'redis (node-redis client)',
    encrypted: false,
    pruneBatchSize: PRUNE_BATCH,
    missing,
    open: async () => {
      const client = createClient({ socket: { host: '127.0.0.1', port: REDIS_PORT, reconnectStrategy: false }, disableOfflineQueue: true });
      await client.connect();
      const ioredis = await newRedis();
      const prefix = testPrefix('suite-nr');
      return {
        store: new RedisSessionStore(client, { prefix, pruneBatchSize: PRUNE_BATCH }),
        close: async () => {
          await dropPrefix(ioredis, prefix);
          ioredis.disconnect();
          await client.close();
        },
      };
    },
  };
}

/** The same store over the local Redis Cluster, through an ioredis Cluster (plain and encrypted). */
function clusterTarget(encrypted: boolean, missing: string | undefined): Target {
  return {
    name: `redis cluster (ioredis)${encrypted ? ' +encryption' : ''}`,
    encrypted,
    pruneBatchSize: PRUNE_BATCH,
    missing,
    open: async () => {
      const cluster = await newCluster();
      const prefix = testPrefix('suite-cl');
      const make = (keys: string[] | undefined) => new RedisSessionStore(cluster, { prefix, encryptionKeys: keys, pruneBatchSize: PRUNE_BATCH });
      return {
        store: make(encrypted ? [KEY_A] : undefined),
        raw: {
          async dump(id) {
            const all: Record<string, unknown> = {};
            for (const key of await clusterKeysUnder(cluster, prefix)) {
              const type = await cluster.type(key);
              all[key] = type === 'hash' ? await cluster.hgetall(key) : type === 'string' ? await cluster.get(key) : await cluster.zrange(key, 0, -1, 'WITHSCORES');
            }
            return JSON.stringify({ id, all });
          },
          reopen: make,
        },
        close: async () => {
          await dropClusterPrefix(cluster, prefix);
          cluster.disconnect();
        },
      };
    },
  };
}

/** Through node-redis' createCluster, with the durability option on (WAIT 1 after each write). */
function nodeRedisClusterTarget(missing: string | undefined): Target {
  return {
    name: 'redis cluster (node-redis createCluster, waitForReplica)',
    encrypted: false,
    pruneBatchSize: PRUNE_BATCH,
    missing,
    open: async () => {
      const client = createCluster({ rootNodes: [{ socket: { host: '127.0.0.1', port: CLUSTER_BASE } }], defaults: { socket: { reconnectStrategy: false }, disableOfflineQueue: true } });
      client.on('error', () => {});
      await client.connect();
      const ioredis = await newCluster();
      const prefix = testPrefix('suite-nrc');
      return {
        store: new RedisSessionStore(client, { prefix, pruneBatchSize: PRUNE_BATCH, waitForReplica: 1000 }),
        close: async () => {
          await dropClusterPrefix(ioredis, prefix);
          ioredis.disconnect();
          await client.close();
        },
      };
    },
  };
}

const targets: Target[] = [{ name: 'memory', encrypted: false, open: async () => ({ store: new MemorySessionStore(), close: async () => {} }) }];
for (const db of await databaseTargets()) {
  targets.push(sqlTarget(db.engine, false, db.missing), sqlTarget(db.engine, true, db.missing));
  // The same server through TypeORM's 'mysql' driver: the store's path for MySQL, which has no RETURNING.
  if (db.engine === 'mariadb') targets.push(sqlTarget('mysql', false, db.missing), sqlTarget('mysql', true, db.missing));
}
const redisDown = await redisMissing();
targets.push(redisTarget(false, redisDown), redisTarget(true, redisDown), nodeRedisTarget(redisDown));
const clusterDown = await clusterMissing();
targets.push(clusterTarget(false, clusterDown), clusterTarget(true, clusterDown), nodeRedisClusterTarget(clusterDown));

const id = () => randomBytes(32).toString('hex');
const handle = () => randomBytes(16).toString('base64url');

function record(over: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return { id: id(), handle: handle(), data: {}, userId: null, createdAt: now, lastSeenAt: now, expiresAt: now + 60_000, authAt: null, remember: false, ...over };
}

const times = (now = Date.now()) => ({ lastSeenAt: now, expiresAt: now + 60_000 });

for (const target of targets) {
  if (target.missing !== undefined && !REQUIRED) {
    console.warn(`\n!!! SKIPPED: "store suite" on ${target.name}: ${target.missing}. Set REQUIRE_DATABASES=1 to make this a failure.\n`);
    describe.skip(`store suite [${target.name}] (skipped: ${target.missing})`, () => it('skipped', () => {}));
    continue;
  }
  describe(`store suite [${target.name}]`, () => {
    if (target.missing !== undefined) {
      it('needs its server', () => {
        throw new Error(`REQUIRE_DATABASES is set but ${target.missing}`);
      });
      return;
    }
    describeSessionStore('SessionStore contract', { open: target.open!, pruneBatchSize: target.pruneBatchSize }, { describe, it, beforeAll, afterAll });
    if (target.encrypted) {
      describe('encryption at rest', () => {
        let opened: Opened;
        let store: SessionStore;
        beforeAll(async () => {
          opened = await target.open!();
          store = opened.store;
        });
        afterAll(async () => {
          await opened?.close();
        });

        it('stores neither key names nor values in plain text', async () => {
          const r = record({ data: { secretKeyName: 'secret-value-42', nested: { innerName: 'inner-value' } } });
          await store.create(r);
          await store.update(r.id, { handle: r.handle, ...times(), set: { patchedName: 'patched-value' } });
          const dump = await opened.raw!.dump(r.id);
          for (const s of ['secretKeyName', 'secret-value-42', 'innerName', 'inner-value', 'patchedName', 'patched-value', 'nested']) expect(dump).not.toContain(s);
          expect((await store.load(r.id))!.data).toEqual({ secretKeyName: 'secret-value-42', nested: { innerName: 'inner-value' }, patchedName: 'patched-value' });
        });

        it('opens old sessions after a key rotation, and leaves no stale copies', async () => {
          const r = record({ data: { a: 1, b: 2, gone: 'x' } });
          await store.create(r); // sealed under KEY_A
          const rotated = opened.raw!.reopen([KEY_B, KEY_A]);
          expect((await rotated.load(r.id))!.data).toEqual({ a: 1, b: 2, gone: 'x' });
          expect(await rotated.update(r.id, { handle: r.handle, ...times(), set: { a: 10, c: 3 }, unset: ['gone'] })).toBe(true);
          expect((await rotated.load(r.id))!.data).toEqual({ a: 10, b: 2, c: 3 });
          // The old key alone cannot open what the new key sealed: the session reads as absent.
          expect(await store.load(r.id)).toBeNull();
          // Once every value is re-sealed, the new key alone opens it.
          expect(await rotated.update(r.id, { handle: r.handle, ...times(), set: { b: 2 } })).toBe(true);
          expect((await opened.raw!.reopen([KEY_B]).load(r.id))!.data).toEqual({ a: 10, b: 2, c: 3 });
        });

        it('reads a session sealed under an unknown key, or a plain one, as no session, even with no data keys', async () => {
          const r = record({ data: { a: 1 } });
          await store.create(r);
          expect(await opened.raw!.reopen([KEY_B]).load(r.id)).toBeNull();
          const plain = record({ data: { a: 1 } });
          await opened.raw!.reopen(undefined).create(plain);
          expect(await store.load(plain.id)).toBeNull();
          // An empty session too: its marker does not open under an unknown key, and a logged-in
          // session written without encryption is not adopted by an encrypting store.
          const empty = record();
          await opened.raw!.reopen([KEY_B]).create(empty);
          expect(await store.load(empty.id)).toBeNull();
          const plainEmpty = record({ userId: 'plain-user' });
          await opened.raw!.reopen(undefined).create(plainEmpty);
          expect(await store.load(plainEmpty.id)).toBeNull();
        });
      });
    }
  });
}

describe('the conformance suite itself', () => {
  /** Runs describeSessionStore on a store with a runner of no hooks (a store per check); the titles of the checks that failed. */
  async function failedChecks(make: () => SessionStoreContractOnly, pruneBatchSize?: number): Promise<string[]> {
    const checks: [string, () => Promise<void>][] = [];
    describeSessionStore('under test', { open: async () => ({ store: make(), close: async () => {} }), pruneBatchSize }, { describe: (_name, fn) => fn(), it: (name, fn) => checks.push([name, fn]) });
    const failed: string[] = [];
    for (const [name, fn] of checks) await fn().catch(() => failed.push(name));
    expect(checks.length).toBeGreaterThan(10);
    return failed;
  }

  it('passes the reference store', async () => {
    expect(await failedChecks(() => new MemorySessionStore())).toEqual([]);
  });

  it('fails a store that prunes in larger batches than it declares', async () => {
    // MemorySessionStore prunes everything in one batch.
    expect(await failedChecks(() => new MemorySessionStore(), 2)).toEqual(['prune works in batches of at most its batch size, reporting each removed session once']);
  });

  it('fails a store that brings a destroyed session back on update', async () => {
    class Resurrecting extends MemorySessionStore {
      override async update(id: string, patch: SessionPatch): Promise<boolean> {
        if (!(await this.load(id))) await this.create({ ...record(), id, handle: patch.handle ?? 'h' });
        return super.update(id, patch);
      }
    }
    expect(await failedChecks(() => new Resurrecting())).toContain('after destroy, update returns false and creates nothing (no resurrection)');
  });

  it('fails a store that writes to a session past its expiry', async () => {
    class Unexpiring extends MemorySessionStore {
      override async update(id: string, patch: SessionPatch): Promise<boolean> {
        const row = await this.load(id);
        if (row && row.expiresAt <= patch.lastSeenAt) await this.create({ ...row, expiresAt: patch.lastSeenAt + 1 });
        return super.update(id, patch);
      }
    }
    const failed = await failedChecks(() => new Unexpiring());
    expect(failed).toContain('update writes nothing once the stored expiresAt is at or before the patch\u2019s lastSeenAt');
  });

  it('fails a store with only part of the user index', async () => {
    const partial = () => {
      const memory = new MemorySessionStore();
      return { load: memory.load.bind(memory), create: memory.create.bind(memory), update: memory.update.bind(memory), destroy: memory.destroy.bind(memory), prune: memory.prune.bind(memory), listByUser: memory.listByUser.bind(memory) };
    };
    expect((await failedChecks(partial)).filter((t) => t.startsWith('user index'))).toHaveLength(1);
  });

  it('passes a store without the user index on the base contract', async () => {
    const base = () => {
      const memory = new MemorySessionStore();
      return { load: memory.load.bind(memory), create: memory.create.bind(memory), update: memory.update.bind(memory), destroy: memory.destroy.bind(memory), prune: memory.prune.bind(memory) };
    };
    expect(await failedChecks(base)).toEqual([]);
  });
});
