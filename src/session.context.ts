import { AsyncLocalStorage } from 'node:async_hooks';
import { LazySession } from './session.handle.js';
import type { SessionRuntime } from './session.runtime.js';

/**
 * What the middleware records for one request: the platform's request and response, and the
 * session handle once somebody asks for it. Deliberately tiny: most requests never go further.
 */
export class RequestContext {
  private handle: LazySession | undefined = undefined;
  constructor(readonly rt: SessionRuntime, readonly req: unknown, readonly res: unknown) {}

  /** The session of this request, made on first demand and shared by every caller. */
  get session(): LazySession {
    return (this.handle ??= new LazySession(this.rt, this));
  }

  /** The handle if anybody asked for it; the interceptor's check on the hot path. */
  get touched(): LazySession | undefined {
    return this.handle;
  }
}

export const requestContextStorage = new AsyncLocalStorage<RequestContext>();

const CONTEXT = Symbol.for('nestjs-lazy-session.context');

export function attachContext(req: object, ctx: RequestContext): void {
  (req as Record<symbol, RequestContext>)[CONTEXT] = ctx;
}

/** The context of a request object as a guard, pipe or interceptor sees it (Fastify wraps the raw one). */
export function contextOf(req: unknown): RequestContext | undefined {
  if (req && typeof req === 'object') {
    const r = req as Record<symbol, RequestContext | undefined> & { raw?: Record<symbol, RequestContext | undefined> };
    const ctx = r[CONTEXT] ?? r.raw?.[CONTEXT];
    if (ctx) return ctx;
  }
  return requestContextStorage.getStore();
}

export const NOT_IN_REQUEST =
  'nestjs-lazy-session: no current request. The session is available only while an HTTP request is handled ' +
  '(in a controller, guard, interceptor, pipe or a service they call) and only when SessionModule is imported; ' +
  'not at start-up, in timers or in queue workers.';

export function sessionOfRequest(req: unknown): LazySession {
  const ctx = contextOf(req);
  if (!ctx) throw new Error(NOT_IN_REQUEST);
  return ctx.session;
}

export function currentSession(): LazySession {
  const ctx = requestContextStorage.getStore();
  if (!ctx) throw new Error(NOT_IN_REQUEST);
  return ctx.session;
}
