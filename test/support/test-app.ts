import 'reflect-metadata';
import { BadRequestException, Body, Controller, Delete, Get, HttpCode, Injectable, InternalServerErrorException, Param, Post, Redirect, StreamableFile, type INestApplication, type Type } from '@nestjs/common';
import { Readable } from 'node:stream';
import { ModuleRef } from '@nestjs/core';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  Authenticated, CurrentSession, Public, Session, SessionManager, SessionModule, SessionValue, UserId,
  type CookieSessionStore, type SessionHandle, type SessionModuleOptions, type SessionStore,
} from '../../src/index.js';

export const SECRET = 'test-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

/** A singleton that reads the session through CurrentSession; counts its own constructions. */
@Injectable()
export class CartService {
  static constructed = 0;
  constructor(private readonly session: CurrentSession) {
    CartService.constructed++;
  }
  async items(): Promise<string[]> {
    return (await this.session.get<string[]>('cart')) ?? [];
  }
  async add(item: string): Promise<string[]> {
    const items = [...(await this.items()), item];
    await this.session.set('cart', items);
    return items;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A point where a request stops, between loading its session and writing it, until the test lets it
 * go: races are set up from observed events instead of sleeps. `entered` resolves once `count`
 * requests have loaded their session and are waiting.
 */
export interface Gate {
  entered: Promise<void>;
  release(): void;
}
const gates = new Map<string, { arrive(): void; released: Promise<void> }>();
let gateSeq = 0;

/** A new gate; requests reach it through the `set-gated/:gate` route. */
export function gate(count = 1): Gate & { name: string } {
  const name = `g${++gateSeq}`;
  let arrived = 0;
  let onEntered!: () => void;
  let onRelease!: () => void;
  const entered = new Promise<void>((r) => (onEntered = r));
  const released = new Promise<void>((r) => (onRelease = r));
  gates.set(name, { arrive: () => ++arrived === count && onEntered(), released });
  return {
    name,
    entered,
    release: () => {
      gates.delete(name);
      onRelease();
    },
  };
}

@Controller()
export class TestController {
  // SessionManager is looked up, not injected: an app over the cookie store, which keeps no index of
  // sessions by user, would otherwise be refused at start-up (as injecting SessionManager there must be).
  constructor(private readonly cart: CartService, private readonly moduleRef: ModuleRef) {}

  private get manager(): SessionManager {
    return this.moduleRef.get(SessionManager, { strict: false });
  }

  @Get('public')
  publicRoute() {
    return { ok: true };
  }

  @Get('read')
  async read(@Session() s: SessionHandle) {
    const a = await s.get('a');
    const [b, c] = await Promise.all([s.get('b'), s.has('c')]);
    return { a: a ?? null, b: b ?? null, c, again: (await s.get('a')) ?? null };
  }

  @Get('get/:key')
  async get(@Session() s: SessionHandle, @Param('key') key: string) {
    return { value: (await s.get(key)) ?? null, has: await s.has(key) };
  }

  @Get('value')
  value(@SessionValue('a') a: unknown) {
    return { a: a ?? null };
  }

  @Post('set')
  @HttpCode(200)
  async set(@Session() s: SessionHandle, @Body() body: Record<string, unknown>) {
    for (const [k, v] of Object.entries(body)) await s.set(k, v);
    return { ok: true };
  }

  /** The key travels in the path: body parsers (Fastify's) drop a '__proto__' key. */
  @Post('put/:key')
  @HttpCode(200)
  async put(@Session() s: SessionHandle, @Param('key') key: string, @Body() body: { value: unknown }) {
    await s.set(key, body.value);
    return { ok: true };
  }

  /** Redirects straight after writing: the next request must see the write (express-session #167). */
  @Post('set-and-redirect')
  @Redirect('/read', 303)
  async setAndRedirect(@Session() s: SessionHandle, @Body() body: Record<string, unknown>) {
    for (const [k, v] of Object.entries(body)) await s.set(k, v);
  }

  /** Streams its body: the session is stored before the first byte (and its headers) leave. */
  @Post('set-and-stream')
  @HttpCode(200)
  async setAndStream(@Session() s: SessionHandle, @Body() body: Record<string, unknown>) {
    for (const [k, v] of Object.entries(body)) await s.set(k, v);
    return new StreamableFile(Readable.from(['chunk-1,', 'chunk-2,', 'chunk-3']), { type: 'text/plain' });
  }

  @Post('set-slow/:ms')
  @HttpCode(200)
  async setSlow(@Session() s: SessionHandle, @Param('ms') ms: string, @Body() body: Record<string, unknown>) {
    await s.get('anything');
    await sleep(Number(ms));
    for (const [k, v] of Object.entries(body)) await s.set(k, v);
    return { ok: true };
  }

  /** Loads the session, waits at the test's gate, then writes: see gate(). */
  @Post('set-gated/:gate')
  @HttpCode(200)
  async setGated(@Session() s: SessionHandle, @Param('gate') name: string, @Body() body: Record<string, unknown>) {
    await s.get('anything');
    const g = gates.get(name);
    if (!g) throw new BadRequestException(`no gate ${name}`);
    g.arrive();
    await g.released;
    for (const [k, v] of Object.entries(body)) await s.set(k, v);
    return { ok: true };
  }

  @Post('bad-value/:kind')
  @HttpCode(200)
  async badValue(@Session() s: SessionHandle, @Param('kind') kind: string) {
    const values: Record<string, () => unknown> = {
      function: () => () => 1,
      symbol: () => Symbol('x'),
      bigint: () => BigInt(1),
      cycle: () => {
        const o: Record<string, unknown> = { a: 1 };
        o.self = o;
        return { nested: [o] };
      },
      date: () => new Date(),
      nan: () => Number.NaN,
    };
    try {
      await s.set('bad', values[kind]());
      return { error: null };
    } catch (err) {
      return { error: (err as Error).name, message: (err as Error).message };
    }
  }

  @Post('big/:bytes')
  @HttpCode(200)
  async big(@Session() s: SessionHandle, @Param('bytes') bytes: string) {
    try {
      await s.set('big', 'x'.repeat(Number(bytes)));
      return { error: null };
    } catch (err) {
      return { error: (err as Error).name, message: (err as Error).message };
    }
  }

  @Post('incr/:key')
  @HttpCode(200)
  async incr(@Session() s: SessionHandle, @Param('key') key: string) {
    const n = ((await s.get<number>(key)) ?? 0) + 1;
    await s.set(key, n);
    return { n };
  }

  @Post('fail500')
  async fail500(@Session() s: SessionHandle) {
    await s.set('poison', true);
    throw new InternalServerErrorException('boom');
  }

  @Post('crash')
  async crash(@Session() s: SessionHandle) {
    await s.set('poison', true);
    throw new Error('unexpected');
  }

  @Post('fail400')
  async fail400(@Session() s: SessionHandle) {
    await s.set('handled', true);
    throw new BadRequestException('nope');
  }

  @Delete('key/:key')
  async del(@Session() s: SessionHandle, @Param('key') key: string) {
    await s.delete(key);
    return { ok: true };
  }

  @Post('clear')
  @HttpCode(200)
  async clear(@Session() s: SessionHandle) {
    await s.clear();
    return { ok: true };
  }

  @Post('regenerate')
  @HttpCode(200)
  async regenerate(@Session() s: SessionHandle) {
    await s.regenerate();
    return { ok: true };
  }

  @Post('destroy')
  @HttpCode(200)
  async destroy(@Session() s: SessionHandle) {
    await s.destroy();
    return { ok: true };
  }

  @Post('login/:user')
  @HttpCode(200)
  async login(@Session() s: SessionHandle, @Param('user') user: string, @Body() body: { remember?: boolean }) {
    await s.login(user, { remember: body?.remember === true });
    return { ok: true };
  }

  @Post('login-checked')
  @HttpCode(200)
  async loginChecked(@Session() s: SessionHandle, @Body('user') user: string) {
    try {
      await s.login(user);
      return { error: null };
    } catch (err) {
      return { error: (err as Error).name, message: (err as Error).message };
    }
  }

  @Post('logout')
  @HttpCode(200)
  async logout(@Session() s: SessionHandle) {
    await s.logout();
    return { ok: true };
  }

  @Get('whoami')
  whoami(@UserId() userId: string | undefined) {
    return { userId: userId ?? null };
  }

  @Get('private')
  @Authenticated()
  private(@UserId() userId: string) {
    return { userId };
  }

  @Post('sensitive')
  @HttpCode(200)
  @Authenticated({ maxAuthAge: 60_000 })
  sensitive() {
    return { ok: true };
  }

  @Get('cart')
  async cartItems() {
    return { items: await this.cart.items() };
  }

  @Post('cart/:item')
  @HttpCode(200)
  async cartAdd(@Param('item') item: string) {
    return { items: await this.cart.add(item) };
  }

  @Get('cart-slow/:ms')
  async cartSlow(@Param('ms') ms: string) {
    const before = await this.cart.items();
    await sleep(Number(ms));
    return { items: before, after: await this.cart.items() };
  }

  @Get('sessions')
  @Authenticated()
  async sessions(@UserId() userId: string) {
    return this.manager.listForUser(userId);
  }

  @Post('sessions/end-others')
  @HttpCode(200)
  @Authenticated()
  async endOthers(@UserId() userId: string) {
    return { ended: await this.manager.destroyAllForUser(userId, { except: 'current' }) };
  }

  @Delete('sessions/:handle')
  @Authenticated()
  async endOne(@Param('handle') handle: string, @UserId() userId: string) {
    return { ended: await this.manager.destroyByHandle(handle, { userId }) };
  }
}

@Controller('open')
@Public()
export class OpenController {
  @Get()
  open() {
    return { open: true };
  }
}

export type Platform = 'express' | 'fastify';
/** Every e2e suite runs on both platforms. */
export const PLATFORMS: Platform[] = ['express', 'fastify'];

export interface TestAppOptions {
  platform?: Platform;
  store: SessionStore | CookieSessionStore;
  options?: Partial<SessionModuleOptions>;
  controllers?: Type[];
  providers?: unknown[];
  /** The platform's own trust-proxy setting (Express 'trust proxy', Fastify trustProxy). */
  trustProxy?: boolean;
}

export async function createTestApp({ platform = 'express', store, options, controllers, providers, trustProxy }: TestAppOptions): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [SessionModule.forRoot({ secret: SECRET, store, pruneInterval: 0, ...options })],
    controllers: controllers ?? [TestController, OpenController],
    providers: [CartService, ...((providers as never[]) ?? [])],
  }).compile();
  return startApp(moduleRef, platform, { trustProxy });
}

