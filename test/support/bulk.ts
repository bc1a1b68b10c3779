import type { DataSource } from 'typeorm';
import type { Engine } from './databases.js';

export function quoteTable(engine: Engine, table: string): string {
  return engine === 'mariadb' ? `\`${table}\`` : `"${table}"`;
}

/**
 * Inserts `count` session rows in one statement (generate_series, MariaDB's seq_1_to_N, or a
 * recursive CTE on SQLite): ids and handles `<tag><n>`, empty data, the given expiry.
 */
export async function bulkInsert(ds: DataSource, engine: Engine, table: string, count: number, expiresAt: number, tag: string): Promise<void> {
  const t = quoteTable(engine, table);
  const cols = 'id, handle, data, user_id, created_at, last_seen_at, expires_at, auth_at, remember';
  const now = Date.now();
  if (engine === 'postgres') {
    await ds.query(
      `INSERT INTO ${t} (${cols}) SELECT $1 || g, $1 || g, '{}', NULL, $2::bigint, $2::bigint, $3::bigint, NULL, 0 FROM generate_series(1, $4::int) g`,
      [tag, now, expiresAt, count],
    );
  } else if (engine === 'mariadb') {
    await ds.query(`INSERT INTO ${t} (${cols}) SELECT CONCAT(?, seq), CONCAT(?, seq), '{}', NULL, ?, ?, ?, NULL, 0 FROM seq_1_to_${Math.floor(count)}`, [tag, tag, now, now, expiresAt]);
  } else {
    await ds.query(
      `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ?) INSERT INTO ${t} (${cols}) SELECT ? || n, ? || n, '{}', NULL, ?, ?, ?, NULL, 0 FROM g`,
      [count, tag, tag, now, now, expiresAt],
    );
  }
}

export async function countRows(ds: DataSource, engine: Engine, table: string, where = '1 = 1'): Promise<number> {
  const rows = (await ds.query(`SELECT COUNT(*) AS n FROM ${quoteTable(engine, table)} WHERE ${where}`)) as { n: unknown }[];
  return Number(rows[0].n);
}
