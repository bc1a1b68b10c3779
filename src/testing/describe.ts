import type { SessionStore } from '../stores/store.js';
import { BASE_CHECKS, type ContractCheck } from './contract.js';
import { USER_INDEX_CHECKS } from './user-index.js';

type Hook = (fn: () => Promise<void>) => unknown;

/**
 * The test runner's functions: Jest and Vitest pass `{ describe, it, beforeAll, afterAll }`, Mocha
 * and node:test `{ describe, it, before, after }`. Without a before-all hook every test opens (and
 * closes) a store of its own.
 */
export interface SessionStoreTestRunner {
  describe(name: string, fn: () => void): unknown;
  it(name: string, fn: () => Promise<void>): unknown;
  beforeAll?: Hook;
  afterAll?: Hook;
  before?: Hook;
  after?: Hook;
}

/** A store under test, and how to release what `open` made (drop its table, disconnect). */
export interface OpenedSessionStore {
  store: SessionStore;
  close(): Promise<void>;
}

export interface SessionStoreUnderTest {
  /** Opens the store under test; called once per suite when the runner has before/after hooks, else once per test. */
  open(): Promise<OpenedSessionStore>;
  /** The store's prune batch size, when it prunes in batches: then prune is also checked with more expired sessions than one batch. */
  pruneBatchSize?: number;
}

/**
 * The conformance suite of the SessionStore contract, for a store's own tests: load/create/update
 * (atomic merges, rotation, no resurrection, the expiry rule), destroy, prune and the summaries,
 * and the user index when the store has one (UserIndexedSessionStore). Every check throws
 * node:assert's AssertionError, so it runs under any runner that passes describe and it.
 */
export function describeSessionStore(name: string, target: SessionStoreUnderTest, runner: SessionStoreTestRunner): void {
  runner.describe(name, () => {
    const run = storeLifecycle(target, runner);
    for (const check of [...BASE_CHECKS, ...USER_INDEX_CHECKS]) runner.it(check.title, () => run(check));
  });
}

/** One store for the whole suite when the runner has hooks for it; otherwise one per check. */
function storeLifecycle(target: SessionStoreUnderTest, runner: SessionStoreTestRunner): (check: ContractCheck) => Promise<void> {
  const beforeAll = runner.beforeAll ?? runner.before;
  const afterAll = runner.afterAll ?? runner.after;
  if (beforeAll && afterAll) {
    let opened: OpenedSessionStore | undefined;
    beforeAll(async () => {
      opened = await target.open();
    });
    afterAll(async () => {
      await opened?.close();
    });
    return async (check) => {
      if (!opened) throw new Error('the store under test did not open (see the before-all hook\u2019s error)');
      await check.run(opened.store, target.pruneBatchSize);
    };
  }
  return async (check) => {
    const opened = await target.open();
    try {
      await check.run(opened.store, target.pruneBatchSize);
    } finally {
      await opened.close();
    }
  };
}
