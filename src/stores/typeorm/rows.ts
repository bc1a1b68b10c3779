import type { SessionPatch, SessionRecord, StoredSessionSummary } from '../store.js';
import { decodeData, decodeSealedData, encodeData, encodePatch, encodeSealedData, escapeNul, escapeNulKey, patchHandle, sealPatch, unescapeNul } from '../codec.js';
import { toSummary } from '../summary.js';
import type { SessionSealer } from '../../crypto/seal.js';
import { UpdateShape } from './dialect.js';

type Row = Record<string, unknown>;

/** A row's summary columns. */
export function rowSummary(row: Row): StoredSessionSummary {
  return summaryOf(row, row.id);
}

/** The summary columns of the row of session `id` (a load does not read the id back). */
function summaryOf(row: Row, id: unknown): StoredSessionSummary {
  return toSummary({
    id,
    handle: row.handle,
    userId: row.user_id,
    createdAt: row.created_at,
    lastSeenAt: row.last_seen_at,
    expiresAt: row.expires_at,
    authAt: row.auth_at,
  });
}

/**
 * The `row` of SqlDialect.load on PostgreSQL (LOAD_PACKED: the summary columns as a JSON array, a
 * line feed, the data column) as a row; null unless it is exactly that.
 */
function unpackRow(packed: unknown): Row | null {
  if (typeof packed !== 'string') return null;
  const lf = packed.indexOf('\n');
  if (lf < 0) return null;
  let values: unknown;
  try {
    values = JSON.parse(packed.slice(0, lf));
  } catch {
    return null;
  }
  if (!Array.isArray(values) || values.length !== 7) return null;
  return { handle: values[0], data: packed.slice(lf + 1), user_id: values[1], created_at: values[2], last_seen_at: values[3], expires_at: values[4], auth_at: values[5], remember: values[6] };
}

/**
 * How a session's data sits in the `data` column: boxed JSON, sealed when there is a sealer, and on
 * PostgreSQL with NUL escaped (see escapeNul).
 */
export class RowCodec {
  constructor(
    private readonly sealer: SessionSealer | undefined,
    private readonly pg: boolean,
  ) {}

  /**
   * The record of session `id` in a row of SqlDialect.load; null when its sealed data does not open
   * (unknown key, tampered, another session's, not sealed) or, on PostgreSQL, its packed row is not
   * what the load packs.
   */
  record(id: string, row: Row): SessionRecord | null {
    const f = this.pg ? unpackRow(row.row) : row;
    if (f === null) return null;
    const text = this.pg ? unescapeNul(f.data as string) : f.data;
    const data = this.sealer ? decodeSealedData(this.sealer, text, String(f.handle)) : decodeData(text);
    if (data === null) return null;
    // Completed in place: spreading the summary into a new object was the hottest line of a session
    // read in its CPU profile.
    const record = summaryOf(f, id) as SessionRecord;
    record.data = data;
    record.remember = Number(f.remember) === 1 || f.remember === true;
    return record;
  }

  /** The `data` column for a whole data object; `handle` binds sealed values to their session. */
  data(data: Record<string, unknown>, handle: string): string {
    const text = this.sealer ? encodeSealedData(this.sealer, data, handle) : encodeData(data);
    return this.pg ? escapeNul(text) : text;
  }

  /** The INSERT parameters of a new session. */
  insertParams(r: SessionRecord): unknown[] {
    return [r.id, r.handle, this.data(r.data, r.handle), r.userId, r.createdAt, r.lastSeenAt, r.expiresAt, r.authAt, r.remember ? 1 : 0];
  }

  /** The UPDATE shape of a patch and its parameters, in the order SqlDialect.update(shape) names them. */
  update(id: string, patch: SessionPatch): { shape: number; params: unknown[] } {
    let shape = 0;
    const params: unknown[] = [];
    if (patch.newId !== undefined) {
      shape |= UpdateShape.Rotate;
      params.push(patch.newId);
    }
    if (patch.replace !== undefined) {
      shape |= UpdateShape.Replace;
      params.push(this.data({ ...patch.replace, ...patch.set }, this.sealer ? patchHandle(patch.handle) : ''));
    } else if ((patch.set && Object.keys(patch.set).length > 0) || (patch.unset && patch.unset.length > 0)) {
      shape |= UpdateShape.Merge;
      let { set, unset } = patch;
      if (this.sealer) ({ set, unset } = sealPatch(this.sealer, set, unset, patch.handle));
      if (this.pg) params.push(escapeNul(encodePatch(set, undefined)), (unset ?? []).map(escapeNulKey));
      else params.push(encodePatch(set, unset));
    }
    if (patch.login) {
      shape |= UpdateShape.Login;
      params.push(patch.login.userId, patch.login.authAt, patch.login.remember ? 1 : 0);
    }
    params.push(patch.lastSeenAt, patch.expiresAt, id, patch.lastSeenAt);
    return { shape, params };
  }
}
