import { DataSource } from 'typeorm';
import { TypeOrmSessionStore } from './stores/typeorm.store.js';

/**
 * The zero-setup store: an embedded SQLite file through better-sqlite3, in WAL mode so readers do
 * not wait for the writer, with a busy timeout for the moments several processes share the file.
 */
export async function createDefaultStore(path: string): Promise<TypeOrmSessionStore> {
  const dataSource = new DataSource({
    type: 'better-sqlite3',
    database: path,
    enableWAL: true,
    prepareDatabase: (db: { pragma(sql: string): unknown }) => {
      db.pragma('busy_timeout = 5000');
      db.pragma('synchronous = NORMAL');
    },
  });
  await dataSource.initialize();
  return new TypeOrmSessionStore(dataSource, { createTable: true, ownsDataSource: true });
}
