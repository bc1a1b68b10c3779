import { Controller, Get, Injectable, type INestApplication, type INestMicroservice, type LoggerService } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { ClientProxyFactory, MessagePattern, Transport, type ClientProxy } from '@nestjs/microservices';
import { freePort } from './support/ports.js';
import { lastValueFrom } from 'rxjs';
import {
  Authenticated, CurrentSession, MemorySessionStore, Public, Session, SessionAuthGuard, SessionModule, SessionValue, UserId,
  type SessionHandle,
} from '../src/index.js';
import { Client } from './support/http.js';
import { SECRET, startApp } from './support/test-app.js';

/**
 * A microservice (RPC) message carries no cookie, so it has no session: over a real TCP transport
 * and a ClientProxy, every way of asking for the session fails with the module's explanation, and
 * the guard denies; in a hybrid app the message never borrows the session of the HTTP request that
 * sent it.
 */

const served: string[] = [];
const NO_SESSION = 'a microservice (RPC) handler has no session';

/** Keeps what Nest logs, to read the error the client only sees as "Internal server error". */
class CapturingLogger implements LoggerService {
  readonly errors: string[] = [];
  log(): void {}
  warn(): void {}
  debug(): void {}
  verbose(): void {}
  error(message: unknown): void {
    this.errors.push(String(message));
  }
}

@Injectable()
class WhoService {
  constructor(private readonly session: CurrentSession) {}
  who(): Promise<string | undefined> {
    return this.session.getUserId();
  }
}

@Controller()
class RpcController {
  constructor(private readonly who: WhoService) {}

  @MessagePattern('session')
  @Public()
  async session(@Session() session: SessionHandle) {
    served.push('session');
    return (await session.getUserId()) ?? null;
  }

  @MessagePattern('user-id')
  @Public()
  userId(@UserId() userId: string | undefined) {
    served.push('user-id');
    return userId ?? null;
  }

  @MessagePattern('value')
  @Public()
  value(@SessionValue('cart') cart: unknown) {
    served.push('value');
    return cart ?? null;
  }

  @MessagePattern('current')
  @Public()
  async current() {
    return (await this.who.who()) ?? null;
  }

  @MessagePattern('authenticated')
  @Authenticated()
  authenticated() {
    served.push('authenticated');
    return 'served';
  }

  @MessagePattern('undecided')
  undecided() {
    served.push('undecided');
    return 'served';
  }

  @MessagePattern('open')
  @Public()
  open(data: unknown) {
    served.push('open');
    return { echo: data };
  }
}

describe('a microservice (TCP transport) has no session', () => {
  const logger = new CapturingLogger();
  let service: INestMicroservice;
  let client: ClientProxy;

  beforeAll(async () => {
    const port = await freePort();
    const moduleRef = await Test.createTestingModule({
      imports: [SessionModule.forRoot({ secret: SECRET, store: new MemorySessionStore(), pruneInterval: 0 })],
      controllers: [RpcController],
      providers: [WhoService, { provide: APP_GUARD, useClass: SessionAuthGuard }],
    }).compile();
    service = moduleRef.createNestMicroservice({ transport: Transport.TCP, options: { host: '127.0.0.1', port }, logger });
    await service.listen();
    client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
    await client.connect();
  });
  afterAll(async () => {
    await client?.close();
    await service?.close();
  });
  beforeEach(() => {
    served.length = 0;
    logger.errors.length = 0;
  });

  it('@Session(), @UserId() and @SessionValue() throw the module\'s explanation: the handler never runs, the client gets an error', async () => {
    for (const pattern of ['session', 'user-id', 'value']) {
      await expect(lastValueFrom(client.send(pattern, {}))).rejects.toEqual({ status: 'error', message: 'Internal server error' });
    }
    expect(served).toEqual([]);
    expect(logger.errors).toHaveLength(3);
    for (const logged of logger.errors) expect(logged).toContain(NO_SESSION);
  });

  it('CurrentSession throws: there is no current request', async () => {
    await expect(lastValueFrom(client.send('current', {}))).rejects.toEqual({ status: 'error', message: 'Internal server error' });
    expect(logger.errors.join('\n')).toContain('no current request');
  });

  it('SessionAuthGuard denies (RpcException "Forbidden resource"): @Authenticated() and undecided handlers never run', async () => {
    for (const pattern of ['authenticated', 'undecided']) {
      await expect(lastValueFrom(client.send(pattern, {}))).rejects.toEqual({ status: 'error', message: 'Forbidden resource' });
    }
    expect(served).toEqual([]);
  });

  it('serves a @Public() handler that does not ask for the session', async () => {
    expect(await lastValueFrom(client.send('open', 'hello'))).toEqual({ echo: 'hello' });
    expect(served).toEqual(['open']);
  });
});

describe('a hybrid app: an HTTP request with a session sends a message to its own microservice', () => {
  const logger = new CapturingLogger();
  let app: INestApplication;
  let client: ClientProxy;

  @Controller()
  class RelayController {
    @Get('relay-login')
    @Public()
    async login(@Session() session: SessionHandle) {
      await session.login('alice');
      await session.set('cart', ['tea']);
      return { ok: true };
    }

    /** Asks the microservice from inside a request that has a session and a user. */
    @Get('relay')
    async relay(@UserId() userId: string) {
      const answers: Record<string, unknown> = { http: userId };
      for (const pattern of ['current', 'user-id', 'value', 'undecided']) {
        answers[pattern] = await lastValueFrom(client.send(pattern, {})).catch((err: { message: string }) => ({ refused: err.message }));
      }
      return answers;
    }
  }

  beforeAll(async () => {
    const port = await freePort();
    const moduleRef = await Test.createTestingModule({
      imports: [SessionModule.forRoot({ secret: SECRET, store: new MemorySessionStore(), pruneInterval: 0 })],
      controllers: [RpcController, RelayController],
      providers: [WhoService, { provide: APP_GUARD, useClass: SessionAuthGuard }],
    }).compile();
    app = await startApp(moduleRef, 'express', {}, (a) => {
      a.useLogger(logger);
      // Without inheritAppConfig, Nest gives a hybrid app's microservice none of the global enhancers, APP_GUARD included.
      a.connectMicroservice({ transport: Transport.TCP, options: { host: '127.0.0.1', port } }, { inheritAppConfig: true });
    });
    await app.startAllMicroservices();
    client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
  });
  afterAll(async () => {
    await client?.close();
    await app?.close();
  });
  beforeEach(() => {
    served.length = 0;
    logger.errors.length = 0;
  });

  it('the message handler never borrows the HTTP request\'s session, whatever asks for it (CurrentSession, decorators, guard)', async () => {
    const c = new Client(app);
    expect((await c.get('/relay')).status).toBe(401);
    expect((await c.get('/relay-login')).status).toBe(200);
    const res = await c.get('/relay');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      http: 'alice',
      current: { refused: 'Internal server error' },
      'user-id': { refused: 'Internal server error' },
      value: { refused: 'Internal server error' },
      undecided: { refused: 'Forbidden resource' },
    });
    expect(served).toEqual([]);
    expect(logger.errors.join('\n')).toContain(NO_SESSION);
  });
});
