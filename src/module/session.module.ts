import { Module, type NestModule } from '@nestjs/common';
import { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN } from './module-definition.js';
import { resolveSessionOptions, type ResolvedSessionOptions, type SessionModuleOptions } from '../options.js';
import { SESSION_OPTIONS, SESSION_STORE, SESSION_STORE_OWNED } from '../constants.js';
import { SessionRuntime } from '../session/runtime.js';
import { SessionBootstrap } from './bootstrap.js';
import { SessionAuthGuard } from '../nest/guard.js';
import { CurrentSession } from '../nest/current-session.js';
import { SessionManager } from '../nest/manager.js';
import { createDefaultStore } from './default-store.js';
import type { SessionStore } from '../stores/store.js';
import { isCookieSessionStore, type CookieSessionStore } from '../stores/cookie.store.js';

/**
 * Sessions for the whole application: import SessionModule.forRoot({ secret }) (or forRootAsync)
 * once; the module is global. It puts itself into the platform directly (a plain Express
 * middleware, Fastify hooks) rather than through Nest middleware or a global interceptor, each of
 * which costs every request of the application several µs, used session or not.
 */
@Module({
  providers: [
    { provide: SESSION_OPTIONS, useFactory: (o: SessionModuleOptions) => resolveSessionOptions(o), inject: [MODULE_OPTIONS_TOKEN] },
    {
      provide: SESSION_STORE,
      useFactory: async (o: ResolvedSessionOptions) => {
        const store: SessionStore | CookieSessionStore = o.store ?? (await createDefaultStore(o.sqlitePath));
        // Once, before any request: a store built before the options were resolved learns the timeouts.
        if (!isCookieSessionStore(store)) store.useTimeouts?.({ idleTimeout: o.idleTimeout, absoluteTimeout: o.absoluteTimeout });
        return store;
      },
      inject: [SESSION_OPTIONS],
    },
    { provide: SESSION_STORE_OWNED, useFactory: (o: ResolvedSessionOptions) => o.store === undefined, inject: [SESSION_OPTIONS] },
    SessionRuntime,
    SessionAuthGuard,
    CurrentSession,
    SessionManager,
    SessionBootstrap,
  ],
  exports: [CurrentSession, SessionManager, SessionAuthGuard, SessionRuntime],
})
export class SessionModule extends ConfigurableModuleClass implements NestModule {
  constructor(private readonly bootstrap: SessionBootstrap) {
    super();
  }

  /** Nest calls this before it registers any route: the moment to go in front of all of them. */
  configure(): void {
    this.bootstrap.install();
  }
}
