import type { DataSource, QueryRunner } from 'typeorm';
import { SessionOptionsError } from '../../errors.js';
import { ENTITY_FAMILIES, type SqlDialect, type SqlFamily } from './dialect.js';

type Log = { warn(message: string): void };

/**
 * The store's start-up check: the table is there with every column the statements use, and on
 * MySQL/MariaDB ids, handles and user ids match byte for byte. Each failure names its fix, so a
 * missing table stops the start-up instead of answering the first request 503.
 */
export async function checkSessionsTable(dataSource: DataSource, sql: SqlDialect, log?: Log): Promise<void> {
  const runner = dataSource.createQueryRunner();
  try {
    if (!(await runner.hasTable(sql.table))) throw missingTable(sql.table);
    try {
      await runner.query(sql.probe);
    } catch (err) {
      throw new SessionOptionsError(
        `nestjs-lazy-session: the sessions table "${sql.table}" does not have the columns the store uses (${sql.probeColumns}): ` +
          `it was not made by the shipped migrations or createTable (${(err as Error).message})`,
        { cause: err },
      );
    }
    if (sql.family === 'mysql') await checkMySql(dataSource, runner, sql.table);
    if (sql.family === 'sqlite') await checkSqlite(runner, log);
  } finally {
    await runner.release();
  }
}

function missingTable(table: string): SessionOptionsError {
  // The shipped migrations make the default table only; another name takes the store's own DDL.
  const migrate =
    table === 'sessions'
      ? `add CreateSessionsTable1764000000000 and UpgradeSessionsTable1765000000000 to your DataSource's migrations and run them`
      : `run the statements of TypeOrmSessionStore.createTableStatements() in a migration of yours`;
  return new SessionOptionsError(
    `nestjs-lazy-session: the sessions table "${table}" does not exist. Create it: ${migrate}; or, for development, ` +
      `pass createTable: true to TypeOrmSessionStore.`,
  );
}

/** MySQL/MariaDB: byte-exact matching of the matched columns, and the entity that describes them. */
async function checkMySql(dataSource: DataSource, runner: QueryRunner, table: string): Promise<void> {
  const forOtherEngines = dataSource.entityMetadatas.some((m) => {
    const families = (m.target as { [ENTITY_FAMILIES]?: readonly SqlFamily[] } | undefined)?.[ENTITY_FAMILIES];
    return families !== undefined && !families.includes('mysql');
  });
  if (forOtherEngines) {
    throw new SessionOptionsError(
      'nestjs-lazy-session: SessionEntity describes the SQLite/PostgreSQL table; on MySQL/MariaDB list MySqlSessionEntity in the DataSource\'s ' +
        'entities instead (with SessionEntity, TypeORM would drop and re-add the data column, and make ids match loosely).',
    );
  }
  const rows = (await runner.query(
    'SELECT COLUMN_NAME AS name, DATA_TYPE AS type, COLLATION_NAME AS collation FROM information_schema.COLUMNS ' +
      "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME IN ('id', 'handle', 'user_id') ORDER BY COLUMN_NAME",
    [table],
  )) as { name: string; type: string; collation: string | null }[];
  // VARBINARY, or a NO PAD binary collation (utf8mb4_nopad_bin, utf8mb4_0900_bin) in a table made by hand.
  const exact = (r: { type: string; collation: string | null }) => /binary$/i.test(r.type) || /(_nopad_bin|_0900_bin)$/i.test(r.collation ?? '');
  const loose = rows.filter((r) => !exact(r)).map((r) => r.name);
  if (loose.length > 0) {
    throw new SessionOptionsError(
      `nestjs-lazy-session: in the sessions table "${table}", ${['id', 'handle', 'user_id'].filter((c) => loose.includes(c)).join(', ')} ` +
        `match loosely (case, accents or trailing spaces: 'alice ' would match 'alice'). Run UpgradeSessionsTable1765000000000 ` +
        `(add it to your DataSource's migrations), which makes them VARBINARY and keeps every session.`,
    );
  }
}

/** SQLite: a file in rollback-journal mode with synchronous=FULL (TypeORM's default) fsyncs twice per write. */
async function checkSqlite(runner: QueryRunner, log?: Log): Promise<void> {
  const [journal] = (await runner.query('PRAGMA journal_mode')) as { journal_mode: string }[];
  const [sync] = (await runner.query('PRAGMA synchronous')) as { synchronous: number }[];
  const mode = String(journal?.journal_mode ?? '').toLowerCase();
  const level = Number(sync?.synchronous ?? 0);
  // 'wal' is the fast one; 'memory' and 'off' (and ':memory:' databases) write no journal to sync,
  // and synchronous=OFF syncs nothing.
  if (['delete', 'truncate', 'persist'].includes(mode) && level > 0) {
    const names = ['OFF', 'NORMAL', 'FULL', 'EXTRA'];
    log?.warn(
      `SQLite journal_mode=${mode}, synchronous=${names[level] ?? level}: every session write waits for several fsyncs. ` +
        `Set enableWAL: true in the DataSource options (and PRAGMA synchronous = NORMAL, as the embedded default store does).`,
    );
  }
}
