import { mixin, type CanActivate, type ExecutionContext, type Type } from '@nestjs/common';
import { AuthGuard } from '@nestjs/passport';
import { sessionOfExecution } from '../nest/execution.js';
import { nodeStyleResponse } from '../http/node-response.js';
import { SessionOptionsError } from '../errors.js';
import type { LoginOptions } from '../session/handle.js';

export interface PassportLoginOptions {
  /**
   * The session's user id for the user the strategy verified. Default: its `id`, a non-empty string
   * or a whole number (made a string); anything else stops the request with SessionOptionsError.
   */
  userId?: (user: unknown) => string;
  /** Login options from the request, e.g. a "remember me" box. Default: none (a browser-session cookie). */
  loginOptions?: (request: unknown) => LoginOptions;
}

function defaultUserId(user: unknown): string {
  const id = user && typeof user === 'object' ? (user as { id?: unknown }).id : undefined;
  if (typeof id === 'string' && id.length > 0) return id;
  if (typeof id === 'number' && Number.isSafeInteger(id)) return String(id);
  throw new SessionOptionsError("PassportLogin: the strategy's user has no string or whole-number `id`; pass { userId: (user) => ... }");
}

/**
 * `AuthGuard(strategy)` of @nestjs/passport that logs the verified user into this module's session
 * (`session.login(user.id)`: a new session id, as every login), and that works on Fastify too: Passport
 * writes its redirects through Node's response API, which Fastify's reply lacks (see
 * http/node-response.ts). For a strategy that redirects (OAuth 2.0, OpenID Connect), the same guard
 * serves the route that starts the sign-in (it answers with the redirect) and the callback (it logs in).
 */
export function PassportLogin(strategy: string | string[], options: PassportLoginOptions = {}): Type<CanActivate> {
  const userIdOf = options.userId ?? defaultUserId;
  class PassportLoginGuard extends AuthGuard(strategy) {
    // Not in IAuthGuard's type, but AuthGuard calls it for the response it hands to Passport.
    getResponse(context: ExecutionContext): unknown {
      return nodeStyleResponse(context.switchToHttp().getResponse());
    }

    override async canActivate(context: ExecutionContext): Promise<boolean> {
      // Throws (401) when the strategy fails; never settles when it has answered with a redirect.
      await (super.canActivate(context) as Promise<boolean>);
      const request = this.getRequest(context) as Record<string, unknown>;
      const property = (this as unknown as { options?: { property?: string } }).options?.property ?? 'user';
      await sessionOfExecution(context).login(userIdOf(request[property]), options.loginOptions?.(request));
      return true;
    }
  }
  return mixin(PassportLoginGuard);
}
