import type { DataSource, QueryRunner } from 'typeorm';
import type { SessionPatch, SessionRecord, SessionStore, StoredSessionSummary } from './session.store.js';
import { decodeData, decodeSealedData, encodeData, encodePatch, encodeSealedData, escapeNul, patchHandle, sealPatch, unescapeNul } from './session.codec.js';
import { SessionSealer } from './session.seal.js';
import { SqlDialect, UpdateShape, type SqlFamily } from './sql.dialect.js';

export interface TypeOrmSessionStoreOptions {
  /** Table name; default 'sessions' (as SessionEntity and the migration). */
  tableName?: string;
  /** Create the table and its indexes when missing, at the first use. Default false: run the migration. */
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

function familyOf(type: string): SqlFamily {
  switch (type) {
    case 'better-sqlite3':
    case 'sqlite':
      return 'sqlite';
    case 'postgres':
      return 'postgres';
    case 'mysql':
    case 'mariadb':
      return 'mysql';
    default:
      throw new Error(`nestjs-lazy-session: TypeOrmSessionStore supports SQLite, PostgreSQL and MySQL/MariaDB DataSources, not '${type}'`);
  }
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
    const family = familyOf(type);
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
      if (this.pg) params.push(escapeNul(encodePatch(set, undefined)), unset ?? []);
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
