import type { DataSource } from 'typeorm';
import { TypeOrmSessionStore } from '../stores/typeorm/typeorm.store.js';
import { SessionOptionsError } from '../errors.js';

/** The packages the default store needs: optional peers, so only apps that use it install them. */
const NEEDS = ['typeorm', 'better-sqlite3'] as const;

function notFound(err: unknown, name: string): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  return (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && new RegExp(`['"]${name}['"]`).test(e.message ?? '');
}

/** Loaded at start-up, only when no store is given: a missing package stops start-up with the fix. */
async function loadDependencies(): Promise<{ typeorm: typeof import('typeorm'); sqlite: unknown }> {
  const loaded = await Promise.all(NEEDS.map((name) => import(name).catch((err: unknown) => (notFound(err, name) ? undefined : Promise.reject(err)))));
  const missing = NEEDS.filter((_, i) => loaded[i] === undefined);
  if (missing.length > 0) {
    throw new SessionOptionsError(
      `the default store (embedded SQLite) needs ${missing.join(' and ')}: run \`npm install ${missing.join(' ')}\`, ` +
        'or give SessionModule a store (RedisSessionStore, CookieSessionStore, or TypeOrmSessionStore over your own DataSource).',
    );
  }
  const [typeorm, sqlite] = loaded as [typeof import('typeorm'), { default?: unknown }];
  // The driver we resolved ourselves, so typeorm never finds another copy than the one we checked.
  return { typeorm, sqlite: sqlite.default ?? sqlite };
}

/**
 * The zero-setup store: an embedded SQLite file through better-sqlite3, in WAL mode so readers do
 * not wait for the writer, with a busy timeout for the moments several processes share the file.
 */
/** The stores this module made itself, and so closes at shutdown; never one it was given. */
const MADE_HERE = new WeakSet<object>();

export function madeByModule(store: object): boolean {
  return MADE_HERE.has(store);
}

export async function createDefaultStore(path: string): Promise<TypeOrmSessionStore> {
  const { typeorm, sqlite } = await loadDependencies();
  const dataSource: DataSource = new typeorm.DataSource({
    type: 'better-sqlite3',
    database: path,
    driver: sqlite,
    enableWAL: true,
    prepareDatabase: (db: { pragma(sql: string): unknown }) => {
      db.pragma('busy_timeout = 5000');
      db.pragma('synchronous = NORMAL');
    },
  });
  await dataSource.initialize();
  const store = new TypeOrmSessionStore(dataSource, { createTable: true, ownsDataSource: true });
  MADE_HERE.add(store);
  return store;
}
