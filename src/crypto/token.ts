import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The alphabet only; the lengths are fixed by the value's length and separator. */
const B64 = /^[A-Za-z0-9_-]*$/;

/** 256 bits from the CSPRNG, base64url. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The public name of a session for listing and revoking: random, unrelated to the token. */
export function newHandle(): string {
  return randomBytes(16).toString('base64url');
}

/** The store's key for a token: a database dump yields no usable cookie. */
export function storeKey(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function mac(secret: string, token: string): Buffer {
  return createHmac('sha256', secret).update(token).digest();
}

/** Cookie value: token '.' HMAC-SHA256(first secret, token). */
export function signToken(token: string, secret: string): string {
  return `${token}.${mac(secret, token).toString('base64url')}`;
}

/**
 * The token inside a cookie value when its signature matches one of the secrets, compared in
 * constant time; otherwise undefined. Never throws, whatever the input.
 */
export function verifyCookieValue(value: string, secrets: readonly string[]): string | undefined {
  if (value.length !== 87 || value.charCodeAt(43) !== 46 /* '.' */) return undefined;
  const token = value.slice(0, 43);
  const sig = value.slice(44);
  if (!B64.test(token) || !B64.test(sig)) return undefined;
  const given = Buffer.from(sig, 'base64url');
  // Only the one canonical spelling: the last character's 2 spare bits would otherwise give each
  // signature four accepted spellings.
  if (given.length !== 32 || given.toString('base64url') !== sig) return undefined;
  let ok = false;
  for (const secret of secrets) ok = timingSafeEqual(given, mac(secret, token)) || ok;
  return ok ? token : undefined;
}
