import type { ResolvedSessionOptions } from './session.options.js';

export type CookieLookup = { kind: 'absent' } | { kind: 'invalid' } | { kind: 'value'; value: string };

const ABSENT: CookieLookup = { kind: 'absent' };
const INVALID: CookieLookup = { kind: 'invalid' };

/**
 * Finds one cookie in a Cookie header. Two cookies of the name (even equal: cookie tossing), a
 * header sent twice, or anything not plain ASCII count as invalid: no session, never an error.
 */
export function findCookie(header: string | string[] | undefined, name: string): CookieLookup {
  if (header === undefined || header === '') return ABSENT;
  const text = Array.isArray(header) ? header.join('; ') : header;
  if (typeof text !== 'string' || text.length > 16_384) return INVALID;
  let found: string | undefined;
  let seen = false;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    if (seen) return INVALID;
    seen = true;
    let v = part.slice(eq + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    found = v;
  }
  if (!seen) return ABSENT;
  return { kind: 'value', value: found! };
}

/** Serializes the session cookie; built from options resolved once at start-up. */
export class CookieWriter {
  private readonly suffix: string;
  private readonly clearValue: string;

  constructor(private readonly options: ResolvedSessionOptions['cookie']) {
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
