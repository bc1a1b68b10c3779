import { AsyncLocalStorage } from 'node:async_hooks';
import { LazySession } from '../session/handle.js';
import type { SessionRuntime } from '../session/runtime.js';
import type { HeldRequest, SessionHttpAdapter } from '../http/http.adapter.js';
import type { SessionRequestIO } from '../session/request-io.js';
import { SessionNotInRequestError } from '../errors.js';

/**
 * What the middleware records for one request: the platform's request and response, and the
 * session handle once somebody asks for it. Deliberately tiny: most requests never go further.
 */
export class RequestContext implements HeldRequest, SessionRequestIO {
  private handle: LazySession | undefined = undefined;
  /** The platform's request and response as guards and handlers see them, and the adapter for them. */
  constructor(readonly rt: SessionRuntime, readonly http: SessionHttpAdapter, readonly req: unknown, readonly res: unknown) {}

  /** The session of this request, made on first demand and shared by every caller. */
  get session(): LazySession {
    return (this.handle ??= new LazySession(this.rt, this));
  }

  /** Stores what the request changed, unless it ends in a 5xx; nothing to do for an unused session. */
  beforeSend(status: number): Promise<void> | undefined {
    return status < 500 ? this.handle?.commit() : undefined;
  }
}

export const requestContextStorage = new AsyncLocalStorage<RequestContext>();

const CONTEXT = Symbol.for('nestjs-lazy-session.context');

export function attachContext(req: object, ctx: RequestContext): void {
  (req as Record<symbol, RequestContext>)[CONTEXT] = ctx;
}

/** The context the middleware attached to this very object, if it is a request it saw. */
export function attachedContext(req: unknown): RequestContext | undefined {
  return req && typeof req === 'object' ? (req as Record<symbol, RequestContext | undefined>)[CONTEXT] : undefined;
}

/** The context of a request object as a guard, pipe or send hook sees it (the one the middleware got). */
export function contextOf(req: unknown): RequestContext | undefined {
  return attachedContext(req) ?? requestContextStorage.getStore();
}

export function currentSession(): LazySession {
  const ctx = requestContextStorage.getStore();
  if (!ctx) throw new SessionNotInRequestError();
  return ctx.session;
}
