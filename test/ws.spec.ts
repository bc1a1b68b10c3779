import { Injectable, UseInterceptors, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { WsAdapter } from '@nestjs/platform-ws';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { DataSource } from 'typeorm';
import {
  Authenticated, CurrentSession, Session, SessionInterceptor, SessionModule, SessionValue, UserId,
  type SessionHandle, type SessionModuleOptions, type TypeOrmSessionStore,
} from '../src/index.js';
import { CountingLogger } from './support/counting-logger.js';
import { describeEngines, openStore } from './support/databases.js';
import { quoteTable } from './support/bulk.js';
import { Client, sleep } from './support/http.js';
import { CartService, OpenController, PLATFORMS, SECRET, startApp, TestController, type Platform } from './support/test-app.js';
import { baseUrl, connect, TRANSPORTS, type ClientSocket, type Transport } from './support/sockets.js';

/**
 * WebSocket gateways with real clients (socket.io-client, ws) against a listening app, on Express
 * and Fastify, over a SQL store whose statements are counted: each message reads the session named
 * by its socket's handshake cookie, when a handler uses it and only then.
 */

/** A service reading the session through CurrentSession, as a gateway's handler calls it. */
@Injectable()
class Greeter {
  constructor(private readonly session: CurrentSession) {}
  async greet(): Promise<string> {
    return `hello ${(await this.session.getUserId()) ?? 'stranger'}`;
  }
}

@WebSocketGateway()
@UseInterceptors(SessionInterceptor)
class SessionGateway {
  constructor(private readonly cart: CartService, private readonly greeter: Greeter) {}

  @SubscribeMessage('ping')
  ping() {
    return 'pong';
  }

  @SubscribeMessage('whoami')
  whoami(@UserId() user: string | undefined) {
    return { user: user ?? null };
  }

  @SubscribeMessage('private')
  @Authenticated()
  private(@UserId() user: string) {
    return { user };
  }

  @SubscribeMessage('recent')
  @Authenticated({ maxAuthAge: 1 })
  recent() {
    return 'recent';
  }

  @SubscribeMessage('set')
  @Authenticated()
  async set(@Session() s: SessionHandle, @MessageBody() body: { key: string; value: unknown }) {
    await s.set(body.key, body.value);
    return { stored: body.key };
  }

  @SubscribeMessage('set-anywhere')
  async setAnywhere(@Session() s: SessionHandle, @MessageBody() body: { key: string; value: unknown }) {
    await s.set(body.key, body.value);
    return { stored: body.key };
  }

  @SubscribeMessage('get')
  @Authenticated()
  get(@SessionValue('a') a: unknown) {
    return { a: a ?? null };
  }

  @SubscribeMessage('cart')
  @Authenticated()
  async addToCart(@MessageBody() item: string) {
    return { items: await this.cart.add(item) };
  }

  @SubscribeMessage('greet')
  async greet() {
    return await this.greeter.greet();
  }

  @SubscribeMessage('login')
  async login(@Session() s: SessionHandle) {
    await s.login('mallory');
    return 'logged in';
  }

  @SubscribeMessage('regenerate')
  async regenerate(@Session() s: SessionHandle) {
    await s.regenerate();
    return 'regenerated';
  }

  @SubscribeMessage('logout')
  async logout(@Session() s: SessionHandle) {
    await s.logout();
    return 'logged out';
  }

  @SubscribeMessage('destroy')
  @Authenticated()
  async destroy(@Session() s: SessionHandle) {
    await s.destroy();
    return 'destroyed';
  }
}

async function gatewayApp(platform: Platform, transport: Transport, store: TypeOrmSessionStore, options: Partial<SessionModuleOptions> = {}): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [SessionModule.forRoot({ secret: SECRET, store, pruneInterval: 0, ...options })],
    controllers: [TestController, OpenController],
    providers: [CartService, Greeter, SessionGateway],
  }).compile();
  const app = await startApp(moduleRef, platform, {}, (a) => a.useWebSocketAdapter(transport === 'ws' ? new WsAdapter(a) : new IoAdapter(a)));
  await app.listen(0, '127.0.0.1');
  return app;
}

