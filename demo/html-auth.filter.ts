import { Catch, UnauthorizedException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
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
  catch(exception: UnauthorizedException, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    // Private pages and their refusals must never be served from a cache (the back button included).
    res.setHeader('Cache-Control', 'no-store');
    if (exception instanceof LoginFailedException) {
      res.status(401).type('html').send(loginPage({ error: exception.message, username: exception.username }));
      return;
    }
    if (wantsHtml(req)) {
      res.redirect(303, '/login');
      return;
    }
    res.status(401).json(exception.getResponse());
  }
}

function wantsHtml(req: Request): boolean {
  const accept = req.headers.accept ?? '';
  return accept.includes('text/html');
}
