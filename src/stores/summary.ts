import type { StoredSessionSummary } from './store.js';

/** A session's summary fields as a store reads them back: text or numbers, absent as null, undefined or ''. */
export interface SummaryFields {
  id: unknown;
  handle: unknown;
  userId: unknown;
  createdAt: unknown;
  lastSeenAt: unknown;
  expiresAt: unknown;
  authAt: unknown;
}

const absent = (v: unknown): boolean => v === null || v === undefined || v === '';

/**
 * The one mapping from stored fields to StoredSessionSummary, for every store: only the summary's
 * fields (never data), times as numbers, and no user id or login time read as null. No store keeps
 * an empty user id (a login refuses one), so '' can mean "none" everywhere.
 */
export function toSummary(f: SummaryFields): StoredSessionSummary {
  return {
    id: String(f.id),
    handle: String(f.handle),
    userId: absent(f.userId) ? null : String(f.userId),
    createdAt: Number(f.createdAt),
    lastSeenAt: Number(f.lastSeenAt),
    expiresAt: Number(f.expiresAt),
    authAt: absent(f.authAt) ? null : Number(f.authAt),
  };
}
