import { Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost, ModulesContainer } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';
import { SessionRuntime } from '../session/runtime.js';
import { CurrentSession } from '../nest/current-session.js';
import { SessionManager } from '../nest/manager.js';
import { refuseUnguardedFieldResolvers } from '../nest/graphql-fields.js';
import { refuseCurrentUserWithoutResolver } from '../nest/decorators.js';
import { SessionMiddleware } from '../request/middleware.js';
import { contextOf } from '../request/context.js';
import { watchHandshakes } from '../socket/handshake.js';
import { platformAdapter } from '../http/platform.js';
import type { PlatformAdapter } from '../http/http.adapter.js';
import { isUserIndexed } from '../stores/store.js';
import { isCookieSessionStore } from '../stores/cookie.store.js';
import { SessionOptionsError } from '../errors.js';

/** Providers that find the request through AsyncLocalStorage rather than through a parameter. */
const NEEDS_REQUEST_TRACKING: unknown[] = [CurrentSession, SessionManager];

/**
 * Start-up decisions, made once so the per-request path makes none, each at the first moment Nest
 * can answer it. Which platform adapter to use: at configure(), before the routes (a testing module
 * instantiates its providers before it is given a platform, so not in a constructor). Whether
 * requests are tracked in AsyncLocalStorage at all: at onModuleInit, once every module's configure()
 * has named its middleware. On Node 20 a single AsyncLocalStorage.run turns on promise hooks for the
 * whole process (about 10% of the CPU of a small request), so it is only used when something injects
 * CurrentSession or SessionManager.
 */
@Injectable()
export class SessionBootstrap implements OnModuleInit {
  private chosen: PlatformAdapter | undefined;

  constructor(
    private readonly rt: SessionRuntime,
    private readonly modules: ModulesContainer,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  /**
   * Before the routes: the platform's adapter, with the middleware in front of every request; and
   * the WebSocket handshakes on the same server, for the gateways' messages.
   */
  install(): void {
    const adapter = this.platform();
    if (!adapter) return;
    adapter.install(this.adapterHost.httpAdapter.getInstance(), new SessionMiddleware(this.rt, adapter), contextOf);
    // The gateways' WebSocket servers are attached by now (Nest registers them before any configure()).
    watchHandshakes(this.adapterHost.httpAdapter.getHttpServer(), this.rt);
  }

  onModuleInit(): void {
    if (this.platform()?.middlewareSeesContext === false) this.refuseMiddlewareWithCurrentSession();
    this.refuseManagerWithoutUserIndex();
    refuseUnguardedFieldResolvers(this.modules);
    refuseCurrentUserWithoutResolver(this.modules, this.rt.options.resolveUser);
    this.rt.decideTracking(this.rt.options.trackRequests ?? this.findInjecting(NEEDS_REQUEST_TRACKING) !== undefined);
  }

  /**
   * The adapter for the application's platform, chosen at its first use (configure()) and kept;
   * none without a platform (an application context).
   */
  private platform(): PlatformAdapter | undefined {
    const platform = this.adapterHost.httpAdapter;
    if (!platform) return undefined;
    return (this.chosen ??= platformAdapter(platform.getType()));
  }

  /**
   * On Fastify, Nest runs middleware through middie, whose hook Fastify registered before this
   * module's: no request context exists yet there, so CurrentSession in a middleware could only fail
   * at run time. Refused now, with the way out.
   */
  private refuseMiddlewareWithCurrentSession(): void {
    const wrapper = this.findInjecting([CurrentSession], ['middlewares']);
    if (!wrapper) return;
    throw new SessionOptionsError(
      `nestjs-lazy-session: the middleware ${String(wrapper.name)} injects CurrentSession, but on Fastify Nest runs middleware before ` +
        'the session is set up for the request, so it could never use it. Read the session in a guard, interceptor, pipe or handler ' +
        'instead (CurrentSession and @Session() work there), or run the app on Express.',
    );
  }

  /** SessionManager lists and ends a user's sessions: with a store that cannot, every call would fail. */
  private refuseManagerWithoutUserIndex(): void {
    const store = this.rt.store;
    if (!isCookieSessionStore(store) && isUserIndexed(store)) return;
    const wrapper = this.findInjecting([SessionManager]);
    if (!wrapper) return;
    throw new SessionOptionsError(
      `${String(wrapper.name)} injects SessionManager, but the session store (${store.constructor.name}) keeps no index of ` +
        "sessions by user (listByUser, destroyByUser, destroyByHandle), so SessionManager could not list or end anybody's sessions. " +
        'Use a server-side store (TypeOrmSessionStore, RedisSessionStore), or remove SessionManager from ' +
        `${String(wrapper.name)}.`,
    );
  }

  /**
   * The first class that asks for one of `tokens`, among providers and controllers and also what Nest
   * builds outside `providers`: the guards, interceptors, pipes and filters named in decorators (its
   * "injectables", found when it scans the controllers) and the middleware given to
   * `consumer.apply()`. Missing one would leave its requests without tracking, and CurrentSession
   * failing there at run time.
   */
  private findInjecting(tokens: unknown[], kinds: readonly WrapperKind[] = ALL_KINDS): InstanceWrapper | undefined {
    for (const module of this.modules.values()) {
      for (const kind of kinds) {
        for (const wrapper of module[kind].values()) if (injectsAny(wrapper, tokens)) return wrapper;
      }
    }
    return undefined;
  }
}

type WrapperKind = 'providers' | 'controllers' | 'injectables' | 'middlewares';
const ALL_KINDS: readonly WrapperKind[] = ['providers', 'controllers', 'injectables', 'middlewares'];

/** Whether the class behind a wrapper asks for one of `tokens`: constructor, @Inject or property. */
function injectsAny(wrapper: InstanceWrapper, tokens: unknown[]): boolean {
  if (wrapper.inject?.some((token) => tokens.includes(token))) return true;
  const type = wrapper.metatype;
  if (typeof type !== 'function' || tokens.includes(type) || wrapper.inject) return false;
  const params: unknown[] = Reflect.getMetadata('design:paramtypes', type) ?? [];
  const explicit: { param: unknown }[] = Reflect.getMetadata('self:paramtypes', type) ?? [];
  const properties: { type: unknown }[] = Reflect.getMetadata('self:properties_metadata', type) ?? [];
  return params.some((p) => tokens.includes(p)) || explicit.some((p) => tokens.includes(p.param)) || properties.some((p) => tokens.includes(p.type));
}
