import request from 'supertest';
import { All, Controller, Get, HttpCode, Param, Post, type INestApplication } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import {
  Authenticated, CookieSessionStore, CurrentSession, MemorySessionStore, Session, SessionManager, SessionValue, UserId,
  type SessionHandle, type SessionModuleOptions, type SessionStore,
} from '../src/index.js';
import { createTestApp, sessionCookie, PLATFORMS } from './support/test-app.js';
import { rawRequest } from './support/http.js';

/**
 * The cross-site rule end to end over real HTTP: a state-changing request from another site may not
 * use the session at all, cookie or not (login CSRF), while routes that never use the session, and
 * clients that are not browsers, are served as before.
 */

const HOST = 'app.test';
const OWN = `http://${HOST}`;
const STATE_CHANGING = ['POST', 'PUT', 'PATCH', 'DELETE'] as const;
/** What a browser sends on a request from another site (or what a forged/opaque origin looks like). */
const CROSS_SITE: Record<string, string>[] = [
  { 'Sec-Fetch-Site': 'cross-site', Origin: 'https://evil.example' },
  { 'Sec-Fetch-Site': 'same-site', Origin: 'http://sub.app.test' },
  { 'Sec-Fetch-Site': 'cross-site' },
  { Origin: 'https://evil.example' },
  { Origin: 'null' },
  { Origin: `https://${HOST}` },
];
const USES = ['get', 'has', 'set', 'delete', 'clear', 'regenerate', 'destroy', 'login', 'logout', 'getUserId'] as const;

/** Every store call, so that a refused request can be shown to have touched nothing. */
function countingStore(inner: SessionStore): SessionStore & { calls: string[] } {
  const calls: string[] = [];
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'calls') return calls;
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || prop === 'constructor') return value;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as SessionStore & { calls: string[] };
}

@Controller('xs')
class CrossSiteController {
  // SessionManager is looked up, not injected: this controller also serves the cookie store, with which
  // injecting SessionManager is refused at start-up.
  constructor(private readonly current: CurrentSession, private readonly moduleRef: ModuleRef) {}

  private get manager(): SessionManager {
    return this.moduleRef.get(SessionManager, { strict: false });
  }

  /** A webhook: never looks at the session. */
  @All('hook')
  @HttpCode(200)
  hook() {
    return { hook: true };
  }

  @All('write')
  @HttpCode(200)
  async write(@Session() s: SessionHandle) {
    await s.set('x', 1);
    return { ok: true };
  }

  @Post('use/:what')
  @HttpCode(200)
  async use(@Session() s: SessionHandle, @Param('what') what: (typeof USES)[number]) {
    const uses: Record<(typeof USES)[number], () => Promise<unknown>> = {
      get: () => s.get('x'),
      has: () => s.has('x'),
      set: () => s.set('x', 2),
      delete: () => s.delete('x'),
      clear: () => s.clear(),
      regenerate: () => s.regenerate(),
      destroy: () => s.destroy(),
      login: () => s.login('mallory'),
      logout: () => s.logout(),
      getUserId: () => s.getUserId(),
    };
    await uses[what]();
    return { ok: true };
  }

  @Post('value')
  @HttpCode(200)
  value(@SessionValue('x') x: unknown) {
    return { x: x ?? null };
  }

  @Post('user')
  @HttpCode(200)
  user(@UserId() userId: string | undefined) {
    return { userId: userId ?? null };
  }

  @Post('guarded')
  @HttpCode(200)
  @Authenticated()
  guarded() {
    return { ok: true };
  }

  @Post('current')
  @HttpCode(200)
  async viaCurrent() {
    await this.current.set('x', 3);
    return { ok: true };
  }

  @Post('sessions')
  @HttpCode(200)
  async sessions() {
    return this.manager.listForUser('alice');
  }

