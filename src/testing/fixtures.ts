import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { SessionRecord, StoredSessionSummary } from '../stores/store.js';

/** A session id as the module makes them: the hex SHA-256 of a token (here simply 32 random bytes). */
export const newId = (): string => randomBytes(32).toString('hex');
export const newHandle = (): string => randomBytes(16).toString('base64url');
/** A user id no other test (or earlier run over the same store) uses. */
export const newUser = (tag: string): string => `${tag}-${newId().slice(0, 8)}`;

export function record(over: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return { id: newId(), handle: newHandle(), data: {}, userId: null, createdAt: now, lastSeenAt: now, expiresAt: now + 60_000, authAt: null, remember: false, ...over };
}

/** The times of a patch written now, one minute from expiry. */
export const times = (now = Date.now()): { lastSeenAt: number; expiresAt: number } => ({ lastSeenAt: now, expiresAt: now + 60_000 });

export function summaryOf(r: SessionRecord): StoredSessionSummary {
  return { id: r.id, handle: r.handle, userId: r.userId, createdAt: r.createdAt, lastSeenAt: r.lastSeenAt, expiresAt: r.expiresAt, authAt: r.authAt };
}

/** Values a store must keep exactly: JSON's corners, SQL and Lua metacharacters, NUL, '__proto__' as a plain key. */
export function tricky(): Record<string, unknown> {
  const data: Record<string, unknown> = {
    nothing: null,
    nested: { a: [1, { b: 'x', c: [null, true, false] }], empty: {}, list: [] },
    unicode: 'héllo ✓ 😀 “quotes” \\ back\\slash \n newline \t tab',
    'key with spaces/and.dots': 'ok',
    'ключ 😀': 'unicode key',
    number: 1.5e300,
    negative: -42,
    zero: 0,
    empty: '',
    yes: true,
    sqlish: "'); DROP TABLE x; --",
    nul: 'a\u0000b',
    'nul\u0000key': 1,
  };
  Object.defineProperty(data, '__proto__', { value: { polluted: true }, enumerable: true, writable: true, configurable: true });
  return data;
}

/** Each field of `expected` equals the same field of `actual` (others are not looked at). */
export function assertFields(actual: object | null | undefined, expected: Record<string, unknown>): void {
  assert.ok(actual, `expected an object with ${JSON.stringify(expected)}, got ${String(actual)}`);
  for (const [k, v] of Object.entries(expected)) assert.deepStrictEqual((actual as Record<string, unknown>)[k], v, `field '${k}'`);
}

/**
 * The sorted ids of a list, as an array of this module's realm: a driver's native rows can make a
 * store's `map` build arrays of another realm (under Jest's vm), which strict equality tells apart.
 */
export const ids = (summaries: readonly StoredSessionSummary[]): string[] => Array.from(summaries, (s) => s.id).sort();
