import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { startDemo, stopDemos, type DemoProcess } from './support/demo-process.js';
import { escapeHtml } from '../demo/views.js';

/** The demo's routes end to end over HTTP, on the library's default SQLite store in a temp file. */

const COOKIE = '__Host-sid';
let dir: string;
let demo: DemoProcess;
/** The demo's origin: it runs in a process of its own (see startDemo). */
let server: string;

const PLATFORMS = ['express', 'fastify'] as const;



type Res = { headers: Record<string, unknown>; status: number; text: string };

const setCookies = (res: Res): string[] => (res.headers['set-cookie'] as string[] | undefined) ?? [];
const sessionLine = (res: Res) => setCookies(res).find((l) => l.startsWith(`${COOKIE}=`));
/** The Cookie header a browser would send next, from a response that set the session cookie. */
const cookieFrom = (res: Res): string => {
  const line = sessionLine(res);
  if (!line) throw new Error(`no ${COOKIE} in Set-Cookie: ${JSON.stringify(setCookies(res))}`);
  return line.split(';')[0];
};
const handlesIn = (html: string) => [...html.matchAll(/name="handle" value="([^"]+)"/g)].map((m) => m[1]);
const sessionCount = (html: string) => Number(/data-testid="session-count">(\d+)</.exec(html)?.[1]);

/** Browsers send these on a same-origin form POST; the library's CSRF rule relies on them. */
const sameOrigin = { 'Sec-Fetch-Site': 'same-origin', Accept: 'text/html' };

async function login(username: string, password: string, extra: Record<string, string> = {}, cookie?: string) {
  const req = request(server).post('/login').type('form').set(sameOrigin);
  if (cookie) req.set('Cookie', cookie);
  return req.send({ username, password, ...extra });
}

async function loginAs(username: 'alice' | 'bob'): Promise<string> {
  const res = await login(username, `${username}-demo-password`);
  expect(res.status).toBe(303);
  return cookieFrom(res);
}

