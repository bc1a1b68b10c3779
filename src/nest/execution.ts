import type { ExecutionContext } from '@nestjs/common';
import { contextOf, requestContextStorage, type RequestContext } from '../request/context.js';
import { socketContextOf } from '../socket/context.js';
import { SessionNotInRequestError } from '../errors.js';
import type { LazySession } from '../session/handle.js';

/**
 * The platform request under a GraphQL operation's context: Apollo (on Express) passes `req`;
 * Mercurius (on Fastify) passes the `reply`, whose `request` it is. Either went through the
 * module's entry like any HTTP request, so the operation finds that request's context, and all of
 * its resolvers share one session (one load).
 */
export function graphqlRequest(gqlContext: unknown): unknown {
  if (!gqlContext || typeof gqlContext !== 'object') return undefined;
  const c = gqlContext as { req?: unknown; request?: unknown; reply?: { request?: unknown } };
  return c.req ?? c.reply?.request ?? c.request;
}

/** The request context behind an execution, in whichever kind of Nest context it runs. */
function findContext(execution: ExecutionContext): RequestContext | undefined {
  switch (execution.getType<string>()) {
    case 'http':
      return contextOf(execution.switchToHttp().getRequest());
    case 'graphql':
      return contextOf(graphqlRequest(execution.getArgs()[2]));
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
