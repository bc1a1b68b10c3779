import type { DataSource } from 'typeorm';
import type { SessionPatch, SessionRecord, StoredSessionSummary, UserIndexedSessionStore } from '../store.js';
import { SessionSealer } from '../../crypto/seal.js';
import { SessionOptionsError } from '../../errors.js';
import { SqlDialect, hasDeleteReturning, sqlFamily } from './dialect.js';
import { RowCodec, rowSummary } from './rows.js';
import { checkSessionsTable } from './startup.js';
import type { QueryResultLike } from './own-path.js';
import { PgStatementRunner } from './pg-runner.js';
import { SqliteStatementRunner } from './sqlite-runner.js';

export interface TypeOrmSessionStoreOptions {
  /**
   * Table name; default 'sessions' (as SessionEntity and the migration). Letters, digits and `_`,
   * up to 63 characters, not starting with a digit (nor, on SQLite, with `sqlite_`).
   */
  tableName?: string;
  /** Create the table and its indexes when missing, at start-up (first use without the module). Default false: run the migration. */
  createTable?: boolean;
  /** Rows deleted per statement when pruning. Default 1000. */
  pruneBatchSize?: number;
  /** Close the DataSource in close(); for a DataSource the store made itself. Default false. */
  ownsDataSource?: boolean;
  /**
   * Encryption at rest (AES-256-GCM): each at least 32 characters; the first seals, all open, so a
   * new key goes first and an old one stays listed until its sessions have expired. Data key names
   * are stored as keyed hashes and each value is sealed on its own. A row that does not open (a
   * removed key, tampering) reads as no session. Default: none, data stored as plain JSON.
   */
  encryptionKeys?: string[];
  /**
   * PostgreSQL: prepare the statements of every request (load, insert, update, destroy) once per
   * connection, as named prepared statements, so the server parses and plans them once. Set it to
   * false behind PgBouncer in transaction mode older than 1.21 (or with max_prepared_statements = 0),
   * where a named statement prepared on one server connection is not there on the next: statements
   * are then sent unnamed, parsed on every call. Default true. Other databases ignore it.
   */
  preparedStatements?: boolean;
}

/**
 * Sessions in any SQL DataSource of TypeORM. One statement per load, create and update; data
 * changes are merged in SQL (json_patch / JSON_MERGE_PATCH / jsonb operators), so concurrent
 * requests never lose each other's keys, and an UPDATE of a deleted row changes nothing.
 */
export class TypeOrmSessionStore implements UserIndexedSessionStore {
  private readonly sql: SqlDialect;
  private readonly rows: RowCodec;
  private ready: Promise<void> | undefined;
  /** PostgreSQL without query subscribers: statements through the driver's pool (see PgStatementRunner). */
  private readonly pg: PgStatementRunner | undefined;
  /** better-sqlite3 without query subscribers: statements on the driver's connection (see SqliteStatementRunner). */
  private readonly sqlite: SqliteStatementRunner | undefined;

