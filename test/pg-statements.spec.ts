import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { TypeOrmSessionStore, type SessionRecord } from '../src/index.js';
import { CountingLogger } from './support/counting-logger.js';
import { queryListener } from './support/query-listener.js';
import { dataSourceOptions, describeEngines } from './support/databases.js';

/**
 * The PostgreSQL store's own path: statements through the DataSource's node-postgres pool, the
 * per-request ones prepared once per connection, unnamed with `preparedStatements: false` (PgBouncer
 * in transaction mode), still seen by the DataSource's logger, and TypeORM's path for a DataSource
 * whose subscribers listen to queries. One pooled connection, so that pg_prepared_statements (which
 * is per connection) shows what the store's connection holds.
 */
await describeEngines(
  'PostgreSQL statements',
  () => {
    const table = 'pg_statements_test';
    const logger = new CountingLogger();
    const opened: DataSource[] = [];

    async function open(options: { preparedStatements?: boolean; subscribers?: Function[] } = {}): Promise<{ ds: DataSource; store: TypeOrmSessionStore }> {
      const base = dataSourceOptions('postgres', logger) as Extract<ReturnType<typeof dataSourceOptions>, { type: 'postgres' }>;
      const ds = new DataSource({ ...base, extra: { ...base.extra, max: 1 }, subscribers: options.subscribers ?? [] });
      await ds.initialize();
      opened.push(ds);
      const store = new TypeOrmSessionStore(ds, { tableName: table, preparedStatements: options.preparedStatements });
      return { ds, store };
    }

    const record = (id: string): SessionRecord => ({
      id,
      handle: `h-${id}`,
      data: { n: 1 },
      userId: null,
      createdAt: 1,
      lastSeenAt: 1,
      expiresAt: Date.now() + 60_000,
      authAt: null,
      remember: false,
    });

    /** The named statements on the (only) connection that are about the test's table. */
    async function prepared(ds: DataSource): Promise<string[]> {
      const rows = (await ds.query('SELECT name, statement FROM pg_prepared_statements ORDER BY name')) as { name: string; statement: string }[];
      return rows.filter((r) => r.statement.includes(`"${table}"`)).map((r) => r.name);
    }

    beforeAll(async () => {
      const { ds, store } = await open();
      await ds.query(`DROP TABLE IF EXISTS "${table}"`);
      for (const sql of store.createTableStatements(false)) await ds.query(sql);
    });
    afterEach(async () => {
      while (opened.length) await opened.pop()!.destroy();
      logger.reset();
    });
    afterAll(async () => {
      const { ds } = await open();
      await ds.query(`DROP TABLE IF EXISTS "${table}"`);
      await ds.destroy();
      opened.length = 0;
    });

    it('prepares each per-request statement once per connection, under a name, and reads through it', async () => {
      const { ds, store } = await open();
      await store.create(record('prep-1'));
      for (let i = 0; i < 3; i++) expect((await store.load('prep-1'))?.data).toEqual({ n: 1 });
      expect(await store.update('prep-1', { set: { n: 2 }, lastSeenAt: 2, expiresAt: Date.now() + 60_000 })).toBe(true);
      expect((await store.load('prep-1'))?.data).toEqual({ n: 2 });
      const names = await prepared(ds);
      // INSERT, SELECT and one UPDATE shape: three statements, each prepared once however often it ran.
      expect(names).toHaveLength(3);
      expect(names.every((n) => /^nls_[0-9a-f]{24}_\d+$/.test(n))).toBe(true);
      await store.destroy('prep-1');
      expect(await prepared(ds)).toHaveLength(4);
    });

    it('preparedStatements: false sends every statement unnamed (PgBouncer in transaction mode)', async () => {
      const { ds, store } = await open({ preparedStatements: false });
      await store.create(record('unnamed-1'));
      expect((await store.load('unnamed-1'))?.data).toEqual({ n: 1 });
      expect(await store.update('unnamed-1', { set: { n: 3 }, lastSeenAt: 2, expiresAt: Date.now() + 60_000 })).toBe(true);
      expect((await store.load('unnamed-1'))?.data).toEqual({ n: 3 });
      await store.destroy('unnamed-1');
      expect(await prepared(ds)).toEqual([]);
    });

    it('every statement still goes through the DataSource\u2019s logger, one per call', async () => {
      const { store } = await open();
      await store.create(record('logged-1'));
      logger.reset();
      await store.load('logged-1');
      expect(logger.statements).toHaveLength(1);
      expect(logger.statements[0]).toMatch(new RegExp(`^SELECT .* FROM "${table}" WHERE id = \\$1$`));
      await store.destroy('logged-1');
    });

    it('a DataSource whose subscriber listens to queries keeps TypeORM\u2019s path: the subscriber sees the store\u2019s statements', async () => {
      const seen: string[] = [];
      const { ds, store } = await open({ subscribers: [queryListener(seen)] });
      await store.create(record('sub-1'));
      expect((await store.load('sub-1'))?.data).toEqual({ n: 1 });
      expect(seen.filter((q) => q.includes(`"${table}"`))).toHaveLength(2);
      // TypeORM's path sends them unnamed.
      expect(await prepared(ds)).toEqual([]);
      await store.destroy('sub-1');
    });

    it('a table altered under a prepared statement (its result type changed) is read again, prepared afresh', async () => {
      const { ds, store } = await open();
      await store.create(record('alter-1'));
      expect((await store.load('alter-1'))?.remember).toBe(false);
      await ds.query(`ALTER TABLE "${table}" ALTER COLUMN remember TYPE INTEGER`);
      try {
        // Without the retry, PostgreSQL answers "cached plan must not change result type".
        expect((await store.load('alter-1'))?.data).toEqual({ n: 1 });
        expect((await store.load('alter-1'))?.data).toEqual({ n: 1 });
      } finally {
        await ds.query(`ALTER TABLE "${table}" ALTER COLUMN remember TYPE SMALLINT`);
        await store.destroy('alter-1');
      }
    });
  },
  ['postgres'],
);
