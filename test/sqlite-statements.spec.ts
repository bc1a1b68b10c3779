import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { DataSource, type Logger } from 'typeorm';
import { TypeOrmSessionStore, type SessionRecord } from '../src/index.js';
import { CountingLogger } from './support/counting-logger.js';
import { queryListener } from './support/query-listener.js';

/**
 * The better-sqlite3 store's own path: statements on the DataSource's connection, each per-request
 * statement prepared once and kept, still seen by the DataSource's logger (errors too), TypeORM's
 * path for a DataSource whose subscribers listen to queries, and a DataSource initialized again
 * (a new connection) served with statements prepared on that one. Real SQLite files.
 */
describe('SQLite statements', () => {
  const table = 'direct_statements_test';
  const dir = mkdtempSync(join(tmpdir(), 'nls-sqlite-statements-'));
  const opened: DataSource[] = [];
  let n = 0;

  class ErrorLogger extends CountingLogger implements Logger {
    readonly errors: string[] = [];
    override logQueryError(error?: string | Error): void {
      this.errors.push(String((error as Error)?.message ?? error));
    }
  }

  async function open(options: { subscribers?: Function[] } = {}): Promise<{ ds: DataSource; store: TypeOrmSessionStore; logger: ErrorLogger }> {
    const logger = new ErrorLogger();
    const ds = new DataSource({ type: 'better-sqlite3', database: join(dir, `s${++n}.sqlite`), logger, logging: ['query', 'error'], subscribers: options.subscribers ?? [] });
    await ds.initialize();
    opened.push(ds);
    const store = new TypeOrmSessionStore(ds, { tableName: table, createTable: true });
    await store.init();
    return { ds, store, logger };
  }

  /** Counts what the connection prepares from now on, by statement text. */
  function countPrepares(ds: DataSource): Map<string, number> {
    const db = (ds.driver as unknown as { databaseConnection: { prepare(sql: string): unknown } }).databaseConnection;
    const counts = new Map<string, number>();
    const prepare = db.prepare.bind(db);
    db.prepare = (sql: string) => (counts.set(sql, (counts.get(sql) ?? 0) + 1), prepare(sql));
    return counts;
  }

  const record = (id: string): SessionRecord => ({
    id,
    handle: `h-${id}`,
    data: { n: 1 },
    userId: 'u1',
    createdAt: 1,
    lastSeenAt: 1,
    expiresAt: Date.now() + 60_000,
    authAt: 1,
    remember: true,
  });

  afterEach(async () => {
    while (opened.length) {
      const ds = opened.pop()!;
      if (ds.isInitialized) await ds.destroy();
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prepares each per-request statement once and reads through it, every call logged', async () => {
    const { ds, store, logger } = await open();
    const prepares = countPrepares(ds);
    // SQLite's QueryRunner is one per DataSource: what TypeORM's path would have gone through.
    const runner = ds.createQueryRunner();
    const viaTypeOrm = jest.spyOn(runner, 'query');
    logger.reset();
    const created = record('prep-1');
    await store.create(created);
    for (let i = 0; i < 3; i++) expect(await store.load('prep-1')).toEqual(created);
    for (let i = 2; i < 4; i++) expect(await store.update('prep-1', { set: { n: i }, lastSeenAt: i, expiresAt: Date.now() + 60_000 })).toBe(true);
    expect((await store.load('prep-1'))?.data).toEqual({ n: 3 });
    expect((await store.destroy('prep-1'))?.handle).toBe('h-prep-1');
    expect(await store.load('prep-1')).toBeNull();
    // INSERT, SELECT, one UPDATE shape, DELETE … RETURNING: each prepared once however often it ran.
    const ours = [...prepares].filter(([sql]) => sql.includes(`"${table}"`));
    expect(ours).toHaveLength(4);
    expect(ours.every(([, count]) => count === 1)).toBe(true);
    expect(logger.count).toBe(9);
    expect(viaTypeOrm).not.toHaveBeenCalled();
  });

  it('listing and pruning are not kept: the statements a user index sends differ by their rows', async () => {
    const { ds, store } = await open();
    await store.create(record('list-1'));
    await store.create(record('list-2'));
    const prepares = countPrepares(ds);
    for (let i = 0; i < 2; i++) expect((await store.listByUser('u1')).map((s) => s.id).sort()).toEqual(['list-1', 'list-2']);
    expect([...prepares.values()]).toEqual([2]);
    expect((await store.destroyByUser('u1')).map((s) => s.id).sort()).toEqual(['list-1', 'list-2']);
  });

  it('a DataSource whose subscriber listens to queries keeps TypeORM\u2019s path: the subscriber sees the store\u2019s statements', async () => {
    const seen: string[] = [];
    const { store } = await open({ subscribers: [queryListener(seen)] });
    seen.length = 0;
    await store.create(record('sub-1'));
    expect((await store.load('sub-1'))?.data).toEqual({ n: 1 });
    expect(seen.filter((q) => q.includes(`"${table}"`))).toHaveLength(2);
  });

  it('a DataSource initialized again (a new connection) is served with statements prepared on it', async () => {
    const { ds, store } = await open();
    await store.create(record('again-1'));
    expect((await store.load('again-1'))?.data).toEqual({ n: 1 });
    await ds.destroy();
    await expect(store.load('again-1')).rejects.toThrow();
    await ds.initialize();
    const prepares = countPrepares(ds);
    expect((await store.load('again-1'))?.data).toEqual({ n: 1 });
    expect([...prepares.values()]).toEqual([1]);
  });

  it('a failing statement is logged as an error and rejects; the kept statement then serves the next call', async () => {
    const { store, logger } = await open();
    await store.create(record('dup-1'));
    // The same id again: the kept INSERT fails on the primary key. Its message, not `toThrow`: the
    // native module keeps the error class of the first test file of the worker that loaded it, which
    // is no Error of this file's realm.
    const failed = await store.create(record('dup-1')).then(() => undefined, (err: unknown) => err);
    expect(String((failed as { message?: unknown } | undefined)?.message)).toMatch(/UNIQUE constraint failed/);
    expect(logger.errors.some((e) => /UNIQUE constraint failed/.test(e))).toBe(true);
    await store.create(record('dup-2'));
    expect((await store.load('dup-2'))?.data).toEqual({ n: 1 });
  });
});
