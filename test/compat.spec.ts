import 'reflect-metadata';
import { Controller, Get, HttpCode, RequestMethod, Injectable, Module, Post, Redirect, Req, UnauthorizedException, UseGuards, type ExecutionContext, type INestApplication, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AuthGuard, PassportSerializer, PassportStrategy } from '@nestjs/passport';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import flash from 'connect-flash';
import request from 'supertest';
import { MemorySessionStore, Session, SessionCompatGuard, SessionCompatMiddleware, SessionModule, UserId, type SessionHandle } from '../src/index.js';
import { SECRET, sessionCookie, startApp, PLATFORMS, type Platform } from './support/test-app.js';

/**
 * The opt-in express-session-shaped req.session: Passport's login sessions (`AuthGuard.logIn()`,
 * `passport.session()` / `AuthGuard('session')`) and connect-flash on the routes that opt in, with the
 * module's rules kept (rotation, cross-site refusal, no resurrection) and every other route as lazy as
 * before.
 */

type Req = { session?: Record<string, unknown> & { regenerate(cb: (e?: unknown) => void): void; save(cb: (e?: unknown) => void): void; destroy(cb: (e?: unknown) => void): void; reload(cb: (e?: unknown) => void): void }; user?: { id: string }; flash(type: string, msg?: string): unknown; logout(cb: (e?: unknown) => void): void };

const USERS: Record<string, { id: string; password: string }> = { alice: { id: 'u-alice', password: 'alice-password' } };

/** A store that counts its loads: a route that never uses the session must make none. */
class CountingStore extends MemorySessionStore {
  loads = 0;
  override load(id: string) {
    this.loads++;
    return super.load(id);
  }
}

let releaseGate: (() => void) | undefined;
let gateEntered: (() => void) | undefined;

