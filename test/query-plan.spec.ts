import 'reflect-metadata';
import type { DataSource } from 'typeorm';
import { describeEngines, openStore, type Engine } from './support/databases.js';
import { bulkInsert, quoteTable } from './support/bulk.js';
import type { TypeOrmSessionStore } from '../src/index.js';
import type { SqlDialect } from '../src/stores/typeorm/dialect.js';

/** The statements the store really sends. */
const dialectOf = (store: TypeOrmSessionStore) => (store as unknown as { sql: SqlDialect }).sql;

await describeEngines('query plans', (engine: Engine) => {
  const table = `plan_${engine}`;
  let ds: DataSource;
  let store: TypeOrmSessionStore;

  beforeAll(async () => {
    ({ dataSource: ds, store } = await openStore(engine, table));
    await bulkInsert(ds, engine, table, 5000, Date.now() + 60_000, 'p');
    if (engine === 'postgres') await ds.query(`ANALYZE ${quoteTable(engine, table)}`);
    if (engine === 'mariadb') await ds.query(`ANALYZE TABLE ${quoteTable(engine, table)}`);
  });
  afterAll(async () => {
    await ds?.query(`DROP TABLE IF EXISTS ${quoteTable(engine, table)}`);
    await ds?.destroy();
  });

  async function plan(sql: string, params: unknown[]): Promise<string> {
    if (engine === 'sqlite') {
      const rows = (await ds.query(`EXPLAIN QUERY PLAN ${sql}`, params)) as { detail: string }[];
      return rows.map((r) => r.detail).join('\n');
    }
    if (engine === 'postgres') {
      const rows = (await ds.query(`EXPLAIN ${sql}`, params)) as { 'QUERY PLAN': string }[];
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    }
    const rows = (await ds.query(`EXPLAIN ${sql}`, params)) as { key: string | null; type: string }[];
    return rows.map((r) => `type=${r.type} key=${r.key}`).join('\n');
  }

  it('the load statement is a primary-key lookup', async () => {
    const sql = dialectOf(store).load;
    const text = await plan(sql, ['p2500']);
    if (engine === 'sqlite') expect(text).toMatch(/SEARCH .* USING (INDEX sqlite_autoindex_\w+|PRIMARY KEY|COVERING INDEX \w+) \(id=\?\)/);
    if (engine === 'postgres') expect(text).toMatch(new RegExp(`Index Scan using ${table}_pkey`));
    if (engine === 'mariadb') expect(text).toMatch(/type=const key=PRIMARY/);
    expect(text).not.toMatch(/\bSCAN\b(?! .*USING)|Seq Scan|type=ALL/);
  });

  it('the update statement finds its row by primary key', async () => {
    const sql = dialectOf(store).update(2);
    const params = engine === 'postgres' ? ['{}', [], 1, 2, 'p1', 0] : ['{}', 1, 2, 'p1', 0];
    const text = await plan(sql, params);
    if (engine === 'sqlite') expect(text).toMatch(/SEARCH .* \(id=\?\)/);
    if (engine === 'postgres') expect(text).toMatch(new RegExp(`Index Scan using ${table}_pkey`));
    if (engine === 'mariadb') expect(text).toMatch(/key=PRIMARY/);
  });
});
