import type { SessionPatch } from '../stores/store.js';

/**
 * The keys one request changed, kept as a patch rather than a copy of the data, so that concurrent
 * requests that touch different keys never overwrite each other. Either the whole data is replaced
 * (after clear()) and `sets` holds what was written since, or only the keys in `sets`/`unsets`
 * changed; a key is never in both.
 */
export class SessionChanges {
  private readonly sets = new Map<string, unknown>();
  private readonly unsets = new Set<string>();
  private replaced = false;

  get any(): boolean {
    return this.replaced || this.sets.size > 0 || this.unsets.size > 0;
  }

  set(key: string, value: unknown): void {
    this.sets.set(key, value);
    this.unsets.delete(key);
  }

  unset(key: string): void {
    this.sets.delete(key);
    this.unsets.add(key);
  }

  replaceAll(): void {
    this.reset();
    this.replaced = true;
  }

  reset(): void {
    this.sets.clear();
    this.unsets.clear();
    this.replaced = false;
  }

  /** The data part of the store patch; `data` is the session's data after the changes. */
  toPatch(data: Record<string, unknown>): Pick<SessionPatch, 'replace' | 'set' | 'unset'> {
    if (this.replaced) return { replace: data };
    const patch: Pick<SessionPatch, 'set' | 'unset'> = {};
    if (this.sets.size > 0) patch.set = Object.fromEntries(this.sets);
    if (this.unsets.size > 0) patch.unset = [...this.unsets];
    return patch;
  }
}