describe.each(PLATFORMS)('demo on %s', (platform) => {
  /** A second, read-only connection to the demo's SQLite file (WAL: it sees every commit). */
  let db: DataSource;
  /** How many stored sessions hold this text in their data. */
  const rowsHolding = async (text: string): Promise<number> => Number((await db.query(`SELECT COUNT(*) AS n FROM sessions WHERE instr(data, ?) > 0`, [text]))[0].n);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'demo-spec-'));
    // These suites log in far more often than a person: the real limit has its own app below.
    demo = await startDemo({ host: '127.0.0.1', sqlitePath: join(dir, 'sessions.sqlite'), platform, loginAttempts: { limit: 1000, ttl: 60_000 } });
    server = `http://127.0.0.1:${demo.port}`;
    db = await new DataSource({ type: 'better-sqlite3', database: join(dir, 'sessions.sqlite'), readonly: true }).initialize();
  }, 120_000);

  afterAll(async () => {
    await db?.destroy();
    await demo?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  describe('demo: home page, visit counter and cart', () => {
    it('counts visits in the session and sets a __Host- cookie that is Secure, HttpOnly and SameSite=Lax', async () => {
      const first = await request(server).get('/');
      expect(first.status).toBe(200);
      expect(first.headers['content-type']).toMatch(/text\/html/);
      const line = sessionLine(first)!;
      expect(line).toMatch(/; Path=\//);
      expect(line).toMatch(/; HttpOnly/);
      expect(line).toMatch(/; Secure/);
      expect(line).toMatch(/; SameSite=Lax/);
      expect(line).not.toMatch(/Max-Age|Domain/);
      expect(first.text).toContain('data-testid="visits">1<');
      const cookie = cookieFrom(first);
      const second = await request(server).get('/').set('Cookie', cookie);
      expect(second.text).toContain('data-testid="visits">2<');
      expect(sessionLine(second)).toBeUndefined();
    });

    it('adds items to the cart (escaped on the page), and clears it', async () => {
      const cookie = cookieFrom(await request(server).get('/'));
      const evil = '<script>alert("x")</script>';
      for (const item of ['apple', evil]) {
        const res = await request(server).post('/cart').type('form').set(sameOrigin).set('Cookie', cookie).send({ item });
        expect(res.status).toBe(303);
        expect(res.headers.location).toBe('/');
      }
      const page = await request(server).get('/').set('Cookie', cookie);
      expect(page.text).toContain('<li>apple</li>');
      expect(page.text).toContain(`<li>${escapeHtml(evil)}</li>`);
      expect(page.text).not.toContain(evil);
      await request(server).post('/cart/clear').set(sameOrigin).set('Cookie', cookie).expect(303);
      expect((await request(server).get('/').set('Cookie', cookie)).text).toContain('data-testid="cart-empty"');
    });

    it('refuses a cross-site form POST that carries the session cookie', async () => {
      const cookie = cookieFrom(await request(server).get('/'));
      const res = await request(server)
        .post('/cart')
        .type('form')
        .set({ 'Sec-Fetch-Site': 'cross-site', Origin: 'https://evil.example' })
        .set('Cookie', cookie)
        .send({ item: 'forged' });
      expect(res.status).toBe(403);
      expect((await request(server).get('/').set('Cookie', cookie)).text).not.toContain('forged');
    });
  });

  describe('demo: login', () => {
    it('a wrong password (or unknown user) shows the form again with 401 and creates no session', async () => {
      for (const [u, p] of [['alice', 'wrong-password'], ['mallory', 'alice-demo-password'], ['alice', '']]) {
        const res = await login(u, p);
        expect(res.status).toBe(401);
        expect(res.headers['content-type']).toMatch(/text\/html/);
        expect(res.text).toContain('data-testid="login-error"');
        expect(res.text).toContain(`value="${escapeHtml(u)}"`);
        expect(setCookies(res)).toEqual([]);
        expect(res.headers['cache-control']).toBe('no-store');
      }
    });

    it('a wrong password leaves an existing anonymous session as it was', async () => {
      const cookie = cookieFrom(await request(server).get('/'));
      const res = await login('alice', 'nope', {}, cookie);
      expect(res.status).toBe(401);
      expect(setCookies(res)).toEqual([]);
      expect((await request(server).get('/').set('Cookie', cookie)).text).toContain('data-testid="visits">2<');
    });

    it('a crafted body (arrays instead of strings) is a failed login, not a crash', async () => {
      const res = await request(server).post('/login').type('form').set(sameOrigin).send('username[]=alice&password[]=alice-demo-password');
      expect(res.status).toBe(401);
      expect(setCookies(res)).toEqual([]);
    });

    it('logs in: 303 to /profile with a new browser-session cookie, keeping the anonymous cart', async () => {
      const anon = cookieFrom(await request(server).get('/'));
      const item = `pear-${platform}-${Math.random().toString(36).slice(2)}`;
      await request(server).post('/cart').type('form').set(sameOrigin).set('Cookie', anon).send({ item }).expect(303);
      expect(await rowsHolding(item)).toBe(1);
      const res = await login('Alice', 'alice-demo-password', {}, anon);
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe('/profile');
      expect(res.headers['cache-control']).toBe('no-store');
      const cookie = cookieFrom(res);
      expect(cookie).not.toBe(anon);
      expect(sessionLine(res)).not.toMatch(/Max-Age/);
      // The id changed at login: the pre-login cookie no longer reaches the session, neither its
      // user nor its data (it gets a brand-new empty session), and the session was moved, not copied.
      expect((await request(server).get('/profile').set('Cookie', anon)).status).toBe(401);
      const oldHome = await request(server).get('/').set('Cookie', anon);
      expect(oldHome.text).not.toContain(item);
      expect(oldHome.text).toContain('data-testid="visits">1<');
      expect(oldHome.text).toContain('data-testid="cart-empty"');
      expect(await rowsHolding(item)).toBe(1);
      const home = await request(server).get('/').set('Cookie', cookie);
      expect(home.text).toContain(`<li>${item}</li>`);
      expect(home.text).toContain('data-testid="user-name">Alice<');
    });

    it('"remember me" makes the cookie persistent, never past the 12 h absolute timeout', async () => {
      const res = await login('bob', 'bob-demo-password', { remember: 'on' });
      expect(res.status).toBe(303);
      const maxAge = Number(/Max-Age=(\d+)/.exec(sessionLine(res)!)?.[1]);
      expect(maxAge).toBeGreaterThan(12 * 3600 - 60);
      expect(maxAge).toBeLessThanOrEqual(12 * 3600);
    });
  });

  describe('demo: profile and sessions', () => {
    it('without a session: a browser is sent to /login, an API client gets a JSON 401', async () => {
      const html = await request(server).get('/profile').set('Accept', 'text/html,application/xhtml+xml');
      expect(html.status).toBe(303);
      expect(html.headers.location).toBe('/login');
      expect(html.headers['cache-control']).toBe('no-store');
      const api = await request(server).get('/profile').set('Accept', 'application/json');
      expect(api.status).toBe(401);
      expect(api.body).toMatchObject({ statusCode: 401 });
    });

    it('lists the session as "this device", with no-store', async () => {
      const cookie = await loginAs('alice');
      const res = await request(server).get('/profile').set('Cookie', cookie);
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers.vary).toMatch(/Cookie/);
      expect(res.text).toContain('data-testid="user-id">alice<');
      expect(res.text).toMatch(/data-current="true">[\s\S]*this device/);
      expect(res.text).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    });

    it('ends another session of the same user by its handle, but never another user\'s', async () => {
      const page = async (cookie: string) => (await request(server).get('/profile').set('Cookie', cookie)).text;
      /** Each page offers a form for every session of the user but its own: the difference names `b`. */
      const handleOf = async (a: string, b: string) => {
        const fromB = new Set(handlesIn(await page(b)));
        const only = handlesIn(await page(a)).filter((h) => !fromB.has(h));
        expect(only).toHaveLength(1);
        return only[0];
      };
      const [a1, a2, bob1, bob2] = [await loginAs('alice'), await loginAs('alice'), await loginAs('bob'), await loginAs('bob')];
      const a2Handle = await handleOf(a1, a2);
      const bob2Handle = await handleOf(bob1, bob2);
      expect(handlesIn(await page(a1))).not.toContain(bob2Handle);

      const attack = await request(server).post('/sessions/end').type('form').set(sameOrigin).set('Cookie', a1).send({ handle: bob2Handle });
      expect(attack.status).toBe(303);
      expect(await page(a1)).toContain('No such session of yours');
      expect((await request(server).get('/profile').set('Cookie', bob2)).status).toBe(200);

      const end = await request(server).post('/sessions/end').type('form').set(sameOrigin).set('Cookie', a1).send({ handle: a2Handle });
      expect(end.status).toBe(303);
      expect(end.headers.location).toBe('/profile');
      const after = await page(a1);
      expect(after).toContain('That session has been ended.');
      expect(handlesIn(after)).not.toContain(a2Handle);
      expect((await request(server).get('/profile').set('Cookie', a2)).status).toBe(401);
    });

    it('"log out everywhere else" ends every other session of the user and keeps this one', async () => {
      const keep = await loginAs('bob');
      const others = [await loginAs('bob'), await loginAs('bob')];
      const alice = await loginAs('alice');
      const res = await request(server).post('/sessions/end-others').set(sameOrigin).set('Cookie', keep);
      expect(res.status).toBe(303);
      const page = (await request(server).get('/profile').set('Cookie', keep)).text;
      expect(sessionCount(page)).toBe(1);
      expect(page).toMatch(/Logged out everywhere else \(\d+ sessions? ended\)/);
      for (const c of others) expect((await request(server).get('/profile').set('Cookie', c)).status).toBe(401);
      expect((await request(server).get('/profile').set('Cookie', alice)).status).toBe(200);
    });
  });

  describe('demo: logout', () => {
    it('ends the session, clears the cookie and redirects to /login', async () => {
      const cookie = await loginAs('alice');
      const res = await request(server).post('/logout').set(sameOrigin).set('Cookie', cookie);
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe('/login');
      expect(sessionLine(res)).toMatch(/^__Host-sid=; Max-Age=0/);
      expect((await request(server).get('/profile').set('Cookie', cookie)).status).toBe(401);
      const loginPage = await request(server).get('/login').set('Cookie', cookie);
      expect(loginPage.text).not.toContain('Signed in as');
    });

  });

  describe('demo: configuration', () => {
    it('the secret is the public demo constant only when SESSION_SECRET is unset', async () => {
      const { demoSecret, DEMO_ONLY_INSECURE_SECRET } = await import('../demo/secret.js');
      expect(demoSecret({})).toEqual({ secret: DEMO_ONLY_INSECURE_SECRET, isDemoSecret: true });
      expect(demoSecret({ SESSION_SECRET: 'x'.repeat(40) })).toEqual({ secret: 'x'.repeat(40), isDemoSecret: false });
    });
  });
});

