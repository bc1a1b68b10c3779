import 'reflect-metadata';
import request from 'supertest';
import type { INestApplication } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { databaseTargets, openStore, REQUIRED, type Engine } from './support/databases.js';
import { createTestApp, sessionCookie, PLATFORMS } from './support/test-app.js';
import { SessionManager } from '../src/index.js';

/*
 * Over HTTP, through SessionManager: an account whose id differs from another's only by case, accent
 * or a trailing space must neither see nor end the other's sessions. (MySQL/MariaDB collations used
 * to fold those differences away in listForUser and in destroyByHandle's ownership check.)
 */

const engines: { engine: Engine; missing?: string }[] = [];
for (const t of await databaseTargets()) {
  engines.push(t);
  if (t.engine === 'mariadb') engines.push({ engine: 'mysql', missing: t.missing });
}

for (const { engine, missing } of engines) {
  if (missing !== undefined) {
    if (REQUIRED) describe(`user ids over HTTP [${engine}]`, () => it('needs its database', () => { throw new Error(`REQUIRE_DATABASES is set but ${missing}`); }));
    else {
      console.warn(`\n!!! SKIPPED: "user ids over HTTP" on ${engine}: ${missing}. Set REQUIRE_DATABASES=1 to make this a failure.\n`);
      describe.skip(`user ids over HTTP [${engine}]`, () => it('skipped', () => {}));
    }
    continue;
  }

  // Issue 10 asks for every regression test over real HTTP on Express and Fastify.
  for (const platform of PLATFORMS) describe(`user ids over HTTP [${engine}] on ${platform}`, () => {
    const table = `user_match_${engine}_${platform}_${process.pid}`;
    let ds: DataSource;
    let app: INestApplication;
    beforeAll(async () => {
      const opened = await openStore(engine, table);
      ds = opened.dataSource;
      app = await createTestApp({ platform, store: opened.store });
    });
    afterAll(async () => {
      await app?.close();
      await ds?.query(`DROP TABLE IF EXISTS ${engine === 'mariadb' || engine === 'mysql' ? `\`${table}\`` : `"${table}"`}`);
      await ds?.destroy();
    });

    async function loginAs(user: string): Promise<string> {
      const res = await request(app.getHttpServer()).post(`/login/${encodeURIComponent(user)}`).send({});
      expect(res.status).toBe(200);
      return sessionCookie(res)!;
    }

    it.each(['alice ', 'ALICE', '\u00e0lice'])('%j neither lists nor ends alice\u2019s session', async (other) => {
      const alice = await loginAs('alice');
      const [mine] = (await request(app.getHttpServer()).get('/sessions').set('Cookie', alice)).body as { handle: string }[];
      const intruder = await loginAs(other);
      const listed = (await request(app.getHttpServer()).get('/sessions').set('Cookie', intruder)).body as { handle: string }[];
      expect(listed.map((s) => s.handle)).not.toContain(mine.handle);
      expect(listed).toHaveLength(1);
      const ended = await request(app.getHttpServer()).delete(`/sessions/${encodeURIComponent(mine.handle)}`).set('Cookie', intruder);
      expect(ended.body).toEqual({ ended: false });
      expect((await request(app.getHttpServer()).get('/whoami').set('Cookie', alice)).body).toEqual({ userId: 'alice' });
      // Clean up both, through their own accounts.
      await request(app.getHttpServer()).post('/logout').set('Cookie', alice);
      await request(app.getHttpServer()).post('/logout').set('Cookie', intruder);
    });

    // No session can belong to a user id that no store can hold (login refuses it), so asking about
    // one is answered as "none" without a query: PostgreSQL would fail the query, and the request
    // would be answered 503 for what is bad input.
    it.each(['nul\u0000id', 'lone\ud800surrogate'])('a user id no store can hold (%j) has no sessions: no error, nothing ended', async (bad) => {
      const alice = await loginAs('alice');
      const manager = app.get(SessionManager);
      const [mine] = (await request(app.getHttpServer()).get('/sessions').set('Cookie', alice)).body as { handle: string }[];
      await expect(manager.listForUser(bad)).resolves.toEqual([]);
      await expect(manager.destroyAllForUser(bad)).resolves.toBe(0);
      await expect(manager.destroyByHandle(mine.handle, { userId: bad })).resolves.toBe(false);
      expect((await request(app.getHttpServer()).get('/whoami').set('Cookie', alice)).body).toEqual({ userId: 'alice' });
      await request(app.getHttpServer()).post('/logout').set('Cookie', alice);
    });
  });
}
