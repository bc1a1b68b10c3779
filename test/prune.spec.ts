import 'reflect-metadata';
import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { dataSourceOptions, describeEngines, openStore, type Engine } from './support/databases.js';
import { CountingLogger } from './support/counting-logger.js';
import { bulkInsert, countRows, quoteTable } from './support/bulk.js';
import { createTestApp, sessionCookie, PLATFORMS } from './support/test-app.js';
import { SessionRuntime } from '../src/session/runtime.js';
import { MemorySessionStore, TypeOrmSessionStore, type SessionEvent, type StoredSessionSummary } from '../src/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Polls until `ok()` holds (a loaded machine delays timers), failing after `limit` ms. */
async function waitFor(ok: () => boolean, limit = 5000): Promise<void> {
  const end = Date.now() + limit;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`condition not met within ${limit} ms`);
    await sleep(25);
  }
}

await describeEngines('prune', (engine: Engine) => {
  const table = `prune_${engine}`;
  const logger = new CountingLogger();
  let ds: DataSource;
  let store: TypeOrmSessionStore;

  beforeAll(async () => {
    ({ dataSource: ds } = await openStore(engine, table, logger));
    store = new TypeOrmSessionStore(ds, { tableName: table, pruneBatchSize: 4 });
  });
  afterAll(async () => {
    await ds?.query(`DROP TABLE IF EXISTS ${quoteTable(engine, table)}`);
    await ds?.destroy();
  });
  beforeEach(async () => {
    await ds.query(`DELETE FROM ${quoteTable(engine, table)}`);
  });

  it('removes only expired rows, in batches of pruneBatchSize', async () => {
    const now = Date.now();
    await bulkInsert(ds, engine, table, 25, now - 1000, 'old');
    await bulkInsert(ds, engine, table, 10, now + 60_000, 'live');
    // Exactly at the boundary counts as expired.
    await bulkInsert(ds, engine, table, 1, now, 'edge');
    logger.reset();
    const batches: StoredSessionSummary[][] = [];
    const removed = await store.prune(now, (b) => batches.push(b));
    expect(removed).toBe(26);
    expect(batches.every((b) => b.length >= 1 && b.length <= 4)).toBe(true);
    expect(batches.flat()).toHaveLength(26);
    expect(new Set(batches.flat().map((r) => r.id)).size).toBe(26);
    for (const r of batches.flat()) expect(r.expiresAt).toBeLessThanOrEqual(now);
    // ceil(26 / 4) = 7 batches (MariaDB: 7 SELECT + 7 DELETE): the seventh is short, so the loop stops.
    const deletes = logger.statements.filter((s) => /^\s*DELETE/i.test(s));
    expect(deletes).toHaveLength(7);
    expect(await countRows(ds, engine, table)).toBe(10);
    expect(await countRows(ds, engine, table, `id LIKE 'live%'`)).toBe(10);
    // Nothing left to do: one statement, nothing removed.
    logger.reset();
    expect(await store.prune(now)).toBe(0);
    expect(logger.count).toBe(1);
  });

  it('an exact multiple of the batch size ends with one empty batch', async () => {
    const now = Date.now();
    await bulkInsert(ds, engine, table, 8, now - 1, 'old');
    logger.reset();
    expect(await store.prune(now)).toBe(8);
    // PostgreSQL/SQLite: DELETE … RETURNING, the third one empty. MariaDB: SELECT, then DELETE by
    // primary key (no range locks), so the third round is a SELECT that finds nothing.
    expect(logger.statements.filter((s) => /^\s*DELETE/i.test(s))).toHaveLength(engine === 'mariadb' ? 2 : 3);
    expect(logger.count).toBe(engine === 'mariadb' ? 5 : 3);
  });

  if (engine !== 'sqlite') {
    it('two instances pruning the same table at once: no errors, no deadlocks, each row once', async () => {
      const now = Date.now();
      await bulkInsert(ds, engine, table, 20_000, now - 1000, 'old');
      await bulkInsert(ds, engine, table, 200, now + 60_000, 'live');
      const other = new DataSource(dataSourceOptions(engine));
      await other.initialize();
      try {
        const a = new TypeOrmSessionStore(ds, { tableName: table, pruneBatchSize: 100 });
        const b = new TypeOrmSessionStore(other, { tableName: table, pruneBatchSize: 100 });
        const seen: string[] = [];
        const collect = (batch: StoredSessionSummary[]) => seen.push(...batch.map((r) => r.id));
        // Meanwhile live sessions are being written to through both pools.
        let writes = 0;
        let stop = false;
        const writer = async (s: TypeOrmSessionStore) => {
          let i = 0;
          while (!stop) {
            const id = `live${1 + (i++ % 200)}`;
            const t = Date.now();
            expect(await s.update(id, { set: { n: i }, lastSeenAt: t, expiresAt: t + 60_000 })).toBe(true);
            writes++;
          }
        };
        const writers = [writer(a), writer(b)];
        const t0 = Date.now();
        const [ra, rb, rc] = await Promise.all([a.prune(now, collect), b.prune(now, collect), a.prune(now, collect)]);
        const ms = Date.now() - t0;
        stop = true;
        await Promise.all(writers);
        console.log(`[${engine}] 3 concurrent pruners removed ${ra}+${rb}+${rc} of 20000 expired rows in ${ms} ms, with ${writes} updates meanwhile`);
        expect(ra + rb + rc).toBe(20_000);
        expect(new Set(seen).size).toBe(20_000);
        expect(await countRows(ds, engine, table)).toBe(200);
      } finally {
        await other.destroy();
      }
    });
  }
});

