import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { SessionEntity, TypeOrmSessionStore } from '../src/typeorm.js';
import { SessionOptionsError } from '../src/index.js';
import { databaseTargets, dataSourceOptions, REQUIRED, type Engine } from './support/databases.js';
import { createTestApp, sessionCookie } from './support/test-app.js';

/*
 * TypeOrmSessionStore checks its table when the application starts (SessionStore.init, called by the
 * module): a missing or 0.1.0-shaped table stops the start-up with the fix in the message, instead of
 * an application that starts and answers 503 to every request that uses the session.
 */

const isMySql = (engine: Engine) => engine === 'mariadb' || engine === 'mysql';
const q = (engine: Engine, name: string) => (isMySql(engine) ? `\`${name}\`` : `"${name}"`);

const engines: { engine: Engine; missing?: string }[] = [];
for (const t of await databaseTargets()) {
  engines.push(t);
  if (t.engine === 'mariadb') engines.push({ engine: 'mysql', missing: t.missing });
}

for (const { engine, missing } of engines) {
  if (missing !== undefined) {
    if (REQUIRED) describe(`store start-up check [${engine}]`, () => it('needs its database', () => { throw new Error(`REQUIRE_DATABASES is set but ${missing}`); }));
    else {
      console.warn(`\n!!! SKIPPED: "store start-up check" on ${engine}: ${missing}. Set REQUIRE_DATABASES=1 to make this a failure.\n`);
      describe.skip(`store start-up check [${engine}]`, () => it('skipped', () => {}));
    }
    continue;
  }

  describe(`store start-up check [${engine}]`, () => {
    const table = `startup_${engine}_${process.pid}`;
    let ds: DataSource;
    beforeAll(async () => {
      ds = new DataSource(dataSourceOptions(engine));
      await ds.initialize();
    });
    beforeEach(async () => {
      await ds.query(`DROP TABLE IF EXISTS ${q(engine, table)}`);
    });
    afterAll(async () => {
      await ds?.query(`DROP TABLE IF EXISTS ${q(engine, table)}`);
      await ds?.destroy();
    });

    it('a missing table stops the start-up, and the message names both fixes', async () => {
      const start = createTestApp({ store: new TypeOrmSessionStore(ds, { tableName: table }) });
      await expect(start).rejects.toThrow(new RegExp(`table "${table}" does not exist`));
      await expect(start).rejects.toThrow(/createTable: true/);
      await expect(start).rejects.toThrow(/createTableStatements\(\)/);
      // A configuration error of the application, like every start-up refusal.
      await expect(start).rejects.toBeInstanceOf(SessionOptionsError);
    });

    it('the default table name: the message names the shipped migrations', async () => {
      const named = new DataSource({ ...dataSourceOptions(engine) });
      await named.initialize();
      try {
        await named.query(`DROP TABLE IF EXISTS ${q(engine, 'sessions')}`);
        const start = createTestApp({ store: new TypeOrmSessionStore(named) });
        await expect(start).rejects.toThrow(/table "sessions" does not exist/);
        await expect(start).rejects.toThrow(/CreateSessionsTable1764000000000 and UpgradeSessionsTable1765000000000/);
        await expect(start).rejects.toThrow(/createTable: true/);
      } finally {
        await named.destroy();
      }
    });

    it('createTable: true makes the table during start-up, before any request', async () => {
      const app = await createTestApp({ store: new TypeOrmSessionStore(ds, { tableName: table, createTable: true }) });
      try {
        const runner = ds.createQueryRunner();
        expect(await runner.hasTable(table)).toBe(true);
        await runner.release();
        const res = await request(app.getHttpServer()).post('/set').send({ a: 1 });
        expect(res.status).toBe(200);
        expect(sessionCookie(res)).toBeDefined();
      } finally {
        await app.close();
      }
    });

    it('a table missing a column stops the start-up', async () => {
      const store = new TypeOrmSessionStore(ds, { tableName: table });
      const [create] = store.createTableStatements(false);
      await ds.query(create.replace(/, auth_at [A-Z]+ NULL/, ''));
      await expect(createTestApp({ store })).rejects.toThrow(new RegExp(`table "${table}" does not have the columns`));
    });

    if (!isMySql(engine)) {
      it('a 0.1.0 table that was not upgraded yet still starts and serves (the embedded store\u2019s old files)', async () => {
        const big = engine === 'sqlite' ? 'INTEGER' : 'BIGINT';
        await ds.query(
          `CREATE TABLE ${q(engine, table)} (id VARCHAR(64) NOT NULL PRIMARY KEY, handle VARCHAR(32) NOT NULL, data TEXT NOT NULL, user_id VARCHAR(255) NULL, created_at ${big} NOT NULL, last_seen_at ${big} NOT NULL, expires_at ${big} NOT NULL, auth_at ${big} NULL, remember SMALLINT NOT NULL DEFAULT 0, version INTEGER NOT NULL DEFAULT 1)`,
        );
        const app = await createTestApp({ store: new TypeOrmSessionStore(ds, { tableName: table }) });
        try {
          const set = await request(app.getHttpServer()).post('/set').send({ a: 'old table' });
          expect(set.status).toBe(200);
          const cookie = sessionCookie(set)!;
          expect(await request(app.getHttpServer()).post('/set').set('Cookie', cookie).send({ b: 2 }).then((r) => r.status)).toBe(200);
          expect((await request(app.getHttpServer()).get('/get/a').set('Cookie', cookie)).body.value).toBe('old table');
        } finally {
          await app.close();
        }
      });
    }

    if (isMySql(engine)) {
      it('a 0.1.0 table (ids matched loosely) stops the start-up, naming the upgrade migration', async () => {
        await ds.query(
          `CREATE TABLE ${q(engine, table)} (id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY, handle VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, data MEDIUMTEXT CHARACTER SET utf8mb4 NOT NULL, user_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL, created_at BIGINT NOT NULL, last_seen_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, auth_at BIGINT NULL, remember SMALLINT NOT NULL DEFAULT 0, version INTEGER NOT NULL DEFAULT 1) CHARACTER SET utf8mb4`,
        );
        const start = createTestApp({ store: new TypeOrmSessionStore(ds, { tableName: table }) });
        await expect(start).rejects.toThrow(/id, handle, user_id/);
        await expect(start).rejects.toThrow(/UpgradeSessionsTable1765000000000/);
      });

      it('SessionEntity in the DataSource stops the start-up, naming MySqlSessionEntity', async () => {
        const withEntity = new DataSource({ ...dataSourceOptions(engine), entities: [SessionEntity] });
        await withEntity.initialize();
        try {
          const store = new TypeOrmSessionStore(withEntity, { tableName: table, createTable: true });
          await expect(createTestApp({ store })).rejects.toThrow(/MySqlSessionEntity/);
        } finally {
          await withEntity.destroy();
        }
      });
    }

    if (engine === 'sqlite') {
      it('the module logs the store\u2019s start-up warning once', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'lazy-startup-'));
        const plain = new DataSource({ type: 'better-sqlite3', database: join(dir, 'plain.sqlite') });
        await plain.initialize();
        const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
        try {
          const app = await createTestApp({ store: new TypeOrmSessionStore(plain, { createTable: true }) });
          await app.close();
          const ours = warn.mock.calls.filter(([m]) => String(m).includes('enableWAL: true'));
          expect(ours).toHaveLength(1);
        } finally {
          warn.mockRestore();
          await plain.destroy();
          rmSync(dir, { recursive: true, force: true });
        }
      });

      it('warns once at start-up about a SQLite file in rollback-journal mode, naming the setting', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'lazy-startup-'));
        const files: DataSource[] = [];
        try {
          const warnings: string[] = [];
          const log = { warn: (m: string) => warnings.push(m) };
          // TypeORM's defaults: rollback journal, synchronous=FULL.
          const plain = new DataSource({ type: 'better-sqlite3', database: join(dir, 'plain.sqlite') });
          const wal = new DataSource({ type: 'better-sqlite3', database: join(dir, 'wal.sqlite'), enableWAL: true });
          // Rollback journal with no syncs at all: nothing to wait for, nothing to warn about.
          const unsynced = new DataSource({ type: 'better-sqlite3', database: join(dir, 'unsynced.sqlite'), prepareDatabase: (db: { pragma(sql: string): unknown }) => void db.pragma('synchronous = OFF') });
          files.push(plain, wal, unsynced);
          for (const d of files) await d.initialize();
          await new TypeOrmSessionStore(plain, { createTable: true }).init(log);
          expect(warnings).toHaveLength(1);
          expect(warnings[0]).toMatch(/journal_mode=delete, synchronous=FULL/);
          expect(warnings[0]).toMatch(/enableWAL: true/);
          await new TypeOrmSessionStore(wal, { createTable: true }).init(log);
          await new TypeOrmSessionStore(unsynced, { createTable: true }).init(log);
          await new TypeOrmSessionStore(ds, { tableName: table, createTable: true }).init(log); // ':memory:': no file, nothing to sync
          expect(warnings).toHaveLength(1);
        } finally {
          for (const d of files) if (d.isInitialized) await d.destroy();
          rmSync(dir, { recursive: true, force: true });
        }
      });

      it("a tableName SQLite reserves ('sqlite_…', any case) is refused when the store is made, not at its first CREATE TABLE", async () => {
        // What SQLite itself answers, later and less clearly.
        await expect(ds.query('CREATE TABLE sqlite_sessions (id text)')).rejects.toThrow(/reserved for internal use/);
        for (const name of ['sqlite_sessions', 'SQLite_x']) {
          expect(() => new TypeOrmSessionStore(ds, { tableName: name, createTable: true })).toThrow(SessionOptionsError);
          expect(() => new TypeOrmSessionStore(ds, { tableName: name })).toThrow(`SQLite reserves table names beginning with 'sqlite_' ('${name}')`);
        }
        expect(() => new TypeOrmSessionStore(ds, { tableName: 'my_sqlite_sessions' })).not.toThrow();
      });
    }
  });
}
