import { ForbiddenException, Injectable } from '@nestjs/common';
import { SessionRuntime } from './session.runtime.js';
import { attachContext, RequestContext, requestContextStorage } from './session.context.js';
import { findCookie } from './session.cookie.js';
import type { RequestEntry } from './http/http.adapter.js';

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Runs in front of every request (the adapter installs it): opens the request's context (for
 * CurrentSession) and applies the cross-site request rule. For a GET it does nothing else: no
 * cookie parsing, no signature check, no store.
 */
@Injectable()
export class SessionMiddleware implements RequestEntry {
  constructor(private readonly rt: SessionRuntime) {}

  use(req: object, res: object, next: () => void): void {
    const ctx = new RequestContext(this.rt, req, res);
    attachContext(req, ctx);
    if (this.rt.options.csrf && STATE_CHANGING.has(this.rt.http.method(req)) && !this.crossSiteAllowed(req)) {
      throw new ForbiddenException('Cross-site request refused');
    }
    if (this.rt.tracksRequests) requestContextStorage.run(ctx, next);
    else next();
  }

  private crossSiteAllowed(req: object): boolean {
    const { http, options } = this.rt;
    if (findCookie(http.header(req, 'cookie'), options.cookie.name).kind === 'absent') return true;
    const site = first(http.header(req, 'sec-fetch-site'));
    const origin = first(http.header(req, 'origin'));
    if (site === undefined && origin === undefined) return true;
    if (site === 'same-origin' || site === 'none') return true;
    if (origin === undefined || origin === 'null') return false;
    const o = origin.toLowerCase();
    if (options.csrf && options.csrf.allowedOrigins.has(o)) return true;
    const host = first(http.header(req, 'host'));
    if (!host) return false;
    const scheme = (req as { socket?: { encrypted?: boolean } }).socket?.encrypted ? 'https' : 'http';
    const forwarded = first(http.header(req, 'x-forwarded-proto'))?.split(',')[0].trim().toLowerCase();
    // Behind a TLS-terminating proxy the browser's origin is https while the socket is plain.
    return o === `${scheme}://${host.toLowerCase()}` || (forwarded !== undefined && o === `${forwarded}://${host.toLowerCase()}`);
  }
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
