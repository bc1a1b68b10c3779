import 'reflect-metadata';
import request from 'supertest';
import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { dataSourceOptions, describeEngines, openStore, type Engine } from './support/databases.js';
import { countRows, quoteTable } from './support/bulk.js';
import { createTestApp, sessionCookie, PLATFORMS } from './support/test-app.js';
import { storeKey } from '../src/crypto/token.js';
import { TypeOrmSessionStore } from '../src/index.js';

const idOf = (cookie: string) => storeKey(cookie.slice(cookie.indexOf('=') + 1, cookie.indexOf('=') + 44));

for (const platform of PLATFORMS) await describeEngines(
  `two app instances on one table on ${platform}`,
  (engine: Engine) => {
    const table = `multi_${platform}_${engine}`;
    let setup: { dataSource: DataSource; store: TypeOrmSessionStore };
    let ds2: DataSource;
    let a: INestApplication;
    let b: INestApplication;
    let urls: [string, string];

    beforeAll(async () => {
      // Instance A and instance B: separate Nest apps, separate connection pools, one table.
      setup = await openStore(engine, table);
      ds2 = new DataSource(dataSourceOptions(engine));
      await ds2.initialize();
      a = await createTestApp({ platform, store: setup.store });
      b = await createTestApp({ platform, store: new TypeOrmSessionStore(ds2, { tableName: table }) });
      await a.listen(0, '127.0.0.1');
      await b.listen(0, '127.0.0.1');
      urls = [(await a.getUrl()).replace('[::1]', '127.0.0.1'), (await b.getUrl()).replace('[::1]', '127.0.0.1')];
    });

    afterAll(async () => {
      await a?.close();
      await b?.close();
      await ds2?.destroy();
      await setup?.dataSource.query(`DROP TABLE IF EXISTS ${quoteTable(engine, table)}`);
      await setup?.dataSource.destroy();
    });

    beforeEach(async () => {
      await setup.dataSource.query(`DELETE FROM ${quoteTable(engine, table)}`);
    });

    it('a session made on one instance is used on the other', async () => {
      const res = await request(urls[0]).post('/set').send({ a: 'from-A' }).expect(200);
      const cookie = sessionCookie(res)!;
      const read = await request(urls[1]).get('/read').set('Cookie', cookie).expect(200);
      expect(read.body.a).toBe('from-A');
      await request(urls[1]).post('/set').set('Cookie', cookie).send({ b: 'from-B' }).expect(200);
      const back = await request(urls[0]).get('/read').set('Cookie', cookie).expect(200);
      expect(back.body).toMatchObject({ a: 'from-A', b: 'from-B' });
    });

    it('logout on one instance ends the session on both', async () => {
      const cookie = sessionCookie(await request(urls[0]).post('/login/alice').expect(200))!;
      await request(urls[1]).get('/private').set('Cookie', cookie).expect(200, { userId: 'alice' });
      await request(urls[1]).post('/logout').set('Cookie', cookie).expect(200);
      await request(urls[0]).get('/private').set('Cookie', cookie).expect(401);
      await request(urls[1]).get('/private').set('Cookie', cookie).expect(401);
      expect(await countRows(setup.dataSource, engine, table)).toBe(0);
    });

    it('regenerate on one instance: the old id is dead on the other at once', async () => {
      const old = sessionCookie(await request(urls[0]).post('/set').send({ a: 1 }).expect(200))!;
      const fresh = sessionCookie(await request(urls[1]).post('/regenerate').set('Cookie', old).expect(200))!;
      expect(fresh).toMatch(/^__Host-sid=./);
      expect(fresh).not.toBe(old);
      expect(await countRows(setup.dataSource, engine, table)).toBe(1);
      expect((await request(urls[0]).get('/get/a').set('Cookie', old).expect(200)).body).toEqual({ value: null, has: false });
      expect((await request(urls[0]).get('/get/a').set('Cookie', fresh).expect(200)).body).toEqual({ value: 1, has: true });
    });

    it('parallel writes spread over both instances lose nothing', async () => {
      const cookies: string[] = [];
      for (let s = 0; s < 5; s++) cookies.push(sessionCookie(await request(urls[s % 2]).post('/set').send({ s }).expect(200))!);
      const jobs: Promise<request.Response>[] = [];
      for (let i = 0; i < 100; i++) {
        const cookie = cookies[i % cookies.length];
        jobs.push(Promise.resolve(request(urls[i % 2]).post('/set').set('Cookie', cookie).send({ [`k${i}`]: i })));
      }
      const results = await Promise.all(jobs);
      for (const r of results) {
        expect(r.status).toBe(200);
        expect(sessionCookie(r)).toBeUndefined();
      }
      for (const [s, cookie] of cookies.entries()) {
        const row = await setup.store.load(idOf(cookie));
        const expected: Record<string, number> = { s };
        for (let i = s; i < 100; i += cookies.length) expected[`k${i}`] = i;
        expect(row!.data).toEqual(expected);
      }
      expect(await countRows(setup.dataSource, engine, table)).toBe(5);
    });
  },
  ['postgres', 'mariadb'],
);
