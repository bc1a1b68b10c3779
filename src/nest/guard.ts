import { Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AUTHENTICATED_KEY, PUBLIC_KEY } from '../constants.js';
import { contextOfExecution } from './execution.js';
import { SessionOptionsError } from '../errors.js';
import { asWsError, refuseMessage } from '../socket/ws-error.js';
import { guardContextOf } from '../socket/context.js';

export interface AuthenticatedOptions {
  /** Also 401 when the login is older than this many milliseconds (step-up for sensitive actions). */
  maxAuthAge?: number;
}

/** What one level (a method, or its class) declares. */
type Declared = 'public' | AuthenticatedOptions | undefined;

/**
 * The declaration nearest the handler wins, in either direction: the method's own, else its
 * class's; neither means authenticated (the guard is there to close). Both @Public() and
 * @Authenticated() on one level cannot tell what was meant, so the closed one wins.
 */
export function effectiveAccess(method: Declared, cls: Declared): 'public' | AuthenticatedOptions {
  return method ?? cls ?? {};
}

/**
 * The 401 of a resolver, with GraphQL's code for it. graphql-js copies a thrown error's `extensions`
 * into the GraphQL error it reports, so Mercurius answers `extensions.code: 'UNAUTHENTICATED'` as
 * Apollo's driver does from the 401, without this module loading `graphql`.
 */
export class GraphqlUnauthorizedException extends UnauthorizedException {
  readonly extensions = { code: 'UNAUTHENTICATED' };
}

/**
 * Refuses a request the guard cannot let through, in the way its transport understands. Returning
 * false makes Nest answer with the transport's own exception ('Forbidden resource' as an
 * RpcException); an HttpException thrown in a microservice or a gateway would reach the client as an
 * "Internal server error". A WebSocket message is refused with WsException('Unauthorized'), its socket
 * left open. HTTP and GraphQL understand a 401.
 */
function deny(type: string, message: string): false | Promise<never> {
  if (type === 'rpc') return false;
  if (type === 'ws') return refuseMessage();
  if (type === 'graphql') throw new GraphqlUnauthorizedException(message);
  throw new UnauthorizedException(message);
}

/**
 * 401 unless the session has a user. Used by @Authenticated(), or everywhere through APP_GUARD with
 * @Public() to open routes. A store failure surfaces as 503: the guard never lets a request through
 * because it could not check. Where no session can be read (a microservice message), only @Public()
 * handlers pass.
 */
@Injectable()
export class SessionAuthGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  private declaredOn(target: object): Declared {
    const authenticated = this.reflector.get<AuthenticatedOptions | undefined>(AUTHENTICATED_KEY, target as never);
    if (authenticated !== undefined) return authenticated;
    return this.reflector.get<boolean | undefined>(PUBLIC_KEY, target as never) === true ? 'public' : undefined;
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    // The session's own refusals (ended since the socket opened, cross-site, store down), as a socket's client can read them.
    if (context.getType<string>() === 'ws') return this.check(context).catch(async (err: unknown) => Promise.reject(await asWsError(err)));
    return this.check(context);
  }

  private async check(context: ExecutionContext): Promise<boolean> {
    const access = effectiveAccess(this.declaredOn(context.getHandler()), this.declaredOn(context.getClass()));
    if (access === 'public') return true;
    const type = context.getType<string>();
    // A message's first stage: it never takes another message's context (see socket/context.ts).
    const ctx = type === 'ws' ? guardContextOf(context) : contextOfExecution(context);
    if (!ctx) {
      if (type === 'http') throw new SessionOptionsError('nestjs-lazy-session: SessionAuthGuard needs SessionModule to be imported');
      return deny(type, 'Authentication required');
    }
    // Private responses, the 401 included, must not be kept by caches.
    ctx.http.setHeader(ctx.res, 'Cache-Control', 'no-store');
    const { userId, authAt } = await ctx.session.authInfo();
    if (userId === undefined) return deny(type, 'Authentication required');
    if (access.maxAuthAge !== undefined && (authAt === undefined || Date.now() - authAt > access.maxAuthAge)) {
      return deny(type, 'Recent authentication required');
    }
    return true;
  }
}
