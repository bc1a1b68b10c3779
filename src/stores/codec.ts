import { SEAL_MARKER, type SessionSealer } from '../crypto/seal.js';

/**
 * A plain own property even for '__proto__': assignment would call Object.prototype's setter and
 * lose the key (or change the object's prototype). The session has the same three lines
 * (session/json.ts): stores sit below the session and do not import it.
 */
export function defineOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

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

/** A stored `data` column as a JSON object; null when it is not one. */
function parseObject(text: unknown): Record<string, unknown> | null {
  let parsed: unknown;
  try {
    parsed = typeof text === 'string' ? JSON.parse(text) : text;
  } catch {
    return null;
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
}

/** The boxed entries of a stored `data` column, and whether every entry was well formed; null when it is not a JSON object. */
function parseBoxed(text: unknown): { entries: [string, unknown][]; clean: boolean } | null {
  const parsed = parseObject(text);
  if (parsed === null) return null;
  const entries: [string, unknown][] = [];
  let clean = true;
  for (const [k, v] of Object.entries(parsed)) {
    if (Array.isArray(v) && v.length === 1) entries.push([k, v[0]]);
    else clean = false;
  }
  return { entries, clean };
}

/** Only the boxed values; a row that is not such JSON reads as empty data rather than an error. */
export function decodeData(text: unknown): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  const parsed = parseObject(text);
  if (parsed === null) return data;
  // Every session read goes through here: no entry list, and plain assignment for every key but
  // '__proto__', whose assignment would change the prototype instead (defineProperty is several
  // times slower than a store).
  for (const k of Object.keys(parsed)) {
    const v = parsed[k];
    if (!Array.isArray(v) || v.length !== 1) continue;
    if (k === '__proto__') defineOwn(data, k, v[0]);
    else data[k] = v[0];
  }
  return data;
}


/*
 * Sealed format (encryptionKeys given, see crypto/seal.ts): the same boxed layout, but each key is
 * the HMAC of the data key's name and each box holds the sealed `[name, value]`, bound to the
 * session's handle. One more entry, SEAL_MARKER, is a sealed empty value bound to the handle: data
 * without it (a row written without encryption, even one with no data keys) is no session.
 * Merges stay per key: a replace writes a new marker, and so does a patch that seals values while
 * more than one key is configured (a rotation).
 */

/** The session's handle, which a patch that seals data must carry. */
export function patchHandle(handle: string | undefined): string {
  if (typeof handle !== 'string' || handle.length === 0) {
    throw new TypeError('nestjs-lazy-session: an encrypting store needs patch.handle (the session handle) to seal data');
  }
  return handle;
}

/** A whole data object, sealed value by value, with the session's marker. */
export function encodeSealedData(sealer: SessionSealer, data: Record<string, unknown>, handle: string): string {
  const boxed: Record<string, unknown[]> = {};
  boxed[SEAL_MARKER] = [sealer.sealMarker(handle)];
  for (const k of Object.keys(data)) {
    const e = sealer.seal(k, data[k], handle);
    boxed[e.name] = [e.sealed];
  }
  return JSON.stringify(boxed);
}

/**
 * A patch in hashed names: `set` maps hashed names to sealed values; `unset` lists hashed names to
 * remove, including every name a set key had under an older key (so a key rotation leaves no copy).
 */
export function sealPatch(
  sealer: SessionSealer,
  set: Record<string, unknown> | undefined,
  unset: readonly string[] | undefined,
  handle: string | undefined,
): { set: Record<string, string>; unset: string[] } {
  const sealedSet: Record<string, string> = {};
  const sealedUnset: string[] = [];
  if (unset) for (const k of unset) sealedUnset.push(sealer.hashName(k), ...sealer.staleNames(k));
  if (set) {
    const keys = Object.keys(set);
    if (keys.length > 0) patchHandle(handle);
    for (const k of keys) {
      const e = sealer.seal(k, set[k], handle!);
      sealedSet[e.name] = e.sealed;
      if (sealer.size > 1) sealedUnset.push(...sealer.staleNames(k));
    }
    // During a key rotation the marker moves to the new key with the values, so that a session
    // whose values were all written again opens without the old key.
    if (keys.length > 0 && sealer.size > 1) sealedSet[SEAL_MARKER] = sealer.sealMarker(handle!);
  }
  return { set: sealedSet, unset: sealedUnset };
}

/**
 * Opens the stored (hashed name, sealed value) entries of the session with this handle. Null when
 * the marker is missing or any entry does not open: a value sealed under an unknown key, for
 * another session, or altered makes the whole session read as absent.
 */
export function openEntries(sealer: SessionSealer, entries: Iterable<[string, unknown]>, handle: string): Record<string, unknown> | null {
  const data: Record<string, unknown> = {};
  let from: Map<string, number> | undefined;
  let marked = false;
  for (const [hashed, sealed] of entries) {
    if (hashed === SEAL_MARKER) {
      if (!sealer.openMarker(sealed, handle)) return null;
      marked = true;
      continue;
    }
    const opened = sealer.open(hashed, sealed, handle);
    if (!opened) return null;
    if (Object.prototype.hasOwnProperty.call(data, opened.name)) {
      // A copy under an older key that a concurrent writer had not yet removed: the newer key wins.
      if ((from?.get(opened.name) ?? 0) <= opened.keyIndex) continue;
    }
    (from ??= new Map()).set(opened.name, opened.keyIndex);
    defineOwn(data, opened.name, opened.value);
  }
  return marked ? data : null;
}

/** The SQL stores' sealed `data` column; null when it is not sealed data of this session that opens. */
export function decodeSealedData(sealer: SessionSealer, text: unknown, handle: string): Record<string, unknown> | null {
  const boxed = parseBoxed(text);
  return boxed?.clean ? openEntries(sealer, boxed.entries, handle) : null;
}

/**
 * PostgreSQL's jsonb (which the atomic merge casts to) and text cannot hold U+0000. A bijective
 * escape on the JSON text: the escape of NUL becomes U+E000 '0', and a U+E000 of the data becomes
 * U+E000 '1'. Escaped backslashes are matched first so that `\\u0000` (a backslash, then "u0000")
 * is left alone.
 */
const NUL_OR_MARK = /\\\\|\\u0000|\ue000/g;
const MARKED = /\\\\|\ue000([01])/g;

export function escapeNul(json: string): string {
  if (!json.includes('\\u0000') && !json.includes('\ue000')) return json;
  return json.replace(NUL_OR_MARK, (m) => (m === '\\\\' ? m : m === '\ue000' ? '\ue0001' : '\ue0000'));
}

export function unescapeNul(json: string): string {
  if (!json.includes('\ue000')) return json;
  return json.replace(MARKED, (m, kind: string | undefined) => (kind === undefined ? m : kind === '0' ? '\\u0000' : '\ue000'));
}

/**
 * A data key's name as escapeNul leaves it inside the stored JSON: what PostgreSQL's jsonb `-`
 * must be given to remove that key (the raw name would miss a key holding U+E000, and a NUL in a
 * query parameter is refused outright).
 */
export function escapeNulKey(key: string): string {
  return JSON.parse(escapeNul(JSON.stringify(key))) as string;
}
