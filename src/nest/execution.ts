import type { ExecutionContext } from '@nestjs/common';
import { attachedContext, contextOf, requestContextStorage, type RequestContext } from '../request/context.js';
import { socketContextOf } from '../socket/context.js';
import { SessionNotInRequestError } from '../errors.js';
import type { LazySession } from '../session/handle.js';

/**
 * The request context under a GraphQL operation's context (the third resolver argument). Apollo
 * (on Express) passes the platform request as `req`; Mercurius (on Fastify) passes the `reply`,
 * whose `request` it is, and Nest's driver adds that request as `req`. An application's own context
 * function may put something else under `req`, so each candidate counts only if the module's entry
 * saw it. The request went through that entry like any HTTP request, so every resolver of the
 * operation (and of a batch sent in one request) finds the same context: one session, one load.
 */
export function graphqlContext(gqlContext: unknown): RequestContext | undefined {
  if (!gqlContext || typeof gqlContext !== 'object') return undefined;
  const c = gqlContext as { req?: unknown; reply?: { request?: unknown }; request?: unknown };
  return attachedContext(c.req) ?? attachedContext(c.reply?.request) ?? attachedContext(c.request);
}

/** The request context behind an execution, in whichever kind of Nest context it runs. */
function findContext(execution: ExecutionContext): RequestContext | undefined {
  switch (execution.getType<string>()) {
    case 'http':
      return contextOf(execution.switchToHttp().getRequest());
    case 'graphql':
      // Never the AsyncLocalStorage fallback: a subscription's resolvers run in the async context
      // of whoever published the event (another user's request), and must not borrow its session.
      return graphqlContext(execution.getArgs()[2]);
    case 'ws':
      return socketContextOf(execution);
    default:
      return undefined;
  }
}

/**
 * The context as a guard or parameter decorator sees it: where CurrentSession is in use, it re-enters
 * the async context that a platform's body parsing may have lost, so that CurrentSession works in
 * the handler.
 */
export function contextOfExecution(execution: ExecutionContext): RequestContext | undefined {
  const ctx = findContext(execution);
  if (ctx && ctx.rt.tracksRequests && requestContextStorage.getStore() !== ctx) requestContextStorage.enterWith(ctx);
  return ctx;
}

export function sessionOfExecution(execution: ExecutionContext): LazySession {
  const ctx = contextOfExecution(execution);
  if (ctx) return ctx.session;
  throw execution.getType() === 'rpc' ? SessionNotInRequestError.inMicroservice() : new SessionNotInRequestError();
}