/** A memory store that counts prune() calls. */
class CountingStore extends MemorySessionStore {
  prunes = 0;
  override async prune(now: number, onBatch?: (removed: StoredSessionSummary[]) => void): Promise<number> {
    this.prunes++;
    return super.prune(now, onBatch);
  }
}

describe.each(PLATFORMS)('periodic sweeper (pruneInterval) on %s', (platform) => {
  it('runs every pruneInterval, removes expired sessions, reports them, is unref\'d and stops on close()', async () => {
    const store = new CountingStore();
    const events: SessionEvent[] = [];
    const app = await createTestApp({ platform, store, options: { pruneInterval: 150, idleTimeout: 300, touchInterval: 0, onEvent: (e) => void events.push(e) } });
    let closed = false;
    try {
      const rt = app.get(SessionRuntime, { strict: false });
      const timer = (rt as unknown as { sweeper?: NodeJS.Timeout }).sweeper;
      expect(timer).toBeDefined();
      // Never keeps the process alive.
      expect(timer!.hasRef()).toBe(false);

      const res = await request(app.getHttpServer()).post('/set').send({ a: 1 }).expect(200);
      expect(sessionCookie(res)).toBeDefined();
      const handle = events.find((e) => e.type === 'created')!.handle;
      // Expired (idle 300 ms) and swept without any request touching it.
      await waitFor(() => events.some((e) => e.type === 'expired' && e.handle === handle));
      await waitFor(() => store.prunes >= 3);
      expect(await store.prune(Date.now())).toBe(0);

      await app.close();
      closed = true;
      expect((rt as unknown as { sweeper?: NodeJS.Timeout }).sweeper).toBeUndefined();
      const after = store.prunes;
      await sleep(500);
      expect(store.prunes).toBe(after);
    } finally {
      if (!closed) await app.close();
    }
  });

  it('pruneInterval 0 turns the sweeper off', async () => {
    const store = new CountingStore();
    const app = await createTestApp({ platform, store, options: { pruneInterval: 0 } });
    try {
      const rt = app.get(SessionRuntime, { strict: false });
      expect((rt as unknown as { sweeper?: NodeJS.Timeout }).sweeper).toBeUndefined();
      await sleep(300);
      expect(store.prunes).toBe(0);
    } finally {
      await app.close();
    }
  });

  it('a slow sweep is never started twice, and close() waits for the one running', async () => {
    let running = 0;
    let maxRunning = 0;
    let finished = 0;
    class SlowStore extends MemorySessionStore {
      override async prune(now: number, onBatch?: (removed: StoredSessionSummary[]) => void): Promise<number> {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await sleep(400);
        running--;
        finished++;
        return super.prune(now, onBatch);
      }
    }
    const app = await createTestApp({ platform, store: new SlowStore(), options: { pruneInterval: 50 } });
    await waitFor(() => finished >= 1 && running === 1);
    await app.close();
    expect(maxRunning).toBe(1);
    expect(running).toBe(0);
    expect(finished).toBeGreaterThanOrEqual(1);
  });

  it('a failing sweep is logged and the next one still runs', async () => {
    let calls = 0;
    class FailingStore extends MemorySessionStore {
      override async prune(): Promise<number> {
        calls++;
        throw new Error(`database gone ${calls}`);
      }
    }
    // The module logs through Nest's Logger (context 'SessionModule'), whatever the app's logger.
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const app = await createTestApp({ platform, store: new FailingStore(), options: { pruneInterval: 100 } });
    try {
      await waitFor(() => calls >= 2 && warn.mock.calls.length >= 2);
      const messages = warn.mock.calls.map((c) => String(c[0]));
      expect(messages).toContain('pruning expired sessions failed: database gone 1');
      expect(messages).toContain('pruning expired sessions failed: database gone 2');
      await request(app.getHttpServer()).get('/public').expect(200);
    } finally {
      warn.mockRestore();
      await app.close();
    }
  });
});