  constructor(private readonly dataSource: DataSource, private readonly options: TypeOrmSessionStoreOptions = {}) {
    const type = dataSource.options.type;
    const family = sqlFamily(type);
    const table = options.tableName ?? 'sessions';
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(table)) throw new SessionOptionsError(`nestjs-lazy-session: invalid table name '${table}'`);
    // SQLite would refuse it only at CREATE TABLE ("object name reserved for internal use").
    if (family === 'sqlite' && /^sqlite_/i.test(table)) throw new SessionOptionsError(`nestjs-lazy-session: SQLite reserves table names beginning with 'sqlite_' ('${table}'); choose another tableName`);
    const batch = options.pruneBatchSize ?? 1000;
    if (!Number.isInteger(batch) || batch < 1) throw new SessionOptionsError('nestjs-lazy-session: pruneBatchSize must be a positive whole number');
    this.sql = new SqlDialect(family, table, hasDeleteReturning(type), batch);
    const sealer = options.encryptionKeys === undefined ? undefined : new SessionSealer(options.encryptionKeys);
    this.rows = new RowCodec(sealer, this.sql.family === 'postgres');
    this.pg = PgStatementRunner.usable(dataSource) ? new PgStatementRunner(dataSource, options.preparedStatements ?? true) : undefined;
    this.sqlite = SqliteStatementRunner.usable(dataSource) ? new SqliteStatementRunner(dataSource) : undefined;
  }

  /** The DDL this store expects, for hand-written migrations. */
  createTableStatements(ifNotExists = true): string[] {
    return this.sql.createTable(ifNotExists);
  }

  private ensureReady(): Promise<void> | undefined {
    if (!this.options.createTable) return undefined;
    return (this.ready ??= (async () => {
      try {
        for (const ddl of this.sql.createTable(true)) await this.dataSource.query(ddl);
      } catch (err) {
        this.ready = undefined;
        throw err;
      }
    })());
  }

  /**
   * Start-up (the module calls it once): creates the table when `createTable` is set, then checks
   * it (see checkSessionsTable). Also warns about a SQLite file in rollback-journal mode, which pays
   * two fsyncs per write.
   */
  async init(log?: { warn(message: string): void }): Promise<void> {
    const ready = this.ensureReady();
    if (ready) await ready;
    await checkSessionsTable(this.dataSource, this.sql, log);
  }

  /** `prepare`: a statement of every request, worth preparing once (a named statement on PostgreSQL, a kept one on SQLite). */
  private async run(sql: string, params: unknown[], prepare = false): Promise<QueryResultLike> {
    const ready = this.ensureReady();
    if (ready) await ready;
    const pool = this.pg?.pool();
    if (pool) return this.pg!.run(pool, sql, params, prepare);
    const db = this.sqlite?.database();
    if (db) return this.sqlite!.run(db, sql, params, prepare);
    const runner = this.dataSource.createQueryRunner();
    try {
      return (await runner.query(sql, params, true)) as QueryResultLike;
    } finally {
      await runner.release();
    }
  }

  private async summaries(sql: string, params: unknown[], prepare = false): Promise<StoredSessionSummary[]> {
    return ((await this.run(sql, params, prepare)).records ?? []).map(rowSummary);
  }

  async load(id: string): Promise<SessionRecord | null> {
    const row = (await this.run(this.sql.load, [id], true)).records?.[0];
    return row ? this.rows.record(id, row) : null;
  }

  async create(r: SessionRecord): Promise<void> {
    await this.run(this.sql.insert, this.rows.insertParams(r), true);
  }

  async update(id: string, patch: SessionPatch): Promise<boolean> {
    const { shape, params } = this.rows.update(id, patch);
    const { affected } = await this.run(this.sql.update(shape), params, true);
    return (affected ?? 0) > 0;
  }

  /** DELETE … RETURNING where the database has it; otherwise SELECT, then DELETE what was seen. */
  private async deleteReturning(returning: string | undefined, select: string, params: unknown[], del: (rows: StoredSessionSummary[]) => [string, unknown[]]): Promise<StoredSessionSummary[]> {
    if (returning) return this.summaries(returning, params);
    const rows = await this.summaries(select, params);
    if (rows.length === 0) return rows;
    const [sql, p] = del(rows);
    await this.run(sql, p);
    return rows;
  }

  async destroy(id: string): Promise<StoredSessionSummary | null> {
    const returning = this.sql.deleteReturning;
    // A logout's statement, one per destroyed session: prepared like the other per-request ones.
    if (returning) return (await this.summaries(returning, [id], true))[0] ?? null;
    const rows = await this.deleteReturning(undefined, this.sql.selectSummaryById, [id], () => [this.sql.deleteById, [id]]);
    return rows[0] ?? null;
  }

  async listByUser(userId: string): Promise<StoredSessionSummary[]> {
    return this.summaries(this.sql.listByUser, [userId]);
  }

  async destroyByUser(userId: string, exceptId?: string): Promise<StoredSessionSummary[]> {
    return this.deleteReturning(this.sql.deleteByUserReturning, this.sql.selectByUserExcept, [userId, exceptId ?? ''], (rows) => [this.sql.deleteIds(rows.length), rows.map((r) => r.id)]);
  }

  async destroyByHandle(handle: string): Promise<StoredSessionSummary | null> {
    const rows = await this.deleteReturning(this.sql.deleteByHandleReturning, this.sql.selectSummaryByHandle, [handle], () => [this.sql.deleteByHandle, [handle]]);
    return rows[0] ?? null;
  }

  /** One prune batch: the rows it removed, and how many expired rows it found (a full batch means there may be more, whoever removed them). */
  private async pruneBatch(now: number): Promise<{ removed: StoredSessionSummary[]; found: number }> {
    if (this.sql.pruneReturning) {
      const removed = await this.summaries(this.sql.pruneReturning, [now]);
      return { removed, found: removed.length };
    }
    const seen = await this.summaries(this.sql.pruneSelect, [now]);
    if (seen.length === 0) return { removed: seen, found: 0 };
    const { records } = await this.run(this.sql.deleteIdsExpired(seen.length), [now, ...seen.map((r) => r.id)]);
    return { removed: this.sql.returning ? (records ?? []).map(rowSummary) : seen, found: seen.length };
  }

  async prune(now: number, onBatch?: (removed: StoredSessionSummary[]) => void): Promise<number> {
    let total = 0;
    for (;;) {
      const { removed, found } = await this.pruneBatch(now);
      total += removed.length;
      if (removed.length > 0) onBatch?.(removed);
      if (found < this.sql.pruneBatch) return total;
      // Let requests waiting on the same connection pool go first between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async close(): Promise<void> {
    if (this.options.ownsDataSource && this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}
