import request from 'supertest';
import type { INestApplication } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { createHash } from 'node:crypto';
import { CountingLogger } from './support/counting-logger.js';
import { describeEngines, openStore, type Engine } from './support/databases.js';
import { createTestApp, sessionCookie, CartService, SECRET, PLATFORMS, startApp } from './support/test-app.js';
import { Client, rawRequest, sleep } from './support/http.js';
import { breakable } from './support/breakable.js';
import type { TypeOrmSessionStore, SessionModuleOptions } from '../src/index.js';

const quote = (engine: Engine, t: string) => (engine === 'mariadb' ? `\`${t}\`` : `"${t}"`);

/** The core HTTP rules and the query budget, over real HTTP, on every SQL engine. */
for (const platform of PLATFORMS) await describeEngines(`core sessions on ${platform}`, (engine) => {
  const table = `core_${platform}_${engine}`;
  const logger = new CountingLogger();
  let dataSource: DataSource;
  let store: TypeOrmSessionStore;
  let app: INestApplication;
  const apps: INestApplication[] = [];

  async function appWith(options: Partial<SessionModuleOptions>): Promise<INestApplication> {
    const a = await createTestApp({ platform, store, options });
    apps.push(a);
    return a;
  }

  async function rows(): Promise<Record<string, unknown>[]> {
    return dataSource.query(`SELECT * FROM ${quote(engine, table)}`);
  }

  /** Statements the request costs, transaction control excluded. */
  async function counted<T>(fn: () => Promise<T>): Promise<[T, number, string[]]> {
    logger.reset();
    const result = await fn();
    return [result, logger.count, [...logger.statements]];
  }

  beforeAll(async () => {
    ({ dataSource, store } = await openStore(engine, table, logger));
    app = await appWith({});
  });

  afterAll(async () => {
    for (const a of apps) await a.close();
    await dataSource.destroy();
  });

  describe('query budget', () => {
    it('creating a session costs 1 statement; a route that never uses it costs 0', async () => {
      const c = new Client(app);
      const [, created] = await counted(() => c.post('/set', { a: 1 }));
      expect(created).toBe(1);
      const [res, none] = await counted(() => c.get('/public'));
      expect(res.status).toBe(200);
      expect(none).toBe(0);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.headers['vary']).toBeUndefined();
    });

    it('any number of reads cost 1 statement', async () => {
      const c = new Client(app);
      await c.post('/set', { a: 'x', b: [1, 2] });
      const [res, n, sql] = await counted(() => c.get('/read'));
      expect(res.body).toEqual({ a: 'x', b: [1, 2], c: false, again: 'x' });
      expect(n).toBe(1);
      expect(sql[0]).toMatch(/^SELECT/);
      const [v, n2] = await counted(() => c.get('/value'));
      expect(v.body).toEqual({ a: 'x' });
      expect(n2).toBe(1);
    });

    it('a write to an existing session costs at most 2 statements', async () => {
      const c = new Client(app);
      await c.post('/set', { a: 1 });
      const [, n] = await counted(() => c.post('/set', { b: 2, c: 3, d: { deep: [1] } }));
      expect(n).toBeLessThanOrEqual(2);
      const [, n2] = await counted(() => c.post('/incr/a'));
      expect(n2).toBeLessThanOrEqual(2);
      expect((await c.get('/read')).body).toEqual({ a: 2, b: 2, c: true, again: 2 });
    });

    it('a tampered cookie costs 0 statements, even on a route that reads the session', async () => {
      const c = new Client(app);
      await c.post('/set', { a: 1 });
      const [name, value] = c.cookie!.split('=');
      const flipped = value.slice(0, 10) + (value[10] === 'A' ? 'B' : 'A') + value.slice(11);
      const [res, n] = await counted(() => request(app.getHttpServer()).get('/read').set('Cookie', `${name}=${flipped}`));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ a: null, b: null, c: false, again: null });
      expect(n).toBe(0);
    });

    it('an unmodified session is written back at most once per touchInterval', async () => {
      // The reads that must not write come within 2 s of the last write; the one that must write
      // comes after touchInterval, measured from the answer to the write.
      const touchy = await appWith({ touchInterval: 2000 });
      const c = new Client(touchy);
      await c.post('/set', { a: 1 });
      const written = Date.now();
      const [, first] = await counted(() => c.get('/read'));
      expect(first).toBe(1);
      await sleep(written + 2000 + 1 - Date.now());
      const [, touched, sql] = await counted(() => c.get('/read'));
      expect(touched).toBe(2);
      expect(sql[1]).toMatch(/^UPDATE/);
      const [, after] = await counted(() => c.get('/read'));
      expect(after).toBe(1);
    });
  });

  describe('persisting', () => {
    it('stores changes before the response, so the next request sees them', async () => {
      const c = new Client(app);
      for (let i = 1; i <= 5; i++) expect((await c.post('/incr/n')).body).toEqual({ n: i });
      expect((await c.get('/get/n')).body).toEqual({ value: 5, has: true });
    });

    it('stores nothing when the handler fails with a 5xx, a new session included', async () => {
      const c = new Client(app);
      const before = (await rows()).length;
      const res = await c.post('/fail500');
      expect(res.status).toBe(500);
      expect(res.headers['set-cookie']).toBeUndefined();
      const crash = await c.post('/crash');
      expect(crash.status).toBe(500);
      expect((await rows()).length).toBe(before);
      await c.post('/set', { a: 1 });
      expect((await c.post('/fail500')).status).toBe(500);
      expect((await c.get('/get/poison')).body).toEqual({ value: null, has: false });
    });

    it('stores changes on a handled 4xx, a new session too', async () => {
      const c = new Client(app);
      const res = await c.post('/fail400');
      expect(res.status).toBe(400);
      expect(sessionCookie(res)).toBeDefined();
      expect((await c.get('/get/handled')).body).toEqual({ value: true, has: true });
    });

    it('stores before a redirect leaves, so the redirected request sees the write', async () => {
      const c = new Client(app);
      const res = await c.post('/set-and-redirect', { a: 'before-redirect' });
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe('/read');
      expect((await c.get('/read')).body.a).toBe('before-redirect');
    });

    it('stores before a streamed body leaves, cookie included', async () => {
      const c = new Client(app);
      const res = await c.post('/set-and-stream', { a: 'streamed' });
      expect(res.status).toBe(200);
      expect(res.text).toBe('chunk-1,chunk-2,chunk-3');
      expect(sessionCookie(res)).toBeDefined();
      expect((await c.get('/read')).body.a).toBe('streamed');
    });

    it('answers 503 when the write fails, with nothing half-sent, and recovers', async () => {
      const flaky = breakable(store);
      const a = await createTestApp({ platform, store: flaky });
      apps.push(a);
      const c = new Client(a);
      flaky.failing.add('create');
      const created = await c.post('/set', { a: 1 });
      expect(created.status).toBe(503);
      expect(created.body).toEqual({ statusCode: 503, message: 'Session store unavailable', error: 'Service Unavailable' });
      expect(created.headers['set-cookie']).toBeUndefined();
      flaky.failing.clear();
      await c.post('/set', { a: 1 });
      flaky.failing.add('update');
      const written = await c.post('/set', { a: 2 });
      expect(written.status).toBe(503);
      const streamed = await c.post('/set-and-stream', { a: 3 });
      expect(streamed.status).toBe(503);
      expect(streamed.text).not.toContain('chunk');
      expect((await c.get('/public')).status).toBe(200);
      flaky.failing.clear();
      expect((await c.get('/read')).body.a).toBe(1);
    });

    it('keeps null, delete and clear exactly', async () => {
      const c = new Client(app);
      await c.post('/set', { a: null, b: 1, c: 'x' });
      expect((await c.get('/get/a')).body).toEqual({ value: null, has: true });
      await c.delete('/key/b');
      expect((await c.get('/get/b')).body).toEqual({ value: null, has: false });
      expect((await c.get('/get/c')).body).toEqual({ value: 'x', has: true });
      await c.post('/clear');
      expect((await c.get('/get/c')).body).toEqual({ value: null, has: false });
      await c.post('/set', { d: 4 });
      expect((await c.get('/read')).body).toEqual({ a: null, b: null, c: false, again: null });
      expect((await c.get('/get/d')).body).toEqual({ value: 4, has: true });
    });

    it('keeps tricky keys and values', async () => {
      const c = new Client(app);
      const value = { 'ü€😀': ['\u0000x', -0.5, 1e21, true, null, { '': '' }], quote: '"\'\\' };
      await c.post('/put/__proto__', { value: 1 });
      await c.post('/put/constructor', { value: 2 });
      await c.post('/put/weird%20key', { value });
      expect((await c.get('/get/__proto__')).body).toEqual({ value: 1, has: true });
      expect((await c.get('/get/constructor')).body).toEqual({ value: 2, has: true });
      expect((await c.get('/get/weird%20key')).body).toEqual({ value, has: true });
      expect((await c.get('/get/toString')).body).toEqual({ value: null, has: false });
      // Regression: PostgreSQL's jsonb refuses U+0000; the store escapes it (and its own marker).
      expect((await c.post('/put/nul', { value: ['a\u0000\ue000b', '\ue0000', '\\u0000'] })).status).toBe(200);
      expect((await c.get('/get/nul')).body).toEqual({ value: ['a\u0000\ue000b', '\ue0000', '\\u0000'], has: true });
    });

    // Issue 10.8: on PostgreSQL without encryption a key holding U+E000 was never deleted. (A key
    // holding U+0000 never reaches the store over HTTP: the handle refuses it with a TypeError.)
    it('deletes keys whose names hold U+E000', async () => {
      const c = new Client(app);
      for (const key of ['a\ue000b', '\ue0000', '\ue0001']) {
        const path = encodeURIComponent(key);
        expect((await c.post(`/put/${path}`, { value: 1 })).status).toBe(200);
        expect({ key, got: (await c.get(`/get/${path}`)).body }).toEqual({ key, got: { value: 1, has: true } });
        expect((await c.delete(`/key/${path}`)).status).toBe(200);
        expect({ key, got: (await c.get(`/get/${path}`)).body }).toEqual({ key, got: { value: null, has: false } });
      }
    });
  });

  describe('headers', () => {
    it('sets the cookie with the strict defaults and no-store, only when created or rotated', async () => {
      const c = new Client(app);
      const created = await c.post('/set', { a: 1 });
      const line = (created.headers['set-cookie'] as unknown as string[])[0];
      expect(line).toMatch(/^__Host-sid=[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
      expect(created.headers['cache-control']).toBe('no-store');
      expect(created.headers['vary']).toMatch(/Cookie/);
      const written = await c.post('/set', { a: 2 });
      expect(written.headers['set-cookie']).toBeUndefined();
      expect(written.headers['vary']).toMatch(/Cookie/);
      const read = await c.get('/read');
      expect(read.headers['set-cookie']).toBeUndefined();
      expect(read.headers['vary']).toBe('Cookie');
      expect(read.headers['cache-control']).toBeUndefined();
      const before = c.cookie;
      const rotated = await c.post('/regenerate');
      expect(sessionCookie(rotated)).toBeDefined();
      expect(c.cookie).not.toBe(before);
      expect(rotated.headers['cache-control']).toBe('no-store');
    });

    it('clears the cookie with Max-Age=0 under the same name and path on destroy', async () => {
      const c = new Client(app);
      await c.post('/set', { a: 1 });
      const old = c.cookie!;
      const res = await c.post('/destroy');
      const line = (res.headers['set-cookie'] as unknown as string[])[0];
      expect(line).toMatch(/^__Host-sid=; Max-Age=0; .*Path=\/; HttpOnly; Secure; SameSite=Lax$/);
      const again = await request(app.getHttpServer()).get('/read').set('Cookie', old);
      expect(again.body).toEqual({ a: null, b: null, c: false, again: null });
    });

    it('honours cookie options and refuses unsafe combinations at start-up', async () => {
      const custom = await appWith({ cookie: { name: 'app_sid', secure: false, sameSite: 'strict', path: '/', domain: 'example.com', maxAge: 60_000 } });
      const res = await request(custom.getHttpServer()).post('/set').send({ a: 1 });
      const line = (res.headers['set-cookie'] as unknown as string[])[0];
      expect(line).toMatch(/^app_sid=[^;]+; Max-Age=60; Expires=[^;]+; Path=\/; Domain=example.com; HttpOnly; SameSite=Strict$/);
      const plain = await appWith({ cookie: { secure: false } });
      const r2 = await request(plain.getHttpServer()).post('/set').send({ a: 1 });
      expect((r2.headers['set-cookie'] as unknown as string[])[0]).toMatch(/^sid=/);
      // Unsafe combinations stop the application at start-up, naming what is wrong.
      const refusals: Array<[Partial<SessionModuleOptions>, RegExp]> = [
        [{ cookie: { sameSite: 'none', secure: false } }, /cookie\.sameSite/],
        [{ cookie: { name: '__Host-sid', domain: 'example.com' } }, /__Host-/],
        [{ cookie: { name: '__Host-sid', secure: false } }, /__Host-/],
        [{ cookie: { name: '__Host-sid', path: '/app' } }, /__Host-/],
        [{ cookie: { name: '__Secure-sid', secure: false } }, /__Secure-/],
        [{ secret: 'too-short' }, /secret/],
      ];
      for (const [options, message] of refusals) {
        // An app that starts after all is closed again, and the test fails on the missing error.
        const outcome = await createTestApp({ platform, store, options }).then(
          async (started) => (await started.close(), undefined),
          (err: Error) => err,
        );
        expect(outcome?.message).toMatch(message);
      }
    });
  });

  describe('expiry', () => {
    it('ends a session that was idle too long, and removes it', async () => {
      // Each read comes well within the idle timeout of the previous one (2.5 s of slack for a busy
      // machine), and the last wait is measured from the answer of the last read, which is after
      // its write: the session has certainly been idle for idleTimeout then.
      const short = await appWith({ idleTimeout: 3000, touchInterval: 50 });
      const c = new Client(short);
      await c.post('/set', { a: 1 });
      await sleep(500);
      expect((await c.get('/get/a')).body.value).toBe(1);
      await sleep(500);
      expect((await c.get('/get/a')).body.value).toBe(1);
      const lastSeen = Date.now();
      const cookie = c.cookie!;
      await sleep(lastSeen + 3000 + 1 - Date.now());
      const gone = await c.get('/get/a');
      expect(gone.body).toEqual({ value: null, has: false });
      const key = createHash('sha256').update(cookie.split('=')[1].split('.')[0]).digest('hex');
      expect((await rows()).some((r) => r.id === key)).toBe(false);
    });

    it('ends a session at its absolute timeout however it is used, regenerate included', async () => {
      // Used and regenerated every 300 ms for a second and more, well within both timeouts; then,
      // once the absolute timeout has certainly passed (measured from the creating answer) but the
      // idle one cannot have (the last use was at least 1.2 s after creation), it is gone.
      const short = await appWith({ idleTimeout: 3500, absoluteTimeout: 4000, touchInterval: 50 });
      const c = new Client(short);
      await c.post('/set', { a: 1 });
      const created = Date.now();
      for (let i = 0; i < 4; i++) {
        await sleep(300);
        await c.post('/regenerate');
        expect((await c.get('/get/a')).body.value).toBe(1);
      }
      await sleep(created + 4000 + 1 - Date.now());
      expect((await c.get('/get/a')).body).toEqual({ value: null, has: false });
    });
  });

  describe('values', () => {
    it.each(['function', 'symbol', 'bigint', 'cycle', 'date', 'nan'])('rejects a %s with a TypeError naming the key, storing nothing', async (kind) => {
      const c = new Client(app);
      await c.post('/set', { keep: 1 });
      const res = await c.post(`/bad-value/${kind}`);
      expect(res.status).toBe(200);
      expect(res.body.error).toBe('TypeError');
      expect(res.body.message).toContain("'bad'");
      expect((await c.get('/get/bad')).body).toEqual({ value: null, has: false });
      expect((await c.get('/get/keep')).body).toEqual({ value: 1, has: true });
    });

    it('rejects data past maxDataBytes with SessionDataTooLargeError, storing nothing', async () => {
      const small = await appWith({ maxDataBytes: 1000 });
      const c = new Client(small);
      expect((await c.post('/big/900')).body).toEqual({ error: null });
      const res = await c.post('/big/1000');
      expect(res.body.error).toBe('SessionDataTooLargeError');
      expect((await c.get('/get/big')).body.value).toHaveLength(900);
    });
  });

  describe('bad cookies', () => {
    const bad = [
      ['malformed', '__Host-sid=not-a-session'],
      ['oversized', `__Host-sid=${'A'.repeat(8000)}`],
      ['empty', '__Host-sid='],
      ['quoted garbage', '__Host-sid="%00%ff"'],
      ['client-chosen id', `__Host-sid=${'a'.repeat(43)}.${'b'.repeat(43)}`],
    ];

    it.each(bad)('%s: a normal response with no session and no query', async (_, cookie) => {
      const [res, n] = await counted(() => request(app.getHttpServer()).get('/read').set('Cookie', cookie));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ a: null, b: null, c: false, again: null });
      expect(n).toBe(0);
    });

    it.each([
      ['unicode bytes', Buffer.from('__Host-sid=ü€😀.ü€😀', 'utf8'), 200],
      ['latin1 bytes', Buffer.from('__Host-sid=\xff\xfe', 'latin1'), 200],
      ['a NUL byte', Buffer.from('__Host-sid=abc\x00def', 'latin1'), 400],
      ['a control byte', Buffer.from('__Host-sid=abc\x01def', 'latin1'), 400],
    ])('%s in the cookie: no session, never a 5xx', async (_, cookie, status) => {
      const head = Buffer.concat([Buffer.from('GET /read HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nCookie: '), cookie, Buffer.from('\r\n\r\n')]);
      logger.reset();
      const res = await rawRequest(app, head);
      expect(res.status).toBe(status);
      if (status === 200) expect(res.body).toContain('"a":null');
      expect(logger.count).toBe(0);
    });

    it('never adopts an id a client sent: a write makes a new one', async () => {
      const chosen = `${'a'.repeat(43)}.${'b'.repeat(43)}`;
      const res = await request(app.getHttpServer()).post('/set').set('Cookie', `__Host-sid=${chosen}`).send({ a: 1 });
      expect(res.status).toBe(200);
      const issued = sessionCookie(res)!.split('=')[1];
      expect(issued).not.toBe(chosen);
      expect(issued.split('.')[0]).not.toBe('a'.repeat(43));
    });

    it('ignores a cookie sent twice, even with the same value (cookie tossing)', async () => {
      const c = new Client(app);
      await c.post('/set', { a: 1 });
      const [res, n] = await counted(() => request(app.getHttpServer()).get('/read').set('Cookie', `${c.cookie}; other=1; ${c.cookie}`));
      expect(res.body.a).toBeNull();
      expect(n).toBe(0);
    });

    it('ignores a cookie signed by an unknown secret, accepts one signed by a retired secret', async () => {
      const other = await createTestApp({ platform, store, options: { secret: 'another-secret-another-secret-another-secret' } });
      apps.push(other);
      const foreign = new Client(other);
      await foreign.post('/set', { a: 'foreign' });
      const [res, n] = await counted(() => request(app.getHttpServer()).get('/read').set('Cookie', foreign.cookie!));
      expect(res.body.a).toBeNull();
      expect(n).toBe(0);
      const rotated = await createTestApp({ platform, store, options: { secret: ['a-brand-new-secret-for-signing-0123456789', 'another-secret-another-secret-another-secret'] } });
      apps.push(rotated);
      expect((await request(rotated.getHttpServer()).get('/read').set('Cookie', foreign.cookie!)).body.a).toBe('foreign');
    });

    it("a destroyed session's token gets no session", async () => {
      const c = new Client(app);
      await c.post('/set', { a: 1 });
      const old = c.cookie!;
      await c.post('/destroy');
      const res = await request(app.getHttpServer()).post('/set').set('Cookie', old).send({ b: 1 });
      expect(res.status).toBe(200);
      // A brand-new session with a cookie of its own: the old token is never adopted again.
      const fresh = sessionCookie(res);
      expect(fresh).toMatch(/^__Host-sid=[A-Za-z0-9_-]{43}\./);
      expect(fresh).not.toBe(old);
      expect((await request(app.getHttpServer()).get('/get/b').set('Cookie', fresh!)).body).toEqual({ value: 1, has: true });
      expect((await request(app.getHttpServer()).get('/read').set('Cookie', old)).body.a).toBeNull();
      expect((await request(app.getHttpServer()).get('/get/b').set('Cookie', old)).body).toEqual({ value: null, has: false });
    });
  });

  describe('CurrentSession', () => {
    it('serves each of many interleaved requests its own session from one singleton', async () => {
      const constructed = CartService.constructed;
      const clients = Array.from({ length: 8 }, () => new Client(app));
      await Promise.all(clients.map((c, i) => c.post(`/cart/item${i}`)));
      const results = await Promise.all(clients.map((c, i) => c.get(`/cart-slow/${(8 - i) * 15}`)));
      results.forEach((r, i) => {
        expect(r.body.items).toEqual([`item${i}`]);
        expect(r.body.after).toEqual([`item${i}`]);
      });
      expect(CartService.constructed).toBe(constructed);
    });
  });

  it('creates the table with the shipped migration', async () => {
    const { DataSource } = await import('typeorm');
    const { CreateSessionsTable1764000000000, UpgradeSessionsTable1765000000000, SessionEntity, MySqlSessionEntity, TypeOrmSessionStore } = await import('../src/typeorm.js');
    const { dataSourceOptions } = await import('./support/databases.js');
    const ds = new DataSource({ ...dataSourceOptions(engine), entities: [engine === 'mariadb' ? MySqlSessionEntity : SessionEntity], migrations: [CreateSessionsTable1764000000000, UpgradeSessionsTable1765000000000], migrationsTableName: `mig_${engine}` });
    await ds.initialize();
    try {
      await ds.query(`DROP TABLE IF EXISTS ${quote(engine, 'sessions')}`);
      await ds.query(`DROP TABLE IF EXISTS ${quote(engine, `mig_${engine}`)}`);
      await ds.runMigrations();
      const migrated = await createTestApp({ platform, store: new TypeOrmSessionStore(ds) });
      const c = new Client(migrated);
      await c.post('/set', { a: 'migrated' });
      expect((await c.get('/get/a')).body.value).toBe('migrated');
      const big = await createTestApp({ platform, store: new TypeOrmSessionStore(ds), options: { maxDataBytes: 200_000 } });
      const b = new Client(big);
      expect((await b.post('/big/150000')).body.error).toBeNull();
      expect((await b.get('/get/big')).body.value).toHaveLength(150000);
      await big.close();
      await migrated.close();
      await ds.undoLastMigration();
      await ds.undoLastMigration();
    } finally {
      await ds.destroy();
    }
  });
});

describe.each(PLATFORMS)('the embedded default store on %s', (platform) => {
  it('works with no store option: a SQLite file, created on first use', async () => {
    const { mkdtempSync, existsSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'lazy-session-'));
    const path = join(dir, 'sessions.sqlite');
    const { Test } = await import('@nestjs/testing');
    const { SessionModule } = await import('../src/index.js');
    const { TestController, OpenController } = await import('./support/test-app.js');
    const moduleRef = await Test.createTestingModule({
      imports: [SessionModule.forRoot({ secret: SECRET, sqlitePath: path })],
      controllers: [TestController, OpenController],
      providers: [CartService],
    }).compile();
    const app = await startApp(moduleRef, platform);
    const c = new Client(app);
    await c.post('/set', { a: 'embedded' });
    expect((await c.get('/get/a')).body.value).toBe('embedded');
    expect(existsSync(path)).toBe(true);
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
