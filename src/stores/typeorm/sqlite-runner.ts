import type { DataSource } from 'typeorm';
import { listensToQueries, type QueryResultLike } from './own-path.js';

/** The part of a better-sqlite3 Statement the store uses. */
interface SqliteStatement {
  readonly reader: boolean;
  all(...params: unknown[]): Record<string, unknown>[];
  run(...params: unknown[]): { changes: number };
}

/** The part of a better-sqlite3 Database the store uses. */
interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
}

/**
 * better-sqlite3 statements run on the DataSource's own connection (the one every TypeORM query on
 * it uses, inside the same transactions), not through its QueryRunner.
 *
 * Why: better-sqlite3 answers synchronously, yet TypeORM's path around that one call builds a
 * QueryResult, broadcasts BeforeQuery and AfterQuery and awaits three promises: measured alone, a
 * session load cost 10.9–12.0 µs of CPU that way and 8.0–10.2 µs this way. Here a statement of every
 * request is prepared once and kept, as TypeORM's own statement cache would.
 *
 * Kept from TypeORM's path: the DataSource's logger sees every statement (logQuery, logQueryError,
 * logQuerySlow). A DataSource whose subscribers listen to queries keeps TypeORM's path (`usable`).
 */
export class SqliteStatementRunner {
  private readonly statements = new Map<string, SqliteStatement>();
  /** The connection the kept statements belong to: a DataSource initialized again has a new one. */
  private preparedOn: SqliteDatabase | undefined;

  constructor(private readonly dataSource: DataSource) {}

  static usable(dataSource: DataSource): boolean {
    return dataSource.options.type === 'better-sqlite3' && !listensToQueries(dataSource);
  }

  /** The connection of an initialized DataSource; undefined before initialize() (TypeORM's path then answers its own error). */
  database(): SqliteDatabase | undefined {
    const db = (this.dataSource.driver as unknown as { databaseConnection?: SqliteDatabase } | undefined)?.databaseConnection;
    return this.dataSource.isInitialized && typeof db?.prepare === 'function' ? db : undefined;
  }

  run(db: SqliteDatabase, sql: string, params: unknown[], prepare: boolean): QueryResultLike {
    const logger = this.dataSource.logger;
    logger.logQuery(sql, params);
    const slow = this.dataSource.options.maxQueryExecutionTime;
    const start = slow ? Date.now() : 0;
    try {
      // The rare statements (listing, pruning, with as many parameters as rows) are not kept.
      const statement = prepare ? this.statement(db, sql) : db.prepare(sql);
      const result: QueryResultLike = statement.reader ? { records: statement.all(...params) } : { affected: statement.run(...params).changes };
      if (slow && Date.now() - start > slow) logger.logQuerySlow(Date.now() - start, sql, params);
      return result;
    } catch (err) {
      logger.logQueryError(err as Error, sql, params);
      throw err;
    }
  }

  private statement(db: SqliteDatabase, sql: string): SqliteStatement {
    if (db !== this.preparedOn) {
      this.statements.clear();
      this.preparedOn = db;
    }
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}