for (const platform of PLATFORMS) {
  for (const transport of TRANSPORTS) {
    await describeEngines(`WebSocket gateway on ${platform} with ${transport}`, (engine) => {
      const table = `ws_${platform}_${transport.replace('.', '')}_${engine}`;
      const logger = new CountingLogger();
      let dataSource: DataSource;
      let store: TypeOrmSessionStore;
      let app: INestApplication;
      const apps: INestApplication[] = [];
      const sockets: ClientSocket[] = [];

      async function open(options: Parameters<typeof connect>[2] = {}, to = app): Promise<ClientSocket> {
        const s = await connect(transport, to, options);
        sockets.push(s);
        return s;
      }

      /** Logs a user in over HTTP and opens a socket whose handshake carries that session's cookie. */
      async function loggedIn(user = 'alice', to = app): Promise<{ http: Client; socket: ClientSocket }> {
        const http = new Client(to);
        expect((await http.post(`/login/${user}`)).status).toBe(200);
        return { http, socket: await open({ cookie: http.cookie }, to) };
      }

      /** An answer, and the SQL statements it cost. */
      async function counted<T>(fn: () => Promise<T>): Promise<[T, number]> {
        logger.reset();
        const result = await fn();
        return [result, logger.count];
      }

      async function rows(): Promise<{ data: string }[]> {
        return dataSource.query(`SELECT data FROM ${quoteTable(engine, table)}`);
      }

      beforeAll(async () => {
        ({ dataSource, store } = await openStore(engine, table, logger));
        app = await gatewayApp(platform, transport, store);
        apps.push(app);
      });

      afterEach(() => {
        for (const s of sockets.splice(0)) s.close();
      });

      afterAll(async () => {
        for (const a of apps) await a.close();
        await dataSource.destroy();
      });

      describe('the session of the handshake cookie, loaded only when a handler uses it', () => {
        it('opening a socket and a message that does not use the session cost 0 statements', async () => {
          const http = new Client(app);
          await http.post('/login/alice');
          const [socket, onOpen] = await counted(() => open({ cookie: http.cookie }));
          expect(onOpen).toBe(0);
          const [answer, statements] = await counted(() => socket.send('ping'));
          expect(answer).toEqual({ ok: 'pong' });
          expect(statements).toBe(0);
        });

        it('@UserId() reads the user of the handshake cookie: 1 statement per message, every message', async () => {
          const { socket } = await loggedIn('alice');
          for (let i = 0; i < 3; i++) {
            const [answer, statements] = await counted(() => socket.send('whoami'));
            expect(answer).toEqual({ ok: { user: 'alice' } });
            expect(statements).toBe(1);
          }
        });

        it('the guard and the decorators of one message share one load: 1 statement', async () => {
          const { socket } = await loggedIn('bob');
          const [answer, statements] = await counted(() => socket.send('private'));
          expect(answer).toEqual({ ok: { user: 'bob' } });
          expect(statements).toBe(1);
          const [value, again] = await counted(() => socket.send('get'));
          expect(value).toEqual({ ok: { a: null } });
          expect(again).toBe(1);
        });

        it('a socket without a cookie is anonymous: public messages work, guarded ones get WsException "Unauthorized" and the socket stays usable', async () => {
          const socket = await open();
          expect(await socket.send('whoami')).toEqual({ ok: { user: null } });
          const [denied, statements] = await counted(() => socket.send('private'));
          expect(denied).toEqual({ error: 'Unauthorized' });
          expect(statements).toBe(0);
          expect(await socket.send('ping')).toEqual({ ok: 'pong' });
        });

        it('a forged cookie is anonymous too, and costs no statement', async () => {
          const socket = await open({ cookie: '__Host-sid=forged.value' });
          const [denied, statements] = await counted(() => socket.send('private'));
          expect(denied).toEqual({ error: 'Unauthorized' });
          expect(statements).toBe(0);
        });

        it('@Authenticated({ maxAuthAge }) refuses an old login with "Unauthorized"', async () => {
          const { socket } = await loggedIn('carol');
          await sleep(5);
          expect(await socket.send('recent')).toEqual({ error: 'Unauthorized' });
          expect(await socket.send('private')).toEqual({ ok: { user: 'carol' } });
        });

        it('CurrentSession works in a service the handler calls, and in one of a guarded handler', async () => {
          const { socket } = await loggedIn('dave');
          expect(await socket.send('greet')).toEqual({ ok: 'hello dave' });
          const [answer, statements] = await counted(() => socket.send('cart', 'apple'));
          expect(answer).toEqual({ ok: { items: ['apple'] } });
          expect(statements).toBe(2);
          expect(await socket.send('cart', 'pear')).toEqual({ ok: { items: ['apple', 'pear'] } });
        });
      });

      describe('SessionInterceptor stores the changes before the acknowledgement', () => {
        it('the row holds the value when the answer arrives: 2 statements (read, write)', async () => {
          const { http, socket } = await loggedIn('erin');
          const marker = `v-${Math.random()}`;
          const [answer, statements] = await counted(() => socket.send('set', { key: 'a', value: marker }));
          expect(answer).toEqual({ ok: { stored: 'a' } });
          expect(statements).toBe(2);
          expect((await rows()).some((r) => String(r.data).includes(marker))).toBe(true);
          // The HTTP side of the same session sees it at once.
          expect((await http.get('/get/a')).body).toMatchObject({ value: marker });
        });

        if (transport === 'socket.io') {
          it('messages at once on one socket each store their own changes before their own acknowledgement', async () => {
            const { http, socket } = await loggedIn('fern');
            const answers = await Promise.all(['k1', 'k2', 'k3'].map((key) => socket.send('set', { key, value: key.toUpperCase() })));
            expect(answers).toEqual([{ ok: { stored: 'k1' } }, { ok: { stored: 'k2' } }, { ok: { stored: 'k3' } }]);
            for (const key of ['k1', 'k2', 'k3']) expect((await http.get(`/get/${key}`)).body).toMatchObject({ value: key.toUpperCase() });
          });
        }

        it('a message never starts a session: a socket without one is told to do it over HTTP, nothing is written', async () => {
          const socket = await open();
          const before = (await rows()).length;
          const answer = await socket.send('set-anywhere', { key: 'a', value: 1 });
          expect(answer).toEqual({ error: expect.stringMatching(/starting a session cannot set the session cookie over a WebSocket.*over HTTP/) });
          expect((await rows()).length).toBe(before);
        });

        it.each(['login', 'regenerate', 'logout'])('%s() rejects with a clear error saying to do it over HTTP; the session is unchanged', async (event) => {
          const { http, socket } = await loggedIn('frank');
          const answer = await socket.send(event);
          expect(answer).toEqual({ error: expect.stringContaining(`${event}() cannot set the session cookie over a WebSocket`) });
          expect((answer as { error: string }).error).toContain('do it over HTTP');
          expect(await socket.send('private')).toEqual({ ok: { user: 'frank' } });
          expect((await http.get('/whoami')).body).toEqual({ userId: 'frank' });
        });
      });

      describe('revocation reaches live sockets', () => {
        it('after a logout over HTTP, the next message that uses the session is refused; public ones still work', async () => {
          const { http, socket } = await loggedIn('gina');
          expect(await socket.send('private')).toEqual({ ok: { user: 'gina' } });
          expect((await http.post('/logout')).status).toBe(200);
          const [denied, statements] = await counted(() => socket.send('private'));
          expect(denied).toEqual({ error: 'Unauthorized' });
          expect(statements).toBe(1);
          expect(await socket.send('whoami')).toEqual({ error: 'Unauthorized' });
          expect(await socket.send('ping')).toEqual({ ok: 'pong' });
        });

        it('a destroy() from another socket of the session ends it for this one: 2 statements (read, delete)', async () => {
          const { http, socket } = await loggedIn('hank');
          const other = await open({ cookie: http.cookie });
          const [done, statements] = await counted(() => other.send('destroy'));
          expect(done).toEqual({ ok: 'destroyed' });
          expect(statements).toBe(2);
          expect(await socket.send('private')).toEqual({ error: 'Unauthorized' });
          expect((await http.get('/whoami')).body).toEqual({ userId: null });
        });

        it('a SessionManager end from another session of the user ends it for this one', async () => {
          const { socket } = await loggedIn('ivy');
          const phone = new Client(app);
          await phone.post('/login/ivy');
          expect((await phone.post('/sessions/end-others')).body).toEqual({ ended: 1 });
          expect(await socket.send('private')).toEqual({ error: 'Unauthorized' });
        });

        it('a logout on another instance over the same store ends it for this one', async () => {
          const other = await gatewayApp(platform, transport, store);
          apps.push(other);
          const { http, socket } = await loggedIn('jack');
          const elsewhere = new Client(other);
          elsewhere.cookie = http.cookie;
          expect((await elsewhere.post('/logout')).status).toBe(200);
          expect(await socket.send('private')).toEqual({ error: 'Unauthorized' });
        });

        it('a message never resurrects a session: a write after the end is refused and nothing is stored', async () => {
          const { http, socket } = await loggedIn('kate');
          await http.post('/logout');
          const before = (await rows()).length;
          expect(await socket.send('set-anywhere', { key: 'a', value: 1 })).toEqual({ error: 'Unauthorized' });
          expect((await rows()).length).toBe(before);
        });

        it('expiry ends it: the next message is refused and the expired row removed (2 statements)', async () => {
          const short = await gatewayApp(platform, transport, store, { idleTimeout: 1000, absoluteTimeout: 1000 });
          apps.push(short);
          const { socket } = await loggedIn('liam', short);
          expect(await socket.send('private')).toEqual({ ok: { user: 'liam' } });
          // Messages do not extend the idle time, so the session expires while the socket is busy.
          await sleep(600);
          expect(await socket.send('private')).toEqual({ ok: { user: 'liam' } });
          await sleep(600);
          const [denied, statements] = await counted(() => socket.send('private'));
          expect(denied).toEqual({ error: 'Unauthorized' });
          expect(statements).toBe(2);
        });
      });

      describe('Cross-Site WebSocket Hijacking', () => {
        it('refuses the handshake of a socket that carries the session cookie and a foreign Origin', async () => {
          const http = new Client(app);
          await http.post('/login/mia');
          // ws reports the status line; socket.io-client only that its websocket failed.
          await expect(open({ cookie: http.cookie, origin: 'https://evil.example' })).rejects.toThrow(transport === 'ws' ? /403/ : /websocket error/);
          // The same socket from the app's own origin opens and is the user's.
          const own = await open({ cookie: http.cookie, origin: `http://${baseUrl(app)}` });
          expect(await own.send('private')).toEqual({ ok: { user: 'mia' } });
        });

        it('behind a TLS-terminating proxy, the public https origin is the handshake\'s own (X-Forwarded-Proto)', async () => {
          const http = new Client(app);
          await http.post('/login/nina');
          const origin = `https://${baseUrl(app)}`;
          await expect(open({ cookie: http.cookie, origin })).rejects.toThrow();
          const socket = await open({ cookie: http.cookie, origin, forwardedProto: 'https' });
          expect(await socket.send('private')).toEqual({ ok: { user: 'nina' } });
          // It only names the scheme: another site's origin stays foreign.
          await expect(open({ cookie: http.cookie, origin: 'https://evil.example', forwardedProto: 'https' })).rejects.toThrow();
        });

        it('admits an origin of csrf.allowedOrigins, and a foreign origin without a cookie (it has no session to abuse)', async () => {
          const listed = await gatewayApp(platform, transport, store, { csrf: { allowedOrigins: ['https://app.example'] } });
          apps.push(listed);
          const http = new Client(listed);
          await http.post('/login/noah');
          const socket = await open({ cookie: http.cookie, origin: 'https://app.example' }, listed);
          expect(await socket.send('private')).toEqual({ ok: { user: 'noah' } });
          const stranger = await open({ origin: 'https://evil.example' }, listed);
          expect(await stranger.send('ping')).toEqual({ ok: 'pong' });
        });

        if (transport === 'socket.io') {
          it('over long-polling (a handshake that is no upgrade), every use of the session is refused instead', async () => {
            const http = new Client(app);
            await http.post('/login/olga');
            const socket = await open({ cookie: http.cookie, origin: 'https://evil.example', polling: true });
            const [denied, statements] = await counted(() => socket.send('private'));
            expect(denied).toEqual({ error: 'Cross-site request refused' });
            expect(statements).toBe(0);
            expect(await socket.send('whoami')).toEqual({ error: 'Cross-site request refused' });
            expect(await socket.send('ping')).toEqual({ ok: 'pong' });
          });
        }
      });
    });
  }
}

