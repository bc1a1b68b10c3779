import { createCipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Redis } from 'ioredis';
import { CookieSessionStore, RedisSessionStore, SessionSealer, TypeOrmSessionStore, type SessionRecord, type SessionStore } from '../src/index.js';
import { describeEngines, openStore, type Engine } from './support/databases.js';
import { describeRedis, dropPrefix, newRedis, testPrefix } from './support/redis.js';
import { createTestApp, PLATFORMS } from './support/test-app.js';
import { Client } from './support/http.js';

/*
 * Encryption at rest against someone who can write the store (a database or Redis account, a
 * restored backup) but does not hold the keys: sealed values must not open anywhere but where they
 * were sealed. Each test edits the stored bytes directly, as such an attacker would.
 */

const KEY = 'binding-key-0123456789abcdefghijklmnopqrstuvw';
const COOKIE_NAME = 'nestjs-lazy-session/cookie';

const id = () => randomBytes(32).toString('hex');
const handle = () => randomBytes(16).toString('base64url');
function record(over: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return { id: id(), handle: handle(), data: {}, userId: null, createdAt: now, lastSeenAt: now, expiresAt: now + 60_000, authAt: null, remember: false, ...over };
}

/** What 0.1.0 wrote for one value: kid (6 chars) + base64url(iv | AES-GCM(["name", value]) | tag), AAD the hashed name. */
function sealV1(secret: string, name: string, value: unknown): { name: string; sealed: string } {
  const bytes = (info: string, n: number) => Buffer.from(hkdfSync('sha256', Buffer.from(secret), 'nestjs-lazy-session/seal', info, n));
  const kid = bytes('key-id v1', 6).toString('base64url').slice(0, 6);
  const hashed = createHmac('sha256', bytes('key-name hmac v1', 32)).update(name).digest().subarray(0, 16).toString('base64url');
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', bytes('aes-256-gcm v1', 32), iv);
  cipher.setAAD(Buffer.from(hashed));
  const body = Buffer.concat([cipher.update(JSON.stringify([name, value])), cipher.final()]);
  return { name: hashed, sealed: kid + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url') };
}

/** Raw access to one session's stored data entries (hashed name → sealed value), per store. */
interface RawData {
  read(id: string): Promise<Record<string, string>>;
  write(id: string, entries: Record<string, string>): Promise<void>;
}

interface Fixture {
  sealed: SessionStore;
  plain: SessionStore;
  raw: RawData;
}

function behaviours(fixture: () => Fixture): void {
  it.each(PLATFORMS)('over HTTP on %s: writes, merges, rotation and clear of an encrypted session', async (platform) => {
    const app = await createTestApp({ platform, store: fixture().sealed });
    try {
      const c = new Client(app);
      await c.post('/set', { a: 1, b: 'two' });
      await c.post('/set', { c: [3] });
      await c.delete('/key/b');
      const before = c.cookie;
      await c.post('/login/alice');
      expect(c.cookie).not.toBe(before);
      await c.post('/set', { d: true });
      expect((await c.get('/read')).body).toEqual({ a: 1, b: null, c: true, again: 1 });
      expect((await c.get('/get/d')).body).toEqual({ value: true, has: true });
      await c.post('/clear');
      expect((await c.get('/whoami')).body).toEqual({ userId: 'alice' });
      expect((await c.get('/read')).body).toEqual({ a: null, b: null, c: false, again: null });
    } finally {
      await app.close();
    }
  });

  it('a value copied from one session into another does not open there', async () => {
    const { sealed, raw } = fixture();
    const admin = record({ data: { role: 'admin' }, userId: 'admin-user' });
    const user = record({ data: { role: 'user' }, userId: 'plain-user' });
    await sealed.create(admin);
    await sealed.create(user);
    const from = await raw.read(admin.id);
    const into = await raw.read(user.id);
    // The entry both sessions have under the same hashed name ('role'), with different values.
    const shared = Object.keys(from).filter((k) => k in into && from[k] !== into[k]);
    expect(shared.length).toBeGreaterThan(0);
    expect((await sealed.load(user.id))!.data).toEqual({ role: 'user' });
    for (const k of shared) into[k] = from[k];
    await raw.write(user.id, into);
    expect(await sealed.load(user.id)).toBeNull();
  });

  it('a whole data copy from another session does not open either', async () => {
    const { sealed, raw } = fixture();
    const a = record({ data: { role: 'admin' } });
    const b = record({ data: {} });
    await sealed.create(a);
    await sealed.create(b);
    await raw.write(b.id, await raw.read(a.id));
    expect(await sealed.load(b.id)).toBeNull();
  });

  it('a CookieSessionStore cookie under the same keys does not open as at-rest data', async () => {
    const { sealed, raw } = fixture();
    const cookieStore = new CookieSessionStore({ keys: [KEY] });
    const r = record({ data: {} });
    await sealed.create(r);
    const cookie = cookieStore.inCookie.seal(record({ userId: 'someone' }));
    // Stored under the name at which an at-rest sealer would look for that key.
    await raw.write(r.id, { ...(await raw.read(r.id)), [new SessionSealer([KEY]).hashName(COOKIE_NAME)]: cookie });
    expect(await sealed.load(r.id)).toBeNull();
  });

  it('an at-rest value under the same keys does not open as a CookieSessionStore cookie', async () => {
    const { sealed, raw } = fixture();
    const cookieStore = new CookieSessionStore({ keys: [KEY] });
    const now = Date.now();
    // A value an application lets a user choose, shaped like the cookie store's payload.
    const forged = [1, 'forged-handle', 'admin', now, now, now + 60_000, now, 0, {}];
    const r = record({ data: { [COOKIE_NAME]: forged } });
    await sealed.create(r);
    const values = Object.values(await raw.read(r.id));
    expect(values.length).toBeGreaterThan(0);
    for (const v of values) expect(cookieStore.inCookie.open(v)).toBeNull();
  });

  it('a session written without encryption reads as no session, also with no data keys', async () => {
    const { sealed, plain } = fixture();
    const empty = record({ userId: 'logged-in-user', authAt: Date.now() });
    await plain.create(empty);
    expect(await plain.load(empty.id)).not.toBeNull();
    expect(await sealed.load(empty.id)).toBeNull();
    const withData = record({ data: { a: 1 }, userId: 'logged-in-user' });
    await plain.create(withData);
    expect(await sealed.load(withData.id)).toBeNull();
  });

  it('an emptied encrypted session still opens (and stays bound to its handle)', async () => {
    const { sealed } = fixture();
    const r = record({ data: { a: 1 }, userId: 'u' });
    await sealed.create(r);
    expect(await sealed.update(r.id, { handle: r.handle, lastSeenAt: Date.now(), expiresAt: r.expiresAt, unset: ['a'] })).toBe(true);
    expect((await sealed.load(r.id))!.data).toEqual({});
    expect(await sealed.update(r.id, { handle: r.handle, lastSeenAt: Date.now(), expiresAt: r.expiresAt, replace: {} })).toBe(true);
    expect((await sealed.load(r.id))!).toMatchObject({ data: {}, userId: 'u' });
  });

  it('data sealed by 0.1.0 (no version byte) reads as no session', async () => {
    const { sealed, raw } = fixture();
    const r = record({ data: {}, userId: 'old-user' });
    await sealed.create(r);
    const old = sealV1(KEY, 'role', 'admin');
    await raw.write(r.id, { ...(await raw.read(r.id)), [old.name]: old.sealed });
    expect(await sealed.load(r.id)).toBeNull();
  });
}

await describeEngines('encryption at rest binds values to their session and purpose', (engine: Engine) => {
  let ds: DataSource;
  let table: string;
  let f: Fixture;
  const q = (t: string) => (engine === 'mariadb' ? `\`${t}\`` : `"${t}"`);
  const p = (i: number) => (engine === 'postgres' ? `$${i}` : '?');
  beforeAll(async () => {
    table = `binding_${engine}_${process.pid}`;
    ds = (await openStore(engine, table)).dataSource;
    const raw: RawData = {
      async read(rowId) {
        const rows = (await ds.query(`SELECT data FROM ${q(table)} WHERE id = ${p(1)}`, [rowId])) as { data: string }[];
        const boxed = JSON.parse(rows[0].data) as Record<string, [string]>;
        return Object.fromEntries(Object.entries(boxed).map(([k, v]) => [k, v[0]]));
      },
      async write(rowId, entries) {
        const boxed = Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, [v]]));
        await ds.query(`UPDATE ${q(table)} SET data = ${p(1)} WHERE id = ${p(2)}`, [JSON.stringify(boxed), rowId]);
      },
    };
    f = { sealed: new TypeOrmSessionStore(ds, { tableName: table, encryptionKeys: [KEY] }), plain: new TypeOrmSessionStore(ds, { tableName: table }), raw };
  });
  afterAll(async () => {
    await ds.query(`DROP TABLE IF EXISTS ${q(table)}`);
    await ds.destroy();
  });
  behaviours(() => f);
}, ['sqlite', 'postgres', 'mariadb']);

