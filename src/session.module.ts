import { Module, RequestMethod, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN } from './session.module-definition.js';
import { resolveSessionOptions, type ResolvedSessionOptions, type SessionModuleOptions } from './session.options.js';
import { SESSION_OPTIONS, SESSION_STORE, SESSION_STORE_OWNED } from './session.constants.js';
import { SessionRuntime } from './session.runtime.js';
import { SessionMiddleware } from './session.middleware.js';
import { SessionInterceptor } from './session.interceptor.js';
import { SessionAuthGuard } from './session.guard.js';
import { CurrentSession } from './current-session.js';
import { SessionManager } from './session.manager.js';
import { createDefaultStore } from './session.default-store.js';

/**
 * Sessions for the whole application: import SessionModule.forRoot({ secret }) (or forRootAsync)
 * once. It installs its middleware and a global interceptor itself; the module is global.
 */
@Module({
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
    { provide: APP_INTERCEPTOR, useClass: SessionInterceptor },
  ],
  exports: [CurrentSession, SessionManager, SessionAuthGuard, SessionRuntime],
})
export class SessionModule extends ConfigurableModuleClass implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(SessionMiddleware).forRoutes({ path: '{*path}', method: RequestMethod.ALL });
  }
}
