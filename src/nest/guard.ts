import { Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AUTHENTICATED_KEY, PUBLIC_KEY } from '../constants.js';
import { contextOfExecution } from '../request/context.js';
import { SessionOptionsError } from '../errors.js';

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
 * 401 unless the session has a user. Used by @Authenticated(), or everywhere through APP_GUARD with
 * @Public() to open routes. A store failure surfaces as 503: the guard never lets a request through
 * because it could not check. Outside HTTP (WebSocket, microservice, GraphQL) there is no session
 * to read yet, so only @Public() handlers pass.
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
    const access = effectiveAccess(this.declaredOn(context.getHandler()), this.declaredOn(context.getClass()));
    if (access === 'public') return true;
    const type = context.getType<string>();
    // Returning false lets Nest answer with the transport's own WsException / RpcException
    // ('Forbidden resource'); an HttpException thrown there would reach the client as an
    // "Internal server error". Other contexts (GraphQL) understand a 401.
    if (type === 'ws' || type === 'rpc') return false;
    if (type !== 'http') throw new UnauthorizedException('Authentication required');
    const ctx = contextOfExecution(context);
    if (!ctx) throw new SessionOptionsError('nestjs-lazy-session: SessionAuthGuard needs SessionModule to be imported');
    // Private responses, the 401 included, must not be kept by caches.
    ctx.http.setHeader(ctx.res, 'Cache-Control', 'no-store');
    const { userId, authAt } = await ctx.session.authInfo();
    if (userId === undefined) throw new UnauthorizedException('Authentication required');
    if (access.maxAuthAge !== undefined && (authAt === undefined || Date.now() - authAt > access.maxAuthAge)) {
      throw new UnauthorizedException('Recent authentication required');
    }
    return true;
  }
}
