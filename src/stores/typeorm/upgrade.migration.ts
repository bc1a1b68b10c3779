import type { MigrationInterface, QueryRunner } from 'typeorm';
import { MYSQL_BINARY_COLUMNS, SqlDialect } from './dialect.js';
import { migrationDialect } from './migration.js';

/**
 * Brings a `sessions` table made by 0.1.0's CreateSessionsTable1764000000000 to the 0.2.0 schema, and
 * does nothing to one that is already there (CreateSessionsTable1764000000000 now creates it so):
 * - MySQL/MariaDB: id, handle and user_id become VARBINARY, which matches byte for byte (0.1.0's
 *   ascii_bin and utf8mb4_bin collations ignore trailing spaces, so `'alice '` matched `'alice'`).
 *   Every stored value fits its new column: no row changes.
 * - SQLite: the times become BIGINT columns, as SessionEntity declares them (the same INTEGER
 *   affinity: no value changes), which SQLite can only do by copying the table, in the migration's
 *   transaction.
 * - every engine: the unused `version` column goes. Run it once no 0.1.0 instance writes sessions
 *   any more, as 0.1.0's INSERT names that column.
 */
export class UpgradeSessionsTable1765000000000 implements MigrationInterface {
  name = 'UpgradeSessionsTable1765000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const sql = migrationDialect(queryRunner);
    const table = await queryRunner.getTable('sessions');
    if (!table) throw new Error('nestjs-lazy-session: UpgradeSessionsTable1765000000000 found no sessions table; run CreateSessionsTable1764000000000 before it');
    const t = sql.quote('sessions');
    if (sql.family === 'sqlite') {
      if (table.findColumnByName('created_at')?.type === 'bigint' && !table.findColumnByName('version')) return;
      const copy = 'sessions_upgrade_0_2';
      const indexes = sql.createTable(false).slice(1);
      const columns = 'id, handle, data, user_id, created_at, last_seen_at, expires_at, auth_at, remember';
      await queryRunner.query(`DROP TABLE IF EXISTS ${sql.quote(copy)}`);
      await queryRunner.query(new SqlDialect('sqlite', copy, false, 1).createTable(false)[0]);
      await queryRunner.query(`INSERT INTO ${sql.quote(copy)} (${columns}) SELECT ${columns} FROM ${t}`);
      await queryRunner.query(`DROP TABLE ${t}`);
      await queryRunner.query(`ALTER TABLE ${sql.quote(copy)} RENAME TO ${t}`);
      for (const ddl of indexes) await queryRunner.query(ddl);
      return;
    }
    const changes: string[] = [];
    if (sql.family === 'mysql') {
      for (const [name, length] of Object.entries(MYSQL_BINARY_COLUMNS)) {
        const column = table.findColumnByName(name);
        if (column && column.type !== 'varbinary') changes.push(`MODIFY ${name} VARBINARY(${length}) ${name === 'user_id' ? 'NULL' : 'NOT NULL'}`);
      }
    }
    if (table.findColumnByName('version')) changes.push('DROP COLUMN version');
    if (changes.length === 0) return;
    await queryRunner.query(`ALTER TABLE ${t} ${changes.join(', ')}`);
  }

  /** Back to 0.1.0's shape. MySQL/MariaDB: a user id longer than 255 characters stops it with an error. */
  async down(queryRunner: QueryRunner): Promise<void> {
    const sql = migrationDialect(queryRunner);
    const t = sql.quote('sessions');
    if (sql.family === 'mysql') {
      await queryRunner.query(
        `ALTER TABLE ${t} MODIFY id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, MODIFY handle VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, ` +
          'MODIFY user_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL, ADD COLUMN version INTEGER NOT NULL DEFAULT 1',
      );
    } else await queryRunner.query(`ALTER TABLE ${t} ADD COLUMN version INTEGER NOT NULL DEFAULT 1`);
    // SQLite's times stay BIGINT: the same storage as 0.1.0's INTEGER, and 0.1.0 reads them alike.
  }
}
