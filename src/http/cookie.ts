export type CookieLookup = { kind: 'absent' } | { kind: 'invalid' } | { kind: 'value'; value: string };

const ABSENT: CookieLookup = { kind: 'absent' };
const INVALID: CookieLookup = { kind: 'invalid' };

/** RFC 6265 cookie-octets: visible ASCII but DQUOTE, comma, semicolon and backslash. */
const COOKIE_OCTETS = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;
/**
 * Only SP and HTAB surround a pair, its name and its value (RFC 6265 5.2); String.trim() would also
 * drop U+00A0 and others. By hand rather than a regex replace: this runs on every part of every
 * Cookie header of a request that uses the session.
 */
function trimSpTab(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/**
 * Finds one cookie in a Cookie header. The name must match exactly, with only SP/HTAB around it.
 * Two cookies of the name (even equal: cookie tossing), or a header sent twice that carries it
 * twice, count as invalid; so does a value that is not RFC 6265 cookie-octets (any non-ASCII byte,
 * a space, a comma, a backslash), optionally in double quotes: no session, never an error.
 */
export function findCookie(header: string | string[] | undefined, name: string): CookieLookup {
  if (header === undefined || header === '') return ABSENT;
  const text = Array.isArray(header) ? header.join('; ') : header;
  if (typeof text !== 'string' || text.length > 16_384) return INVALID;
  let found: string | undefined;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (trimSpTab(part.slice(0, eq)) !== name) continue;
    if (found !== undefined) return INVALID;
    found = trimSpTab(part.slice(eq + 1));
  }
  if (found === undefined) return ABSENT;
  const value = found.length >= 2 && found.startsWith('"') && found.endsWith('"') ? found.slice(1, -1) : found;
  return COOKIE_OCTETS.test(value) ? { kind: 'value', value } : INVALID;
}

/** The cookie's attributes, as the module's options resolve them (what this leaf module needs of them). */
export interface CookieAttributes {
  readonly name: string;
  readonly path: string;
  readonly domain?: string;
  readonly httpOnly: boolean;
  readonly secure: boolean;
  readonly sameSite: 'lax' | 'strict' | 'none';
}

/** Serializes the session cookie; built from options resolved once at start-up. */
export class CookieWriter {
  private readonly suffix: string;
  private readonly clearValue: string;

  constructor(private readonly options: CookieAttributes) {
    const o = options;
    const attrs = [`Path=${o.path}`];
    if (o.domain) attrs.push(`Domain=${o.domain}`);
    if (o.httpOnly) attrs.push('HttpOnly');
    if (o.secure) attrs.push('Secure');
    attrs.push(`SameSite=${o.sameSite[0].toUpperCase()}${o.sameSite.slice(1)}`);
    this.suffix = attrs.join('; ');
    this.clearValue = `${o.name}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; ${this.suffix}`;
  }

  get name(): string {
    return this.options.name;
  }

  /** maxAgeMs undefined: a browser-session cookie. */
  set(value: string, maxAgeMs?: number): string {
    if (maxAgeMs === undefined) return `${this.options.name}=${value}; ${this.suffix}`;
    const seconds = Math.max(0, Math.floor(maxAgeMs / 1000));
    return `${this.options.name}=${value}; Max-Age=${seconds}; Expires=${new Date(Date.now() + seconds * 1000).toUTCString()}; ${this.suffix}`;
  }

  clear(): string {
    return this.clearValue;
  }
}
