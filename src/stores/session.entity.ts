import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * The sessions table, for a DataSource's `entities` (so migrations can be generated) and for
 * reading sessions in admin tools. The store itself issues hand-written SQL, see typeorm.store.ts.
 * On MySQL/MariaDB prefer the shipped migration, which gives `data` a MEDIUMTEXT column.
 */
@Entity('sessions')
export class SessionEntity {
  /** SHA-256 (hex) of the cookie's token: the token itself is never stored. */
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Index('idx_sessions_handle', { unique: true })
  @Column({ type: 'varchar', length: 32 })
  handle!: string;

  /** JSON object whose values are boxed in one-element arrays (see session.codec.ts). */
  @Column({ type: 'text' })
  data!: string;

  @Index('idx_sessions_user_id')
  @Column({ name: 'user_id', type: 'varchar', length: 255, nullable: true })
  userId!: string | null;

  @Column({ name: 'created_at', type: 'bigint' })
  createdAt!: string;

  @Column({ name: 'last_seen_at', type: 'bigint' })
  lastSeenAt!: string;

  @Index('idx_sessions_expires_at')
  @Column({ name: 'expires_at', type: 'bigint' })
  expiresAt!: string;

  @Column({ name: 'auth_at', type: 'bigint', nullable: true })
  authAt!: string | null;

  @Column({ type: 'smallint', default: 0 })
  remember!: number;

  @Column({ type: 'integer', default: 1 })
  version!: number;
}
