import { Catch, UnauthorizedException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { loginPage } from './views.js';

/** A wrong user name or password: the login form is shown again, with the name that was typed. */
export class LoginFailedException extends UnauthorizedException {
  constructor(readonly username: string) {
    super('Wrong user name or password');
  }
}

/**
 * The library answers an anonymous request to an @Authenticated() route with a 401, which suits an
 * API. A person in a browser should land on the login form instead, so HTML requests are redirected;
 * anything else (fetch, curl, tests) still gets the JSON 401.
 */
@Catch(UnauthorizedException)
export class HtmlAuthFilter implements ExceptionFilter {
  // Through Nest's HTTP adapter, so the demo runs the same on Express and Fastify.
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: UnauthorizedException, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<{ headers: Record<string, string | undefined> }>();
    const res = http.getResponse();
    const adapter = this.adapterHost.httpAdapter;
    // Private pages and their refusals must never be served from a cache (the back button included).
    adapter.setHeader(res, 'Cache-Control', 'no-store');
    if (exception instanceof LoginFailedException) {
      adapter.setHeader(res, 'Content-Type', 'text/html; charset=utf-8');
      adapter.reply(res, loginPage({ error: exception.message, username: exception.username }), 401);
      return;
    }
    if ((req.headers.accept ?? '').includes('text/html')) {
      adapter.redirect(res, 303, '/login');
      return;
    }
    adapter.reply(res, exception.getResponse(), 401);
  }
}
