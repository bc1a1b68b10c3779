import { SessionOptionsError } from '../../errors.js';

export type SqlFamily = 'sqlite' | 'postgres' | 'mysql';

/**
 * The SQL family of a TypeORM DataSource type, for the store and the migrations alike. Anything else
 * is refused: treating an unknown driver as one of these would run statements written for another
 * database (a migration would create a table with the wrong types, or none).
 */
export function sqlFamily(type: unknown): SqlFamily {
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
      throw new SessionOptionsError(
        `nestjs-lazy-session: the sessions table supports TypeORM DataSources of type 'better-sqlite3', 'sqlite', 'postgres', 'mysql' and 'mariadb', not '${String(type)}'`,
      );
  }
}

/**
 * Whether DELETE … RETURNING can be used: PostgreSQL, SQLite ≥ 3.35 and MariaDB have it; MySQL does
 * not, and TypeORM's 'mysql' driver may face either server, so only 'mariadb' counts as MariaDB.
 */
export function hasDeleteReturning(type: unknown): boolean {
  return sqlFamily(type) !== 'mysql' || type === 'mariadb';
}

/** The names of the table's indexes, shared by the DDL and the entities (TypeORM compares them). */
export function indexNames(table: string): { handle: string; userId: string; expiresAt: string } {
  return { handle: `${table}_handle_uq`, userId: `${table}_user_id_idx`, expiresAt: `${table}_expires_at_idx` };
}

/**
 * Names the engines an entity class of this package describes, on the class itself: the store can
 * then recognise SessionEntity among a DataSource's entities without importing it (importing it
 * would load typeorm's decorators into apps that use no SQL store).
 */
export const ENTITY_FAMILIES = Symbol.for('nestjs-lazy-session.entity-families');

/**
 * MySQL/MariaDB column types of the matched columns. VARBINARY compares byte for byte with no
 * trailing-space padding on MySQL 8 and MariaDB alike, where every character collation but the
 * server-specific NO PAD ones (utf8mb4_nopad_bin, utf8mb4_0900_bin) ignores trailing spaces, and the
 * default ones also case and accents. user_id holds any 255-character id (4 bytes each in UTF-8).
 */
export const MYSQL_BINARY_COLUMNS = { id: 64, handle: 32, user_id: 1020 } as const;

const COLUMNS = 'id, handle, data, user_id, created_at, last_seen_at, expires_at, auth_at, remember';
/** What a load reads on SQLite and MySQL: the id is the one asked for. */
const LOAD_COLUMNS = 'handle, data, user_id, created_at, last_seen_at, expires_at, auth_at, remember';
const SUMMARY = 'id, handle, user_id, created_at, last_seen_at, expires_at, auth_at';
/**
 * PostgreSQL: a load reads one column, `row`: the summary columns packed in one JSON array (in this
 * order, which RowCodec.record unpacks), a line feed, then `data`. node-postgres pays per column of
 * every result, described afresh with each one: a dictionary-mode template, a name to intern and a
 * keyed store per column. Measured in process (bench/inproc.ts, Fastify, callgrind, instructions per
 * request besides V8's compilers and GC): the floor reading the nine columns 382k, `data` and the
 * array as two columns 334k, this one column 326k, `data` alone 321k. A JSON array never holds a raw
 * line feed (PostgreSQL escapes control characters in JSON strings), so the first one ends it.
 */
export const LOAD_PACKED = "json_build_array(handle, user_id, created_at, last_seen_at, expires_at, auth_at, remember)::text || chr(10) || data AS row";

/** Update shapes: which optional parts an UPDATE carries. Built once per shape, then cached. */
export const enum UpdateShape {
  Rotate = 1,
  Merge = 2,
  Replace = 4,
  Login = 8,
}

/**
 * Every statement the TypeORM store issues, for one SQL family and table, built at construction so
 * that a request only picks a string. Data merges are atomic in SQL: no read-modify-write, no retry.
 */
