import { Column, Entity, Index, PrimaryColumn, type ValueTransformer } from 'typeorm';
import { ENTITY_FAMILIES, indexNames, type SqlFamily } from './dialect.js';

/*
 * The sessions table, for a DataSource's `entities` (so that migrations can be generated, or
 * `synchronize` used) and for reading sessions in admin tools. The store itself issues hand-written
 * SQL (typeorm.store.ts); these entities describe exactly the table that the shipped migrations and
 * the store's createTable make (dialect.ts), index names included, so TypeORM sees nothing to
 * change. Two classes because decorators run before the DataSource is known, and MySQL/MariaDB need
 * types that PostgreSQL and SQLite refuse (MEDIUMTEXT, VARBINARY).
 */

const ix = indexNames('sessions');

/** The columns every engine declares alike: the times (epoch ms) and the persistence of the cookie. */
abstract class SessionTimes {
  @Column({ name: 'created_at', type: 'bigint' })
  createdAt!: string;

  @Column({ name: 'last_seen_at', type: 'bigint' })
  lastSeenAt!: string;

  @Index(ix.expiresAt)
  @Column({ name: 'expires_at', type: 'bigint' })
  expiresAt!: string;

  @Column({ name: 'auth_at', type: 'bigint', nullable: true })
  authAt!: string | null;

  @Column({ type: 'smallint', default: 0 })
  remember!: number;
}

/** SQLite and PostgreSQL. */
@Entity('sessions')
export class SessionEntity extends SessionTimes {
  static readonly [ENTITY_FAMILIES]: readonly SqlFamily[] = ['sqlite', 'postgres'];

  /** SHA-256 (hex) of the cookie's token: the token itself is never stored. */
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Index(ix.handle, { unique: true })
  @Column({ type: 'varchar', length: 32 })
  handle!: string;

  /** JSON object whose values are boxed in one-element arrays (see stores/codec.ts). */
  @Column({ type: 'text' })
  data!: string;

  @Index(ix.userId)
  @Column({ name: 'user_id', type: 'varchar', length: 255, nullable: true })
  userId!: string | null;
}

/** VARBINARY values read back as the strings the store wrote (UTF-8). */
const utf8: ValueTransformer = {
  to: (v: unknown) => v,
  from: (v: unknown) => (Buffer.isBuffer(v) ? v.toString('utf8') : v),
};

/**
 * MySQL and MariaDB. id, handle and user_id are VARBINARY so that they match byte for byte: no case
 * or accent folding, no trailing-space padding (`'alice '` is not `'alice'`), on every server version;
 * data is MEDIUMTEXT, as TEXT holds only 64 KiB there.
 */
@Entity('sessions')
export class MySqlSessionEntity extends SessionTimes {
  static readonly [ENTITY_FAMILIES]: readonly SqlFamily[] = ['mysql'];

  @PrimaryColumn({ type: 'varbinary', length: 64, transformer: utf8 })
  id!: string;

  @Index(ix.handle, { unique: true })
  @Column({ type: 'varbinary', length: 32, transformer: utf8 })
  handle!: string;

  @Column({ type: 'mediumtext', charset: 'utf8mb4' })
  data!: string;

  @Index(ix.userId)
  @Column({ name: 'user_id', type: 'varbinary', length: 1020, nullable: true, transformer: utf8 })
  userId!: string | null;
}
