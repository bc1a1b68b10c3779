import { Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost, ModulesContainer } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';
import { SessionRuntime } from './session.runtime.js';
import { CurrentSession } from './current-session.js';
import { SessionManager } from './session.manager.js';
import { SessionMiddleware } from './session.middleware.js';
import { contextOf } from './session.context.js';
import { FastifyHttpAdapter } from './http/fastify.adapter.js';
import { ExpressHttpAdapter } from './http/express.adapter.js';

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
    this.rt.tracksRequests = this.rt.options.trackRequests ?? this.somethingInjectsTracked();
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
  if (wrapper.inject?.some((token) => NEEDS_REQUEST_TRACKING.includes(token))) return true;
  const type = wrapper.metatype;
  if (typeof type !== 'function' || NEEDS_REQUEST_TRACKING.includes(type) || wrapper.inject) return false;
  const params: unknown[] = Reflect.getMetadata('design:paramtypes', type) ?? [];
  const explicit: { param: unknown }[] = Reflect.getMetadata('self:paramtypes', type) ?? [];
  const properties: { type: unknown }[] = Reflect.getMetadata('self:properties_metadata', type) ?? [];
  return (
    params.some((p) => NEEDS_REQUEST_TRACKING.includes(p)) ||
    explicit.some((p) => NEEDS_REQUEST_TRACKING.includes(p.param)) ||
    properties.some((p) => NEEDS_REQUEST_TRACKING.includes(p.type))
  );
}