export class SqlDialect {
  readonly load: string;
  readonly insert: string;
  readonly deleteReturning: string | undefined;
  readonly selectSummaryById: string;
  readonly deleteById: string;
  readonly listByUser: string;
  readonly deleteByUserReturning: string | undefined;
  readonly selectByUserExcept: string;
  readonly selectSummaryByHandle: string;
  readonly deleteByHandleReturning: string | undefined;
  readonly deleteByHandle: string;
  readonly pruneReturning: string | undefined;
  readonly pruneSelect: string;
  /** Every column the statements use, and a statement that names them all and reads no row. */
  readonly probeColumns = COLUMNS;
  readonly probe: string;
  private readonly updates = new Map<number, string>();

  constructor(readonly family: SqlFamily, readonly table: string, readonly returning: boolean, readonly pruneBatch: number) {
    const t = this.quote(table);
    const p = (i: number) => this.param(i);
    this.load = `SELECT ${family === 'postgres' ? LOAD_PACKED : LOAD_COLUMNS} FROM ${t} WHERE id = ${p(1)}`;
    this.probe = `SELECT ${COLUMNS} FROM ${t} WHERE 1 = 0`;
    this.insert = `INSERT INTO ${t} (${COLUMNS}) VALUES (${[1, 2, 3, 4, 5, 6, 7, 8, 9].map(p).join(', ')})`;
    this.deleteReturning = returning ? `DELETE FROM ${t} WHERE id = ${p(1)} RETURNING ${SUMMARY}` : undefined;
    this.selectSummaryById = `SELECT ${SUMMARY} FROM ${t} WHERE id = ${p(1)}`;
    this.deleteById = `DELETE FROM ${t} WHERE id = ${p(1)}`;
    this.listByUser = `SELECT ${SUMMARY} FROM ${t} WHERE user_id = ${p(1)}`;
    this.deleteByUserReturning = returning ? `DELETE FROM ${t} WHERE user_id = ${p(1)} AND id <> ${p(2)} RETURNING ${SUMMARY}` : undefined;
    this.selectByUserExcept = `SELECT ${SUMMARY} FROM ${t} WHERE user_id = ${p(1)} AND id <> ${p(2)}`;
    this.selectSummaryByHandle = `SELECT ${SUMMARY} FROM ${t} WHERE handle = ${p(1)}`;
    this.deleteByHandleReturning = returning ? `DELETE FROM ${t} WHERE handle = ${p(1)} RETURNING ${SUMMARY}` : undefined;
    this.deleteByHandle = `DELETE FROM ${t} WHERE handle = ${p(1)}`;
    const lock = family === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
    // MySQL/MariaDB: a non-locking SELECT, then a DELETE by primary key (deleteIdsExpired). A range
    // DELETE on expires_at takes next-key locks there and deadlocks with concurrent UPDATEs of live
    // rows (which move their expires_at entry) and with another instance's prune.
    this.pruneReturning =
      returning && family !== 'mysql'
        ? `DELETE FROM ${t} WHERE id IN (SELECT id FROM ${t} WHERE expires_at <= ${p(1)} LIMIT ${pruneBatch}${lock}) RETURNING ${SUMMARY}`
        : undefined;
    this.pruneSelect = `SELECT ${SUMMARY} FROM ${t} WHERE expires_at <= ${p(1)} ORDER BY id LIMIT ${pruneBatch}`;
  }

  quote(name: string): string {
    return this.family === 'mysql' ? `\`${name}\`` : `"${name}"`;
  }

  param(i: number): string {
    return this.family === 'postgres' ? `$${i}` : '?';
  }

  /**
   * Deletes by ids listed in a select; expiry re-checked. With RETURNING (MariaDB) it reports only
   * the rows it removed itself, so two instances pruning at once never report a row twice.
   */
  deleteIdsExpired(count: number): string {
    const list = Array.from({ length: count }, (_, i) => this.param(i + 2)).join(', ');
    const returning = this.returning ? ` RETURNING ${SUMMARY}` : '';
    return `DELETE FROM ${this.quote(this.table)} WHERE expires_at <= ${this.param(1)} AND id IN (${list})${returning}`;
  }

  deleteIds(count: number): string {
    const list = Array.from({ length: count }, (_, i) => this.param(i + 1)).join(', ');
    return `DELETE FROM ${this.quote(this.table)} WHERE id IN (${list})`;
  }

