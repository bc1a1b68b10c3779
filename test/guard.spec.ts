import request from 'supertest';
import { readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { freePort } from './support/ports.js';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Controller, Get, HttpCode, Param, Post, UnauthorizedException, type INestApplication, type INestMicroservice } from '@nestjs/common';
import { APP_GUARD, Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { Test } from '@nestjs/testing';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { WsAdapter } from '@nestjs/platform-ws';
import { ClientProxyFactory, MessagePattern, Transport, type ClientProxy } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import WebSocket from 'ws';
import { Authenticated, MemorySessionStore, Public, Session, SessionAuthGuard, SessionModule, type SessionHandle } from '../src/index.js';
import { effectiveAccess } from '../src/nest/guard.js';
import { createTestApp, sessionCookie, startApp, PLATFORMS, SECRET } from './support/test-app.js';

/**
 * SessionAuthGuard: the most specific declaration wins (method over class, in both directions,
 * global guard or not), and a context it cannot read a session from (WebSocket, microservice,
 * GraphQL) is denied unless the handler is @Public().
 */

@Controller('public-class')
@Public()
class PublicClassController {
  @Get('open')
  open() {
    return { open: true };
  }

  @Get('closed')
  @Authenticated()
  closed() {
    return { closed: true };
  }

  @Get('step-up')
  @Authenticated({ maxAuthAge: 1 })
  stepUp() {
    return { stepUp: true };
  }
}

@Controller('auth-class')
@Authenticated()
class AuthenticatedClassController {
  @Get('closed')
  closed() {
    return { closed: true };
  }

  @Get('open')
  @Public()
  open() {
    return { open: true };
  }
}

@Controller('undecided')
class UndecidedController {
  /** Both on one level: the guard cannot tell which was meant, so it stays closed. */
  @Get('both')
  @Public()
  @Authenticated()
  both() {
    return { both: true };
  }

  @Get('plain')
  plain() {
    return { plain: true };
  }

  @Post('login/:user')
  @HttpCode(200)
  @Public()
  async login(@Session() s: SessionHandle, @Param('user') user: string) {
    await s.login(user);
    return { ok: true };
  }
}

describe('effectiveAccess', () => {
  it('the method\'s declaration wins over its class\'s, in both directions; none is authenticated', () => {
    const stepUp = { maxAuthAge: 60_000 };
    expect(effectiveAccess('public', stepUp)).toBe('public');
    expect(effectiveAccess(stepUp, 'public')).toBe(stepUp);
    expect(effectiveAccess({}, stepUp)).toEqual({});
    expect(effectiveAccess(undefined, 'public')).toBe('public');
    expect(effectiveAccess(undefined, stepUp)).toBe(stepUp);
    expect(effectiveAccess(undefined, undefined)).toEqual({});
  });
});

const CONTROLLERS = [PublicClassController, AuthenticatedClassController, UndecidedController];

for (const platform of PLATFORMS) describe(`SessionAuthGuard on ${platform}: the most specific declaration wins`, () => {
  const apps: INestApplication[] = [];
  afterAll(async () => {
    for (const a of apps) await a.close();
  });

  async function appWith(global: boolean) {
    const a = await createTestApp({ platform, store: new MemorySessionStore(), controllers: CONTROLLERS, providers: global ? [{ provide: APP_GUARD, useClass: SessionAuthGuard }] : [] });
    apps.push(a);
    return a;
  }

  for (const global of [true, false]) {
    it(`${global ? 'global guard' : 'decorators only'}: anonymous requests`, async () => {
      const app = await appWith(global);
      const status = async (path: string) => (await request(app.getHttpServer()).get(path)).status;
      expect({ path: 'method @Authenticated in @Public class', status: await status('/public-class/closed') }).toEqual({ path: 'method @Authenticated in @Public class', status: 401 });
      expect(await status('/public-class/step-up')).toBe(401);
      expect(await status('/public-class/open')).toBe(200);
      expect({ path: 'method @Public in @Authenticated class', status: await status('/auth-class/open') }).toEqual({ path: 'method @Public in @Authenticated class', status: 200 });
      expect(await status('/auth-class/closed')).toBe(401);
      // Without the global guard these two have no guard at all.
      expect(await status('/undecided/both')).toBe(401);
      expect(await status('/undecided/plain')).toBe(global ? 401 : 200);
    });

    it(`${global ? 'global guard' : 'decorators only'}: a logged-in user passes, and a method's step-up still applies in a @Public class`, async () => {
      const app = await appWith(global);
      const login = await request(app.getHttpServer()).post('/undecided/login/alice');
      expect(login.status).toBe(200);
      const cookie = sessionCookie(login)!;
      const status = async (path: string) => (await request(app.getHttpServer()).get(path).set('Cookie', cookie)).status;
      for (const path of ['/public-class/closed', '/public-class/open', '/auth-class/open', '/auth-class/closed', '/undecided/both']) {
        expect({ path, status: await status(path) }).toEqual({ path, status: 200 });
      }
      await new Promise((r) => setTimeout(r, 5));
      expect(await status('/public-class/step-up')).toBe(401);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// WebSocket gateways (an anonymous socket: its handshake carries no cookie) and microservice handlers (no session at all).

const served: string[] = [];

@WebSocketGateway()
class ClosedGateway {
  @SubscribeMessage('closed')
  closed(@MessageBody() data: unknown) {
    served.push('ws:closed');
    return { event: 'closed', data: { served: data } };
  }

  @SubscribeMessage('open')
  @Public()
  open(@MessageBody() data: unknown) {
    served.push('ws:open');
    return { event: 'open', data: { served: data } };
  }
}

@WebSocketGateway({ path: '/authenticated' })
@Authenticated()
class AuthenticatedGateway {
  @SubscribeMessage('guarded')
  guarded() {
    served.push('ws:guarded');
    return { event: 'guarded', data: 'served' };
  }
}

@Controller()
class RpcController {
  @MessagePattern('closed')
  closed(data: unknown) {
    served.push('rpc:closed');
    return { served: data };
  }

  @MessagePattern('open')
  @Public()
  open(data: unknown) {
    served.push('rpc:open');
    return { served: data };
  }
}

@Controller()
@Authenticated()
class AuthenticatedRpcController {
  @MessagePattern('guarded')
  guarded() {
    served.push('rpc:guarded');
    return 'served';
  }
}

/** One message to a gateway, and the first message that comes back. */
async function exchange(url: string, message: object): Promise<{ event: string; data: unknown }> {
  const ws = new WebSocket(url);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const reply = new Promise<{ event: string; data: unknown }>((resolve, reject) => {
      ws.once('message', (raw) => resolve(JSON.parse(String(raw))));
      ws.once('error', reject);
      setTimeout(() => reject(new Error(`no answer to ${JSON.stringify(message)}`)), 5000).unref();
    });
    ws.send(JSON.stringify(message));
    return await reply;
  } finally {
    ws.close();
  }
}

for (const platform of PLATFORMS) describe(`SessionAuthGuard under APP_GUARD in a WebSocket gateway (${platform}, @nestjs/platform-ws)`, () => {
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [SessionModule.forRoot({ secret: SECRET, store: new MemorySessionStore(), pruneInterval: 0 })],
      providers: [ClosedGateway, AuthenticatedGateway, { provide: APP_GUARD, useClass: SessionAuthGuard }],
    }).compile();
    app = await startApp(moduleRef, platform, {}, (a) => a.useWebSocketAdapter(new WsAdapter(a)));
    await app.listen(0, '127.0.0.1');
    base = `ws://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app?.close();
  });
  beforeEach(() => (served.length = 0));

  it('denies an anonymous socket a handler that is not @Public() with WsException "Unauthorized", and never runs it', async () => {
    const reply = await exchange(base, { event: 'closed', data: 'hello' });
    expect(reply).toEqual({ event: 'exception', data: { status: 'error', message: 'Unauthorized', cause: { pattern: 'closed', data: 'hello' } } });
    expect(served).toEqual([]);
  });

  it('denies a gateway made @Authenticated() by its own decorator', async () => {
    const reply = await exchange(`${base}/authenticated`, { event: 'guarded', data: null });
    expect(reply).toMatchObject({ event: 'exception', data: { status: 'error', message: 'Unauthorized' } });
    expect(served).toEqual([]);
  });

  it('serves a @Public() handler: it needs no session', async () => {
    expect(await exchange(base, { event: 'open', data: 'hello' })).toEqual({ event: 'open', data: { served: 'hello' } });
    expect(served).toEqual(['ws:open']);
  });
});

describe('SessionAuthGuard under APP_GUARD in a microservice (TCP transport)', () => {
  let service: INestMicroservice;
  let client: ClientProxy;

  beforeAll(async () => {
    const port = await freePort();
    const moduleRef = await Test.createTestingModule({
      imports: [SessionModule.forRoot({ secret: SECRET, store: new MemorySessionStore(), pruneInterval: 0 })],
      controllers: [RpcController, AuthenticatedRpcController],
      providers: [{ provide: APP_GUARD, useClass: SessionAuthGuard }],
    }).compile();
    service = moduleRef.createNestMicroservice({ transport: Transport.TCP, options: { host: '127.0.0.1', port }, logger: false });
    await service.listen();
    client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
    await client.connect();
  });
  afterAll(async () => {
    await client?.close();
    await service?.close();
  });
  beforeEach(() => (served.length = 0));

  it('denies a handler that is not @Public() with RpcException "Forbidden resource", and never runs it', async () => {
    await expect(lastValueFrom(client.send('closed', 'hello'))).rejects.toEqual({ status: 'error', message: 'Forbidden resource' });
    await expect(lastValueFrom(client.send('guarded', 'hello'))).rejects.toEqual({ status: 'error', message: 'Forbidden resource' });
    expect(served).toEqual([]);
  });

  it('serves a @Public() handler', async () => {
    expect(await lastValueFrom(client.send('open', 'hello'))).toEqual({ served: 'hello' });
    expect(served).toEqual(['rpc:open']);
  });
});

describe('SessionAuthGuard in any other context without a session (GraphQL, custom transports)', () => {
  // @nestjs/graphql is not a dependency: its context is built by hand, as Nest builds it.
  const guard = new SessionAuthGuard(new Reflector());
  const contextOf = (type: string, handler: (...args: unknown[]) => unknown, cls: new () => object) => {
    const ctx = new ExecutionContextHost([{}, {}, {}, {}], cls as never, handler);
    ctx.setType(type);
    return ctx;
  };

  it('answers 401, not a pass', async () => {
    for (const type of ['graphql', 'custom']) {
      await expect(guard.canActivate(contextOf(type, UndecidedController.prototype.plain, UndecidedController))).rejects.toBeInstanceOf(UnauthorizedException);
      await expect(guard.canActivate(contextOf(type, AuthenticatedClassController.prototype.closed, AuthenticatedClassController))).rejects.toBeInstanceOf(UnauthorizedException);
    }
  });

  it('lets a @Public() handler through', async () => {
    expect(await guard.canActivate(contextOf('graphql', AuthenticatedClassController.prototype.open, AuthenticatedClassController))).toBe(true);
    expect(await guard.canActivate(contextOf('graphql', PublicClassController.prototype.open, PublicClassController))).toBe(true);
    await expect(guard.canActivate(contextOf('graphql', PublicClassController.prototype.closed, PublicClassController))).rejects.toBeInstanceOf(UnauthorizedException);
  });
});

describe('an HTTP-only application never loads the WebSocket or microservice packages', () => {
  it('src imports neither @nestjs/websockets nor @nestjs/microservices, except @nestjs/websockets where a message is handled', () => {
    const root = fileURLToPath(new URL('../src', import.meta.url));
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
    const named = (f: string) => readFileSync(f, 'utf8').replace(/await import\('@nestjs\/websockets'\)/g, '');
    const offenders = files(root).filter((f) => /['"]@nestjs\/(websockets|microservices|platform-ws)/.test(named(f)));
    expect(offenders).toEqual([]);
    // The one lazy import, reached only by a WebSocket message (the guard's refusal, SessionInterceptor).
    const lazy = files(root).filter((f) => readFileSync(f, 'utf8').includes("await import('@nestjs/websockets')"));
    expect(lazy.map((f) => f.slice(root.length))).toEqual(['/socket/ws-error.ts']);
    expect(files(root).length).toBeGreaterThan(10);
  });
});
