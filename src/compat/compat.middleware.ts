import { Injectable, type NestMiddleware } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { contextOf } from '../request/context.js';
import { platformAdapter } from '../http/platform.js';
import { SessionOptionsError } from '../errors.js';
import { attachExpressSession } from './view.js';

/**
 * Opt-in, per route: `consumer.apply(SessionCompatMiddleware, flash()).forRoutes('legacy')` gives the
 * routes it is applied to (and the middleware after it) an express-session-shaped `req.session`. The
 * session is loaded for those routes on every request, used or not: that is its cost.
 *
 * Express only. On Fastify, Nest runs middleware before the module has opened the request, so it
 * could never see the session: the start-up stops with a message naming SessionCompatGuard, which
 * gives guards and handlers the same `req.session` on both platforms.
 */
@Injectable()
export class SessionCompatMiddleware implements NestMiddleware {
  constructor(adapterHost: HttpAdapterHost) {
    const platform = adapterHost.httpAdapter?.getType();
    if (platform !== undefined && !platformAdapter(platform).middlewareSeesContext) {
      throw new SessionOptionsError(
        `SessionCompatMiddleware cannot work on ${platform}: Nest runs middleware there before the session is set up for the request. ` +
          'Use @UseGuards(SessionCompatGuard) on the routes instead (guards and handlers then get req.session); middleware that reads ' +
          'req.session while it runs (connect-flash, passport.session()) needs Express.',
      );
    }
  }

  use(req: object, _res: unknown, next: (err?: unknown) => void): void {
    const ctx = contextOf(req);
    if (!ctx) return next(new SessionOptionsError('SessionCompatMiddleware found no session for this request: is SessionModule imported?'));
    attachExpressSession(ctx, req).then(() => next(), next);
  }
}
