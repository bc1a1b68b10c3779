import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SessionHandle } from '../session/handle.js';

/**
 * The authorization requests a session has sent its user off with (OAuth 2.0 / OpenID Connect), kept
 * in the session until the provider sends the user back: the `state` that names one, its PKCE code
 * verifier and OIDC nonce, the client it was made for and when. A callback is accepted only for a
 * state this session issued, once, for the same client, within the time limit; the entry is removed
 * when it is checked, so a replayed callback finds nothing.
 */

/** The session key that holds them; it never reaches an application's typed keys. */
export const PENDING_KEY = 'nestjs-lazy-session:authorization';
/** A few at once, so that two tabs that both started a sign-in both complete; the oldest goes first. */
export const MAX_PENDING = 5;
/** Ten minutes: long enough for a person at the provider's login page, short enough to be useless later. */
export const PENDING_TTL = 10 * 60_000;

export interface PendingAuthorization {
  /** The state sent to the provider. */
  state: string;
  /** Which client (and provider) the request was made for: a callback for another never matches. */
  client: string;
  /** Milliseconds since the epoch. */
  at: number;
  /** PKCE code verifier. */
  verifier?: string;
  /** OpenID Connect nonce. */
  nonce?: string;
  /** What the application asked to get back at the callback (passport-oauth2's `state` object). */
  appState?: unknown;
}

/** The handle with any key: the application's declared SessionData does not know this module's own key. */
type AnyKeys = Pick<SessionHandle<Record<string, unknown>>, 'get' | 'set' | 'delete'>;
const untyped = (session: object) => session as AnyKeys;

/** 256 bits from the CSPRNG, base64url (RFC 7636 asks 43–128 characters for a verifier). */
export const randomValue = (): string => randomBytes(32).toString('base64url');

/** The PKCE S256 challenge of a verifier (RFC 7636 §4.2). */
export const s256 = (verifier: string): string => createHash('sha256').update(verifier).digest('base64url');

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Constant time whatever the lengths: the digests are compared, never the text. */
function sameText(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

function isPending(value: unknown): value is PendingAuthorization {
  const p = value as Record<string, unknown> | null;
  return !!p && typeof p.state === 'string' && typeof p.client === 'string' && typeof p.at === 'number';
}

/** The pending requests in `stored` that are still in time; anything else found under the key is dropped. */
function live(stored: unknown, now: number): PendingAuthorization[] {
  if (!Array.isArray(stored)) return [];
  return stored.filter((p): p is PendingAuthorization => isPending(p) && now - p.at >= 0 && now - p.at < PENDING_TTL);
}

async function keep(session: AnyKeys, list: PendingAuthorization[]): Promise<void> {
  if (list.length === 0) await session.delete(PENDING_KEY);
  else await session.set(PENDING_KEY, list);
}

/** Records a new authorization request in the session and returns it; its state is new and random. */
export async function addPending(session: object, entry: Omit<PendingAuthorization, 'state' | 'at'>): Promise<PendingAuthorization> {
  const s = untyped(session);
  const now = Date.now();
  const pending: PendingAuthorization = { ...entry, state: randomValue(), at: now };
  // Absent fields are left out rather than stored as undefined, which is not JSON.
  for (const k of Object.keys(pending) as (keyof PendingAuthorization)[]) if (pending[k] === undefined) delete pending[k];
  await keep(s, [...live(await s.get(PENDING_KEY), now), pending].slice(-MAX_PENDING));
  return pending;
}

/**
 * The pending request named by `state` for `client`, removed from the session; undefined when there
 * is none (never issued, already used, expired, another client's). A state that matches nothing
 * leaves the other pending requests alone: a forged callback cannot cancel the user's real sign-in.
 */
export async function takePending(session: object, state: unknown, client: string): Promise<PendingAuthorization | undefined> {
  // Any length: it is hashed, never compared as text (and the server's URL limit bounds it).
  if (typeof state !== 'string') return undefined;
  const s = untyped(session);
  const now = Date.now();
  const stored = await s.get(PENDING_KEY);
  const list = live(stored, now);
  let found: PendingAuthorization | undefined;
  for (const p of list) if (sameText(p.state, state) && p.client === client) found = p;
  const rest = found ? list.filter((p) => p !== found) : list;
  // Written back when something was taken or had run out of time (deleting an absent key writes nothing).
  if (found || !Array.isArray(stored) || rest.length !== stored.length) await keep(s, rest);
  return found;
}
