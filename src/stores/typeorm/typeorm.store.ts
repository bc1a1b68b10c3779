import type { DataSource, QueryRunner } from 'typeorm';
import type { SessionPatch, SessionRecord, SessionStore, StoredSessionSummary } from '../store.js';
import { decodeData, decodeSealedData, encodeData, encodePatch, encodeSealedData, escapeNul, escapeNulKey, patchHandle, sealPatch, unescapeNul } from '../codec.js';
import { SessionSealer } from '../../crypto/seal.js';
import { ENTITY_FAMILIES, SqlDialect, UpdateShape, sqlFamily, type SqlFamily } from './dialect.js';

export interface TypeOrmSessionStoreOptions {
  /** Table name; default 'sessions' (as SessionEntity and the migration). */
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
}

interface QueryResultLike {
  records?: Record<string, unknown>[];
  affected?: number | null;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));

function summary(row: Record<string, unknown>): StoredSessionSummary {
  return {
    id: String(row.id),
    handle: String(row.handle),
    userId: row.user_id === null || row.user_id === undefined ? null : String(row.user_id),
    createdAt: num(row.created_at),
    lastSeenAt: num(row.last_seen_at),
    expiresAt: num(row.expires_at),
    authAt: numOrNull(row.auth_at),
  };
}

/**
 * Sessions in any SQL DataSource of TypeORM. One statement per load, create and update; data
 * changes are merged in SQL (json_patch / JSON_MERGE_PATCH / jsonb operators), so concurrent
 * requests never lose each other's keys, and an UPDATE of a deleted row changes nothing.
 */
export class TypeOrmSessionStore implements SessionStore {
  private readonly sql: SqlDialect;
  /** PostgreSQL: NUL escaping of the JSON text (see escapeNul). */
  private readonly pg: boolean;
  private ready: Promise<void> | undefined;
  private readonly sealer: SessionSealer | undefined;

  constructor(private readonly dataSource: DataSource, private readonly options: TypeOrmSessionStoreOptions = {}) {
    const type = String(dataSource.options.type);
    const family = sqlFamily(type);
    // DELETE … RETURNING: PostgreSQL, SQLite ≥ 3.35, MariaDB; not MySQL, so 'mysql' selects first.
    const returning = family !== 'mysql' || type === 'mariadb';
    const table = options.tableName ?? 'sessions';
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(table)) throw new Error(`nestjs-lazy-session: invalid table name '${table}'`);
    const batch = options.pruneBatchSize ?? 1000;
    if (!Number.isInteger(batch) || batch < 1) throw new Error('nestjs-lazy-session: pruneBatchSize must be a positive whole number');
    this.sql = new SqlDialect(family, table, returning, batch);
    this.pg = family === 'postgres';
    this.sealer = options.encryptionKeys === undefined ? undefined : new SessionSealer(options.encryptionKeys);
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
   * that the table is there with every column the statements use, and on MySQL/MariaDB that ids,
   * handles and user ids match byte for byte. Each failure names its fix. Also warns about a SQLite
   * file in rollback-journal mode, which pays two fsyncs per write.
   */
  async init(log?: { warn(message: string): void }): Promise<void> {
    const ready = this.ensureReady();
    if (ready) await ready;
    const table = this.sql.table;
    const runner = this.dataSource.createQueryRunner();
    try {
      if (!(await runner.hasTable(table))) {
        // The shipped migrations make the default table only; another name takes the store's own DDL.
        const migrate =
          table === 'sessions'
            ? `add CreateSessionsTable1764000000000 and UpgradeSessionsTable1765000000000 to your DataSource's migrations and run them`
            : `run the statements of TypeOrmSessionStore.createTableStatements() in a migration of yours`;
        throw new Error(
          `nestjs-lazy-session: the sessions table "${table}" does not exist. Create it: ${migrate}; or, for development, ` +
            `pass createTable: true to TypeOrmSessionStore.`,
        );
      }
      try {
        await runner.query(this.sql.probe);
      } catch (err) {
        throw new Error(
          `nestjs-lazy-session: the sessions table "${table}" does not have the columns the store uses (${this.sql.probeColumns}): ` +
            `it was not made by the shipped migrations or createTable (${(err as Error).message})`,
          { cause: err },
        );
      }
      if (this.sql.family === 'mysql') await this.checkMySql(runner);
      if (this.sql.family === 'sqlite') await this.checkSqlite(runner, log);
    } finally {
      await runner.release();
    }
  }

