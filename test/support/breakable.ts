import type { UserIndexedSessionStore as SessionStore } from '../../src/index.js';

type Method = 'load' | 'create' | 'update' | 'destroy' | 'listByUser' | 'destroyByUser' | 'destroyByHandle' | 'prune';
const METHODS: Method[] = ['load', 'create', 'update', 'destroy', 'listByUser', 'destroyByUser', 'destroyByHandle', 'prune'];

/**
 * A real store whose calls can be made to fail: all of them (`broken`), or only some (`failing`),
 * to check that the module answers 503 and fails closed.
 */
export function breakable(inner: SessionStore): SessionStore & { broken: boolean; failing: Set<Method> } {
  const wrapper = { broken: false, failing: new Set<Method>() } as SessionStore & { broken: boolean; failing: Set<Method> };
  for (const method of METHODS) {
    (wrapper as unknown as Record<string, unknown>)[method] = (...args: unknown[]) =>
      wrapper.broken || wrapper.failing.has(method)
        ? Promise.reject(new Error('connection refused'))
        : (inner[method] as (...a: unknown[]) => Promise<unknown>).apply(inner, args);
  }
  return wrapper;
}
