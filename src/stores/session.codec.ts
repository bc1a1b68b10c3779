/**
 * Stored data format shared by the SQL stores: every value is boxed in a one-element array, so that
 * a JSON merge patch (RFC 7396, which SQLite's json_patch and MySQL's JSON_MERGE_PATCH implement)
 * can set keys to any value, null included, and `null` in a patch means "remove this key".
 */
export function encodeData(data: Record<string, unknown>): string {
  const boxed: Record<string, unknown[]> = {};
  for (const k of Object.keys(data)) defineOwn(boxed, k, [data[k]]);
  return JSON.stringify(boxed);
}

export function encodePatch(set: Record<string, unknown> | undefined, unset: readonly string[] | undefined): string {
  const patch: Record<string, unknown[] | null> = {};
  if (unset) for (const k of unset) defineOwn(patch, k, null);
  if (set) for (const k of Object.keys(set)) defineOwn(patch, k, [set[k]]);
  return JSON.stringify(patch);
}

/** Only the boxed values; a row that is not such JSON reads as empty data rather than an error. */
export function decodeData(text: unknown): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  if (typeof text !== 'string' && (typeof text !== 'object' || text === null)) return data;
  let parsed: unknown;
  try {
    parsed = typeof text === 'string' ? JSON.parse(text) : text;
  } catch {
    return data;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return data;
  for (const [k, v] of Object.entries(parsed)) if (Array.isArray(v) && v.length === 1) defineOwn(data, k, v[0]);
  return data;
}

/** Assignment that treats '__proto__' as an ordinary key. */
export function defineOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