  /** MySQL/MariaDB: byte-exact matching of the matched columns, and the entity that describes them. */
  private async checkMySql(runner: QueryRunner): Promise<void> {
    const forOtherEngines = this.dataSource.entityMetadatas.some((m) => {
      const families = (m.target as { [ENTITY_FAMILIES]?: readonly SqlFamily[] } | undefined)?.[ENTITY_FAMILIES];
      return families !== undefined && !families.includes('mysql');
    });
    if (forOtherEngines) {
      throw new Error(
        'nestjs-lazy-session: SessionEntity describes the SQLite/PostgreSQL table; on MySQL/MariaDB list MySqlSessionEntity in the DataSource\'s ' +
          'entities instead (with SessionEntity, TypeORM would drop and re-add the data column, and make ids match loosely).',
      );
    }
    const rows = (await runner.query(
      'SELECT COLUMN_NAME AS name, DATA_TYPE AS type, COLLATION_NAME AS collation FROM information_schema.COLUMNS ' +
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME IN ('id', 'handle', 'user_id') ORDER BY COLUMN_NAME",
      [this.sql.table],
    )) as { name: string; type: string; collation: string | null }[];
    // VARBINARY, or a NO PAD binary collation (utf8mb4_nopad_bin, utf8mb4_0900_bin) in a table made by hand.
    const exact = (r: { type: string; collation: string | null }) => /binary$/i.test(r.type) || /(_nopad_bin|_0900_bin)$/i.test(r.collation ?? '');
    const loose = rows.filter((r) => !exact(r)).map((r) => r.name);
    if (loose.length > 0) {
      throw new Error(
        `nestjs-lazy-session: in the sessions table "${this.sql.table}", ${['id', 'handle', 'user_id'].filter((c) => loose.includes(c)).join(', ')} ` +
          `match loosely (case, accents or trailing spaces: 'alice ' would match 'alice'). Run UpgradeSessionsTable1765000000000 ` +
          `(add it to your DataSource's migrations), which makes them VARBINARY and keeps every session.`,
      );
    }
  }