/** A Nest application on the platform, initialised and ready for supertest. */
export async function startApp(
  moduleRef: TestingModule,
  platform: Platform = 'express',
  { trustProxy = false }: { trustProxy?: boolean } = {},
  /** Runs before init, e.g. to install a WebSocket adapter. */
  configure?: (app: INestApplication) => void,
): Promise<INestApplication> {
  if (platform === 'express') {
    const app = moduleRef.createNestApplication({ logger: false });
    if (trustProxy) (app.getHttpAdapter().getInstance() as { set(name: string, value: unknown): void }).set('trust proxy', true);
    configure?.(app);
    await app.init();
    return app;
  }
  const { FastifyAdapter } = await import('@nestjs/platform-fastify');
  const app = moduleRef.createNestApplication(new FastifyAdapter(trustProxy ? { trustProxy: true } : undefined), { logger: false });
  configure?.(app);
  await app.init();
  await (app.getHttpAdapter().getInstance() as { ready(): Promise<unknown> }).ready();
  return app;
}

/** The session cookie as a Cookie header value, from a response's Set-Cookie. */
export function sessionCookie(res: { headers: Record<string, unknown> }, name = '__Host-sid'): string | undefined {
  const lines = (res.headers['set-cookie'] as string[] | undefined) ?? [];
  const line = lines.find((l) => l.startsWith(`${name}=`));
  if (!line) return undefined;
  return line.split(';')[0];
}