  /**
   * UPDATE for a shape. Parameters, in order: [newId], [replace | mergeSet (+ unset array on PG)],
   * [userId, authAt, remember], lastSeenAt, expiresAt, id, now (the row must not have expired).
   */
  update(shape: number): string {
    let sql = this.updates.get(shape);
    if (sql === undefined) {
      sql = this.buildUpdate(shape);
      this.updates.set(shape, sql);
    }
    return sql;
  }

  private buildUpdate(shape: number): string {
    let i = 0;
    const p = () => this.param(++i);
    const sets: string[] = [];
    if (shape & UpdateShape.Rotate) sets.push(`id = ${p()}`);
    if (shape & UpdateShape.Replace) sets.push(`data = ${p()}`);
    else if (shape & UpdateShape.Merge) {
      if (this.family === 'sqlite') sets.push(`data = json_patch(data, ${p()})`);
      else if (this.family === 'mysql') sets.push(`data = JSON_MERGE_PATCH(data, ${p()})`);
      else {
        const set = p();
        const unset = p();
        sets.push(`data = ((data::jsonb - ${unset}::text[]) || ${set}::jsonb)::text`);
      }
    }
    if (shape & UpdateShape.Login) sets.push(`user_id = ${p()}`, `auth_at = ${p()}`, `remember = ${p()}`);
    sets.push(`last_seen_at = ${p()}`, `expires_at = ${p()}`);
    // An expired row is never brought back by a write that loaded it while it was still live.
    return `UPDATE ${this.quote(this.table)} SET ${sets.join(', ')} WHERE id = ${p()} AND expires_at > ${p()}`;
  }

  /**
   * DDL for the table and its indexes; `ifNotExists` for the store's createTable option. It must
   * describe the same schema as SessionEntity (MySqlSessionEntity on MySQL/MariaDB): types, nullability
   * and index names, or TypeORM reports changes to make and a generated migration would rebuild or
   * drop the data column.
   */
  createTable(ifNotExists: boolean): string[] {
    const t = this.quote(this.table);
    const ine = ifNotExists ? 'IF NOT EXISTS ' : '';
    const mysql = this.family === 'mysql';
    // BIGINT on SQLite too, as the entity declares it: the same INTEGER affinity as 0.1.0's INTEGER.
    const big = 'BIGINT';
    const [id, handle, userId] = mysql
      ? [`VARBINARY(${MYSQL_BINARY_COLUMNS.id})`, `VARBINARY(${MYSQL_BINARY_COLUMNS.handle})`, `VARBINARY(${MYSQL_BINARY_COLUMNS.user_id})`]
      : ['VARCHAR(64)', 'VARCHAR(32)', 'VARCHAR(255)'];
    // MEDIUMTEXT: MySQL's TEXT holds only 64 KiB, less than maxDataBytes' JSON once boxed or sealed.
    const data = mysql ? 'MEDIUMTEXT CHARACTER SET utf8mb4' : 'TEXT';
    const cols = [
      `id ${id} NOT NULL PRIMARY KEY`,
      `handle ${handle} NOT NULL`,
      `data ${data} NOT NULL`,
      `user_id ${userId} NULL`,
      `created_at ${big} NOT NULL`,
      `last_seen_at ${big} NOT NULL`,
      `expires_at ${big} NOT NULL`,
      `auth_at ${big} NULL`,
      'remember SMALLINT NOT NULL DEFAULT 0',
    ];
    const names = indexNames(this.table);
    const indexes = [
      { name: names.handle, col: 'handle', unique: true },
      { name: names.userId, col: 'user_id', unique: false },
      { name: names.expiresAt, col: 'expires_at', unique: false },
    ];
    if (mysql) {
      const inline = indexes.map((x) => `${x.unique ? 'UNIQUE ' : ''}INDEX ${this.quote(x.name)} (${x.col})`);
      return [`CREATE TABLE ${ine}${t} (${[...cols, ...inline].join(', ')}) CHARACTER SET utf8mb4`];
    }
    return [
      `CREATE TABLE ${ine}${t} (${cols.join(', ')})`,
      ...indexes.map((x) => `CREATE ${x.unique ? 'UNIQUE ' : ''}INDEX ${ine}${this.quote(x.name)} ON ${t} (${x.col})`),
    ];
  }

  dropTable(): string {
    return `DROP TABLE ${this.quote(this.table)}`;
  }
}