function parts(strategy: string) {
  @Injectable()
  class Local extends PassportStrategy(LocalStrategy, strategy) {
    validate(username: string, password: string) {
      const user = USERS[username];
      if (!user || user.password !== password) throw new UnauthorizedException();
      return { id: user.id };
    }
  }

  @Injectable()
  class Serializer extends PassportSerializer {
    serializeUser(user: { id: string }, done: (err: unknown, id?: string) => void) {
      done(null, user.id);
    }
    deserializeUser(id: string, done: (err: unknown, user?: { id: string } | false) => void) {
      done(null, Object.values(USERS).some((u) => u.id === id) ? { id } : false);
    }
  }

  /** Passport's own login session: AuthGuard.logIn() regenerates req.session and stores passport.user in it. */
  @Injectable()
  class PassportSessionLogin extends AuthGuard(strategy) {
    override async canActivate(context: ExecutionContext): Promise<boolean> {
      const ok = (await super.canActivate(context)) as boolean;
      await super.logIn(context.switchToHttp().getRequest());
      return ok;
    }
  }

  /**
   * passport.session() as a guard, for Fastify where it cannot run as middleware. (AuthGuard('session')
   * does not do: the session strategy ends with pass(), and AuthGuard then sets req.user to undefined.)
   */
  @Injectable()
  class RestorePassportUser {
    async canActivate(context: ExecutionContext): Promise<boolean> {
      const http = context.switchToHttp();
      await new Promise<void>((resolve, reject) => passport.session()(http.getRequest(), http.getResponse(), (err?: unknown) => (err ? reject(err) : resolve())));
      return true;
    }
  }

  @Controller('compat')
  class CompatController {
    @Post('login')
    @HttpCode(200)
    @UseGuards(SessionCompatGuard, PassportSessionLogin)
    login(@Req() req: Req) {
      return { user: req.user?.id ?? null, passport: req.session?.passport ?? null };
    }

    /** passport.session() restores req.user from req.session (in a guard, so that it runs on Fastify too). */
    @Get('me')
    @UseGuards(SessionCompatGuard, RestorePassportUser)
    me(@Req() req: Req) {
      return { user: req.user?.id ?? null };
    }

    @Post('logout')
    @HttpCode(200)
    @UseGuards(SessionCompatGuard, RestorePassportUser)
    async logout(@Req() req: Req) {
      await new Promise<void>((resolve, reject) => req.logout((err) => (err ? reject(err) : resolve())));
      return { ok: true };
    }

    @Post('set')
    @HttpCode(200)
    @UseGuards(SessionCompatGuard)
    set(@Req() req: Req & { body: Record<string, unknown> }) {
      Object.assign(req.session!, req.body);
      return { ok: true };
    }

    @Post('nested')
    @HttpCode(200)
    @UseGuards(SessionCompatGuard)
    nested(@Req() req: Req) {
      const list = ((req.session!.list as string[] | undefined) ??= []);
      list.push(`item-${list.length + 1}`);
      return { ok: true };
    }

    @Post('delete/:key')
    @HttpCode(200)
    @UseGuards(SessionCompatGuard)
    remove(@Req() req: Req & { params: { key: string } }) {
      delete req.session![req.params.key];
      return { ok: true };
    }

    @Get('read')
    @UseGuards(SessionCompatGuard)
    read(@Req() req: Req) {
      return { ...req.session };
    }

    @Post('regenerate')
    @HttpCode(200)
    @UseGuards(SessionCompatGuard)
    async regenerate(@Req() req: Req) {
      await new Promise<void>((resolve, reject) => req.session!.regenerate((err) => (err ? reject(err) : resolve())));
      req.session!.after = 'regenerate';
      return { ok: true };
    }

    @Post('destroy')
    @HttpCode(200)
    @UseGuards(SessionCompatGuard)
    async destroy(@Req() req: Req) {
      await new Promise<void>((resolve, reject) => req.session!.destroy((err) => (err ? reject(err) : resolve())));
      return { session: req.session === undefined ? 'gone' : 'still there' };
    }

    @Post('reload')
    @HttpCode(200)
    @UseGuards(SessionCompatGuard)
    async reload(@Req() req: Req) {
      req.session!.a = 'changed but not saved';
      await new Promise<void>((resolve, reject) => req.session!.reload((err) => (err ? reject(err) : resolve())));
      return { a: req.session!.a ?? null };
    }

    /** Loads its view, waits for the test, then writes. */
    @Post('gated')
    @HttpCode(200)
    @UseGuards(SessionCompatGuard)
    async gated(@Req() req: Req) {
      await new Promise<void>((resolve) => {
        releaseGate = resolve;
        gateEntered?.();
      });
      req.session!.late = 'written after the logout';
      return { ok: true };
    }
  }

  @Controller('plain')
  class PlainController {
    @Get('public')
    open() {
      return { ok: true };
    }

    @Get('whoami')
    whoami(@UserId() userId: string | undefined) {
      return { userId: userId ?? null };
    }

    @Post('logout')
    @HttpCode(200)
    async logout(@Session() session: SessionHandle) {
      await session.logout();
      return { ok: true };
    }
  }
  return { controllers: [CompatController, PlainController], providers: [Local, Serializer], CompatController };
}

async function appOn(platform: Platform, store: MemorySessionStore): Promise<INestApplication> {
  const { controllers, providers } = parts(`compat-local-${platform}`);
  const moduleRef = await Test.createTestingModule({
    imports: [SessionModule.forRoot({ secret: SECRET, store, pruneInterval: 0 })],
    controllers,
    providers,
  }).compile();
  return startApp(moduleRef, platform);
}

