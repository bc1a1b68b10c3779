import 'reflect-metadata';
import { Controller, Get, Injectable, Module, type Provider, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { CookieSessionStore, MemorySessionStore, Session, SessionModule, type SessionHandle, type SessionModuleOptions, type SessionStore } from '../src/index.js';
import { SessionRuntime } from '../src/session/runtime.js';
import { resolveSessionOptions } from '../src/options.js';
import { createTestApp, CartService, OpenController, PLATFORMS, SECRET, TestController } from './support/test-app.js';
import { Client } from './support/http.js';

const base: SessionModuleOptions = { secret: SECRET };

describe('options are checked at start-up with clear messages', () => {
  it.each<[string, Partial<SessionModuleOptions> | undefined, RegExp]>([
    ['a missing secret', { secret: undefined as never }, /'secret' is required/],
    ['an empty secret list', { secret: [] }, /'secret' is required/],
    ['a short secret', { secret: 'short' }, /at least 32 characters/],
    ['a short retired secret', { secret: [SECRET, 'short'] }, /secret'\[1\].*at least 32/],
    ['a negative idle timeout', { idleTimeout: -1 }, /'idleTimeout' must be a positive whole number/],
    ['a NaN absolute timeout', { absoluteTimeout: Number.NaN }, /'absoluteTimeout'/],
    ['a fractional touch interval', { touchInterval: 1.5 }, /'touchInterval'/],
    ['idle past absolute', { idleTimeout: 10_000, absoluteTimeout: 5_000 }, /must not exceed 'absoluteTimeout'/],
    ['a touch interval past idle', { idleTimeout: 1000, touchInterval: 1000 }, /shorter than 'idleTimeout'/],
    ["sameSite 'none' without secure", { cookie: { sameSite: 'none', secure: false } }, /'none' needs 'cookie.secure' true/],
    ['an unknown sameSite', { cookie: { sameSite: 'loose' as never } }, /'cookie.sameSite' must be/],
    ['a __Host- name with a domain', { cookie: { name: '__Host-x', domain: 'example.com' } }, /needs secure: true, path '\/' and no domain/],
    ['a bad cookie name', { cookie: { name: 'a b' } }, /not a valid cookie name/],
    ['a bad path', { cookie: { path: 'nope' } }, /'cookie.path' must start with/],
    ['a store that is not one', { store: {} as SessionStore }, /'store' must implement SessionStore/],
    ['zero maxDataBytes', { maxDataBytes: 0 }, /'maxDataBytes'/],
  ])('%s', (_, patch, message) => {
    expect(() => resolveSessionOptions({ ...base, ...patch } as SessionModuleOptions)).toThrow(message);
  });

  it('fails the application start, not the first request', async () => {
    const moduleRef = Test.createTestingModule({ imports: [SessionModule.forRoot({ secret: 'too-short' })] });
    await expect(moduleRef.compile()).rejects.toThrow(/nestjs-lazy-session: option 'secret' must be a string of at least 32 characters/);
  });

  it('defaults to the strict values', () => {
    const o = resolveSessionOptions(base);
    expect(o.idleTimeout).toBe(30 * 60_000);
    expect(o.absoluteTimeout).toBe(12 * 3600_000);
    expect(o.touchInterval).toBe(60_000);
    expect(o.maxDataBytes).toBe(64 * 1024);
    expect(o.cookie).toEqual({ name: '__Host-sid', secure: true, httpOnly: true, sameSite: 'lax', path: '/', domain: undefined, maxAge: undefined });
    expect(o.csrf).toEqual({ allowedOrigins: new Set() });
    expect(resolveSessionOptions({ ...base, idleTimeout: 100_000 }).touchInterval).toBe(10_000);
  });
});

describe('a default adapts to the options that were set; only explicit values can contradict', () => {
  it('absoluteTimeout alone, below the default idle timeout: idleTimeout follows it', () => {
    const o = resolveSessionOptions({ ...base, absoluteTimeout: 60_000 });
    expect(o.idleTimeout).toBe(60_000);
    expect(o.absoluteTimeout).toBe(60_000);
    expect(o.touchInterval).toBe(6_000);
    // At and above the default, the default stays.
    expect(resolveSessionOptions({ ...base, absoluteTimeout: 30 * 60_000 }).idleTimeout).toBe(30 * 60_000);
    expect(resolveSessionOptions({ ...base, absoluteTimeout: 30 * 60_000 + 1 }).idleTimeout).toBe(30 * 60_000);
    expect(resolveSessionOptions({ ...base, absoluteTimeout: 1 }).idleTimeout).toBe(1);
  });

  it('idleTimeout alone, above the default absolute timeout: absoluteTimeout follows it', () => {
    const day = 24 * 3600_000;
    expect(resolveSessionOptions({ ...base, idleTimeout: day })).toMatchObject({ idleTimeout: day, absoluteTimeout: day });
    expect(resolveSessionOptions({ ...base, idleTimeout: 60_000 })).toMatchObject({ idleTimeout: 60_000, absoluteTimeout: 12 * 3600_000 });
  });

  it('both explicit and contradicting: a start-up error naming both', () => {
    expect(() => resolveSessionOptions({ ...base, idleTimeout: 60_001, absoluteTimeout: 60_000 })).toThrow(/option 'idleTimeout' \(60001\) must not exceed 'absoluteTimeout' \(60000\)/);
    expect(resolveSessionOptions({ ...base, idleTimeout: 60_000, absoluteTimeout: 60_000 }).idleTimeout).toBe(60_000);
  });

  it.each(PLATFORMS)('SessionModule.forRoot({ secret, absoluteTimeout: 60_000 }) starts and serves sessions on %s', async (platform) => {
    const app = await createTestApp({ platform, store: new MemorySessionStore(), options: { absoluteTimeout: 60_000 } });
    try {
      expect(app.get(SessionRuntime).options).toMatchObject({ idleTimeout: 60_000, absoluteTimeout: 60_000 });
      const c = new Client(app);
      expect((await c.post('/set', { a: 1 })).status).toBe(200);
      expect((await c.get('/get/a')).body).toEqual({ value: 1, has: true });
    } finally {
      await app.close();
    }
  });
});

describe('error messages name the option and its unit', () => {
  it.each<[string, Partial<SessionModuleOptions>, RegExp]>([
    ['maxDataBytes', { maxDataBytes: 0 }, /^nestjs-lazy-session: option 'maxDataBytes' must be a positive whole number of bytes, got 0$/],
    ['maxDataBytes', { maxDataBytes: 1.5 }, /^nestjs-lazy-session: option 'maxDataBytes' must be a positive whole number of bytes, got 1.5$/],
    ['maxSessionsPerUser', { maxSessionsPerUser: 0 }, /^nestjs-lazy-session: option 'maxSessionsPerUser' must be a positive whole number, got 0$/],
    ['idleTimeout', { idleTimeout: 0 }, /^nestjs-lazy-session: option 'idleTimeout' must be a positive whole number of milliseconds, got 0$/],
    ['pruneInterval', { pruneInterval: -1 }, /^nestjs-lazy-session: option 'pruneInterval' must be a non-negative whole number of milliseconds, got -1$/],
  ])('%s', (_, patch, message) => {
    expect(() => resolveSessionOptions({ ...base, ...patch })).toThrow(message);
  });

  it('a short CookieSessionStore key names the option `keys`', () => {
    expect(() => new CookieSessionStore({ keys: ['short'] })).toThrow(/^nestjs-lazy-session: each of CookieSessionStore keys must be a string of at least 32 characters$/);
    expect(() => new CookieSessionStore({ keys: [] })).toThrow(/^nestjs-lazy-session: CookieSessionStore keys must be a non-empty array of strings$/);
  });
});

@Injectable()
class FakeConfig {
  get(key: string): string {
    return key === 'SESSION_SECRET' ? SECRET : '';
  }
}
@Module({ providers: [FakeConfig], exports: [FakeConfig] })
class FakeConfigModule {}

describe('forRootAsync', () => {
  it('takes its options from a factory with injected dependencies', async () => {
    const store = new MemorySessionStore();
    const moduleRef = await Test.createTestingModule({
      imports: [
        SessionModule.forRootAsync({
          imports: [FakeConfigModule],
          inject: [FakeConfig],
          useFactory: async (config: FakeConfig) => ({ secret: config.get('SESSION_SECRET'), store, pruneInterval: 0 }),
        }),
      ],
      controllers: [TestController, OpenController],
      providers: [CartService],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const c = new Client(app);
    await c.post('/set', { a: 'async' });
    expect((await c.get('/get/a')).body.value).toBe('async');
    expect(store.size).toBe(1);
    await app.close();
  });

  it('fails the start when the factory gives bad options', async () => {
    const moduleRef = Test.createTestingModule({ imports: [SessionModule.forRootAsync({ useFactory: () => ({ secret: 'x' }) })] });
    await expect(moduleRef.compile()).rejects.toThrow(/at least 32 characters/);
  });
});

describe('CurrentSession outside a request', () => {
  it('throws an error that says so', async () => {
    const app = await createTestApp({ store: new MemorySessionStore() });
    const cart = app.get(CartService);
    await expect(cart.items()).rejects.toThrow(/no current request/);
    await app.close();
  });
});

describe('request tracking (AsyncLocalStorage) is used only where needed', () => {
  @Controller()
  class DecoratorsOnly {
    @Get('n')
    async n(@Session() s: SessionHandle) {
      const n = ((await s.get<number>('n')) ?? 0) + 1;
      await s.set('n', n);
      return { n };
    }
  }

  async function runtimeOf(controllers: Type[], providers: Provider[], options: Partial<SessionModuleOptions> = {}) {
    const moduleRef = await Test.createTestingModule({
      imports: [SessionModule.forRoot({ secret: SECRET, store: new MemorySessionStore(), pruneInterval: 0, ...options })],
      controllers,
      providers,
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    return { app, rt: app.get(SessionRuntime) };
  }

  it('is off when nothing injects CurrentSession or SessionManager, and sessions still work', async () => {
    const { app, rt } = await runtimeOf([DecoratorsOnly], []);
    expect(rt.tracksRequests).toBe(false);
    const c = new Client(app);
    expect((await c.get('/n')).body).toEqual({ n: 1 });
    expect((await c.get('/n')).body).toEqual({ n: 2 });
    await app.close();
  });

  it('is on when a provider injects CurrentSession, or when asked for', async () => {
    const injected = await runtimeOf([DecoratorsOnly], [CartService]);
    expect(injected.rt.tracksRequests).toBe(true);
    await injected.app.close();
    const asked = await runtimeOf([DecoratorsOnly], [], { trackRequests: true });
    expect(asked.rt.tracksRequests).toBe(true);
    await asked.app.close();
  });
});
