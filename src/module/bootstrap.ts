import { Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost, ModulesContainer } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';
import { SessionRuntime } from '../session/runtime.js';
import { CurrentSession } from '../nest/current-session.js';
import { SessionManager } from '../nest/manager.js';
import { SessionMiddleware } from '../request/middleware.js';
import { contextOf } from '../request/context.js';
import { FastifyHttpAdapter } from '../http/fastify.adapter.js';
import { ExpressHttpAdapter } from '../http/express.adapter.js';

/** Providers that find the request through AsyncLocalStorage rather than through a parameter. */
const NEEDS_REQUEST_TRACKING: unknown[] = [CurrentSession, SessionManager];

/**
 * Start-up decisions, made once so the per-request path makes none: which platform adapter to use
 * (installed in front of every route), and whether requests must be tracked in AsyncLocalStorage at all. On Node 20 a single
 * AsyncLocalStorage.run turns on promise hooks for the whole process (about 10% of the CPU of a
 * small request), so it is only used when something injects CurrentSession or SessionManager.
 */
@Injectable()
export class SessionBootstrap implements OnModuleInit {
  constructor(
    private readonly rt: SessionRuntime,
    private readonly modules: ModulesContainer,
    private readonly adapterHost: HttpAdapterHost,
    private readonly middleware: SessionMiddleware,
  ) {}

  /** Before the routes: the platform's adapter, with the middleware in front of every request. */
  install(): void {
    const platform = this.adapterHost.httpAdapter;
    if (!platform) return;
    const adapter = platform.getType() === 'fastify' ? new FastifyHttpAdapter() : new ExpressHttpAdapter();
    adapter.install(platform.getInstance(), this.middleware, (req) => contextOf(req));
    this.rt.http = adapter;
  }

  onModuleInit(): void {
    if (this.rt.http instanceof FastifyHttpAdapter) this.refuseMiddlewareWithCurrentSession();
    this.rt.tracksRequests = this.rt.options.trackRequests ?? this.somethingInjectsTracked();
  }

  /**
   * On Fastify, Nest runs middleware through middie, whose hook Fastify registered before this
   * module's: no request context exists yet there, so CurrentSession in a middleware could only fail
   * at run time. Refused now, with the way out.
   */
  private refuseMiddlewareWithCurrentSession(): void {
    for (const module of this.modules.values()) {
      for (const wrapper of module.middlewares.values()) {
        if (!injectsAny(wrapper, [CurrentSession])) continue;
        throw new Error(
          `nestjs-lazy-session: the middleware ${String(wrapper.name)} injects CurrentSession, but on Fastify Nest runs middleware before ` +
            'the session is set up for the request, so it could never use it. Read the session in a guard, interceptor, pipe or handler ' +
            'instead (CurrentSession and @Session() work there), or run the app on Express.',
        );
      }
    }
  }

  /**
   * Providers and controllers, and also what Nest builds outside `providers`: the guards,
   * interceptors, pipes and filters named in decorators (its "injectables", found when it scans the
   * controllers) and the middleware given to `consumer.apply()`. Missing one would leave its
   * requests without tracking, and CurrentSession failing there at run time.
   */
  private somethingInjectsTracked(): boolean {
    for (const module of this.modules.values()) {
      for (const wrappers of [module.providers, module.controllers, module.injectables, module.middlewares]) {
        for (const wrapper of wrappers.values()) if (injectsTracked(wrapper)) return true;
      }
    }
    return false;
  }
}

function injectsTracked(wrapper: InstanceWrapper): boolean {
  return injectsAny(wrapper, NEEDS_REQUEST_TRACKING);
}

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
