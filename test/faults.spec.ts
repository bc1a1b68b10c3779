import 'reflect-metadata';
import request from 'supertest';
import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { dataSourceOptions, describeEngines, openStore, type Engine, PORTS } from './support/databases.js';
import { createTestApp, sessionCookie, PLATFORMS } from './support/test-app.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { storeKey } from '../src/crypto/token.js';
import { TypeOrmSessionStore } from '../src/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fire = (t: request.Test): Promise<request.Response> => new Promise((resolve, reject) => t.then(resolve, reject));
const idOf = (cookie: string) => storeKey(cookie.slice(cookie.indexOf('=') + 1, cookie.indexOf('=') + 44));

const STORE_TIMEOUT = 1500;
/** A request that needs the session is answered within the store timeout plus this slack. */
const SLACK = 1500;

for (const platform of PLATFORMS) await describeEngines(
  `database outage on ${platform}`,
  (engine: Engine) => {
    const table = `fault_${platform}_${engine}`;
    const port = engine === 'postgres' ? PORTS.postgres : PORTS.mariadb;
    let direct: { dataSource: DataSource; store: TypeOrmSessionStore };
    let proxied: DataSource;
    let proxy: TcpProxy;
    let app: INestApplication;
    let url: string;
    /** Every key whose write was answered 200, per cookie: it must be stored. */
    const acknowledged = new Map<string, Map<string, number>>();

    beforeAll(async () => {
      direct = await openStore(engine, table);
      proxy = new TcpProxy(port);
      await proxy.start();
      proxied = new DataSource(dataSourceOptions(engine, undefined, proxy.port));
      await proxied.initialize();
      const store = new TypeOrmSessionStore(proxied, { tableName: table });
      app = await createTestApp({ platform, store, options: { storeTimeout: STORE_TIMEOUT } });
      await app.listen(0, '127.0.0.1');
      url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    });

    afterAll(async () => {
      proxy?.restore();
      await app?.close();
      await proxied?.destroy().catch(() => undefined);
      await proxy?.close();
      await direct?.dataSource.query(`DROP TABLE IF EXISTS ${engine === 'mariadb' ? `\`${table}\`` : `"${table}"`}`);
      await direct?.dataSource.destroy();
    });

    async function write(cookie: string | undefined, key: string, value: number): Promise<request.Response> {
      const r = request(url).post('/set');
      if (cookie) r.set('Cookie', cookie);
      const res = await r.send({ [key]: value });
      const c = cookie ?? sessionCookie(res);
      if (res.status === 200 && c) {
        if (!acknowledged.has(c)) acknowledged.set(c, new Map());
        acknowledged.get(c)!.set(key, value);
      }
      return res;
    }

    async function verifyNothingLost(): Promise<number> {
      let checked = 0;
      for (const [cookie, keys] of acknowledged) {
        const row = await direct.store.load(idOf(cookie));
        expect(row).not.toBeNull();
        for (const [k, v] of keys) {
          expect(row!.data[k]).toBe(v);
          checked++;
        }
      }
      return checked;
    }

    async function waitForService(cookie: string): Promise<number> {
      const began = Date.now();
      for (;;) {
        const res = await request(url).get('/get/k0').set('Cookie', cookie);
        if (res.status === 200) return Date.now() - began;
        expect(res.status).toBe(503);
        if (Date.now() - began > 15_000) throw new Error('service did not resume within 15 s of restore()');
        await sleep(200);
      }
    }

    const cookies: string[] = [];

    it('serves sessions through the proxy before the outage', async () => {
      for (let i = 0; i < 10; i++) {
        const res = await write(undefined, 'k0', i);
        expect(res.status).toBe(200);
        cookies.push(sessionCookie(res)!);
      }
      for (const [i, c] of cookies.entries()) {
        const res = await request(url).get('/get/k0').set('Cookie', c).expect(200);
        expect(res.body.value).toBe(i);
      }
    });

    it.each(['hang', 'refuse'] as const)('cut (%s) mid-traffic: 503 within the store timeout, /public still 200, nothing lost, recovers', async (mode) => {
      // Traffic on every session, with the cut landing in the middle of it.
      let n = 1;
      const inFlight: Promise<{ status: number; ms: number }>[] = [];
      const timed = (p: Promise<request.Response>) => {
        const t0 = Date.now();
        return p.then((r) => ({ status: r.status, ms: Date.now() - t0 }));
      };
      for (let round = 0; round < 3; round++) {
        for (const c of cookies) inFlight.push(timed(write(c, `k${n}`, n++)));
        if (round === 1) proxy.cut(mode);
        await sleep(20);
      }
      const mid = await Promise.all(inFlight);
      proxy.restore();
      for (const r of mid) {
        expect([200, 503]).toContain(r.status);
        expect(r.ms).toBeLessThan(STORE_TIMEOUT + SLACK);
      }
      expect(mid.some((r) => r.status === 503)).toBe(true);

      // While cut: every request that needs the session gets a 503 in bounded time. (The logout
      // is on a session of its own: a 503'd DELETE still waiting for a pooled connection may run
      // once the database is back, which ends that session late, never wrongly.)
      await waitForService(cookies[0]);
      const victim = sessionCookie(await request(url).post('/set').send({ victim: 1 }).expect(200))!;
      proxy.cut(mode);
      const latencies: number[] = [];
      const checks = [
        ...cookies.slice(0, 4).map((c) => () => request(url).get('/read').set('Cookie', c)),
        ...cookies.slice(4, 8).map((c) => () => request(url).post('/set').set('Cookie', c).send({ x: 1 })),
        () => request(url).post('/set').send({ brandNew: 1 }),
        () => request(url).post('/logout').set('Cookie', victim),
      ];
      const results = await Promise.all(
        checks.map(async (make) => {
          const t0 = Date.now();
          const res = await make();
          latencies.push(Date.now() - t0);
          return res;
        }),
      );
      for (const res of results) {
        expect(res.status).toBe(503);
        expect(res.headers['set-cookie']).toBeUndefined();
      }
      const worst = Math.max(...latencies);
      console.log(`[${engine}/${mode}] 503 latency while cut: max ${worst} ms, min ${Math.min(...latencies)} ms (storeTimeout ${STORE_TIMEOUT})`);
      expect(worst).toBeLessThan(STORE_TIMEOUT + SLACK);

      // A route that does not use the session is served as usual, without waiting for the store:
      // sent together with a request that must wait for the store, it is answered first.
      const order: string[] = [];
      const waiting = request(url).get('/read').set('Cookie', cookies[0]).then((r) => (order.push('read'), r));
      const served = await Promise.all([
        request(url).get('/public').then((r) => (order.push('public'), r)),
        request(url).get('/public').set('Cookie', cookies[0]).then((r) => (order.push('public'), r)),
      ]);
      for (const r of served) expect(r.status).toBe(200);
      expect(served[0].body).toEqual({ ok: true });
      expect((await waiting).status).toBe(503);
      expect(order).toEqual(['public', 'public', 'read']);

      // Back: service resumes by itself, no restart.
      proxy.restore();
      const resumedMs = await waitForService(cookies[0]);
      console.log(`[${engine}/${mode}] service resumed ${resumedMs} ms after restore()`);
      for (const c of cookies) await request(url).get('/read').set('Cookie', c).expect(200);
      const res = await write(cookies[1], 'after', n++);
      expect(res.status).toBe(200);
      const checked = await verifyNothingLost();
      expect(checked).toBeGreaterThan(cookies.length);
      // Every session made before the outage is still there.
      for (const c of cookies) expect(await direct.store.load(idOf(c))).not.toBeNull();
    });
  },
  ['postgres', 'mariadb'],
);