/** From another client address: all of 127.0.0.0/8 reaches the loopback interface. */
function loginFrom(localAddress: string, port: number, username: string, password: string): Promise<number> {
  const body = new URLSearchParams({ username, password }).toString();
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, localAddress, method: 'POST', path: '/login', headers: { ...sameOrigin, 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe.each(PLATFORMS)('demo on %s: login attempts', (platform) => {
  let attemptsDir: string;
  let limited: DemoProcess;

  // An app of its own with the demo's real limit: the suites above log in more often than a person.
  beforeAll(async () => {
    attemptsDir = mkdtempSync(join(tmpdir(), 'demo-attempts-'));
    limited = await startDemo({ host: '127.0.0.1', sqlitePath: join(attemptsDir, 'sessions.sqlite'), platform });
  }, 120_000);

  afterAll(async () => {
    await limited?.close();
    rmSync(attemptsDir, { recursive: true, force: true });
  });

  it('answers the 6th wrong password for an account within the minute with 429; other accounts and clients still log in', async () => {
    const attempt = (username: string, password: string) =>
      request(`http://127.0.0.1:${limited.port}`).post('/login').type('form').set(sameOrigin).send({ username, password });
    for (let i = 1; i <= 5; i++) expect((await attempt('alice', `guess-${i}`)).status).toBe(401);
    const sixth = await attempt('alice', 'guess-6');
    expect(sixth.status).toBe(429);
    expect(Number(sixth.headers['retry-after'])).toBeGreaterThan(0);
    expect(setCookies(sixth)).toEqual([]);
    // Blocked means blocked: the right password from this client does not get through either.
    expect((await attempt('Alice', 'alice-demo-password')).status).toBe(429);
    // Another account from the same client, and the same account from another client, are not held up.
    expect((await attempt('bob', 'bob-demo-password')).status).toBe(303);
    expect(await loginFrom('127.0.0.2', limited.port, 'alice', 'alice-demo-password')).toBe(303);
  });
});

afterAll(() => stopDemos());
