import { createConnection } from 'node:net';
import { DataSource, type DataSourceOptions, type Logger } from 'typeorm';
import { TypeOrmSessionStore } from '../../src/index.js';

/**
 * 'mysql' is the MariaDB server reached through TypeORM's 'mysql' driver: the store then takes its
 * MySQL path (no DELETE … RETURNING). Only the store suite runs it; describeEngines does not.
 */
export type Engine = 'sqlite' | 'postgres' | 'mariadb' | 'mysql';

export interface DbTarget {
  engine: Engine;
  /** Why the engine cannot be used here; undefined when it can. */
  missing?: string;
}

/** The servers' ports; TEST_PG_PORT / TEST_MARIADB_PORT move them (and show the skip path). */
export const PORTS: Record<Exclude<Engine, 'sqlite' | 'mysql'>, number> = {
  postgres: Number(process.env.TEST_PG_PORT ?? 5432),
  mariadb: Number(process.env.TEST_MARIADB_PORT ?? 3306),
};

/** The databases' names; TEST_PG_DB / TEST_MARIADB_DB give parallel runs (worktrees) their own. */
export const DB_NAMES = { postgres: process.env.TEST_PG_DB ?? 'test', mariadb: process.env.TEST_MARIADB_DB ?? 'test' };

/** CI sets this: a database that cannot be reached fails its suite instead of skipping it. */
export const REQUIRED = process.env.REQUIRE_DATABASES === '1' || process.env.REQUIRE_DATABASES === 'true';

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port, timeout: 1000 });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(false));
  });
}

let cached: Promise<DbTarget[]> | undefined;

/** SQLite always; PostgreSQL and MariaDB when their servers answer on 127.0.0.1. */
export function databaseTargets(): Promise<DbTarget[]> {
  return (cached ??= (async () => {
    const targets: DbTarget[] = [{ engine: 'sqlite' }];
    for (const engine of ['postgres', 'mariadb'] as const) {
      const ok = await reachable(PORTS[engine]);
      targets.push(ok ? { engine } : { engine, missing: `${engine} is not reachable on 127.0.0.1:${PORTS[engine]}` });
    }
    return targets;
  })());
}

export function dataSourceOptions(engine: Engine, logger?: Logger, port?: number): DataSourceOptions {
  switch (engine) {
    case 'sqlite':
      return { type: 'better-sqlite3', database: ':memory:', logger, logging: logger ? 'all' : false };
    case 'postgres':
      return {
        type: 'postgres', host: '127.0.0.1', port: port ?? PORTS.postgres, username: 'postgres', database: DB_NAMES.postgres, logger, logging: logger ? 'all' : false,
        connectTimeoutMS: 2000, extra: { max: 10, query_timeout: 3000, connectionTimeoutMillis: 2000 },
      };
    case 'mariadb':
    case 'mysql':
      return {
        type: engine, host: '127.0.0.1', port: port ?? PORTS.mariadb, username: 'root', password: '', database: DB_NAMES.mariadb, logger, logging: logger ? 'all' : false,
        connectTimeout: 2000, extra: { connectionLimit: 10 },
      };
  }
}

/** A DataSource and a store on a table of the test's own, created fresh. */
export async function openStore(engine: Engine, table: string, logger?: Logger, port?: number): Promise<{ dataSource: DataSource; store: TypeOrmSessionStore }> {
  const dataSource = new DataSource(dataSourceOptions(engine, logger, port));
  await dataSource.initialize();
  const store = new TypeOrmSessionStore(dataSource, { tableName: table });
  const q = engine === 'mariadb' || engine === 'mysql' ? `\`${table}\`` : `"${table}"`;
  await dataSource.query(`DROP TABLE IF EXISTS ${q}`);
  for (const sql of store.createTableStatements(false)) await dataSource.query(sql);
  return { dataSource, store };
}

/**
 * describe() per available engine. An engine that is missing is skipped with a loud warning, or,
 * with REQUIRE_DATABASES=1, fails with the reason.
 */
export async function describeEngines(title: string, body: (engine: Engine) => void, engines?: Engine[]): Promise<void> {
  for (const target of await databaseTargets()) {
    if (engines && !engines.includes(target.engine)) continue;
    if (target.missing === undefined) {
      describe(`${title} [${target.engine}]`, () => body(target.engine));
    } else if (REQUIRED) {
      describe(`${title} [${target.engine}]`, () => {
        it('needs its database', () => {
          throw new Error(`REQUIRE_DATABASES is set but ${target.missing}`);
        });
      });
    } else {
      console.warn(`\n!!! SKIPPED: "${title}" on ${target.engine}: ${target.missing}. Set REQUIRE_DATABASES=1 to make this a failure.\n`);
      describe.skip(`${title} [${target.engine}] (skipped: ${target.missing})`, () => body(target.engine));
    }
  }
}
