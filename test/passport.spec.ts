import 'reflect-metadata';
import { Body, Controller, Get, HttpCode, Injectable, Post, Req, UnauthorizedException, UseGuards, type INestApplication, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AuthGuard, PassportStrategy } from '@nestjs/passport';
import { Strategy as LocalStrategy } from 'passport-local';
import request from 'supertest';
import { CurrentUser, MemorySessionStore, Session, SessionModule, UserId, type SessionHandle, type SessionModuleOptions, type SessionUser, SessionOptionsError } from '../src/index.js';
import { PassportLogin } from '../src/passport.js';
import { PLATFORMS, SECRET, sessionCookie, startApp, type Platform } from './support/test-app.js';

/**
 * Passport strategies for the credential check, this module's session for the login: passport-local
 * through @nestjs/passport's AuthGuard (the handler calls session.login) and through PassportLogin
 * (the guard does), on both platforms; the logged-in user through resolveUser and @CurrentUser().
 */

const USERS: Record<string, { id: string; name: string; password: string }> = {
  alice: { id: 'u-alice', name: 'Alice', password: 'alice-password' },
  bob: { id: 'u-bob', name: 'Bob', password: 'bob-password' },
};

function localStrategy(name: string): Type {
  @Injectable()
  class Local extends PassportStrategy(LocalStrategy, name) {
    validate(username: string, password: string) {
      const user = USERS[username];
      if (!user || user.password !== password) throw new UnauthorizedException();
      return { id: user.id, name: user.name };
    }
  }
  return Local;
}

let resolved: string[] = [];
const resolveUser: SessionModuleOptions['resolveUser'] = async (userId) => {
  resolved.push(userId);
  const user = Object.values(USERS).find((u) => u.id === userId);
  return user && { id: user.id, name: user.name };
};

function controllerFor(strategy: string): Type {
  @Controller()
  class AuthController {
    /** The README's shape: AuthGuard checks the credentials, the handler logs in. */
    @Post('login')
    @HttpCode(200)
    @UseGuards(AuthGuard(strategy))
    async login(@Req() req: { user: { id: string } }, @Session() session: SessionHandle) {
      await session.login(req.user.id);
      return { userId: req.user.id };
    }

    /** The helper: the guard logs in. */
    @Post('login-helper')
    @HttpCode(200)
    @UseGuards(PassportLogin(strategy, { loginOptions: (req) => ({ remember: (req as { body?: { remember?: unknown } }).body?.remember === true }) }))
    loginHelper(@UserId() userId: string) {
      return { userId };
    }

    @Post('visit')
    @HttpCode(200)
    async visit(@Session() session: SessionHandle, @Body() body: { note?: string }) {
      await session.set('note', body?.note ?? 'anonymous note');
      return { ok: true };
    }

    @Get('note')
    async note(@Session() session: SessionHandle) {
      return { note: (await session.get('note')) ?? null };
    }

    @Get('whoami')
    whoami(@UserId() userId: string | undefined) {
      return { userId: userId ?? null };
    }

    @Get('me')
    me(@CurrentUser() user: SessionUser | undefined, @CurrentUser() again: SessionUser | undefined) {
      return { user: user ?? null, same: user === again };
    }

    @Get('no-user')
    noUser() {
      return { ok: true };
    }

    @Post('switch/:to')
    @HttpCode(200)
    async switchUser(@CurrentUser() before: SessionUser | undefined, @Session() session: SessionHandle, @Req() req: { params: { to: string } }) {
      await session.login(req.params.to);
      return { before: before ?? null };
    }
  }
  return AuthController;
}

