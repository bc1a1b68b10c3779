import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { listensToQueries, type QueryResultLike } from './own-path.js';

/** The part of node-postgres' Pool the store uses. */
interface PgPool {
  query(config: { text: string; values: unknown[]; name?: string }): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
}

/**
 * PostgreSQL statements sent through the DataSource's own node-postgres pool (the same connections,
 * credentials and timeouts as every TypeORM query), not through a QueryRunner per statement.
 *
 * Why: on a session read TypeORM's path costs more CPU than the statement itself (a QueryRunner, a
 * pool checkout wrapped in its own promise, the BeforeQuery/AfterQuery broadcasts, a QueryResult),
 * and every statement is parsed and planned again on the server. Here a hot statement is prepared
 * once per connection under a name derived from its text, then only bound and executed.
 *
 * What TypeORM would do is kept: each statement goes to the DataSource's logger (logQuery, and
 * logQueryError / logQuerySlow as TypeORM calls them), so query logging and counting loggers see it.
 * A DataSource with a subscriber listening to queries (beforeQuery/afterQuery) keeps TypeORM's path:
 * see `usable`.
 */
export class PgStatementRunner {
  /** Per statement text: what every call of it sends but its values (see `run`). */
  private readonly statements = new Map<string, { text: string; name?: string }>();
  /** Bumped when the server refuses a prepared plan (the table changed under it): new names, new plans. */
  private generation = 0;

  constructor(
    private readonly dataSource: DataSource,
    private readonly prepared: boolean,
  ) {}

  /** PostgreSQL and no query subscriber: TypeORM's query events are the only thing this path skips. */
  static usable(dataSource: DataSource): boolean {
    return dataSource.options.type === 'postgres' && !listensToQueries(dataSource);
  }

  /** The pool of an initialized DataSource; undefined before initialize() (TypeORM's path then answers its own error). */
  pool(): PgPool | undefined {
    const master = (this.dataSource.driver as unknown as { master?: PgPool } | undefined)?.master;
    return this.dataSource.isInitialized && typeof master?.query === 'function' ? master : undefined;
  }

  async run(pool: PgPool, sql: string, params: unknown[], prepare: boolean, retry = true): Promise<QueryResultLike> {
    const logger = this.dataSource.logger;
    logger.logQuery(sql, params);
    // The rare statements (listing, pruning) are neither named nor kept.
    const statement = prepare ? this.statement(sql, this.prepared) : { text: sql };
    const slow = this.dataSource.options.maxQueryExecutionTime;
    const start = slow ? Date.now() : 0;
    try {
      // The statement's name and text inherited, only the values own: node-postgres copies every
      // query config through its property descriptors (pg 8.x cloneQueryConfig), a slow path whose
      // cost grows with the config's own properties.
      const config = Object.create(statement) as { text: string; name?: string; values: unknown[] };
      config.values = params;
      const raw = await pool.query(config);
      if (slow && Date.now() - start > slow) logger.logQuerySlow(Date.now() - start, sql, params);
      return { records: raw.rows, affected: raw.rowCount };
    } catch (err) {
      logger.logQueryError(err as Error, sql, params);
      // "cached plan must not change result type": the table was altered after this connection
      // prepared the statement. The statement did nothing; prepare it afresh under a new name.
      if (retry && statement.name !== undefined && (err as { code?: unknown }).code === '0A000') {
        this.generation++;
        this.statements.clear();
        return this.run(pool, sql, params, prepare, false);
      }
      throw err;
    }
  }

  /** A statement of every request: named (prepared once per connection) when `named`, and one object for all its calls. */
  private statement(sql: string, named: boolean): { text: string; name?: string } {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = named ? { name: `nls_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}_${this.generation}`, text: sql } : { text: sql };
      this.statements.set(sql, statement);
    }
    return statement;
  }
}
