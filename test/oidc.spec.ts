import 'reflect-metadata';
import { Controller, Get, Inject, Injectable, Redirect, Req, UseGuards, type INestApplication, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { PassportStrategy } from '@nestjs/passport';
import OAuth2Strategy from 'passport-oauth2';
import * as client from 'openid-client';
import { createHash } from 'node:crypto';
import { MemorySessionStore, RedisSessionStore, Session, SessionModule, UserId, finishAuthorization, startAuthorization, type SessionHandle, type SessionStore } from '../src/index.js';
import { PassportLogin, SessionStateStore } from '../src/passport.js';
import { PENDING_KEY } from '../src/oauth/pending.js';
import { PLATFORMS, SECRET, startApp, type Platform } from './support/test-app.js';
import { Browser, freePort, startProvider } from './support/oidc.js';
import { describeEngines, openStore } from './support/databases.js';
import { describeRedis, dropPrefix, newRedis, testPrefix } from './support/redis.js';

/**
 * The whole authorization-code flow with PKCE against a real OpenID Connect provider
 * (oauth2-mock-server, on localhost), over real HTTP, through the two usual clients: passport-oauth2
 * (with SessionStateStore, behind PassportLogin) and openid-client (with startAuthorization /
 * finishAuthorization). The session keeps the state, PKCE verifier and nonce; the callback is
 * accepted once, for this session's own sign-in only, and logs in with a new session id.
 */

const CLIENT_ID = 'test-client';
const CLIENT_SECRET = 'test-client-secret';
const CONFIG = Symbol('provider config');
let apps = 0;

interface ProviderConfig {
  issuer: string;
  appUrl: string;
}

let provider: Awaited<ReturnType<typeof startProvider>>;
beforeAll(async () => {
  provider = await startProvider();
});
afterAll(async () => {
  await provider?.stop();
});

@Controller()
class ProbeController {
  @Get('whoami')
  whoami(@UserId() userId: string | undefined) {
    return { userId: userId ?? null };
  }

  @Get('pending')
  async pending(@Session() session: SessionHandle) {
    const list = await session.get<unknown[]>(PENDING_KEY);
    return { pending: list?.length ?? 0 };
  }
}

/** passport-oauth2 through @nestjs/passport: the strategy's state store is this module's session. */
function passportApp(name: string): Type[] {
  @Injectable()
  class ProviderStrategy extends PassportStrategy(OAuth2Strategy, name) {
    private readonly userinfo: string;
    constructor(@Inject(CONFIG) config: ProviderConfig) {
      super({
        authorizationURL: `${config.issuer}/authorize`,
        tokenURL: `${config.issuer}/token`,
        clientID: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        callbackURL: `${config.appUrl}/auth/callback`,
        scope: 'openid',
        pkce: true,
        store: new SessionStateStore(),
      });
      this.userinfo = `${config.issuer}/userinfo`;
    }

    async validate(accessToken: string): Promise<{ id: string }> {
      const res = await fetch(this.userinfo, { headers: { authorization: `Bearer ${accessToken}` } });
      const info = (await res.json()) as { sub: string };
      return { id: info.sub };
    }
  }

  @Controller('auth')
  class AuthController {
    @Get('start')
    @UseGuards(PassportLogin(name))
    start() {
      // Never reached: the guard answers with the redirect to the provider.
    }

    @Get('callback')
    @UseGuards(PassportLogin(name))
    callback(@UserId() userId: string) {
      return { userId };
    }
  }
  return [AuthController, ProviderStrategy];
}

/** openid-client: discovery, then the state, nonce and PKCE verifier kept in the session. */
function openidClientApp(): Type[] {
  @Controller('auth')
  class AuthController {
    private configuration: Promise<client.Configuration>;
    constructor(@Inject(CONFIG) private readonly config: ProviderConfig) {
      // http://localhost in the test: a real provider is https, and then allowInsecureRequests goes.
      this.configuration = client.discovery(new URL(config.issuer), CLIENT_ID, CLIENT_SECRET, undefined, { execute: [client.allowInsecureRequests] });
    }

    @Get('start')
    @Redirect()
    async start(@Session() session: SessionHandle) {
      const url = client.buildAuthorizationUrl(await this.configuration, {
        redirect_uri: `${this.config.appUrl}/auth/callback`,
        scope: 'openid',
        ...(await startAuthorization(session)),
      });
      return { url: url.href };
    }

    @Get('callback')
    async callback(@Session() session: SessionHandle, @Req() req: { url: string }) {
      const callbackUrl = new URL(req.url, this.config.appUrl);
      const checks = await finishAuthorization(session, callbackUrl);
      const tokens = await client.authorizationCodeGrant(await this.configuration, callbackUrl, checks);
      await session.login(tokens.claims()!.sub);
      return { userId: tokens.claims()!.sub };
    }
  }
  return [AuthController];
}

const CLIENTS = {
  'passport-oauth2': { app: passportApp, refused: 401 },
  'openid-client': { app: () => openidClientApp(), refused: 403 },
} as const;

interface OpenedStore {
  store: SessionStore;
  close(): Promise<void>;
}

/** The flow's suite for one platform, client and store. */
function describeFlow(title: string, platform: Platform, clientName: keyof typeof CLIENTS, open: () => Promise<OpenedStore>): void {
  const { app: makeApp, refused } = CLIENTS[clientName];
  {
    describe(title, () => {
      let app: INestApplication;
      let base: string;
      let opened: OpenedStore | undefined;

      beforeAll(async () => {
        opened = await open();
        const store = opened.store;
        const port = await freePort();
        base = `http://localhost:${port}`;
        const [controller, ...providers] = makeApp(`provider-${platform}-${++apps}`);
        const moduleRef = await Test.createTestingModule({
          imports: [SessionModule.forRoot({ secret: SECRET, store, pruneInterval: 0 })],
          controllers: [controller, ProbeController],
          providers: [{ provide: CONFIG, useValue: { issuer: provider.issuer, appUrl: base } satisfies ProviderConfig }, ...providers],
        }).compile();
        app = await startApp(moduleRef, platform as Platform);
        await app.listen(port, 'localhost');
      });
      afterAll(async () => {
        await app?.close();
        await opened?.close();
      });

      /** Start a sign-in in `browser` and come back from the provider with its answer, not yet delivered. */
      let lastChallenge: string | null = null;
      async function callbackFor(browser: Browser): Promise<string> {
        const start = await browser.get(`${base}/auth/start`);
        expect(start.status).toBe(302);
        const authorize = new URL(start.location!);
        expect(authorize.origin).toBe(provider.issuer);
        expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
        expect(authorize.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
        lastChallenge = authorize.searchParams.get('code_challenge');
        const answer = await fetch(authorize, { redirect: 'manual' });
        expect(answer.status).toBe(302);
        const callback = answer.headers.get('location')!;
        expect(callback.startsWith(`${base}/auth/callback?`)).toBe(true);
        return callback;
      }

      it('logs in: the session id after the callback differs from the one before, the user is in the session, the state is gone', async () => {
        const browser = new Browser();
        const callback = await callbackFor(browser);
        const before = browser.cookie;
        expect(before).toBeDefined();
        expect((await browser.get(`${base}/pending`)).body).toBe(JSON.stringify({ pending: 1 }));
        const challenge = lastChallenge;
        const sent: unknown[] = [];
        provider.server.service.once('beforeResponse', (_res: unknown, req: { body: Record<string, unknown> }) => sent.push(req.body.code_verifier));

        const done = await browser.get(callback);
        // The token request carried the verifier kept in the session, the one behind the challenge sent.
        expect(sent).toHaveLength(1);
        expect(typeof sent[0]).toBe('string');
        expect(createHash('sha256').update(sent[0] as string).digest('base64url')).toBe(challenge);
        expect(done.status).toBe(200);
        expect(JSON.parse(done.body)).toEqual({ userId: 'johndoe' });
        expect(browser.cookie).toBeDefined();
        expect(browser.cookie).not.toBe(before);
        expect(JSON.parse((await browser.get(`${base}/whoami`)).body)).toEqual({ userId: 'johndoe' });
        expect(JSON.parse((await browser.get(`${base}/pending`)).body)).toEqual({ pending: 0 });
        // The id from before the login no longer opens the session.
        expect(JSON.parse((await browser.get(`${base}/whoami`, { cookie: before })).body)).toEqual({ userId: null });
      });

      it('refuses a replayed callback, with the new cookie and with the old one', async () => {
        const browser = new Browser();
        const callback = await callbackFor(browser);
        const before = browser.cookie;
        expect((await browser.get(callback)).status).toBe(200);
        const after = browser.cookie;

        expect((await browser.get(callback)).status).toBe(refused);
        const old = new Browser();
        old.cookie = before;
        expect((await old.get(callback)).status).toBe(refused);
        expect(JSON.parse((await old.get(`${base}/whoami`)).body)).toEqual({ userId: null });
        // The refused replay changed nothing of the real session.
        expect(browser.cookie).toBe(after);
        expect(JSON.parse((await browser.get(`${base}/whoami`)).body)).toEqual({ userId: 'johndoe' });
      });

      it('refuses a wrong state, and a missing one, without cancelling the real sign-in', async () => {
        const browser = new Browser();
        const callback = new URL(await callbackFor(browser));
        const forged = new URL(callback);
        forged.searchParams.set('state', 'A'.repeat(43));
        expect((await browser.get(forged.href)).status).toBe(refused);
        const stateless = new URL(callback);
        stateless.searchParams.delete('state');
        expect((await browser.get(stateless.href)).status).toBe(refused);
        const doubled = new URL(callback);
        doubled.searchParams.append('state', callback.searchParams.get('state')!);
        if (clientName === 'openid-client') expect((await browser.get(doubled.href)).status).toBe(refused);
        expect(JSON.parse((await browser.get(`${base}/whoami`)).body)).toEqual({ userId: null });

        const done = await browser.get(callback.href);
        expect(done.status).toBe(200);
        expect(JSON.parse((await browser.get(`${base}/whoami`)).body)).toEqual({ userId: 'johndoe' });
      });

      it("refuses another browser's callback (login CSRF), with or without a sign-in of its own", async () => {
        const attacker = new Browser();
        const planted = await callbackFor(attacker);

        const fresh = new Browser();
        expect((await fresh.get(planted)).status).toBe(refused);
        expect(JSON.parse((await fresh.get(`${base}/whoami`)).body)).toEqual({ userId: null });

        const victim = new Browser();
        await callbackFor(victim);
        expect((await victim.get(planted)).status).toBe(refused);
        expect(JSON.parse((await victim.get(`${base}/whoami`)).body)).toEqual({ userId: null });
        // The attacker's own sign-in was not used up by the attempt either.
        expect((await attacker.get(planted)).status).toBe(200);
      });

      it('two tabs that both started a sign-in both complete', async () => {
        const browser = new Browser();
        const first = await callbackFor(browser);
        const second = await callbackFor(browser);
        expect((await browser.get(second)).status).toBe(200);
        expect((await browser.get(first)).status).toBe(200);
        expect((await browser.get(first)).status).toBe(refused);
      });
    });
  }
}

const memory = async (): Promise<OpenedStore> => ({ store: new MemorySessionStore(), close: async () => {} });
for (const platform of PLATFORMS) {
  for (const clientName of Object.keys(CLIENTS) as (keyof typeof CLIENTS)[]) {
    describeFlow(`sign-in with an OpenID Connect provider through ${clientName} on ${platform}`, platform, clientName, memory);
  }
}

// The pending sign-ins live in the session's data like any key: the same flow over every real store.
let tables = 0;
for (const clientName of Object.keys(CLIENTS) as (keyof typeof CLIENTS)[]) {
  await describeEngines(`sign-in through ${clientName} on express`, (engine) => {
    describeFlow(`the whole flow`, 'express', clientName, async () => {
      const { dataSource, store } = await openStore(engine, `oidc_sessions_${++tables}`);
      return { store, close: () => dataSource.destroy() };
    });
  });
  await describeRedis(`sign-in through ${clientName} on express`, () => {
    describeFlow(`the whole flow`, 'express', clientName, async () => {
      const client = await newRedis();
      const prefix = testPrefix('oidc');
      return {
        store: new RedisSessionStore(client, { prefix }),
        close: async () => {
          await dropPrefix(client, prefix);
          client.disconnect();
        },
      };
    });
  });
}
