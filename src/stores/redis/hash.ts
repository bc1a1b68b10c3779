import type { SessionPatch, SessionRecord, StoredSessionSummary } from '../store.js';
import { defineOwn, openEntries, patchHandle, sealPatch } from '../codec.js';
import { toSummary } from '../summary.js';
import { SEAL_MARKER, type SessionSealer } from '../../crypto/seal.js';
import { dataField, dataName } from './keys.js';

/** A summary as the scripts return it: [id, handle, user, created, last seen, expires, auth], '' for none. */
export function replySummary(m: unknown): StoredSessionSummary {
  const [id, handle, userId, createdAt, lastSeenAt, expiresAt, authAt] = (m as unknown[]).map((x) => x ?? '');
  return toSummary({ id, handle, userId, createdAt, lastSeenAt, expiresAt, authAt });
}

export const replySummaries = (reply: unknown): StoredSessionSummary[] => (Array.isArray(reply) ? reply.map(replySummary) : []);

/** HGETALL's reply (a flat array from ioredis' call, an object from node-redis) as field/value pairs. */
function hashPairs(reply: unknown): [string, string][] {
  const pairs: [string, string][] = [];
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) pairs.push([String(reply[i]), String(reply[i + 1])]);
  } else if (reply && typeof reply === 'object') {
    for (const [k, v] of Object.entries(reply)) pairs.push([k, String(v)]);
  }
  return pairs;
}

/** How a session's data sits in its hash: one JSON field per key, or sealed fields with the session's marker. */
export class HashCodec {
  constructor(private readonly sealer: SessionSealer | undefined) {}

  /** Field/value pairs of a whole data object (sealed: with the session's marker). */
  dataFields(data: Record<string, unknown>, handle: string | undefined): string[] {
    const out: string[] = [];
    if (this.sealer) {
      const h = patchHandle(handle);
      out.push(dataField(SEAL_MARKER), this.sealer.sealMarker(h));
      for (const k of Object.keys(data)) {
        const e = this.sealer.seal(k, data[k], h);
        out.push(dataField(e.name), e.sealed);
      }
    } else {
      for (const k of Object.keys(data)) out.push(dataField(k), JSON.stringify(data[k]));
    }
    return out;
  }

  /** The data fields a patch sets (field/value pairs) and removes. */
  patchFields(patch: SessionPatch): { set: string[]; unset: string[] } {
    if (patch.replace !== undefined) return { set: this.dataFields({ ...patch.replace, ...patch.set }, patch.handle), unset: [] };
    if (this.sealer) {
      const sealed = sealPatch(this.sealer, patch.set, patch.unset, patch.handle);
      const set: string[] = [];
      for (const name of Object.keys(sealed.set)) set.push(dataField(name), sealed.set[name]);
      return { set, unset: sealed.unset.map(dataField) };
    }
    return { set: patch.set ? this.dataFields(patch.set, undefined) : [], unset: patch.unset ? patch.unset.map(dataField) : [] };
  }

  /** The record in a session hash; null when there is none, or its sealed data does not open. */
  record(id: string, reply: unknown): SessionRecord | null {
    const pairs = hashPairs(reply);
    if (pairs.length === 0) return null;
    const meta: Record<string, string> = {};
    let data: Record<string, unknown> | null = {};
    let sealed: [string, string][] | undefined;
    for (const [f, v] of pairs) {
      const name = dataName(f);
      if (name === undefined) meta[f] = v;
      else if (this.sealer) (sealed ??= []).push([name, v]);
      else {
        try {
          defineOwn(data, name, JSON.parse(v));
        } catch {
          // not JSON: ignored, as the SQL stores ignore a malformed entry
        }
      }
    }
    // Mid-rotation ('m', the id it moves to): the old id stopped matching when the move began.
    if (meta.h === undefined || meta.e === undefined || meta.c === undefined || meta.m !== undefined) return null;
    // Sealed data that does not open (or a hash written without encryption, which has no marker): no session, never an error.
    if (this.sealer) data = openEntries(this.sealer, sealed ?? [], meta.h);
    if (data === null) return null;
    return {
      id,
      handle: meta.h,
      data,
      userId: meta.u ?? null,
      createdAt: Number(meta.c),
      lastSeenAt: Number(meta.l ?? meta.c),
      expiresAt: Number(meta.e),
      authAt: meta.a === undefined ? null : Number(meta.a),
      remember: meta.r === '1',
    };
  }
}

/** The fields of a hash a rotation moves (its 'm' mark left behind), and its meta fields by name. */
export function movedFields(reply: unknown[]): { copy: string[]; meta: Record<string, string> } {
  const copy: string[] = [];
  const meta: Record<string, string> = {};
  for (const [f, v] of hashPairs(reply)) {
    if (f === 'm') continue;
    copy.push(f, v);
    if (dataName(f) === undefined) meta[f] = v;
  }
  return { copy, meta };
}