  /** SQLite: a file in rollback-journal mode with synchronous=FULL (TypeORM's default) fsyncs twice per write. */
  private async checkSqlite(runner: QueryRunner, log?: { warn(message: string): void }): Promise<void> {
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

  private async run(sql: string, params: unknown[]): Promise<QueryResultLike> {
    const ready = this.ensureReady();
    if (ready) await ready;
    const runner: QueryRunner = this.dataSource.createQueryRunner();
    try {
      return (await runner.query(sql, params, true)) as QueryResultLike;
    } finally {
      await runner.release();
    }
  }

  async load(id: string): Promise<SessionRecord | null> {
    const { records } = await this.run(this.sql.load, [id]);
    const row = records?.[0];
    if (!row) return null;
    const text = this.pg && typeof row.data === 'string' ? unescapeNul(row.data) : row.data;
    const data = this.sealer ? decodeSealedData(this.sealer, text, String(row.handle)) : decodeData(text);
    // Sealed data that does not open (unknown key, tampered, another session's, not sealed): no session, never an error.
    if (data === null) return null;
    return {
      ...summary(row),
      data,
      remember: num(row.remember) === 1 || row.remember === true,
    };
  }

  async create(r: SessionRecord): Promise<void> {
    const data = this.sealer ? encodeSealedData(this.sealer, r.data, r.handle) : encodeData(r.data);
    await this.run(this.sql.insert, [r.id, r.handle, this.pg ? escapeNul(data) : data, r.userId, r.createdAt, r.lastSeenAt, r.expiresAt, r.authAt, r.remember ? 1 : 0]);
  }

  async update(id: string, patch: SessionPatch): Promise<boolean> {
    let shape = 0;
    const params: unknown[] = [];
    if (patch.newId !== undefined) {
      shape |= UpdateShape.Rotate;
      params.push(patch.newId);
    }
    if (patch.replace !== undefined) {
      shape |= UpdateShape.Replace;
      const all = { ...patch.replace, ...patch.set };
      const text = this.sealer ? encodeSealedData(this.sealer, all, patchHandle(patch.handle)) : encodeData(all);
      params.push(this.pg ? escapeNul(text) : text);
    } else if ((patch.set && Object.keys(patch.set).length > 0) || (patch.unset && patch.unset.length > 0)) {
      shape |= UpdateShape.Merge;
      let { set, unset } = patch;
      if (this.sealer) ({ set, unset } = sealPatch(this.sealer, set, unset, patch.handle));
      if (this.pg) params.push(escapeNul(encodePatch(set, undefined)), (unset ?? []).map(escapeNulKey));
      else params.push(encodePatch(set, unset));
    }
    if (patch.login) {
      shape |= UpdateShape.Login;
      params.push(patch.login.userId, patch.login.authAt, patch.login.remember ? 1 : 0);
    }
    params.push(patch.lastSeenAt, patch.expiresAt, id, patch.lastSeenAt);
    const { affected } = await this.run(this.sql.update(shape), params);
    return (affected ?? 0) > 0;
  }

  /** DELETE … RETURNING where the database has it; otherwise SELECT, then DELETE what was seen. */
  private async deleteReturning(returning: string | undefined, select: string, params: unknown[], del: (rows: StoredSessionSummary[]) => [string, unknown[]]): Promise<StoredSessionSummary[]> {
    if (returning) {
      const { records } = await this.run(returning, params);
      return (records ?? []).map(summary);
    }
    const rows = ((await this.run(select, params)).records ?? []).map(summary);
    if (rows.length === 0) return rows;
    const [sql, p] = del(rows);
    await this.run(sql, p);
    return rows;
  }

  async destroy(id: string): Promise<StoredSessionSummary | null> {
    const rows = await this.deleteReturning(this.sql.deleteReturning, this.sql.selectSummaryById, [id], () => [this.sql.deleteById, [id]]);
    return rows[0] ?? null;
  }

  async listByUser(userId: string): Promise<StoredSessionSummary[]> {
    const { records } = await this.run(this.sql.listByUser, [userId]);
    return (records ?? []).map(summary);
  }

  async destroyByUser(userId: string, exceptId?: string): Promise<StoredSessionSummary[]> {
    return this.deleteReturning(this.sql.deleteByUserReturning, this.sql.selectByUserExcept, [userId, exceptId ?? ''], (rows) => [this.sql.deleteIds(rows.length), rows.map((r) => r.id)]);
  }

  async destroyByHandle(handle: string): Promise<StoredSessionSummary | null> {
    const rows = await this.deleteReturning(this.sql.deleteByHandleReturning, this.sql.selectSummaryByHandle, [handle], () => [this.sql.deleteByHandle, [handle]]);
    return rows[0] ?? null;
  }

  async prune(now: number, onBatch?: (removed: StoredSessionSummary[]) => void): Promise<number> {
    let total = 0;
    for (;;) {
      let removed: StoredSessionSummary[];
      /** Rows this batch found: a full batch means there may be more, whoever removed them. */
      let found: number;
      if (this.sql.pruneReturning) {
        removed = ((await this.run(this.sql.pruneReturning, [now])).records ?? []).map(summary);
        found = removed.length;
      } else {
        const seen = ((await this.run(this.sql.pruneSelect, [now])).records ?? []).map(summary);
        found = seen.length;
        removed = seen;
        if (seen.length > 0) {
          const { records } = await this.run(this.sql.deleteIdsExpired(seen.length), [now, ...seen.map((r) => r.id)]);
          if (this.sql.returning) removed = (records ?? []).map(summary);
        }
      }
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
