import type { MigrationInterface, QueryRunner } from 'typeorm';
import { SqlDialect, type SqlFamily } from './sql.dialect.js';

function dialect(queryRunner: QueryRunner): SqlDialect {
  const type = String(queryRunner.connection.options.type);
  const family: SqlFamily = type === 'postgres' ? 'postgres' : type === 'mysql' || type === 'mariadb' ? 'mysql' : 'sqlite';
  return new SqlDialect(family, 'sessions', false, 1);
}

/**
 * Creates the `sessions` table with its indexes (user id, expiry, unique handle) on SQLite,
 * PostgreSQL and MySQL/MariaDB. Add it to your DataSource's `migrations`.
 */
export class CreateSessionsTable1764000000000 implements MigrationInterface {
  name = 'CreateSessionsTable1764000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const sql of dialect(queryRunner).createTable(false)) await queryRunner.query(sql);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(dialect(queryRunner).dropTable());
  }
}
