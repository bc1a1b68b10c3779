import { Module, type NestModule } from '@nestjs/common';
import { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN } from './module-definition.js';
import { resolveSessionOptions, type ResolvedSessionOptions, type SessionModuleOptions } from '../options.js';
import { SESSION_OPTIONS, SESSION_STORE, SESSION_STORE_OWNED } from '../constants.js';
import { SessionRuntime } from '../session/runtime.js';
import { SessionBootstrap } from './bootstrap.js';
import { SessionAuthGuard } from '../nest/guard.js';
import { CurrentSession } from '../nest/current-session.js';
import { SessionManager } from '../nest/manager.js';
import { SessionInterceptor } from '../nest/interceptor.js';
import { createDefaultStore, madeByModule } from './default-store.js';
import type { SessionStore } from '../stores/store.js';
import type { CookieSessionStore } from '../stores/cookie.store.js';

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
      useFactory: async (o: ResolvedSessionOptions): Promise<SessionStore | CookieSessionStore> => o.store ?? (await createDefaultStore(o.sqlitePath)),
      inject: [SESSION_OPTIONS],
    },
    // From the store itself, not from the options: a store put in by overrideProvider(SESSION_STORE) is the test's.
    { provide: SESSION_STORE_OWNED, useFactory: (store: object) => madeByModule(store), inject: [SESSION_STORE] },
    SessionRuntime,
    SessionAuthGuard,
    CurrentSession,
    SessionManager,
    SessionInterceptor,
    SessionBootstrap,
  ],
  exports: [CurrentSession, SessionManager, SessionAuthGuard, SessionInterceptor, SessionRuntime],
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
