import type { SessionPatch, SessionRecord, StoredSessionSummary, UserIndexedSessionStore } from './store.js';
import { defineOwn } from './codec.js';
import { toSummary } from './summary.js';

/**
 * In-process store for tests and development. Values are kept as JSON text, so what a caller gets
 * back is never an object another request can mutate. Expired sessions go when prune() runs (the
 * module's sweeper does that), so memory stays bounded by live sessions.
 */
export class MemorySessionStore implements UserIndexedSessionStore {
  private readonly rows = new Map<string, { record: Omit<SessionRecord, 'data'>; data: Map<string, string> }>();

  get size(): number {
    return this.rows.size;
  }

  async load(id: string): Promise<SessionRecord | null> {
    const row = this.rows.get(id);
    if (!row) return null;
    const data: Record<string, unknown> = {};
    for (const [k, v] of row.data) defineOwn(data, k, JSON.parse(v));
    return { ...row.record, data };
  }

  async create(r: SessionRecord): Promise<void> {
    const { data, ...record } = r;
    this.rows.set(r.id, { record, data: new Map(Object.keys(data).map((k) => [k, JSON.stringify(data[k])])) });
  }

  async update(id: string, patch: SessionPatch): Promise<boolean> {
    const row = this.rows.get(id);
    // Gone, or expired meanwhile: an expired session is never brought back.
    if (!row || row.record.expiresAt <= patch.lastSeenAt) return false;
    if (patch.replace) row.data = new Map(Object.keys(patch.replace).map((k) => [k, JSON.stringify(patch.replace![k])]));
    for (const k of patch.unset ?? []) row.data.delete(k);
    for (const k of Object.keys(patch.set ?? {})) row.data.set(k, JSON.stringify(patch.set![k]));
    if (patch.login) {
      row.record.userId = patch.login.userId;
      row.record.authAt = patch.login.authAt;
      row.record.remember = patch.login.remember;
    }
    row.record.lastSeenAt = patch.lastSeenAt;
    row.record.expiresAt = patch.expiresAt;
    if (patch.newId !== undefined && patch.newId !== id) {
      this.rows.delete(id);
      row.record.id = patch.newId;
      this.rows.set(patch.newId, row);
    }
    return true;
  }

  private remove(match: (r: Omit<SessionRecord, 'data'>) => boolean): StoredSessionSummary[] {
    const removed: StoredSessionSummary[] = [];
    for (const [id, row] of this.rows) {
      if (!match(row.record)) continue;
      this.rows.delete(id);
      removed.push(toSummary(row.record));
    }
    return removed;
  }

  async destroy(id: string): Promise<StoredSessionSummary | null> {
    const row = this.rows.get(id);
    if (!row) return null;
    this.rows.delete(id);
    return toSummary(row.record);
  }

  async listByUser(userId: string): Promise<StoredSessionSummary[]> {
    return [...this.rows.values()].filter((r) => r.record.userId === userId).map((r) => toSummary(r.record));
  }

  async destroyByUser(userId: string, exceptId?: string): Promise<StoredSessionSummary[]> {
    return this.remove((r) => r.userId === userId && r.id !== exceptId);
  }

  async destroyByHandle(handle: string): Promise<StoredSessionSummary | null> {
    return this.remove((r) => r.handle === handle)[0] ?? null;
  }

  async prune(now: number, onBatch?: (removed: StoredSessionSummary[]) => void): Promise<number> {
    const removed = this.remove((r) => r.expiresAt <= now);
    if (removed.length > 0) onBatch?.(removed);
    return removed.length;
  }
}