  /** A handler that swallows the refusal: still nothing may be written or sent. */
  @Post('caught')
  @HttpCode(200)
  async caught(@Session() s: SessionHandle) {
    const statuses: unknown[] = [];
    for (const use of [() => s.set('x', 1), () => s.login('mallory'), () => s.destroy(), () => s.get('x')]) {
      try {
        await use();
        statuses.push('used');
      } catch (err) {
        statuses.push((err as { status?: number }).status);
      }
    }
    return { statuses };
  }

  @Post('login/:user')
  @HttpCode(200)
  async login(@Session() s: SessionHandle, @Param('user') user: string) {
    await s.login(user);
    return { ok: true };
  }

  @Get('me')
  async me(@Session() s: SessionHandle) {
    return { userId: (await s.getUserId()) ?? null, x: (await s.get('x')) ?? null };
  }
}

type Res = request.Response;
const setCookies = (res: Res) => (res.headers['set-cookie'] as unknown as string[] | undefined) ?? [];

for (const platform of PLATFORMS) describe(`cross-site rule on ${platform}`, () => {
  const apps: INestApplication[] = [];
  let store: SessionStore & { calls: string[] };
  let app: INestApplication;

  async function appWith(options: Partial<SessionModuleOptions> = {}, extra: { store?: SessionStore | CookieSessionStore; trustProxy?: boolean } = {}) {
    const a = await createTestApp({ platform, store: extra.store ?? store, options, controllers: [CrossSiteController], trustProxy: extra.trustProxy });
    apps.push(a);
    return a;
  }

  const send = (a: INestApplication, method: string, path: string, headers: Record<string, string>, cookie?: string) => {
    const r = request(a.getHttpServer())[method.toLowerCase() as 'post'](path).set('Host', HOST).set(headers);
    if (cookie) r.set('Cookie', cookie);
    return r;
  };

  /** A session of the app's own, made by a same-origin (header-less) client. */
  async function loggedIn(a: INestApplication, user = 'alice'): Promise<string> {
    const res = await send(a, 'POST', `/xs/login/${user}`, {});
    expect(res.status).toBe(200);
    return sessionCookie(res)!;
  }

  function expectRefused(res: Res, what: string) {
    expect({ what, status: res.status, message: res.body?.message }).toEqual({ what, status: 403, message: 'Cross-site request refused' });
    expect({ what, setCookie: setCookies(res) }).toEqual({ what, setCookie: [] });
    expect({ what, vary: res.headers.vary }).toEqual({ what, vary: undefined });
  }

  beforeAll(async () => {
    store = countingStore(new MemorySessionStore());
    app = await appWith();
  });
  afterAll(async () => {
    for (const a of apps) await a.close();
  });

  it('refuses POST, PUT, PATCH and DELETE that use the session cross-site, with or without a cookie, touching nothing', async () => {
    const cookie = await loggedIn(app);
    for (const method of STATE_CHANGING) {
      for (const headers of CROSS_SITE) {
        for (const withCookie of [undefined, cookie]) {
          store.calls.length = 0;
          const res = await send(app, method, '/xs/write', headers, withCookie);
          expectRefused(res, `${method} ${JSON.stringify(headers)} cookie=${withCookie !== undefined}`);
          expect(store.calls).toEqual([]);
        }
      }
    }
    // The logged-in session is untouched.
    expect((await send(app, 'GET', '/xs/me', {}, cookie)).body).toEqual({ userId: 'alice', x: null });
  });

  it('GET, HEAD and OPTIONS are not state-changing: a cross-site one may use the session', async () => {
    const get = await send(app, 'GET', '/xs/write', CROSS_SITE[0]);
    expect(get.status).toBe(200);
    expect(setCookies(get)).toHaveLength(1);
    expect((await send(app, 'HEAD', '/xs/write', CROSS_SITE[0])).status).toBe(200);
    expect((await send(app, 'OPTIONS', '/xs/write', CROSS_SITE[0])).status).toBe(200);
  });

  it('every way of using the session counts: handle methods, @SessionValue, @UserId, the guard, CurrentSession, SessionManager', async () => {
    const cookie = await loggedIn(app);
    const paths = [...USES.map((u) => `/xs/use/${u}`), '/xs/value', '/xs/user', '/xs/guarded', '/xs/current', '/xs/sessions', '/xs/login/mallory'];
    for (const path of paths) {
      for (const withCookie of [undefined, cookie]) {
        store.calls.length = 0;
        const res = await send(app, 'POST', path, { 'Sec-Fetch-Site': 'cross-site', Origin: 'https://evil.example' }, withCookie);
        expectRefused(res, `${path} cookie=${withCookie !== undefined}`);
        expect({ path, calls: store.calls }).toEqual({ path, calls: [] });
      }
    }
    // Neither the logout nor the destroy nor the login went through.
    expect((await send(app, 'GET', '/xs/me', {}, cookie)).body).toEqual({ userId: 'alice', x: null });
  });

  it('the same requests from the same origin, or from a client that is not a browser, use the session', async () => {
    const own: Record<string, string>[] = [{}, { 'Sec-Fetch-Site': 'same-origin' }, { 'Sec-Fetch-Site': 'none' }, { Origin: OWN }, { Origin: OWN.toUpperCase() }, { 'Sec-Fetch-Site': 'same-origin', Origin: OWN }];
    for (const method of STATE_CHANGING) {
      for (const headers of own) {
        const res = await send(app, method, '/xs/write', headers);
        expect({ method, headers, status: res.status, cookies: setCookies(res).length }).toEqual({ method, headers, status: 200, cookies: 1 });
      }
    }
    for (const path of ['/xs/value', '/xs/user', '/xs/current', '/xs/use/login']) {
      expect({ path, status: (await send(app, 'POST', path, { 'Sec-Fetch-Site': 'same-origin' })).status }).toEqual({ path, status: 200 });
    }
  });

  it('a route that never uses the session is not refused (webhooks, public APIs), cookie or not', async () => {
    const cookie = await loggedIn(app);
    for (const method of STATE_CHANGING) {
      for (const headers of CROSS_SITE) {
        for (const withCookie of [undefined, cookie]) {
          const res = await send(app, method, '/xs/hook', headers, withCookie);
          expect({ method, headers, status: res.status, body: res.body }).toEqual({ method, headers, status: 200, body: { hook: true } });
          expect(setCookies(res)).toEqual([]);
        }
      }
    }
  });

  it('a handler that catches the refusal still sends no cookie and no Vary, and the store is not touched', async () => {
    store.calls.length = 0;
    const res = await send(app, 'POST', '/xs/caught', { 'Sec-Fetch-Site': 'cross-site' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ statuses: [403, 403, 403, 403] });
    expect(setCookies(res)).toEqual([]);
    expect(res.headers.vary).toBeUndefined();
    expect(store.calls).toEqual([]);
  });

  it('listed origins may use the session from another site; Origin null never, even when listed', async () => {
    const listed = await appWith({ csrf: { allowedOrigins: ['https://app.example.com', 'null'] } });
    for (const method of STATE_CHANGING) {
      const ok = await send(listed, method, '/xs/write', { 'Sec-Fetch-Site': 'cross-site', Origin: 'https://app.example.com' });
      expect({ method, status: ok.status }).toEqual({ method, status: 200 });
      expect((await send(listed, method, '/xs/write', { Origin: 'https://app.example.com' })).status).toBe(200);
      expectRefused(await send(listed, method, '/xs/write', { 'Sec-Fetch-Site': 'cross-site', Origin: 'https://other.example.com' }), `${method} unlisted`);
      expectRefused(await send(listed, method, '/xs/write', { Origin: 'null' }), `${method} null`);
      expectRefused(await send(listed, method, '/xs/write', { 'Sec-Fetch-Site': 'cross-site', Origin: 'null' }), `${method} null cross-site`);
    }
  });

  it('csrf: false turns the rule off', async () => {
    const off = await appWith({ csrf: false });
    const res = await send(off, 'POST', '/xs/use/login', { 'Sec-Fetch-Site': 'cross-site', Origin: 'https://evil.example' });
    expect(res.status).toBe(200);
    expect(setCookies(res)).toHaveLength(1);
  });

  it('with the cookie store too: a cross-site login gets 403 and no cookie', async () => {
    const sealed = await appWith({}, { store: new CookieSessionStore({ keys: ['cookie-store-key-0123456789-abcdefghij'] }) });
    const res = await send(sealed, 'POST', '/xs/login/mallory', { 'Sec-Fetch-Site': 'cross-site' });
    expectRefused(res, 'cookie store login');
    const cookie = await loggedIn(sealed, 'alice');
    expectRefused(await send(sealed, 'POST', '/xs/use/logout', { Origin: 'https://evil.example' }, cookie), 'cookie store logout');
  });

  it('an Origin that is not printable ASCII, or malformed, never matches and never crashes', async () => {
    const server = app.getHttpServer();
    const head = (origin: Buffer, host: Buffer) =>
      Buffer.concat([
        Buffer.from('POST /xs/use/set HTTP/1.1\r\nHost: '), host, Buffer.from('\r\nOrigin: '), origin,
        Buffer.from('\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'),
      ]);
    const latin1 = (s: string) => Buffer.from(s, 'latin1');
    const cases: [Buffer, Buffer][] = [
      [latin1('http://app.t\u00e9st'), latin1('app.t\u00e9st')],
      [latin1('http://app.t\u00c9st'), latin1('app.t\u00e9st')],
      [Buffer.from('http://caf\u00c3\u00a9.test', 'latin1'), Buffer.from('caf\u00c3\u00a9.test', 'latin1')],
      [latin1('http://app.test\u00ff'), latin1('app.test')],
      [latin1('http://app.test extra'), latin1('app.test')],
      [latin1('http://app.test, http://app.test'), latin1('app.test')],
      [latin1('http://'), latin1('')],
    ];
    for (const [origin, host] of cases) {
      const res = await rawRequest({ getHttpServer: () => server }, head(origin, host));
      expect({ origin: origin.toString('latin1'), status: res.status }).toEqual({ origin: origin.toString('latin1'), status: 403 });
      expect(res.body).toContain('Cross-site request refused');
    }
  });

  describe('the request\'s own scheme comes from the platform, honouring its trust-proxy setting', () => {
    it('trust proxy off: X-Forwarded-Proto is ignored, the socket is http', async () => {
      for (const method of STATE_CHANGING) {
        expectRefused(await send(app, method, '/xs/write', { Origin: `https://${HOST}`, 'X-Forwarded-Proto': 'https' }), `${method} https origin, untrusted proxy`);
        expect((await send(app, method, '/xs/write', { Origin: OWN, 'X-Forwarded-Proto': 'https' })).status).toBe(200);
      }
    });

    it('trust proxy on: the forwarded scheme is the request\'s, and only that one', async () => {
      const proxied = await appWith({}, { trustProxy: true });
      for (const method of STATE_CHANGING) {
        expect({ method, status: (await send(proxied, method, '/xs/write', { Origin: `https://${HOST}`, 'X-Forwarded-Proto': 'https' })).status }).toEqual({ method, status: 200 });
        expectRefused(await send(proxied, method, '/xs/write', { Origin: OWN, 'X-Forwarded-Proto': 'https' }), `${method} http origin behind a TLS proxy`);
        expect((await send(proxied, method, '/xs/write', { Origin: OWN })).status).toBe(200);
        expectRefused(await send(proxied, method, '/xs/write', { Origin: `https://${HOST}` }), `${method} https origin, no forwarded scheme`);
      }
    });
  });
});
