import { Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AUTHENTICATED_KEY, PUBLIC_KEY } from './session.constants.js';
import { contextOfExecution } from './session.context.js';

export interface AuthenticatedOptions {
  /** Also 401 when the login is older than this many milliseconds (step-up for sensitive actions). */
  maxAuthAge?: number;
}

/**
 * 401 unless the session has a user. Used by @Authenticated(), or everywhere through APP_GUARD with
 * @Public() to open routes. A store failure surfaces as 503: the guard never lets a request through
 * because it could not check.
 */
@Injectable()
export class SessionAuthGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const options = this.reflector.getAllAndOverride<AuthenticatedOptions | undefined>(AUTHENTICATED_KEY, targets) ?? {};
    const ctx = contextOfExecution(context);
    if (!ctx) throw new Error('nestjs-lazy-session: SessionAuthGuard needs SessionModule to be imported');
    // Private responses, the 401 included, must not be kept by caches.
    ctx.rt.http.setHeader(ctx.res, 'Cache-Control', 'no-store');
    const { userId, authAt } = await ctx.session.authInfo();
    if (userId === undefined) throw new UnauthorizedException('Authentication required');
    if (options.maxAuthAge !== undefined && (authAt === undefined || Date.now() - authAt > options.maxAuthAge)) {
      throw new UnauthorizedException('Recent authentication required');
    }
    return true;
  }
}