for (const platform of PLATFORMS) {
  describe(`Passport (passport-local through @nestjs/passport) on ${platform}`, () => {
    let app: INestApplication;
    const store = new MemorySessionStore();

    beforeAll(async () => {
      const name = `local-${platform}`;
      const moduleRef = await Test.createTestingModule({
        imports: [SessionModule.forRoot({ secret: SECRET, store, pruneInterval: 0, resolveUser })],
        controllers: [controllerFor(name)],
        providers: [localStrategy(name)],
      }).compile();
      app = await startApp(moduleRef, platform as Platform);
    });
    afterAll(async () => {
      await app?.close();
    });
    beforeEach(() => {
      resolved = [];
    });

    const http = () => request(app.getHttpServer());

    for (const route of ['login', 'login-helper']) {
      describe(`POST /${route}`, () => {
        it('logs in with the right password, on a new session id; the old id stops working; the data stays', async () => {
          const first = await http().post('/visit').send({ note: 'kept' });
          const before = sessionCookie(first)!;
          expect(before).toBeDefined();

          const login = await http().post(`/${route}`).set('Cookie', before).send({ username: 'alice', password: 'alice-password' });
          expect(login.status).toBe(200);
          expect(login.body).toEqual({ userId: 'u-alice' });
          const after = sessionCookie(login)!;
          expect(after).toBeDefined();
          expect(after).not.toBe(before);

          expect((await http().get('/whoami').set('Cookie', after)).body).toEqual({ userId: 'u-alice' });
          expect((await http().get('/note').set('Cookie', after)).body).toEqual({ note: 'kept' });
          expect((await http().get('/whoami').set('Cookie', before)).body).toEqual({ userId: null });
          expect((await http().get('/note').set('Cookie', before)).body).toEqual({ note: null });
        });

        it('answers 401 to a wrong password or an unknown user, and creates no session', async () => {
          for (const body of [{ username: 'alice', password: 'nope' }, { username: 'mallory', password: 'x' }, {}]) {
            const res = await http().post(`/${route}`).send(body);
            expect(res.status).toBe(401);
            expect(res.headers['set-cookie']).toBeUndefined();
          }
        });

        it('a wrong password leaves an existing login alone', async () => {
          const login = await http().post(`/${route}`).send({ username: 'bob', password: 'bob-password' });
          const cookie = sessionCookie(login)!;
          expect((await http().post(`/${route}`).set('Cookie', cookie).send({ username: 'alice', password: 'wrong' })).status).toBe(401);
          expect((await http().get('/whoami').set('Cookie', cookie)).body).toEqual({ userId: 'u-bob' });
        });
      });
    }

    it('PassportLogin passes the login options the app derives from the request (remember me)', async () => {
      const remembered = await http().post('/login-helper').send({ username: 'alice', password: 'alice-password', remember: true });
      const line = (remembered.headers['set-cookie'] as unknown as string[]).find((l) => l.startsWith('__Host-sid='))!;
      expect(line).toMatch(/Max-Age=\d+/);
      const plain = await http().post('/login-helper').send({ username: 'alice', password: 'alice-password' });
      const plainLine = (plain.headers['set-cookie'] as unknown as string[]).find((l) => l.startsWith('__Host-sid='))!;
      expect(plainLine).not.toMatch(/Max-Age/);
    });

    describe('@CurrentUser() with resolveUser', () => {
      it('loads the logged-in user once per request, however many parameters ask', async () => {
        const cookie = sessionCookie(await http().post('/login').send({ username: 'alice', password: 'alice-password' }))!;
        resolved = [];
        const res = await http().get('/me').set('Cookie', cookie);
        expect(res.body).toEqual({ user: { id: 'u-alice', name: 'Alice' }, same: true });
        expect(resolved).toEqual(['u-alice']);
        await http().get('/me').set('Cookie', cookie);
        expect(resolved).toEqual(['u-alice', 'u-alice']);
      });

      it('never calls resolveUser for a route that does not ask, nor for an anonymous session', async () => {
        const cookie = sessionCookie(await http().post('/login').send({ username: 'bob', password: 'bob-password' }))!;
        resolved = [];
        expect((await http().get('/no-user').set('Cookie', cookie)).status).toBe(200);
        expect((await http().get('/whoami').set('Cookie', cookie)).body).toEqual({ userId: 'u-bob' });
        expect((await http().get('/me')).body).toEqual({ user: null, same: true });
        const anonymous = sessionCookie(await http().post('/visit').send({}))!;
        expect((await http().get('/me').set('Cookie', anonymous)).body).toEqual({ user: null, same: true });
        expect(resolved).toEqual([]);
      });

      it('a user id whose user is gone gives undefined', async () => {
        const cookie = sessionCookie(await http().post('/switch/u-deleted').send({}))!;
        expect((await http().get('/me').set('Cookie', cookie)).body).toEqual({ user: null, same: true });
        expect(resolved).toEqual(['u-deleted']);
      });
    });
  });
}

describe('@CurrentUser() without resolveUser', () => {
  it('refuses to start, naming the handler and the missing option (not a 500 on the first request)', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [SessionModule.forRoot({ secret: SECRET, store: new MemorySessionStore(), pruneInterval: 0 })],
      controllers: [controllerFor('local-unused')],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    try {
      const started = app.init();
      await expect(started).rejects.toThrow(SessionOptionsError);
      await expect(started).rejects.toThrow(/AuthController\.me\b.*'resolveUser'/s);
    } finally {
      await app.close();
    }
  });

  it('starts when no handler asks for the user', async () => {
    class NoUser {
      @Get('plain')
      plain() {
        return 'ok';
      }
    }
    Controller()(NoUser);
    const moduleRef = await Test.createTestingModule({
      imports: [SessionModule.forRoot({ secret: SECRET, store: new MemorySessionStore(), pruneInterval: 0 })],
      controllers: [NoUser],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    try {
      expect((await request(app.getHttpServer()).get('/plain')).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it("refuses a resolveUser that is not a function at start-up", async () => {
    await expect(
      Test.createTestingModule({
        imports: [SessionModule.forRoot({ secret: SECRET, store: new MemorySessionStore(), pruneInterval: 0, resolveUser: 'users' as never })],
      }).compile(),
    ).rejects.toThrow("option 'resolveUser' must be a function");
  });
});
