import type { MigrationInterface, QueryRunner } from 'typeorm';
import { SqlDialect, sqlFamily } from './dialect.js';

/** The statements for the DataSource's database; an unsupported driver fails the migration loudly. */
export function migrationDialect(queryRunner: QueryRunner): SqlDialect {
  return new SqlDialect(sqlFamily(queryRunner.connection.options.type), 'sessions', false, 1);
}

/**
 * Creates the `sessions` table with its indexes (user id, expiry, unique handle) on SQLite,
 * PostgreSQL and MySQL/MariaDB, as SessionEntity / MySqlSessionEntity describe it. Add it to your
 * DataSource's `migrations`, with UpgradeSessionsTable1765000000000 after it.
 */
export class CreateSessionsTable1764000000000 implements MigrationInterface {
  name = 'CreateSessionsTable1764000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const sql of migrationDialect(queryRunner).createTable(false)) await queryRunner.query(sql);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(migrationDialect(queryRunner).dropTable());
  }
}