/** A gateway that forgot SessionInterceptor: reads and guards work; a change is refused, not lost. */
@WebSocketGateway()
class BareGateway {
  @SubscribeMessage('private')
  @Authenticated()
  private(@UserId() user: string) {
    return { user };
  }

  @SubscribeMessage('set')
  @Authenticated()
  async set(@Session() s: SessionHandle, @MessageBody() value: string) {
    await s.set('a', value);
    return 'set';
  }
}

for (const transport of TRANSPORTS) {
  await describeEngines(`WebSocket gateway without SessionInterceptor (${transport})`, (engine) => {
    const logger = new CountingLogger();
    let dataSource: DataSource;
    let app: INestApplication;
    let socket: ClientSocket | undefined;
    const errors: string[] = [];

    beforeAll(async () => {
      let store: TypeOrmSessionStore;
      ({ dataSource, store } = await openStore(engine, `ws_bare_${transport.replace('.', '')}`, logger));
      const moduleRef = await Test.createTestingModule({
        imports: [SessionModule.forRoot({ secret: SECRET, store, pruneInterval: 0 })],
        controllers: [TestController, OpenController],
        providers: [CartService, BareGateway],
      }).compile();
      app = await startApp(moduleRef, 'express', {}, (a) => {
        a.useWebSocketAdapter(transport === 'ws' ? new WsAdapter(a) : new IoAdapter(a));
        a.useLogger({ log: () => undefined, warn: () => undefined, error: (m: unknown) => void errors.push(String((m as Error)?.message ?? m)) });
      });
      await app.listen(0, '127.0.0.1');
    });

    afterAll(async () => {
      socket?.close();
      await app?.close();
      await dataSource?.destroy();
    });

    it('reads work, and a set() is refused with the way out in the log; nothing is written', async () => {
      const http = new Client(app);
      await http.post('/login/pat');
      socket = await connect(transport, app, { cookie: http.cookie });
      expect(await socket.send('private')).toEqual({ ok: { user: 'pat' } });
      logger.reset();
      // Nest tells the client only that something failed, and logs the module's error.
      expect(await socket.send('set', 'x')).toEqual({ error: 'Internal server error' });
      expect(logger.count).toBe(1);
      expect(errors.join('\n')).toContain('@UseInterceptors(SessionInterceptor)');
      expect((await http.get('/get/a')).body).toMatchObject({ value: null });
    });
  }, ['sqlite']);
}
