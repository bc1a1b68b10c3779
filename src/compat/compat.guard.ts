import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { contextOfExecution } from '../nest/execution.js';
import { SessionOptionsError } from '../errors.js';
import { attachExpressSession } from './view.js';

/**
 * Opt-in, per route or controller: `@UseGuards(SessionCompatGuard, ...)` puts the express-session-
 * shaped `req.session` on the request that the guards after it and the handler see (Passport's
 * `AuthGuard.logIn()`, `AuthGuard('session')`), on Express and on Fastify. List it first: guards run in
 * order. The session is loaded for those routes on every request, used or not.
 */
@Injectable()
export class SessionCompatGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const ctx = contextOfExecution(context);
    if (!ctx || context.getType() !== 'http') throw new SessionOptionsError('SessionCompatGuard works on HTTP routes only, with SessionModule imported');
    await attachExpressSession(ctx, context.switchToHttp().getRequest());
    return true;
  }
}
