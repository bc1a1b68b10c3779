import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Redis } from 'ioredis';
import { createClient } from 'redis';
import { MemorySessionStore, RedisSessionStore, TypeOrmSessionStore, type SessionRecord, type UserIndexedSessionStore as SessionStore } from '../src/index.js';
import { databaseTargets, openStore, REQUIRED, type Engine } from './support/databases.js';
import { dropPrefix, keysUnder, newRedis, REDIS_PORT, redisMissing, testPrefix } from './support/redis.js';

/*
 * One suite of store behaviours, run against every store: memory, the SQL engines, Redis (over
 * ioredis and node-redis), and the SQL and Redis stores with encryption at rest.
 */

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
  missing?: string;
  open?: () => Promise<Opened>;
}

const tableCounter = { n: 0 };
const tableName = (engine: Engine) => `store_suite_${engine}_${process.pid}_${++tableCounter.n}`;

function sqlTarget(engine: Engine, encrypted: boolean, missing: string | undefined): Target {
  return {
    name: `${engine}${encrypted ? ' +encryption' : ''}`,
    encrypted,
    missing,
    open: async () => {
      const table = tableName(engine);
      const opened: { dataSource: DataSource } = await openStore(engine, table);
      const ds = opened.dataSource;
      const make = (keys: string[] | undefined) => new TypeOrmSessionStore(ds, { tableName: table, encryptionKeys: keys });
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
    missing,
    open: async () => {
      const client: Redis = await newRedis();
      const prefix = testPrefix('suite');
      const make = (keys: string[] | undefined) => new RedisSessionStore(client, { prefix, encryptionKeys: keys });
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
    missing,
    open: async () => {
      const client = createClient({ socket: { host: '127.0.0.1', port: REDIS_PORT, reconnectStrategy: false }, disableOfflineQueue: true });
      await client.connect();
      const ioredis = await newRedis();
      const prefix = testPrefix('suite-nr');
      return {
        store: new RedisSessionStore(client, { prefix }),
        close: async () => {
          await dropPrefix(ioredis, prefix);
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

const id = () => randomBytes(32).toString('hex');
const handle = () => randomBytes(16).toString('base64url');

function record(over: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return { id: id(), handle: handle(), data: {}, userId: null, createdAt: now, lastSeenAt: now, expiresAt: now + 60_000, authAt: null, remember: false, ...over };
}

const times = (now = Date.now()) => ({ lastSeenAt: now, expiresAt: now + 60_000 });

function tricky(): Record<string, unknown> {
  const data: Record<string, unknown> = {
    nothing: null,
    nested: { a: [1, { b: 'x', c: [null, true, false] }], empty: {}, list: [] },
    unicode: 'héllo ✓ 😀 “quotes” \\ back\\slash \n newline \t tab',
    'key with spaces/and.dots': 'ok',
    'ключ 😀': 'unicode key',
    number: 1.5e300,
    negative: -42,
    zero: 0,
    empty: '',
    yes: true,
    sqlish: "'); DROP TABLE x; --",
    nul: 'a\u0000b',
    'nul\u0000key': 1,
  };
  Object.defineProperty(data, '__proto__', { value: { polluted: true }, enumerable: true, writable: true, configurable: true });
  return data;
}

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
    let opened: Opened;
    let store: SessionStore;
    beforeAll(async () => {
      opened = await target.open!();
      store = opened.store;
    });
    afterAll(async () => {
      await opened?.close();
    });

    it('round-trips tricky values and every record field', async () => {
      const r = record({ data: tricky(), userId: 'user-ü-1', authAt: Date.now() - 5, remember: true });
      await store.create(r);
      await store.update(r.id, { handle: r.handle, ...times(r.lastSeenAt), expiresAt: r.expiresAt }); // no-op patch, same times
      const loaded = await store.load(r.id);
      expect(loaded).not.toBeNull();
      expect(loaded!.data).toEqual(tricky());
      expect(Object.getPrototypeOf(loaded!.data)).toBe(Object.prototype);
      expect(Object.prototype.hasOwnProperty.call(loaded!.data, '__proto__')).toBe(true);
      expect((loaded!.data['__proto__'] as Record<string, unknown>).polluted).toBe(true);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      const { data: _d, ...meta } = loaded!;
      const { data: _e, ...expected } = r;
      expect(meta).toEqual(expected);
      expect(await store.load(id())).toBeNull();
    });

    it('merges partial updates: set, unset, replace, null values', async () => {
      const r = record({ data: { a: 1, b: 2, c: 3 } });
      await store.create(r);
      // Two requests that loaded the same snapshot, each changing a different key: both survive.
      expect(await store.update(r.id, { handle: r.handle, ...times(), set: { a: 10 } })).toBe(true);
      expect(await store.update(r.id, { handle: r.handle, ...times(), set: { d: 4 }, unset: ['b'] })).toBe(true);
      expect((await store.load(r.id))!.data).toEqual({ a: 10, c: 3, d: 4 });
      expect(await store.update(r.id, { handle: r.handle, ...times(), set: { c: null }, unset: ['missing'] })).toBe(true);
      expect((await store.load(r.id))!.data).toEqual({ a: 10, c: null, d: 4 });
      expect(await store.update(r.id, { handle: r.handle, ...times(), replace: { x: { deep: [1] } }, set: { y: 'y' } })).toBe(true);
      expect((await store.load(r.id))!.data).toEqual({ x: { deep: [1] }, y: 'y' });
      expect(await store.update(r.id, { handle: r.handle, ...times(), replace: {} })).toBe(true);
      expect((await store.load(r.id))!.data).toEqual({});
      const proto = JSON.parse('{"__proto__":{"p":1}}') as Record<string, unknown>;
      expect(await store.update(r.id, { handle: r.handle, ...times(), set: proto })).toBe(true);
      const loaded = await store.load(r.id);
      expect(Object.prototype.hasOwnProperty.call(loaded!.data, '__proto__')).toBe(true);
      expect(await store.update(r.id, { handle: r.handle, ...times(), unset: ['__proto__'] })).toBe(true);
      expect((await store.load(r.id))!.data).toEqual({});
    });

    it('deletes keys whose names hold U+E000 or U+0000 (PostgreSQL escapes both in the stored text)', async () => {
      const names = ['a\ue000b', '\ue0000', '\ue0001', 'nul\u0000key', '\\u0000', 'plain'];
      const r = record({ data: Object.fromEntries(names.map((k, i) => [k, i])) });
      await store.create(r);
      expect(await store.update(r.id, { handle: r.handle, ...times(), unset: names.slice(0, 5) })).toBe(true);
      expect((await store.load(r.id))!.data).toEqual({ plain: 5 });
      // Set by a merge, then removed by one.
      expect(await store.update(r.id, { handle: r.handle, ...times(), set: { '\ue000x': 1, 'y\u0000': 2 } })).toBe(true);
      expect((await store.load(r.id))!.data).toEqual({ plain: 5, '\ue000x': 1, 'y\u0000': 2 });
      expect(await store.update(r.id, { handle: r.handle, ...times(), unset: ['\ue000x', 'y\u0000'] })).toBe(true);
      expect((await store.load(r.id))!.data).toEqual({ plain: 5 });
    });

    it('updates times and login', async () => {
      const r = record();
      await store.create(r);
      const t = Date.now() + 1000;
      expect(await store.update(r.id, { handle: r.handle, lastSeenAt: t, expiresAt: t + 5000, login: { userId: 'login-user', authAt: t, remember: true } })).toBe(true);
      const loaded = (await store.load(r.id))!;
      expect(loaded).toMatchObject({ lastSeenAt: t, expiresAt: t + 5000, userId: 'login-user', authAt: t, remember: true, createdAt: r.createdAt });
    });

    it('rotates: the old id is gone, the new id loads, the handle stays', async () => {
      const user = `rot-${id().slice(0, 8)}`;
      const r = record({ data: { keep: 'me' }, userId: user });
      await store.create(r);
      const newId = id();
      expect(await store.update(r.id, { handle: r.handle, ...times(), newId, set: { more: 1 } })).toBe(true);
      expect(await store.load(r.id)).toBeNull();
      const loaded = (await store.load(newId))!;
      expect(loaded).toMatchObject({ id: newId, handle: r.handle, userId: user, data: { keep: 'me', more: 1 } });
      // A request still holding the old id writes nothing.
      expect(await store.update(r.id, { handle: r.handle, ...times(), set: { stale: true } })).toBe(false);
      expect(await store.load(r.id)).toBeNull();
      expect((await store.listByUser(user)).map((s) => s.id)).toEqual([newId]);
      // Rotation with a login as another user moves it between the users' indexes.
      const third = id();
      expect(await store.update(newId, { handle: r.handle, ...times(), newId: third, replace: {}, login: { userId: `${user}-b`, authAt: Date.now(), remember: false } })).toBe(true);
      expect(await store.listByUser(user)).toEqual([]);
      expect((await store.listByUser(`${user}-b`)).map((s) => s.id)).toEqual([third]);
      expect((await store.destroyByHandle(r.handle))?.id).toBe(third);
      expect(await store.load(third)).toBeNull();
    });

    it('after destroy, update returns false and creates nothing', async () => {
      const user = `gone-${id().slice(0, 8)}`;
      const r = record({ data: { a: 1 }, userId: user });
      await store.create(r);
      const removed = await store.destroy(r.id);
      expect(removed).toMatchObject({ id: r.id, handle: r.handle, userId: user });
      expect(await store.destroy(r.id)).toBeNull();
      expect(await store.update(r.id, { handle: r.handle, ...times(), set: { a: 2 } })).toBe(false);
      expect(await store.update(r.id, { handle: r.handle, ...times(), newId: id(), login: { userId: user, authAt: 1, remember: false } })).toBe(false);
      expect(await store.load(r.id)).toBeNull();
      expect(await store.listByUser(user)).toEqual([]);
      expect(await store.destroyByHandle(r.handle)).toBeNull();
    });

    it('lists and ends a user\u2019s sessions: listByUser, destroyByUser(except), destroyByHandle', async () => {
      const u1 = `u1-${id().slice(0, 8)}`;
      const u2 = `u2-${id().slice(0, 8)}`;
      const a = record({ userId: u1, authAt: 1 });
      const b = record({ userId: u1, authAt: 2 });
      const c = record(); // logs in later
      const d = record({ userId: u2 });
      for (const r of [a, b, c, d]) await store.create(r);
      expect(await store.update(c.id, { handle: c.handle, ...times(), login: { userId: u1, authAt: 3, remember: false } })).toBe(true);
      const listed = await store.listByUser(u1);
      expect(listed.map((s) => s.id).sort()).toEqual([a.id, b.id, c.id].sort());
      const sa = listed.find((s) => s.id === a.id)!;
      expect(sa).toEqual({ id: a.id, handle: a.handle, userId: u1, createdAt: a.createdAt, lastSeenAt: a.lastSeenAt, expiresAt: a.expiresAt, authAt: 1 });
      const ended = await store.destroyByUser(u1, a.id);
      expect(ended.map((s) => s.id).sort()).toEqual([b.id, c.id].sort());
      expect(ended.every((s) => s.userId === u1)).toBe(true);
      expect((await store.listByUser(u1)).map((s) => s.id)).toEqual([a.id]);
      expect(await store.load(b.id)).toBeNull();
      expect(await store.load(a.id)).not.toBeNull();
      expect((await store.listByUser(u2)).map((s) => s.id)).toEqual([d.id]);
      const byHandle = await store.destroyByHandle(d.handle);
      expect(byHandle).toMatchObject({ id: d.id, handle: d.handle, userId: u2 });
      expect(await store.destroyByHandle(d.handle)).toBeNull();
      expect(await store.destroyByHandle('no-such-handle')).toBeNull();
      expect(await store.listByUser(u2)).toEqual([]);
      expect((await store.destroyByUser(u1)).map((s) => s.id)).toEqual([a.id]);
      expect(await store.destroyByUser(u1)).toEqual([]);
    });

    it('prune removes only expired sessions, and reports them', async () => {
      await store.prune(Date.now()); // leftovers of earlier tests
      const now = Date.now();
      const at = now + 100;
      const user = `pr-${id().slice(0, 8)}`;
      const expired1 = record({ userId: user, expiresAt: now - 1000 });
      const expired2 = record({ expiresAt: at });
      const live = record({ userId: user, expiresAt: now + 60_000 });
      const touched = record({ expiresAt: now + 50 });
      for (const r of [expired1, expired2, live, touched]) await store.create(r);
      // Written again before its expiry: no longer due at `at`.
      expect(await store.update(touched.id, { handle: touched.handle, lastSeenAt: now, expiresAt: now + 60_000 })).toBe(true);
      // An expired session is never written again.
      expect(await store.update(expired1.id, { handle: expired1.handle, lastSeenAt: now, expiresAt: now + 60_000, set: { back: true } })).toBe(false);
      const reported: string[] = [];
      const n = await store.prune(at, (batch) => reported.push(...batch.map((s) => s.id)));
      expect(n).toBe(2);
      expect(reported.sort()).toEqual([expired1.id, expired2.id].sort());
      expect(await store.load(expired1.id)).toBeNull();
      expect(await store.load(expired2.id)).toBeNull();
      expect(await store.load(live.id)).not.toBeNull();
      expect(await store.load(touched.id)).not.toBeNull();
      expect((await store.listByUser(user)).map((s) => s.id)).toEqual([live.id]);
      expect(await store.prune(at)).toBe(0);
    });

    it('keeps every one of 20 parallel updates of different keys', async () => {
      const r = record({ data: { base: true } });
      await store.create(r);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.update(r.id, { handle: r.handle, ...times(), set: { [`k${i}`]: i } })));
      expect(results.every(Boolean)).toBe(true);
      const expected: Record<string, unknown> = { base: true };
      for (let i = 0; i < 20; i++) expected[`k${i}`] = i;
      expect((await store.load(r.id))!.data).toEqual(expected);
    });

    if (target.encrypted) {
      describe('encryption at rest', () => {
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
