import { AsyncLocalStorage } from 'node:async_hooks';
import { LazySession } from '../session/handle.js';
import type { SessionRuntime } from '../session/runtime.js';
import type { HeldRequest, SessionHttpAdapter } from '../http/http.adapter.js';
import type { SessionRequestIO } from '../session/request-io.js';
import { SessionNotInRequestError, SessionOptionsError } from '../errors.js';
import type { SessionUser } from '../options.js';

/**
 * What the middleware records for one request: the platform's request and response, and the
 * session handle once somebody asks for it. Deliberately tiny: most requests never go further.
 */
export class RequestContext implements HeldRequest, SessionRequestIO {
  private handle: LazySession | undefined = undefined;
  /** The user loaded for this request, with the id it was loaded for (a login or logout in the request changes it). */
  private loaded: { userId: string; user: Promise<SessionUser | undefined> } | undefined = undefined;
  /** Work that must run before the session is stored: the express-session-compatible view's writes. */
  private flushes: ((status: number) => Promise<void>)[] | undefined = undefined;
  /** beforeSend() has answered: a response is sent once, however many writes it takes. */
  private sent = false;
  /** The platform's request and response as guards and handlers see them, and the adapter for them. */
  constructor(readonly rt: SessionRuntime, readonly http: SessionHttpAdapter, readonly req: unknown, readonly res: unknown) {}

  /** The session of this request, made on first demand and shared by every caller. */
  get session(): LazySession {
    return (this.handle ??= new LazySession(this.rt, this));
  }

  /**
   * The logged-in user, loaded by the `resolveUser` option: once per request and user however many
   * ask, not at all for an anonymous session. The memo is per user id, so a login or logout earlier in
   * the request is never answered with the user from before it.
   */
  async user(): Promise<SessionUser | undefined> {
    const resolve = this.rt.options.resolveUser;
    if (!resolve) throw new SessionOptionsError("@CurrentUser() needs the 'resolveUser' option: SessionModule.forRoot({ resolveUser: (userId) => ... })");
    const userId = await this.session.getUserId();
    if (userId === undefined) return undefined;
    if (this.loaded?.userId !== userId) {
      this.loaded = { userId, user: Promise.resolve(userId).then(resolve).then((u) => u ?? undefined) };
    }
    return this.loaded.user;
  }

  /** Runs `flush` when the response is about to be sent, before the session is stored (and not for a 5xx). */
  beforeCommit(flush: (status: number) => Promise<void>): void {
    (this.flushes ??= []).push(flush);
  }

  /**
   * Called by the platform's adapter when the response is about to be sent (on Express at its first
   * write or end, on Fastify in onSend): stores what the request changed, unless it ends in a 5xx.
   * Answers once; nothing to wait for when the session was not used or nothing changed.
   */
  beforeSend(status: number): Promise<void> | undefined {
    if (this.sent) return undefined;
    this.sent = true;
    if (status >= 500) return undefined;
    if (this.flushes) return this.flushAll(status).then(() => this.handle?.commit());
    return this.handle?.commit();
  }

  private async flushAll(status: number): Promise<void> {
    for (const flush of this.flushes ?? []) await flush(status);
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
