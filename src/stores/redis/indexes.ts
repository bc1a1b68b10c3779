import type { StoredSessionSummary } from '../store.js';
import { replySummary } from './hash.js';
import type { RedisKeys } from './keys.js';
import { SCRIPTS, type Script } from './scripts.js';

/*
 * The handle and user indexes, which a cluster keeps in other slots than the sessions they name, so
 * no script can change both at once. The protocol:
 * - Index first. An id is added to an index (scored by the index server's time t) before any
 *   session write that makes it carry the handle or the user; that write passes a deadline t +
 *   WINDOW and is refused by the session's server past it. So every session that carries a handle or
 *   a user has its entry, and an entry's session is settled (written, or never to be) by t + WINDOW.
 * - Verified on read. An entry is only a hint: listByUser reads the hash behind each entry and shows
 *   a session only when it loads (present, not mid-rotation) and still carries the user.
 * - Stale entries dropped only when settled: an entry whose session is gone or carries another user
 *   is removed once t + 2 × WINDOW has passed (one WINDOW for the write, one for the clocks of two
 *   servers), and only at the score it was seen with (a re-added entry is newer).
 * - Destroys repeat until a pass finds nothing: a rotation adds its new id before it retires the old
 *   one, so a pass that missed the new id (read before it was added) is followed by one that sees it.
 * On one server, the index entries and the write (or the whole rotation) are one script instead
 * (scripts.ts: WRITE_INDEXED, ROTATE), so the same entries are exact at once; reading, dropping and
 * destroys are the same on both.
 */

/** How long a session write may follow its index entry (server time); a write later than that is refused. */
export const WINDOW = 10_000;

/** Passes of a destroy by user or handle: each one follows rotations the previous one raced. */
const MAX_PASSES = 10;

type Run = (s: Script, keys: string[], args: string[], write?: boolean) => Promise<unknown>;
type Field = 'u' | 'h';

export class RedisIndexes {
  constructor(
    private readonly keys: RedisKeys,
    private readonly run: Run,
    private readonly send: (args: string[]) => Promise<unknown>,
  ) {}

  /** Adds the id to the indexes; the deadline of the session write that may follow. */
  async add(indexes: string[], id: string, expireAt: string): Promise<string> {
    const scores = await Promise.all(indexes.map((k) => this.run(SCRIPTS.indexAdd, [k], [id, expireAt], true)));
    return String(Math.min(...scores.map(Number)) + WINDOW);
  }

  private async read(index: string): Promise<{ now: number; entries: [string, number][] }> {
    const reply = (await this.run(SCRIPTS.indexRead, [index], [])) as unknown[];
    const entries: [string, number][] = [];
    for (let i = 1; i + 1 < reply.length; i += 2) entries.push([String(reply[i]), Number(reply[i + 1])]);
    return { now: Number(reply[0]), entries };
  }

  private async drop(index: string, now: number, stale: [string, number][]): Promise<void> {
    const settled = stale.filter(([, score]) => score + 2 * WINDOW <= now).flat().map(String);
    if (settled.length > 0) await this.run(SCRIPTS.indexDrop, [index], settled, true);
  }

  /** A user's sessions that load now (and carry the user); settled stale entries are dropped. */
  async list(userId: string): Promise<StoredSessionSummary[]> {
    const index = this.keys.user(userId);
    const { now, entries } = await this.read(index);
    const metas = await Promise.all(entries.map(([id]) => this.send(['HMGET', this.keys.session(id), 'h', 'u', 'c', 'l', 'e', 'a', 'm'])));
    const out: StoredSessionSummary[] = [];
    const stale: [string, number][] = [];
    entries.forEach(([id, score], i) => {
      const m = (metas[i] as (string | null)[]).map((x) => x ?? '');
      // A hash mid-rotation ('m') no longer loads; without 'e' it is gone.
      if (m[1] === userId && m[4] !== '' && m[6] === '') out.push(replySummary([id, ...m.slice(0, 6)]));
      else if (m[1] !== userId) stale.push([id, score]);
    });
    await this.drop(index, now, stale);
    return out;
  }

  /**
   * Destroys every session an index names that still carries `value` in `field`, but `exceptId`.
   * Passes repeat while the index shows ids not met before: a session that rotated before its old id
   * was destroyed has its new id indexed by then (a rotation indexes the new id before it retires
   * the old), so the next pass meets it.
   */
  async destroyAll(index: string, field: Field, value: string, exceptId?: string): Promise<StoredSessionSummary[]> {
    const removed: StoredSessionSummary[] = [];
    const met = new Set<string>(exceptId === undefined ? [] : [exceptId]);
    for (let pass = 0; pass < MAX_PASSES; pass++) {
      const { now, entries } = await this.read(index);
      const targets = entries.filter(([id]) => !met.has(id));
      if (targets.length === 0) break;
      for (const [id] of targets) met.add(id);
      const replies = await Promise.all(targets.map(([id]) => this.run(SCRIPTS.destroy, [this.keys.session(id), this.keys.expiriesOf(id)], [id, field, value], true)));
      replies.forEach((reply) => Array.isArray(reply) && removed.push(replySummary(reply)));
      // Each target is gone now, or carries something else: stale once settled.
      await this.drop(index, now, targets);
    }
    return removed;
  }
}
