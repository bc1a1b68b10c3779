import { Module, RequestMethod, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { DiscoveryModule, HttpAdapterHost } from '@nestjs/core';
import { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN } from './session.module-definition.js';
import { resolveSessionOptions, type ResolvedSessionOptions, type SessionModuleOptions } from './session.options.js';
import { SESSION_OPTIONS, SESSION_STORE, SESSION_STORE_OWNED } from './session.constants.js';
import { SessionRuntime } from './session.runtime.js';
import { SessionMiddleware } from './session.middleware.js';
import { SessionBootstrap } from './session.bootstrap.js';
import { SessionAuthGuard } from './session.guard.js';
import { CurrentSession } from './current-session.js';
import { SessionManager } from './session.manager.js';
import { createDefaultStore } from './session.default-store.js';

/**
 * Sessions for the whole application: import SessionModule.forRoot({ secret }) (or forRootAsync)
 * once; the module is global. It installs its middleware itself, and stores a used session in a
 * before-send hook of the platform rather than in a global interceptor: any global interceptor moves
 * every route of the application onto Nest's slower interceptor path.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    { provide: SESSION_OPTIONS, useFactory: (o: SessionModuleOptions) => resolveSessionOptions(o), inject: [MODULE_OPTIONS_TOKEN] },
    {
      provide: SESSION_STORE,
      useFactory: async (o: ResolvedSessionOptions) => o.store ?? (await createDefaultStore(o.sqlitePath)),
      inject: [SESSION_OPTIONS],
    },
    { provide: SESSION_STORE_OWNED, useFactory: (o: ResolvedSessionOptions) => o.store === undefined, inject: [SESSION_OPTIONS] },
    SessionRuntime,
    SessionMiddleware,
    SessionAuthGuard,
    CurrentSession,
    SessionManager,
    SessionBootstrap,
  ],
  exports: [CurrentSession, SessionManager, SessionAuthGuard, SessionRuntime],
})
export class SessionModule extends ConfigurableModuleClass implements NestModule {
  constructor(private readonly adapterHost: HttpAdapterHost) {
    super();
  }

  configure(consumer: MiddlewareConsumer): void {
    // On Fastify, Nest middleware runs through @fastify/middie, which costs every request several
    // µs; SessionBootstrap runs the middleware in a Fastify onRequest hook instead.
    if (this.adapterHost.httpAdapter?.getType() === 'fastify') return;
    consumer.apply(SessionMiddleware).forRoutes({ path: '{*path}', method: RequestMethod.ALL });
  }
}