await describeRedis('encryption at rest binds values to their session and purpose', () => {
  let client: Redis;
  let prefix: string;
  let f: Fixture;
  beforeAll(async () => {
    client = await newRedis();
    prefix = testPrefix('binding');
    const layout = new RedisSessionStore(client, { prefix });
    const raw: RawData = {
      async read(rowId) {
        const all = await client.hgetall(layout.sessionKey(rowId));
        return Object.fromEntries(Object.entries(all).filter(([k]) => k.startsWith('d:')).map(([k, v]) => [k.slice(2), v]));
      },
      async write(rowId, entries) {
        const key = layout.sessionKey(rowId);
        const fields = Object.keys(await client.hgetall(key)).filter((k) => k.startsWith('d:'));
        if (fields.length > 0) await client.hdel(key, ...fields);
        const pairs = Object.entries(entries).flatMap(([k, v]) => [`d:${k}`, v]);
        if (pairs.length > 0) await client.hset(key, ...pairs);
      },
    };
    f = { sealed: new RedisSessionStore(client, { prefix, encryptionKeys: [KEY] }), plain: new RedisSessionStore(client, { prefix }), raw };
  });
  afterAll(async () => {
    await dropPrefix(client, prefix);
    client.disconnect();
  });
  behaviours(() => f);
});

describe.each(PLATFORMS)('CookieSessionStore cookies sealed by 0.1.0 (%s)', (platform) => {
  it('read as no session: the format changed (version byte, per-purpose keys)', async () => {
    const now = Date.now();
    const payload = [1, 'old-handle', 'old-user', now, now, now + 60_000, now, 0, { a: 1 }];
    const old = sealV1(KEY, COOKIE_NAME, payload).sealed;
    const store = new CookieSessionStore({ keys: [KEY] });
    expect(store.inCookie.open(old)).toBeNull();
    const app = await createTestApp({ platform, store });
    try {
      const c = new Client(app);
      c.cookie = `__Host-sid=${old}`;
      expect((await c.get('/whoami')).body).toEqual({ userId: null });
      expect((await c.get('/get/a')).body).toEqual({ value: null, has: false });
    } finally {
      await app.close();
    }
  });
});
