import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, type MigrationInterface, type QueryRunner } from 'typeorm';
import { SessionOptionsError, type SessionRecord } from '../src/index.js';
import { CreateSessionsTable1764000000000, MySqlSessionEntity, SessionEntity, TypeOrmSessionStore, UpgradeSessionsTable1765000000000 } from '../src/typeorm.js';
import { databaseTargets, dataSourceOptions, REQUIRED, type Engine } from './support/databases.js';
import { CountingLogger } from './support/counting-logger.js';
import { sqlFamily } from '../src/stores/typeorm/dialect.js';

/*
 * The three ways the sessions table comes to exist (the shipped migrations, the store's createTable,
 * the entity with synchronize) must describe one schema, on every engine: TypeORM must report no
 * pending change (a later migration:generate or synchronize would otherwise drop the data column),
 * and ids, handles and user ids must match byte for byte.
 */

const isMySql = (engine: Engine) => engine === 'mariadb' || engine === 'mysql';
const q = (engine: Engine, name: string) => (isMySql(engine) ? `\`${name}\`` : `"${name}"`);
const entityFor = (engine: Engine): Function => (isMySql(engine) ? MySqlSessionEntity : SessionEntity);
const migrations = () => [CreateSessionsTable1764000000000, UpgradeSessionsTable1765000000000];

/** Every engine reachable here; the MariaDB server also through TypeORM's 'mysql' driver. */
const engines: { engine: Engine; missing?: string }[] = [];
for (const t of await databaseTargets()) {
  engines.push(t);
  if (t.engine === 'mariadb') engines.push({ engine: 'mysql', missing: t.missing });
}

function eachEngine(title: string, body: (engine: Engine) => void, only?: Engine[]): void {
  for (const { engine, missing } of engines) {
    if (only && !only.includes(engine)) continue;
    if (missing === undefined) describe(`${title} [${engine}]`, () => body(engine));
    else if (REQUIRED) describe(`${title} [${engine}]`, () => it('needs its database', () => { throw new Error(`REQUIRE_DATABASES is set but ${missing}`); }));
    else {
      console.warn(`\n!!! SKIPPED: "${title}" on ${engine}: ${missing}. Set REQUIRE_DATABASES=1 to make this a failure.\n`);
      describe.skip(`${title} [${engine}]`, () => it('skipped', () => {}));
    }
  }
}

const hex = () => randomBytes(32).toString('hex');
function record(over: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return { id: hex(), handle: randomBytes(16).toString('base64url'), data: {}, userId: null, createdAt: now, lastSeenAt: now, expiresAt: now + 60_000, authAt: null, remember: false, ...over };
}

/**
 * The statements TypeORM would run to bring the database to the entities: none, when they agree.
 * One exception, TypeORM's and not the schema's: its 'mysql' driver reads a MariaDB server's
 * COLUMN_DEFAULT 'NULL' of a nullable column as the string 'NULL' (only its 'mariadb' driver knows
 * better), so it re-declares the two nullable columns as they are, which changes no row. Those
 * statements, and nothing else, are left out for that driver.
 */
async function pending(ds: DataSource, engine: Engine): Promise<string[]> {
  const all = (await ds.driver.createSchemaBuilder().log()).upQueries.map((x) => x.query);
  if (engine !== 'mysql') return all;
  const harmless = /^ALTER TABLE `sessions` CHANGE `(user_id|auth_at)` `\1` (varbinary\(1020\)|bigint) NULL$/;
  return all.filter((sql) => !harmless.test(sql));
}

/** 0.1.0's CreateSessionsTable1764000000000, verbatim: the shape of tables already in production. */
const V010_DDL: Record<'sqlite' | 'postgres' | 'mysql', string[]> = {
  sqlite: [
    'CREATE TABLE "sessions" (id VARCHAR(64) NOT NULL PRIMARY KEY, handle VARCHAR(32) NOT NULL, data TEXT NOT NULL, user_id VARCHAR(255) NULL, created_at INTEGER NOT NULL, last_seen_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, auth_at INTEGER NULL, remember SMALLINT NOT NULL DEFAULT 0, version INTEGER NOT NULL DEFAULT 1)',
    'CREATE UNIQUE INDEX "sessions_handle_uq" ON "sessions" (handle)',
    'CREATE INDEX "sessions_user_id_idx" ON "sessions" (user_id)',
    'CREATE INDEX "sessions_expires_at_idx" ON "sessions" (expires_at)',
  ],
  postgres: [
    'CREATE TABLE "sessions" (id VARCHAR(64) NOT NULL PRIMARY KEY, handle VARCHAR(32) NOT NULL, data TEXT NOT NULL, user_id VARCHAR(255) NULL, created_at BIGINT NOT NULL, last_seen_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, auth_at BIGINT NULL, remember SMALLINT NOT NULL DEFAULT 0, version INTEGER NOT NULL DEFAULT 1)',
    'CREATE UNIQUE INDEX "sessions_handle_uq" ON "sessions" (handle)',
    'CREATE INDEX "sessions_user_id_idx" ON "sessions" (user_id)',
    'CREATE INDEX "sessions_expires_at_idx" ON "sessions" (expires_at)',
  ],
  mysql: [
    'CREATE TABLE `sessions` (id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY, handle VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, data MEDIUMTEXT CHARACTER SET utf8mb4 NOT NULL, user_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL, created_at BIGINT NOT NULL, last_seen_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, auth_at BIGINT NULL, remember SMALLINT NOT NULL DEFAULT 0, version INTEGER NOT NULL DEFAULT 1, UNIQUE INDEX `sessions_handle_uq` (handle), INDEX `sessions_user_id_idx` (user_id), INDEX `sessions_expires_at_idx` (expires_at)) CHARACTER SET utf8mb4',
  ],
};
const familyOfEngine = (engine: Engine) => (isMySql(engine) ? 'mysql' : engine === 'postgres' ? 'postgres' : 'sqlite') as 'sqlite' | 'postgres' | 'mysql';

