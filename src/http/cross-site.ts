/**
 * The cross-site request rule as pure decisions over header values (compare Go 1.25's
 * http.CrossOriginProtection and Lucia's verifyRequestOrigin). The platform specifics (where the
 * headers and the scheme come from) stay in src/http/; when the rule is applied is the session
 * handle's business (at the session's first use, so a route that never uses it pays nothing).
 */

export const CROSS_SITE_REFUSED = 'Cross-site request refused';

/**
 * GET, HEAD and OPTIONS are the methods a browser sends across sites without asking and that must
 * not change state; every other method (POST, PUT, PATCH, DELETE, and any unusual one) falls under
 * the rule, so an unknown method fails closed.
 */
export function isStateChanging(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
}

/** What a browser puts in Origin is printable ASCII; anything else (latin1 bytes, spaces) is not an origin. */
const NOT_AN_ORIGIN = /[^\x21-\x7e]/;

/**
 * Whether an Origin header value names an origin allowed to act across sites. `null` (sandboxed
 * documents, cross-origin redirects, file: pages) is opaque and never allowed, even when listed.
 */
export function isAllowedOrigin(origin: string, allowedOrigins: ReadonlySet<string>): boolean {
  if (NOT_AN_ORIGIN.test(origin)) return false;
  const o = origin.toLowerCase();
  return o !== 'null' && allowedOrigins.has(o);
}

/**
 * Whether an Origin header value is the request's own origin: `scheme://host`, with the scheme the
 * platform reports (its trust-proxy setting decides whether X-Forwarded-Proto counts) and the Host
 * header. Hosts compare case-insensitively; a missing or empty scheme or host matches nothing.
 */
export function isOwnOrigin(origin: string, scheme: string | undefined, host: string | undefined): boolean {
  if (!scheme || !host || NOT_AN_ORIGIN.test(origin)) return false;
  return origin.toLowerCase() === `${scheme.toLowerCase()}://${host.toLowerCase()}`;
}

/**
 * Whether a state-changing request comes from another site. Sec-Fetch-Site, when present, decides:
 * only `same-origin` and `none` (the user's own navigation) are at home; any other value
 * (`cross-site`, `same-site`, or something unknown) is cross-site unless its Origin is listed.
 * Without it (older browsers, plain-http hosts other than localhost) the Origin decides: the
 * request's own or a listed one. Neither header: not a browser, so there is no ambient cookie to
 * abuse.
 */
export function isCrossSite(
  secFetchSite: string | undefined,
  origin: string | undefined,
  scheme: string | undefined,
  host: string | undefined,
  allowedOrigins: ReadonlySet<string>,
): boolean {
  if (secFetchSite !== undefined) {
    if (secFetchSite === 'same-origin' || secFetchSite === 'none') return false;
    return origin === undefined || !isAllowedOrigin(origin, allowedOrigins);
  }
  if (origin === undefined) return false;
  return !isOwnOrigin(origin, scheme, host) && !isAllowedOrigin(origin, allowedOrigins);
}

/** A header as Node hands it over: only set-cookie is ever an array; several values of one header are not one value. */
export function headerText(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' || value === undefined ? value : value.join(', ');
}
