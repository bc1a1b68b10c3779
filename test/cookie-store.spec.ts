import request from 'supertest';
import type { INestApplication } from '@nestjs/common';
import { CookieSessionStore, SessionManager, SessionStoreUnsupportedError, type SessionEvent, type SessionModuleOptions } from '../src/index.js';
import { resolveSessionOptions } from '../src/options.js';
import { createTestApp, PLATFORMS, SECRET, sessionCookie } from './support/test-app.js';
import { Client, sleep } from './support/http.js';

const KEY_A = 'cookie-store-key-A-0123456789abcdefghij';
const KEY_B = 'cookie-store-key-B-0123456789abcdefghij';

describe.each(PLATFORMS)('CookieSessionStore on %s', (platform) => {
  const apps: INestApplication[] = [];
  const events: SessionEvent[] = [];
  async function appWith(keys: string[], options: Partial<SessionModuleOptions> = {}) {
    const a = await createTestApp({ platform, store: new CookieSessionStore({ keys }), options: { onEvent: (e) => void events.push(e), ...options } });
    apps.push(a);
    return a;
  }
  afterAll(async () => {
    for (const a of apps) await a.close();
  });
  beforeEach(() => (events.length = 0));

  it('keeps the whole session in a sealed cookie, re-sent on every write and not on reads', async () => {
    const app = await appWith([KEY_A]);
    const c = new Client(app);
    const created = await c.post('/set', { cart: ['secret-item'], n: 1 });
    const line = (created.headers['set-cookie'] as unknown as string[])[0];
    expect(line).toMatch(/^__Host-sid=[A-Za-z0-9_-]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    expect(line).not.toContain('secret-item');
    expect(Buffer.from(c.cookie!.split('=')[1].slice(6), 'base64url').toString('latin1')).not.toContain('secret-item');
    const read = await c.get('/read');
    expect(read.headers['set-cookie']).toBeUndefined();
    expect((await c.get('/get/cart')).body).toEqual({ value: ['secret-item'], has: true });
    const before = c.cookie;
    const written = await c.post('/incr/n');
    expect(written.body).toEqual({ n: 2 });
    expect(sessionCookie(written)).toBeDefined();
    expect(c.cookie).not.toBe(before);
    expect((await c.get('/get/n')).body.value).toBe(2);
    expect(events.map((e) => e.type)).toEqual(['created']);
  });

  it('treats a tampered cookie, or one sealed under an unknown key, as no session', async () => {
    const app = await appWith([KEY_A]);
    const c = new Client(app);
    await c.post('/set', { a: 1 });
    const [name, value] = c.cookie!.split('=');
    const flipped = value.slice(0, 20) + (value[20] === 'A' ? 'B' : 'A') + value.slice(21);
    const tampered = await request(app.getHttpServer()).get('/read').set('Cookie', `${name}=${flipped}`);
    expect(tampered.status).toBe(200);
    expect(tampered.body.a).toBeNull();
    const other = await appWith([KEY_B]);
    expect((await request(other.getHttpServer()).get('/read').set('Cookie', c.cookie!)).body.a).toBeNull();
  });

  it('rotates keys: the first seals, every key opens', async () => {
    const old = await appWith([KEY_A]);
    const c = new Client(old);
    await c.post('/set', { a: 'sealed-with-A' });
    const rotated = await appWith([KEY_B, KEY_A]);
    const r = new Client(rotated);
    r.cookie = c.cookie;
    expect((await r.get('/get/a')).body.value).toBe('sealed-with-A');
    await r.post('/set', { b: 1 });
    const onlyB = await appWith([KEY_B]);
    const b = new Client(onlyB);
    b.cookie = r.cookie;
    expect((await b.get('/get/a')).body.value).toBe('sealed-with-A');
  });

  it('refuses data that would not fit a 4096-byte cookie, clearly, keeping what it had', async () => {
    const app = await appWith([KEY_A]);
    const c = new Client(app);
    expect((await c.post('/big/2000')).body).toEqual({ error: null });
    const res = await c.post('/big/3500');
    expect(res.body.error).toBe('SessionDataTooLargeError');
    expect(res.body.message).toMatch(/Set-Cookie line of the cookie store .* over the limit of 4096/);
    expect((await c.get('/get/big')).body.value).toHaveLength(2000);
    expect((c.cookie!.length)).toBeLessThan(4096);
  });

  it('logs in and out, guards routes, remembers', async () => {
    const app = await appWith([KEY_A], { absoluteTimeout: 3_600_000 });
    const c = new Client(app);
    expect((await c.get('/private')).status).toBe(401);
    const login = await c.post('/login/zoe', { remember: true });
    expect(Number(/Max-Age=(\d+)/.exec((login.headers['set-cookie'] as unknown as string[])[0])![1])).toBeLessThanOrEqual(3600);
    expect((await c.get('/private')).body).toEqual({ userId: 'zoe' });
    const loggedIn = c.cookie!;
    const out = await c.post('/logout');
    expect((out.headers['set-cookie'] as unknown as string[])[0]).toMatch(/Max-Age=0/);
    expect((await c.get('/private')).status).toBe(401);
    expect(events.map((e) => e.type)).toEqual(['created', 'login', 'logout']);
    // Stateless: the copy of the cookie kept before logout still opens until it expires.
    expect((await request(app.getHttpServer()).get('/whoami').set('Cookie', loggedIn)).body).toEqual({ userId: 'zoe' });
  });

  it('enforces the idle and absolute timeouts from inside the cookie', async () => {
    // Read every 500 ms (each read re-seals the cookie with a new last-seen time): alive, with 1.5 s
    // of slack on both timeouts. Then, once the absolute timeout has certainly passed (measured from
    // the creating answer) while the idle one cannot have (last use at least 1.5 s after creation),
    // the cookie opens to nothing; the first cookie, idle since creation, too.
    const app = await appWith([KEY_A], { idleTimeout: 2000, absoluteTimeout: 3000, touchInterval: 40 });
    const c = new Client(app);
    await c.post('/set', { a: 1 });
    const created = Date.now();
    const stale = c.cookie!;
    for (let i = 0; i < 3; i++) {
      await sleep(500);
      expect((await c.get('/get/a')).body.value).toBe(1);
    }
    expect(c.cookie).not.toBe(stale);
    await sleep(created + 3000 + 1 - Date.now());
    expect((await c.get('/get/a')).body.value).toBeNull();
    expect((await request(app.getHttpServer()).get('/get/a').set('Cookie', stale)).body.value).toBeNull();
    expect(events.some((e) => e.type === 'expired')).toBe(true);
  });

  it('says plainly what it cannot do', async () => {
    const app = await appWith([KEY_A]);
    const manager = app.get(SessionManager);
    await expect(manager.listForUser('u')).rejects.toThrow(SessionStoreUnsupportedError);
    await expect(manager.listForUser('u')).rejects.toThrow(/cannot list a user's sessions/);
    await expect(manager.destroyAllForUser('u')).rejects.toThrow(/cannot end a user's sessions/);
    await expect(manager.destroyByHandle('h')).rejects.toThrow(/cannot end a session by its handle/);
    expect(await manager.prune()).toBe(0);
    expect(() => resolveSessionOptions({ secret: SECRET, store: new CookieSessionStore({ keys: [KEY_A] }), maxSessionsPerUser: 2 })).toThrow(/needs a server-side store/);
    expect(() => new CookieSessionStore({ keys: ['short'] })).toThrow(/at least 32 characters/);
  });
});
