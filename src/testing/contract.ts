import assert from 'node:assert/strict';
import { isUserIndexed, type SessionStore } from '../stores/store.js';
import { assertFields, ids, newId, newUser, record, summaryOf, times, tricky } from './fixtures.js';

/** One check of the contract, run against a fresh or shared store; `pruneBatchSize` as the author declared it. */
export interface ContractCheck {
  title: string;
  run(store: SessionStore, pruneBatchSize: number | undefined): Promise<void>;
}

/** What every SessionStore must do (the user index is checked where the store has one). */
export const BASE_CHECKS: ContractCheck[] = [
  {
    title: 'round-trips tricky values and every record field',
    async run(store) {
      const r = record({ data: tricky(), userId: 'user-ü-1', authAt: Date.now() - 5, remember: true });
      await store.create(r);
      await store.update(r.id, { handle: r.handle, ...times(r.lastSeenAt), expiresAt: r.expiresAt }); // no-op patch, same times
      const loaded = await store.load(r.id);
      assert.ok(loaded);
      assert.deepStrictEqual(loaded.data, tricky());
      assert.equal(Object.getPrototypeOf(loaded.data), Object.prototype);
      assert.ok(Object.prototype.hasOwnProperty.call(loaded.data, '__proto__'));
      assert.equal((loaded.data['__proto__'] as Record<string, unknown>).polluted, true);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      const { data: _d, ...meta } = loaded;
      const { data: _e, ...expected } = r;
      assert.deepStrictEqual(meta, expected);
      assert.equal(await store.load(newId()), null);
    },
  },
  {
    title: 'merges partial updates: set, unset, replace, null values',
    async run(store) {
      const r = record({ data: { a: 1, b: 2, c: 3 } });
      const patch = async (p: object) => assert.equal(await store.update(r.id, { handle: r.handle, ...times(), ...p }), true);
      const data = async () => (await store.load(r.id))?.data;
      await store.create(r);
      // Two requests that loaded the same snapshot, each changing a different key: both survive.
      await patch({ set: { a: 10 } });
      await patch({ set: { d: 4 }, unset: ['b'] });
      assert.deepStrictEqual(await data(), { a: 10, c: 3, d: 4 });
      await patch({ set: { c: null }, unset: ['missing'] });
      assert.deepStrictEqual(await data(), { a: 10, c: null, d: 4 });
      await patch({ replace: { x: { deep: [1] } }, set: { y: 'y' } });
      assert.deepStrictEqual(await data(), { x: { deep: [1] }, y: 'y' });
      await patch({ replace: {} });
      assert.deepStrictEqual(await data(), {});
      await patch({ set: JSON.parse('{"__proto__":{"p":1}}') as Record<string, unknown> });
      assert.ok(Object.prototype.hasOwnProperty.call(await data(), '__proto__'));
      await patch({ unset: ['__proto__'] });
      assert.deepStrictEqual(await data(), {});
    },
  },
  {
    title: 'deletes keys whose names hold U+E000 or U+0000',
    async run(store) {
      const names = ['a\ue000b', '\ue0000', '\ue0001', 'nul\u0000key', '\\u0000', 'plain'];
      const r = record({ data: Object.fromEntries(names.map((k, i) => [k, i])) });
      const patch = async (p: object) => assert.equal(await store.update(r.id, { handle: r.handle, ...times(), ...p }), true);
      const data = async () => (await store.load(r.id))?.data;
      await store.create(r);
      await patch({ unset: names.slice(0, 5) });
      assert.deepStrictEqual(await data(), { plain: 5 });
      // Set by a merge, then removed by one.
      await patch({ set: { '\ue000x': 1, 'y\u0000': 2 } });
      assert.deepStrictEqual(await data(), { plain: 5, '\ue000x': 1, 'y\u0000': 2 });
      await patch({ unset: ['\ue000x', 'y\u0000'] });
      assert.deepStrictEqual(await data(), { plain: 5 });
    },
  },
  {
    title: 'updates times and login',
    async run(store) {
      const r = record();
      await store.create(r);
      const t = Date.now() + 1000;
      assert.equal(await store.update(r.id, { handle: r.handle, lastSeenAt: t, expiresAt: t + 5000, login: { userId: 'login-user', authAt: t, remember: true } }), true);
      assertFields(await store.load(r.id), { lastSeenAt: t, expiresAt: t + 5000, userId: 'login-user', authAt: t, remember: true, createdAt: r.createdAt });
    },
  },
  {
    title: 'rotates: the old id is gone, the new id loads, the handle stays',
    async run(store) {
      const user = newUser('rot');
      const r = record({ data: { keep: 'me' }, userId: user });
      await store.create(r);
      const rotated = newId();
      assert.equal(await store.update(r.id, { handle: r.handle, ...times(), newId: rotated, set: { more: 1 } }), true);
      assert.equal(await store.load(r.id), null);
      assertFields(await store.load(rotated), { id: rotated, handle: r.handle, userId: user, data: { keep: 'me', more: 1 } });
      // A request still holding the old id writes nothing.
      assert.equal(await store.update(r.id, { handle: r.handle, ...times(), set: { stale: true } }), false);
      assert.equal(await store.load(r.id), null);
      if (!isUserIndexed(store)) return;
      assert.deepStrictEqual(ids(await store.listByUser(user)), [rotated]);
      // Rotation with a login as another user moves it between the users' indexes.
      const third = newId();
      assert.equal(await store.update(rotated, { handle: r.handle, ...times(), newId: third, replace: {}, login: { userId: `${user}-b`, authAt: Date.now(), remember: false } }), true);
      assert.deepStrictEqual(ids(await store.listByUser(user)), []);
      assert.deepStrictEqual(ids(await store.listByUser(`${user}-b`)), [third]);
      assert.equal((await store.destroyByHandle(r.handle))?.id, third);
      assert.equal(await store.load(third), null);
    },
  },
  {
    title: 'after destroy, update returns false and creates nothing (no resurrection)',
    async run(store) {
      const user = newUser('gone');
      const r = record({ data: { a: 1 }, userId: user, authAt: 7 });
      await store.create(r);
      assert.deepStrictEqual(await store.destroy(r.id), summaryOf(r));
      assert.equal(await store.destroy(r.id), null);
      assert.equal(await store.update(r.id, { handle: r.handle, ...times(), set: { a: 2 } }), false);
      assert.equal(await store.update(r.id, { handle: r.handle, ...times(), newId: newId(), login: { userId: user, authAt: 1, remember: false } }), false);
      assert.equal(await store.load(r.id), null);
      if (!isUserIndexed(store)) return;
      assert.deepStrictEqual(ids(await store.listByUser(user)), []);
      assert.equal(await store.destroyByHandle(r.handle), null);
    },
  },
  {
    title: 'update writes nothing once the stored expiresAt is at or before the patch\u2019s lastSeenAt',
    async run(store) {
      const r = record({ data: { a: 1 } });
      await store.create(r);
      assert.equal(await store.update(r.id, { handle: r.handle, lastSeenAt: r.expiresAt, expiresAt: r.expiresAt + 60_000, set: { a: 2 } }), false);
      assertFields(await store.load(r.id), { data: { a: 1 }, lastSeenAt: r.lastSeenAt, expiresAt: r.expiresAt });
      assert.equal(await store.update(r.id, { handle: r.handle, lastSeenAt: r.expiresAt - 1, expiresAt: r.expiresAt + 60_000, set: { a: 3 } }), true);
      assertFields(await store.load(r.id), { data: { a: 3 }, lastSeenAt: r.expiresAt - 1, expiresAt: r.expiresAt + 60_000 });
    },
  },
  {
    title: 'prune removes only expired sessions, and reports them',
    async run(store) {
      await store.prune(Date.now()); // leftovers of earlier tests
      const now = Date.now();
      const at = now + 100;
      const user = newUser('pr');
      const expired1 = record({ userId: user, expiresAt: now - 1000 });
      const expired2 = record({ expiresAt: at });
      const live = record({ userId: user, expiresAt: now + 60_000 });
      const touched = record({ expiresAt: now + 50 });
      for (const r of [expired1, expired2, live, touched]) await store.create(r);
      // Written again before its expiry: no longer due at `at`.
      assert.equal(await store.update(touched.id, { handle: touched.handle, lastSeenAt: now, expiresAt: now + 60_000 }), true);
      // An expired session is never written again.
      assert.equal(await store.update(expired1.id, { handle: expired1.handle, lastSeenAt: now, expiresAt: now + 60_000, set: { back: true } }), false);
      const reported: string[] = [];
      const n = await store.prune(at, (batch) => reported.push(...batch.map((s) => s.id)));
      assert.equal(n, 2);
      assert.deepStrictEqual(reported.sort(), [expired1.id, expired2.id].sort());
      assert.equal(await store.load(expired1.id), null);
      assert.equal(await store.load(expired2.id), null);
      assert.notEqual(await store.load(live.id), null);
      assert.notEqual(await store.load(touched.id), null);
      if (isUserIndexed(store)) assert.deepStrictEqual(ids(await store.listByUser(user)), [live.id]);
      assert.equal(await store.prune(at), 0);
    },
  },
  {
    title: 'prune works in batches of at most its batch size, reporting each removed session once',
    async run(store, batchSize) {
      if (batchSize === undefined) return; // the store declared no batch size
      await store.prune(Date.now());
      const now = Date.now();
      const expired = Array.from({ length: 2 * batchSize + 1 }, () => record({ expiresAt: now - 1000 }));
      for (const r of expired) await store.create(r);
      const batches: string[][] = [];
      assert.equal(await store.prune(now, (batch) => batches.push(batch.map((s) => s.id))), expired.length);
      assert.ok(batches.length >= 3, `${batches.length} batches`);
      for (const batch of batches) assert.ok(batch.length <= batchSize, `a batch of ${batch.length}`);
      assert.deepStrictEqual(batches.flat().sort(), ids(expired.map(summaryOf)));
    },
  },
  {
    title: 'keeps every one of 20 parallel updates of different keys',
    async run(store) {
      const r = record({ data: { base: true } });
      await store.create(r);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.update(r.id, { handle: r.handle, ...times(), set: { [`k${i}`]: i } })));
      assert.ok(results.every(Boolean));
      const expected: Record<string, unknown> = { base: true };
      for (let i = 0; i < 20; i++) expected[`k${i}`] = i;
      assert.deepStrictEqual((await store.load(r.id))?.data, expected);
    },
  },
];
