import assert from 'node:assert/strict';
import { isUserIndexed, type SessionStore, type UserIndexedSessionStore } from '../stores/store.js';
import type { ContractCheck } from './contract.js';
import { assertFields, ids, newUser, record, summaryOf, times } from './fixtures.js';

/** A store either has the whole user index or none of it: a part of it is a mistake that isUserIndexed() would hide. */
function assertWholeIndexOrNone(store: SessionStore): store is UserIndexedSessionStore {
  if (isUserIndexed(store)) return true;
  const s = store as unknown as Record<string, unknown>;
  const present = ['listByUser', 'destroyByUser', 'destroyByHandle'].filter((m) => typeof s[m] === 'function');
  assert.deepStrictEqual(present, [], 'a user-indexed store needs all of listByUser, destroyByUser and destroyByHandle');
  return false;
}

/** UserIndexedSessionStore's methods; a store without the index passes them when it has none of them. */
export const USER_INDEX_CHECKS: ContractCheck[] = [
  {
    title: 'user index: lists and ends a user\u2019s sessions (listByUser, destroyByUser with except, destroyByHandle)',
    async run(store) {
      if (!assertWholeIndexOrNone(store)) return;
      const u1 = newUser('u1');
      const u2 = newUser('u2');
      const a = record({ userId: u1, authAt: 1 });
      const b = record({ userId: u1, authAt: 2 });
      const c = record(); // logs in later
      const d = record({ userId: u2 });
      for (const r of [a, b, c, d]) await store.create(r);
      assert.equal(await store.update(c.id, { handle: c.handle, ...times(), login: { userId: u1, authAt: 3, remember: false } }), true);
      const listed = await store.listByUser(u1);
      assert.deepStrictEqual(ids(listed), ids([a, b, c].map(summaryOf)));
      assert.deepStrictEqual(listed.find((s) => s.id === a.id), summaryOf(a));
      const ended = await store.destroyByUser(u1, a.id);
      assert.deepStrictEqual(ids(ended), ids([b, c].map(summaryOf)));
      assert.ok(ended.every((s) => s.userId === u1));
      assert.deepStrictEqual(ids(await store.listByUser(u1)), [a.id]);
      assert.equal(await store.load(b.id), null);
      assert.notEqual(await store.load(a.id), null);
      assert.deepStrictEqual(ids(await store.listByUser(u2)), [d.id]);
      assertFields(await store.destroyByHandle(d.handle), { id: d.id, handle: d.handle, userId: u2 });
      assert.equal(await store.destroyByHandle(d.handle), null);
      assert.equal(await store.destroyByHandle('no-such-handle'), null);
      assert.deepStrictEqual(ids(await store.listByUser(u2)), []);
      assert.deepStrictEqual(ids(await store.destroyByUser(u1)), [a.id]);
      assert.deepStrictEqual(ids(await store.destroyByUser(u1)), []);
    },
  },
];