/** Stands in for 0.1.0's migration (same name), so that a later run sees it as already applied. */
class V010CreateSessionsTable implements MigrationInterface {
  name = 'CreateSessionsTable1764000000000';
  async up(queryRunner: QueryRunner): Promise<void> {
    const type = String(queryRunner.connection.options.type);
    const family = type === 'postgres' ? 'postgres' : type === 'mysql' || type === 'mariadb' ? 'mysql' : 'sqlite';
    for (const sql of V010_DDL[family]) await queryRunner.query(sql);
  }
  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE sessions');
  }
}
Object.defineProperty(V010CreateSessionsTable, 'name', { value: 'CreateSessionsTable1764000000000' });

type Path = 'migration' | 'createTable' | 'synchronize';

eachEngine('sessions table schema', (engine) => {
  const migTable = `mig_schema_${engine}`;
  let ds: DataSource | undefined;
  const logger = new CountingLogger();

  async function open(extra: Record<string, unknown> = {}, entities: Function[] = [entityFor(engine)]): Promise<DataSource> {
    const d = new DataSource({ ...dataSourceOptions(engine, logger), entities, migrations: migrations(), migrationsTableName: migTable, ...extra } as never);
    await d.initialize();
    return d;
  }

  async function clean(d: DataSource): Promise<void> {
    await d.query(`DROP TABLE IF EXISTS ${q(engine, 'sessions')}`);
    await d.query(`DROP TABLE IF EXISTS ${q(engine, migTable)}`);
  }

  /** A table made by one of the three paths, and a store on it. */
  async function tableBy(path: Path): Promise<{ ds: DataSource; store: TypeOrmSessionStore }> {
    const first = await open();
    await clean(first);
    if (path === 'synchronize') {
      await first.destroy();
      ds = await open({ synchronize: true });
    } else ds = first;
    if (path === 'migration') await ds.runMigrations();
    const store = new TypeOrmSessionStore(ds, { createTable: path === 'createTable' });
    if (path === 'createTable') await store.create(record()); // the table appears at first use
    return { ds, store };
  }

  let dir: string | undefined;
  afterEach(async () => {
    if (ds?.isInitialized) {
      await clean(ds);
      await ds.destroy();
    }
    ds = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('the shipped migrations leave no pending schema change', async () => {
    const { ds } = await tableBy('migration');
    expect(await pending(ds, engine)).toEqual([]);
  });

  it('the store\u2019s createTable leaves no pending schema change', async () => {
    const { ds } = await tableBy('createTable');
    expect(await pending(ds, engine)).toEqual([]);
  });

  it('the entity with synchronize: the store works with one statement per load, create and update', async () => {
    const { ds, store } = await tableBy('synchronize');
    expect(await pending(ds, engine)).toEqual([]);
    const r = record({ data: { big: 'x'.repeat(100_000) }, userId: 'sync-user' });
    logger.reset();
    await store.create(r);
    expect(logger.count).toBe(1);
    logger.reset();
    expect((await store.load(r.id))!.data).toEqual(r.data);
    expect(logger.count).toBe(1);
    logger.reset();
    expect(await store.update(r.id, { lastSeenAt: Date.now(), expiresAt: Date.now() + 60_000, set: { more: 1 } })).toBe(true);
    expect(logger.count).toBe(1);
    expect((await store.listByUser('sync-user')).map((s) => s.id)).toEqual([r.id]);
  });

  for (const path of ['migration', 'createTable', 'synchronize'] as Path[]) {
    it(`matches user ids, handles and ids byte for byte (table from ${path})`, async () => {
      const { store } = await tableBy(path);
      const alice = record({ userId: 'alice', data: { mine: true } });
      await store.create(alice);
      for (const other of ['alice ', 'ALICE', 'Alice', '\u00e0lice', 'a\u0301lice']) {
        expect(await store.listByUser(other)).toEqual([]);
        expect(await store.destroyByUser(other)).toEqual([]);
      }
      for (const h of [`${alice.handle} `, alice.handle.toUpperCase() === alice.handle ? alice.handle.toLowerCase() : alice.handle.toUpperCase()]) {
        expect(await store.destroyByHandle(h)).toBeNull();
      }
      expect(await store.load(`${alice.id} `)).toBeNull();
      expect(await store.load(alice.id.toUpperCase())).toBeNull();
      expect(await store.update(`${alice.id} `, { lastSeenAt: Date.now(), expiresAt: Date.now() + 1000, set: { stolen: 1 } })).toBe(false);
      expect(await store.destroy(`${alice.id} `)).toBeNull();
      // The exact values still match, and nothing above changed the session.
      expect((await store.listByUser('alice')).map((s) => s.id)).toEqual([alice.id]);
      expect((await store.load(alice.id))!.data).toEqual({ mine: true });
      expect((await store.destroyByHandle(alice.handle))?.id).toBe(alice.id);
    });
  }

  it('upgrades a table made by 0.1.0: no pending change, every session kept, byte-exact matching', async () => {
    // SQLite: a file, which the second DataSource opens again (':memory:' would be a new database).
    const file = engine === 'sqlite' ? { database: join((dir = mkdtempSync(join(tmpdir(), 'lazy-schema-'))), 's.sqlite') } : {};
    const old = new DataSource({ ...dataSourceOptions(engine), ...file, migrations: [V010CreateSessionsTable], migrationsTableName: migTable } as never);
    await old.initialize();
    await clean(old);
    await old.runMigrations();
    const t = Date.now();
    const rows = [
      ['a'.repeat(64), 'handleA', JSON.stringify({ cart: [['\u00e9t\u00e9 \u{1f600}']] }), 'alice', t, t, t + 60_000, t, 1],
      ['b'.repeat(64), 'handleB', '{}', '\u00e0lice-\u{1f600}-'.padEnd(255, 'z'), t, t, t + 60_000, null, 0],
    ];
    const p = engine === 'postgres' ? '$1, $2, $3, $4, $5, $6, $7, $8, $9' : '?, ?, ?, ?, ?, ?, ?, ?, ?';
    for (const row of rows) await old.query(`INSERT INTO ${q(engine, 'sessions')} (id, handle, data, user_id, created_at, last_seen_at, expires_at, auth_at, remember, version) VALUES (${p}, 7)`, row);
    await old.destroy();

    ds = await open(file);
    await ds.runMigrations();
    expect(await pending(ds, engine)).toEqual([]);
    const store = new TypeOrmSessionStore(ds);
    const a = await store.load('a'.repeat(64));
    expect(a).toMatchObject({ handle: 'handleA', userId: 'alice', data: { cart: ['\u00e9t\u00e9 \u{1f600}'] }, authAt: t, remember: true, expiresAt: t + 60_000 });
    expect((await store.load('b'.repeat(64)))?.userId).toBe(rows[1][3]);
    expect(await store.listByUser('alice ')).toEqual([]);
    expect(await store.destroyByHandle('handleA ')).toBeNull();
    expect((await store.listByUser('alice')).map((s) => s.handle)).toEqual(['handleA']);
    // Written by the new code after the upgrade: the statements fit the upgraded table.
    expect(await store.update('a'.repeat(64), { lastSeenAt: t + 1, expiresAt: t + 60_000, set: { more: 1 } })).toBe(true);
    await store.create(record({ userId: 'alice' }));
    expect(await store.listByUser('alice')).toHaveLength(2);
  });
});

describe('SQL family of a DataSource', () => {
  /** A QueryRunner of a driver type the library does not support, recording what it is asked to run. */
  function runnerOf(type: string): { runner: QueryRunner; ran: string[] } {
    const ran: string[] = [];
    const runner = { connection: { options: { type } }, query: async (sql: string) => void ran.push(sql), getTable: async () => undefined } as unknown as QueryRunner;
    return { runner, ran };
  }

  it.each(['oracle', 'mssql', 'cockroachdb', 'sqljs'])('an unsupported driver (%s) fails the migrations and the store with a clear message, running nothing', async (type) => {
    const message = new RegExp(`not '${type}'`);
    for (const migration of [new CreateSessionsTable1764000000000(), new UpgradeSessionsTable1765000000000()]) {
      const { runner, ran } = runnerOf(type);
      await expect(migration.up(runner)).rejects.toThrow(message);
      await expect(migration.up(runner)).rejects.toThrow(SessionOptionsError);
      await expect(migration.down(runner)).rejects.toThrow(message);
      expect(ran).toEqual([]);
    }
    expect(() => new TypeOrmSessionStore({ options: { type } } as unknown as DataSource)).toThrow(message);
    // A configuration error, never read as SQLite: the store and the migrations share one detection.
    expect(() => new TypeOrmSessionStore({ options: { type } } as unknown as DataSource)).toThrow(SessionOptionsError);
    expect(() => sqlFamily(type)).toThrow(SessionOptionsError);
  });

  it('names the supported drivers', () => {
    expect(() => sqlFamily('oracle')).toThrow(/'better-sqlite3', 'sqlite', 'postgres', 'mysql' and 'mariadb'/);
    expect([sqlFamily('better-sqlite3'), sqlFamily('sqlite'), sqlFamily('postgres'), sqlFamily('mysql'), sqlFamily('mariadb')]).toEqual(['sqlite', 'sqlite', 'postgres', 'mysql', 'mysql']);
  });
});