for (const platform of PLATFORMS) {
  describe(`express-session-compatible req.session through SessionCompatGuard on ${platform}`, () => {
    let app: INestApplication;
    const store = new CountingStore();
    const http = () => request(app.getHttpServer());

    beforeAll(async () => {
      app = await appOn(platform, store);
    });
    afterAll(async () => {
      await app?.close();
    });

    it("Passport's login session: AuthGuard.logIn() rotates the id, stores passport.user, and passport's session strategy restores it", async () => {
      const anon = sessionCookie(await http().post('/compat/set').send({ before: 'login' }))!;
      const login = await http().post('/compat/login').set('Cookie', anon).send({ username: 'alice', password: 'alice-password' });
      expect(login.status).toBe(200);
      expect(login.body).toEqual({ user: 'u-alice', passport: { user: 'u-alice' } });
      const cookie = sessionCookie(login)!;
      expect(cookie).toBeDefined();
      expect(cookie).not.toBe(anon);
      // express-session's regenerate: new id, no data (Passport keeps none unless keepSessionInfo).
      expect((await http().get('/compat/read').set('Cookie', cookie)).body).toEqual({ passport: { user: 'u-alice' } });
      expect((await http().get('/compat/me').set('Cookie', cookie)).body).toEqual({ user: 'u-alice' });
      // The old id is dead.
      expect((await http().get('/compat/me').set('Cookie', anon)).body).toEqual({ user: null });

      const logout = await http().post('/compat/logout').set('Cookie', cookie);
      expect(logout.status).toBe(200);
      const afterLogout = sessionCookie(logout)!;
      expect(afterLogout).not.toBe(cookie);
      expect((await http().get('/compat/me').set('Cookie', afterLogout)).body).toEqual({ user: null });
      expect((await http().get('/compat/me').set('Cookie', cookie)).body).toEqual({ user: null });
    });

    it('a wrong password is refused and creates nothing', async () => {
      const res = await http().post('/compat/login').send({ username: 'alice', password: 'wrong' });
      expect(res.status).toBe(401);
      expect(res.headers['set-cookie']).toBeUndefined();
    });

    it('property writes, nested changes and deletes are stored when the response is sent', async () => {
      const first = await http().post('/compat/set').send({ a: 1, b: { c: [1, 2] } });
      const cookie = sessionCookie(first)!;
      await http().post('/compat/nested').set('Cookie', cookie);
      await http().post('/compat/nested').set('Cookie', cookie);
      await http().post('/compat/delete/a').set('Cookie', cookie);
      expect((await http().get('/compat/read').set('Cookie', cookie)).body).toEqual({ b: { c: [1, 2] }, list: ['item-1', 'item-2'] });
    });

    it('regenerate() gives a new id and empty data; the old id stops working', async () => {
      const cookie = sessionCookie(await http().post('/compat/set').send({ a: 'old' }))!;
      const res = await http().post('/compat/regenerate').set('Cookie', cookie);
      const next = sessionCookie(res)!;
      expect(next).toBeDefined();
      expect(next).not.toBe(cookie);
      expect((await http().get('/compat/read').set('Cookie', next)).body).toEqual({ after: 'regenerate' });
      expect((await http().get('/compat/read').set('Cookie', cookie)).body).toEqual({});
    });

    it('destroy() ends the session at once and removes req.session; reload() drops unsaved changes', async () => {
      const cookie = sessionCookie(await http().post('/compat/set').send({ a: 'kept' }))!;
      expect((await http().post('/compat/reload').set('Cookie', cookie)).body).toEqual({ a: 'kept' });
      const res = await http().post('/compat/destroy').set('Cookie', cookie);
      expect(res.body).toEqual({ session: 'gone' });
      expect((res.headers['set-cookie'] as unknown as string[]).join()).toMatch(/Max-Age=0/);
      expect((await http().get('/compat/read').set('Cookie', cookie)).body).toEqual({});
    });

    it('never brings back a session that another request ended while it was being handled', async () => {
      const login = await http().post('/compat/login').send({ username: 'alice', password: 'alice-password' });
      const cookie = sessionCookie(login)!;
      const entered = new Promise<void>((r) => (gateEntered = r));
      const slow = http().post('/compat/gated').set('Cookie', cookie).then((r) => r);
      await entered;
      expect((await http().post('/plain/logout').set('Cookie', cookie)).status).toBe(200);
      releaseGate!();
      await slow;
      expect((await http().get('/compat/read').set('Cookie', cookie)).body).toEqual({});
      expect((await http().get('/plain/whoami').set('Cookie', cookie)).body).toEqual({ userId: null });
    });

    it('refuses a cross-site POST on a compat route with 403, and creates nothing', async () => {
      const res = await http().post('/compat/set').set('Sec-Fetch-Site', 'cross-site').set('Origin', 'https://evil.example').send({ a: 1 });
      expect(res.status).toBe(403);
      expect(res.headers['set-cookie']).toBeUndefined();
    });

    it('routes that do not opt in stay lazy: no load, even with a cookie', async () => {
      const cookie = sessionCookie(await http().post('/compat/set').send({ a: 1 }))!;
      const before = store.loads;
      expect((await http().get('/plain/public').set('Cookie', cookie)).status).toBe(200);
      expect(store.loads).toBe(before);
      // The compat route loads on every request, used or not: its cost.
      await http().get('/compat/read').set('Cookie', cookie);
      expect(store.loads).toBe(before + 1);
    });
  });
}

