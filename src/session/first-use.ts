import type { ResolvedSessionOptions } from '../options.js';
import type { SessionRequestIO } from './request-io.js';
import { findCookie } from '../http/cookie.js';
import { CrossSiteRefusedException } from '../errors.js';
import { CROSS_SITE_REFUSED, headerText, isCrossSite, isStateChanging } from '../http/cross-site.js';

/**
 * A state-changing request from another site may not use the session at all, whether or not it
 * carries a cookie (SameSite=Lax keeps the cookie off a cross-site POST, so a cookie-less request
 * is exactly what a login CSRF looks like). Judged at first use, before any header is added, the
 * response held or the store touched, so that routes which never use the session (webhooks) are
 * served and pay nothing.
 */
export function refuseCrossSite(csrf: ResolvedSessionOptions['csrf'], io: SessionRequestIO): void {
  const { http, req } = io;
  if (!csrf || !isStateChanging(http.method(req))) return;
  const site = headerText(http.header(req, 'sec-fetch-site'));
  const origin = headerText(http.header(req, 'origin'));
  if (isCrossSite(site, origin, http.scheme(req), headerText(http.header(req, 'host')), csrf.allowedOrigins)) {
    throw new CrossSiteRefusedException(CROSS_SITE_REFUSED);
  }
}

/** The request's session cookie: absent, or present with a value (undefined when malformed). */
export function sessionCookie(io: SessionRequestIO, name: string): { present: boolean; value: string | undefined } {
  const found = findCookie(io.http.header(io.req, 'cookie'), name);
  return { present: found.kind !== 'absent', value: found.kind === 'value' ? found.value : undefined };
}
