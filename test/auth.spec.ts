import request from 'supertest';
import type { INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { DataSource } from 'typeorm';
import { CountingLogger } from './support/counting-logger.js';
import { describeEngines, openStore, type Engine } from './support/databases.js';
import { createTestApp, sessionCookie, PLATFORMS } from './support/test-app.js';
import { Client, sleep } from './support/http.js';
import { breakable } from './support/breakable.js';
import { storeKey } from '../src/crypto/token.js';

/** The store id of a `__Host-sid=<token>.<sig>` cookie. */
const idOf = (cookie: string) => storeKey(cookie.slice(cookie.indexOf('=') + 1, cookie.indexOf('=') + 44));
import { SessionAuthGuard, type SessionEvent, type SessionModuleOptions, type SessionStore, type TypeOrmSessionStore } from '../src/index.js';

const quote = (engine: Engine, t: string) => (engine === 'mariadb' ? `\`${t}\`` : `"${t}"`);

for (const platform of PLATFORMS) await describeEngines(`authentication on ${platform}`, (engine) => {
  const table = `auth_${platform}_${engine}`;
  const logger = new CountingLogger();
  const events: SessionEvent[] = [];
  let dataSource: DataSource;
  let store: TypeOrmSessionStore;
  let app: INestApplication;
  const apps: INestApplication[] = [];

  async function appWith(options: Partial<SessionModuleOptions>, extra: { store?: SessionStore; providers?: unknown[] } = {}) {
    const a = await createTestApp({ platform, store: extra.store ?? store, options: { onEvent: (e) => void events.push(e), ...options }, providers: extra.providers });
    apps.push(a);
    return a;
  }

  const row = async (userId: string) => dataSource.query(`SELECT * FROM ${quote(engine, table)} WHERE user_id = ${engine === 'postgres' ? '$1' : '?'}`, [userId]);
  const count = async (where: string, params: unknown[] = []) =>
    Number(((await dataSource.query(`SELECT COUNT(*) AS n FROM ${quote(engine, table)}${where}`, params)) as { n: unknown }[])[0].n);
  const rowCount = () => count('');
  const rowsWithId = (id: string) => count(` WHERE id = ${engine === 'postgres' ? '$1' : '?'}`, [id]);

  beforeAll(async () => {
    ({ dataSource, store } = await openStore(engine, table, logger));
    app = await appWith({});
  });
  afterAll(async () => {
    for (const a of apps) await a.close();
    await dataSource.destroy();
  });
  beforeEach(() => (events.length = 0));

  describe('login and logout', () => {
    it('login rotates the id: the old one stops working at once, the data stays', async () => {
      const c = new Client(app);
      await c.post('/set', { cart: ['apple'] });
      const before = c.cookie!;
      const rowsBefore = await rowCount();
      expect(await rowsWithId(idOf(before))).toBe(1);
      const res = await c.post('/login/alice');
      expect(res.status).toBe(200);
      expect(sessionCookie(res)).toBeDefined();
      expect(c.cookie).not.toBe(before);
      expect((await c.get('/whoami')).body).toEqual({ userId: 'alice' });
      expect((await c.get('/get/cart')).body.value).toEqual(['apple']);
      // The old cookie reaches neither the user nor the data: the session moved, it was not copied.
      const old = await request(app.getHttpServer()).get('/whoami').set('Cookie', before);
      expect(old.body).toEqual({ userId: null });
      const oldData = await request(app.getHttpServer()).get('/get/cart').set('Cookie', before);
      expect(oldData.body).toEqual({ value: null, has: false });
      expect(await rowsWithId(idOf(before))).toBe(0);
      expect(await rowsWithId(idOf(c.cookie!))).toBe(1);
      expect(await rowCount()).toBe(rowsBefore);
      const [stored] = await row('alice');
      expect(stored).toBeDefined();
      expect(Number(stored.auth_at)).toBeGreaterThan(Date.now() - 10_000);
      expect(String(stored.data)).not.toContain(before.split('=')[1].split('.')[0]);
    });

    it('login on a fresh request creates one session with the user', async () => {
      const c = new Client(app);
      logger.reset();
      await c.post('/login/fresh-user');
      expect(logger.count).toBe(1);
      expect((await c.get('/whoami')).body).toEqual({ userId: 'fresh-user' });
      expect(events.map((e) => e.type)).toEqual(['created', 'login']);
    });

    it('refuses a user id no store can index, with a TypeError, storing nothing', async () => {
      for (const bad of ['a\u0000b', 'a\ud800', 'x'.repeat(256), '']) {
        const c = new Client(app);
        const res = await c.post('/login-checked', { user: bad });
        expect(res.body.error).toBe('TypeError');
        expect(c.cookie).toBeUndefined();
      }
    });

    it('logging in as another user starts from empty data', async () => {
      const c = new Client(app);
      await c.post('/login/bob');
      await c.post('/set', { secret: 'bob-only' });
      await c.post('/login/carol');
      expect((await c.get('/whoami')).body).toEqual({ userId: 'carol' });
      expect((await c.get('/get/secret')).body).toEqual({ value: null, has: false });
    });

    it('logout destroys the session server-side and clears the cookie', async () => {
      const c = new Client(app);
      await c.post('/login/dave');
      const token = c.cookie!;
      const res = await c.post('/logout');
      expect((res.headers['set-cookie'] as unknown as string[])[0]).toMatch(/^__Host-sid=; Max-Age=0/);
      expect(await row('dave')).toHaveLength(0);
      expect((await request(app.getHttpServer()).get('/whoami').set('Cookie', token)).body).toEqual({ userId: null });
      expect(events.map((e) => e.type)).toEqual(['created', 'login', 'logout']);
    });

    it('remember: a persistent cookie whose Max-Age never passes the absolute expiry; otherwise a browser-session cookie', async () => {
      const a = await appWith({ absoluteTimeout: 3_600_000, idleTimeout: 600_000 });
      const plain = await request(a.getHttpServer()).post('/login/erin').send({});
      expect((plain.headers['set-cookie'] as unknown as string[])[0]).not.toMatch(/Max-Age/);
      const remembered = await request(a.getHttpServer()).post('/login/erin').send({ remember: true });
      const line = (remembered.headers['set-cookie'] as unknown as string[])[0];
      const maxAge = Number(/Max-Age=(\d+)/.exec(line)![1]);
      expect(maxAge).toBeGreaterThan(3590);
      expect(maxAge).toBeLessThanOrEqual(3600);
      // A later rotation keeps the cookie persistent, with what is left of the absolute lifetime.
      const c = new Client(a);
      c.cookie = sessionCookie(remembered);
      await sleep(1100);
      const rotated = await c.post('/regenerate');
      const later = Number(/Max-Age=(\d+)/.exec((rotated.headers['set-cookie'] as unknown as string[])[0])![1]);
      expect(later).toBeLessThan(maxAge);
    });
  });

  describe('guards', () => {
    it('@Authenticated answers 401 in Nest\'s JSON shape, with no-store', async () => {
      const res = await request(app.getHttpServer()).get('/private');
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ statusCode: 401, message: 'Authentication required', error: 'Unauthorized' });
      expect(res.headers['cache-control']).toBe('no-store');
      const c = new Client(app);
      await c.post('/login/frank');
      const ok = await c.get('/private');
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ userId: 'frank' });
      expect(ok.headers['cache-control']).toBe('no-store');
    });

    it('maxAuthAge requires a recent login (step-up)', async () => {
      const c = new Client(app);
      await c.post('/login/gina');
      expect((await c.post('/sensitive')).status).toBe(200);
      const [stored] = await row('gina');
      await dataSource.query(`UPDATE ${quote(engine, table)} SET auth_at = ${engine === 'postgres' ? '$1' : '?'} WHERE user_id = ${engine === 'postgres' ? '$2' : '?'}`, [Date.now() - 120_000, 'gina']);
      expect(stored).toBeDefined();
      const stale = await c.post('/sensitive');
      expect(stale.status).toBe(401);
      expect(stale.body.message).toBe('Recent authentication required');
      await c.post('/login/gina');
      expect((await c.post('/sensitive')).status).toBe(200);
    });

    it('a global SessionAuthGuard protects everything but @Public routes', async () => {
      const guarded = await appWith({}, { providers: [{ provide: APP_GUARD, useClass: SessionAuthGuard }] });
      expect((await request(guarded.getHttpServer()).get('/public')).status).toBe(401);
      expect((await request(guarded.getHttpServer()).get('/open')).status).toBe(200);
      const c = new Client(guarded);
      expect((await c.post('/login/hank')).status).toBe(401);
    });

    it('fails closed: a store error gives 503, never 200', async () => {
      const flaky = breakable(store);
      const a = await appWith({}, { store: flaky });
      const c = new Client(a);
      await c.post('/login/ivy');
      expect((await c.get('/private')).status).toBe(200);
      flaky.broken = true;
      const res = await c.get('/private');
      expect(res.status).toBe(503);
      expect(res.body.message).toBe('Session store unavailable');
      expect((await c.get('/public')).status).toBe(200);
      flaky.broken = false;
      expect((await c.get('/private')).status).toBe(200);
    });

    it('@SessionValue and @UserId cost nothing on routes that do not declare them', async () => {
      const c = new Client(app);
      await c.post('/login/jack');
      logger.reset();
      await c.get('/public');
      expect(logger.count).toBe(0);
      await c.get('/whoami');
      expect(logger.count).toBe(1);
    });
  });

  describe('SessionManager', () => {
    it('lists a user\'s sessions by handle, marks the current one, ends others', async () => {
      const devices = [new Client(app), new Client(app), new Client(app)];
      for (const d of devices) await d.post('/login/kate');
      const list = (await devices[0].get('/sessions')).body as Array<Record<string, unknown>>;
      expect(list).toHaveLength(3);
      expect(list.filter((s) => s.current)).toHaveLength(1);
      for (const s of list) {
        expect(Object.keys(s).sort()).toEqual(['createdAt', 'current', 'expiresAt', 'handle', 'lastSeenAt']);
        for (const d of devices) expect(d.cookie).not.toContain(String(s.handle));
        expect(new Date(String(s.expiresAt)).getTime()).toBeGreaterThan(Date.now());
      }
      const other = list.find((s) => !s.current)!;
      const stranger = new Client(app);
      await stranger.post('/login/mallory');
      expect((await stranger.delete(`/sessions/${other.handle}`)).body).toEqual({ ended: false });
      expect((await devices[0].get('/sessions')).body).toHaveLength(3);
      expect((await devices[0].delete(`/sessions/${other.handle}`)).body).toEqual({ ended: true });
      expect((await devices[0].get('/sessions')).body).toHaveLength(2);
      expect(events.filter((e) => e.type === 'destroyed').map((e) => e.handle)).toEqual([other.handle]);
      expect((await devices[0].post('/sessions/end-others')).body).toEqual({ ended: 1 });
      expect((await devices[0].get('/whoami')).body).toEqual({ userId: 'kate' });
      expect((await devices[1].get('/whoami')).body).toEqual({ userId: null });
      expect((await devices[2].get('/whoami')).body).toEqual({ userId: null });
    });

    it('maxSessionsPerUser ends the sessions that logged in first', async () => {
      const limited = await appWith({ maxSessionsPerUser: 2 });
      const devices = [new Client(limited), new Client(limited), new Client(limited)];
      for (const d of devices) {
        await d.post('/login/liam');
        await sleep(5);
      }
      expect((await devices[0].get('/whoami')).body).toEqual({ userId: null });
      expect((await devices[1].get('/whoami')).body).toEqual({ userId: 'liam' });
      expect((await devices[2].get('/whoami')).body).toEqual({ userId: 'liam' });
      expect(await row('liam')).toHaveLength(2);
    });

    it('prune removes expired sessions and reports them as expired', async () => {
      const short = await appWith({ idleTimeout: 300, touchInterval: 10 });
      const c = new Client(short);
      await c.post('/login/mia');
      await sleep(400);
      const { SessionManager } = await import('../src/index.js');
      const removed = await short.get(SessionManager).prune();
      expect(removed).toBeGreaterThanOrEqual(1);
      expect(await row('mia')).toHaveLength(0);
      expect(events.some((e) => e.type === 'expired' && e.userId === 'mia')).toBe(true);
    });
  });

  describe('events', () => {
    it('carry the handle and user id, never the token; a throwing listener never fails the request', async () => {
      const seen: SessionEvent[] = [];
      const a = await appWith({
        onEvent: (e) => {
          seen.push(e);
          throw new Error('listener bug');
        },
      });
      const c = new Client(a);
      // Every token the session had, before /destroy clears the cookie.
      const tokens: string[] = [];
      for (const step of [() => c.post('/set', { a: 1 }), () => c.post('/login/noah'), () => c.post('/regenerate')]) {
        await step();
        tokens.push(c.cookie!.slice(c.cookie!.indexOf('=') + 1, c.cookie!.indexOf('=') + 44));
      }
      expect(new Set(tokens).size).toBe(3);
      const res = await c.post('/destroy');
      expect(res.status).toBe(200);
      expect(c.cookie).toBeUndefined();
      expect(seen.map((e) => e.type)).toEqual(['created', 'regenerated', 'login', 'regenerated', 'destroyed']);
      const json = JSON.stringify(seen);
      for (const token of tokens) {
        expect(json).not.toContain(token);
        expect(json).not.toContain(storeKey(token));
      }
      const handles = new Set(seen.map((e) => e.handle));
      expect(handles.size).toBe(1);
      expect(seen[2]).toEqual({ type: 'login', handle: seen[0].handle, userId: 'noah', at: expect.any(Date) });
    });

    it('an expired session met on load is reported', async () => {
      const short = await appWith({ idleTimeout: 300, touchInterval: 10 });
      const c = new Client(short);
      await c.post('/login/olga');
      await sleep(400);
      events.length = 0;
      expect((await c.get('/whoami')).body).toEqual({ userId: null });
      expect(events.map((e) => [e.type, e.userId])).toEqual([['expired', 'olga']]);
    });
  });

  describe('cross-site requests', () => {
    const post = (a: INestApplication, cookie: string | undefined, headers: Record<string, string>) => {
      const r = request(a.getHttpServer()).post('/set').set(headers);
      if (cookie) r.set('Cookie', cookie);
      return r.send({ x: 1 });
    };

    it('refuses a state-changing request from another site that uses the session, with a cookie or not', async () => {
      const c = new Client(app);
      await c.post('/set', { a: 1 });
      const host = '127.0.0.1';
      expect((await post(app, c.cookie, { 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403);
      expect((await post(app, c.cookie, { Origin: 'https://evil.example' })).status).toBe(403);
      expect((await post(app, c.cookie, { Origin: 'null' })).status).toBe(403);
      expect((await post(app, c.cookie, { 'Sec-Fetch-Site': 'same-site', Origin: 'https://sub.example' })).status).toBe(403);
      expect((await post(app, '__Host-sid=garbage', { Origin: 'https://evil.example' })).status).toBe(403);
      expect((await post(app, c.cookie, {})).status).toBe(200);
      expect((await post(app, c.cookie, { 'Sec-Fetch-Site': 'same-origin' })).status).toBe(200);
      expect((await post(app, c.cookie, { 'Sec-Fetch-Site': 'none' })).status).toBe(200);
      expect((await post(app, c.cookie, { Host: host, Origin: `http://${host}` })).status).toBe(200);
      // Changed in 0.2.0 (login CSRF): without a cookie too, a cross-site request may not use the session.
      expect((await post(app, undefined, { Origin: 'https://evil.example' })).status).toBe(403);
      const get = await request(app.getHttpServer()).get('/read').set('Cookie', c.cookie!).set('Sec-Fetch-Site', 'cross-site');
      expect(get.status).toBe(200);
    });

    it('lets listed origins through, and can be turned off', async () => {
      const allowed = await appWith({ csrf: { allowedOrigins: ['https://app.example.com'] } });
      const c = new Client(allowed);
      await c.post('/set', { a: 1 });
      expect((await post(allowed, c.cookie, { Origin: 'https://app.example.com' })).status).toBe(200);
      expect((await post(allowed, c.cookie, { Origin: 'https://other.example.com' })).status).toBe(403);
      const off = await appWith({ csrf: false });
      const d = new Client(off);
      await d.post('/set', { a: 1 });
      expect((await post(off, d.cookie, { Origin: 'https://evil.example' })).status).toBe(200);
    });
  });
});
