import 'reflect-metadata';
import { Controller, Get, Injectable, Module, type NestMiddleware, type NestModule, type MiddlewareConsumer, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { CurrentSession, MemorySessionStore, SessionManager, SessionModule, SessionOptionsError, type SessionStore } from '../src/index.js';
import { SECRET, startApp } from './support/test-app.js';

/**
 * What start-up refuses, with the class at fault named: SessionManager over a store that keeps no
 * index of sessions by user, and (on Fastify) CurrentSession in a middleware. Both are
 * SessionOptionsError, so an application can tell a configuration mistake from a failure.
 */

/** A custom store with only the base contract: no listByUser, destroyByUser or destroyByHandle. */
function baseOnlyStore(): SessionStore {
  const inner = new MemorySessionStore();
  return {
    load: (id) => inner.load(id),
    create: (record) => inner.create(record),
    update: (id, patch) => inner.update(id, patch),
    destroy: (id) => inner.destroy(id),
    prune: (now, onBatch) => inner.prune(now, onBatch),
  };
}

@Injectable()
class DevicesService {
  constructor(readonly manager: SessionManager) {}
}

@Controller('plain')
class PlainController {
  @Get()
  plain() {
    return 'ok';
  }
}

@Injectable()
class ReadsSession implements NestMiddleware {
  constructor(readonly session: CurrentSession) {}
  use(_req: unknown, _res: unknown, next: () => void) {
    next();
  }
}

@Module({})
class MiddlewareModule implements NestModule {
  configure(consumer: MiddlewareConsumer) {
    consumer.apply(ReadsSession).forRoutes('plain');
  }
}

async function build(store: SessionStore, extra: { providers?: Type[]; imports?: Type[] }, platform: 'express' | 'fastify') {
  const moduleRef = await Test.createTestingModule({
    imports: [SessionModule.forRoot({ secret: SECRET, store, pruneInterval: 0 }), ...(extra.imports ?? [])],
    controllers: [PlainController],
    providers: extra.providers ?? [],
  }).compile();
  return startApp(moduleRef, platform);
}

describe.each(['express', 'fastify'] as const)('start-up checks on %s', (platform) => {
  it('refuses SessionManager over a store without the user index, naming the class that injects it and the fix', async () => {
    const failure = await build(baseOnlyStore(), { providers: [DevicesService] }, platform).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(SessionOptionsError);
    expect((failure as Error).message).toMatch(/^nestjs-lazy-session: DevicesService injects SessionManager, .*no index of sessions by user.*Use a server-side store/s);
  });

  it('starts with that store when nothing injects SessionManager, and with SessionManager over a user-indexed store', async () => {
    for (const app of [await build(baseOnlyStore(), {}, platform), await build(new MemorySessionStore(), { providers: [DevicesService] }, platform)]) {
      await app.close();
    }
  });

  it('a middleware injecting CurrentSession: refused as a SessionOptionsError on Fastify only', async () => {
    const started = build(new MemorySessionStore(), { imports: [MiddlewareModule] }, platform);
    if (platform === 'fastify') return void (await expect(started).rejects.toBeInstanceOf(SessionOptionsError));
    await (await started).close();
  });
});