describe('SessionCompatMiddleware (Express): connect-flash and passport.session() as middleware', () => {
  let app: INestApplication;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    @Controller('legacy')
    class LegacyController {
      @Post('flash')
      @Redirect('/legacy/flash', 303)
      setFlash(@Req() req: Req) {
        req.flash('info', 'saved!');
        req.flash('info', 'and again');
      }

      @Get('flash')
      getFlash(@Req() req: Req) {
        return { info: req.flash('info') };
      }

      @Get('user')
      user(@Req() req: Req) {
        return { user: req.user?.id ?? null };
      }
    }
    @Controller('outside')
    class OutsideController {
      @Get()
      get(@Req() req: Req) {
        return { session: req.session === undefined ? 'none' : 'present' };
      }
    }
    const { controllers, providers, CompatController } = parts('compat-local-mw');

    @Module({ controllers: [LegacyController, OutsideController, ...controllers], providers })
    class LegacyModule implements NestModule {
      configure(consumer: MiddlewareConsumer) {
        // By path: every route under /legacy (the controller class works as well).
        consumer.apply(SessionCompatMiddleware, flash(), passport.session()).forRoutes({ path: 'legacy/*path', method: RequestMethod.ALL });
        void CompatController;
      }
    }

    const moduleRef = await Test.createTestingModule({
      imports: [SessionModule.forRoot({ secret: SECRET, store: new MemorySessionStore(), pruneInterval: 0 }), LegacyModule],
    }).compile();
    app = await startApp(moduleRef, 'express');
  });
  afterAll(async () => {
    await app?.close();
  });

  it('connect-flash: a message set before a redirect is shown once on the next page', async () => {
    const set = await http().post('/legacy/flash');
    expect(set.status).toBe(303);
    const cookie = sessionCookie(set)!;
    expect(cookie).toBeDefined();
    expect((await http().get('/legacy/flash').set('Cookie', cookie)).body).toEqual({ info: ['saved!', 'and again'] });
    expect((await http().get('/legacy/flash').set('Cookie', cookie)).body).toEqual({ info: [] });
  });

  it('refuses a cross-site POST with 403 in the middleware, and creates nothing', async () => {
    const res = await http().post('/legacy/flash').set('Sec-Fetch-Site', 'cross-site').set('Origin', 'https://evil.example');
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ statusCode: 403, message: 'Cross-site request refused' });
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('leaves the routes outside the path alone: no req.session there, no session loaded', async () => {
    const cookie = sessionCookie(await http().post('/legacy/flash'))!;
    expect((await http().get('/outside').set('Cookie', cookie)).body).toEqual({ session: 'none' });
    expect((await http().get('/legacy/user').set('Cookie', cookie)).status).toBe(200);
  });

  it('passport.session() as middleware restores the user that AuthGuard.logIn() stored', async () => {
    const cookie = sessionCookie(await http().post('/compat/login').send({ username: 'alice', password: 'alice-password' }))!;
    expect((await http().get('/legacy/user').set('Cookie', cookie)).body).toEqual({ user: 'u-alice' });
    expect((await http().get('/legacy/user')).body).toEqual({ user: null });
  });
});

describe('SessionCompatMiddleware on Fastify', () => {
  it('stops the start-up, naming SessionCompatGuard: Nest runs middleware before the session is set up there', async () => {
    @Controller('legacy')
    class LegacyController {
      @Get()
      get() {
        return {};
      }
    }
    @Module({ controllers: [LegacyController] })
    class LegacyModule implements NestModule {
      configure(consumer: MiddlewareConsumer) {
        consumer.apply(SessionCompatMiddleware).forRoutes(LegacyController);
      }
    }
    const moduleRef = await Test.createTestingModule({
      imports: [SessionModule.forRoot({ secret: SECRET, store: new MemorySessionStore(), pruneInterval: 0 }), LegacyModule],
    }).compile();
    await expect(startApp(moduleRef, 'fastify')).rejects.toThrow(/SessionCompatMiddleware cannot work on fastify.*SessionCompatGuard/s);
    await moduleRef.close();
  });
});
