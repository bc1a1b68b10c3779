import 'reflect-metadata';
import request from 'supertest';
import type { INestApplication } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { describeEngines, openStore, type Engine } from './support/databases.js';
import { CountingLogger } from './support/counting-logger.js';
import { createTestApp, gate, sessionCookie, PLATFORMS } from './support/test-app.js';
import { storeKey } from '../src/crypto/token.js';
import type { SessionModuleOptions, TypeOrmSessionStore } from '../src/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** supertest sends nothing until awaited: start a request now, await its answer later. */
const fire = (t: request.Test): Promise<request.Response> => new Promise((resolve, reject) => t.then(resolve, reject));

/** The store id of a `__Host-sid=<token>.<sig>` cookie. */
function idOf(cookie: string): string {
  return storeKey(cookie.slice(cookie.indexOf('=') + 1, cookie.indexOf('=') + 44));
}

function quote(engine: Engine, table: string): string {
  return engine === 'mariadb' ? `\`${table}\`` : `"${table}"`;
}

/** Waits, without a deadline of its own (Jest's test timeout is the bound), until the wall clock passes `t`. */
async function until(t: number): Promise<void> {
  while (Date.now() <= t) await sleep(Math.max(1, t + 1 - Date.now()));
}

for (const platform of PLATFORMS) await describeEngines(`concurrent requests on one session on ${platform}`, (engine) => {
  const table = `conc_${platform}_${engine}`;
  const logger = new CountingLogger();
  let dataSource: DataSource;
  let store: TypeOrmSessionStore;
  let app: INestApplication;
  let url: string;

  const rowCount = async (): Promise<number> => {
    const rows = (await dataSource.query(`SELECT COUNT(*) AS n FROM ${quote(engine, table)}`)) as { n: unknown }[];
    return Number(rows[0].n);
  };

  async function start(options?: Partial<SessionModuleOptions>): Promise<void> {
    if (app) await app.close();
    app = await createTestApp({ platform, store, options });
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
    url = url.replace('[::1]', '127.0.0.1');
  }

  beforeAll(async () => {
    ({ dataSource, store } = await openStore(engine, table, logger));
    await start();
  });

  afterAll(async () => {
    await app?.close();
    await dataSource?.query(`DROP TABLE IF EXISTS ${quote(engine, table)}`);
    await dataSource?.destroy();
  });

  beforeEach(async () => {
    await dataSource.query(`DELETE FROM ${quote(engine, table)}`);
    logger.reset();
  });

  const post = (path: string, cookie?: string, body?: object) => {
    const r = request(url).post(path);
    if (cookie) r.set('Cookie', cookie);
    return body ? r.send(body) : r;
  };
  const get = (path: string, cookie?: string) => {
    const r = request(url).get(path);
    if (cookie) r.set('Cookie', cookie);
    return r;
  };

  async function newSession(body: object = { seed: 1 }): Promise<string> {
    const res = await post('/set', undefined, body).expect(200);
    const cookie = sessionCookie(res);
    expect(cookie).toBeDefined();
    return cookie!;
  }

  it('20 parallel requests each setting a different key: all 20 keys are stored', async () => {
    const cookie = await newSession();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => post('/set', cookie, { [`k${i}`]: i })));
    for (const r of results) expect(r.status).toBe(200);
    const loaded = await store.load(idOf(cookie));
    expect(loaded).not.toBeNull();
    for (let i = 0; i < 20; i++) expect(loaded!.data[`k${i}`]).toBe(i);
    expect(loaded!.data.seed).toBe(1);
    // No response sent a new cookie: nothing rotated or re-created.
    for (const r of results) expect(sessionCookie(r)).toBeUndefined();
    expect(await rowCount()).toBe(1);
  });

  it('parallel set and delete of different keys do not interfere', async () => {
    const cookie = await newSession({ a: 1, b: 2, c: 3 });
    await Promise.all([
      request(url).delete('/key/a').set('Cookie', cookie).expect(200),
      post('/set', cookie, { d: 4 }).expect(200),
      request(url).delete('/key/c').set('Cookie', cookie).expect(200),
      post('/set', cookie, { e: null }).expect(200),
    ]);
    const loaded = await store.load(idOf(cookie));
    expect(loaded!.data).toEqual({ b: 2, d: 4, e: null });
  });

  it('two requests setting the same key: the later commit wins', async () => {
    const cookie = await newSession();
    // The slow request loads first but commits last: its value is the one that stays.
    const g = gate();
    const slow = fire(post(`/set-gated/${g.name}`, cookie, { k: 'slow' }));
    await g.entered;
    await post('/set', cookie, { k: 'fast' }).expect(200);
    // Checked while the slow request is still held: once released it may commit at any moment.
    expect((await store.load(idOf(cookie)))!.data.k).toBe('fast');
    g.release();
    expect((await slow).status).toBe(200);
    expect((await store.load(idOf(cookie)))!.data.k).toBe('slow');
  });

  it('logout wins over a slow write in flight: the session is never re-created', async () => {
    const cookie = await newSession();
    const g = gate();
    const slow = fire(post(`/set-gated/${g.name}`, cookie, { late: true }));
    await g.entered;
    const out = await post('/logout', cookie).expect(200);
    g.release();
    expect(out.headers['set-cookie']?.[0]).toMatch(/Max-Age=0/);
    expect(await rowCount()).toBe(0);
    const res = await slow;
    expect(res.status).toBe(200);
    // The late write found no row: no resurrection, no new session, no new cookie.
    expect(sessionCookie(res)).toBeUndefined();
    expect(await store.load(idOf(cookie))).toBeNull();
    expect(await rowCount()).toBe(0);
    const read = await get('/get/late', cookie).expect(200);
    expect(read.body).toEqual({ value: null, has: false });
  });

  it('destroy wins over many writes in flight', async () => {
    const cookie = await newSession();
    const g = gate(5);
    const slow = Array.from({ length: 5 }, (_, i) => fire(post(`/set-gated/${g.name}`, cookie, { [`x${i}`]: i })));
    await g.entered;
    await post('/destroy', cookie).expect(200);
    g.release();
    const results = await Promise.all(slow);
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(sessionCookie(r)).toBeUndefined();
    }
    expect(await rowCount()).toBe(0);
  });

  it('the old id after /regenerate is never brought back by a write in flight', async () => {
    const cookie = await newSession();
    const g = gate();
    const slow = fire(post(`/set-gated/${g.name}`, cookie, { late: true }));
    await g.entered;
    const reg = await post('/regenerate', cookie).expect(200);
    g.release();
    const fresh = sessionCookie(reg)!;
    expect(fresh).toBeDefined();
    expect(fresh).not.toBe(cookie);
    expect((await slow).status).toBe(200);
    expect(await store.load(idOf(cookie))).toBeNull();
    const rotated = await store.load(idOf(fresh));
    expect(rotated).not.toBeNull();
    expect(rotated!.data.seed).toBe(1);
    expect(await rowCount()).toBe(1);
    // The old cookie names no session.
    expect((await get('/get/seed', cookie).expect(200)).body).toEqual({ value: null, has: false });
    expect((await get('/get/seed', fresh).expect(200)).body).toEqual({ value: 1, has: true });
  });

  it('the old id after /login is never brought back by a write in flight', async () => {
    const cookie = await newSession();
    const g = gate();
    const slow = fire(post(`/set-gated/${g.name}`, cookie, { late: true }));
    await g.entered;
    const login = await post('/login/alice', cookie).expect(200);
    g.release();
    const fresh = sessionCookie(login)!;
    expect(fresh).toBeDefined();
    expect((await slow).status).toBe(200);
    expect(await store.load(idOf(cookie))).toBeNull();
    expect((await store.load(idOf(fresh)))!.userId).toBe('alice');
    expect(await rowCount()).toBe(1);
  });

  it('an expired session is not revived by a write that loaded it just before it expired', async () => {
    await start({ idleTimeout: 3000, touchInterval: 0 });
    try {
      const cookie = await newSession();
      const created = Date.now();
      const id = idOf(cookie);
      // Loaded while live, committed after the expiry (the last write was before `created`).
      const g = gate();
      const slow = fire(post(`/set-gated/${g.name}`, cookie, { late: true }));
      await g.entered;
      await until(created + 3000);
      g.release();
      const res = await slow;
      expect(res.status).toBe(200);
      expect(sessionCookie(res)).toBeUndefined();
      const row = await store.load(id);
      // The row is either gone or still expired; it never got a new expiry or the late key.
      if (row) {
        expect(row.expiresAt).toBeLessThanOrEqual(Date.now());
        expect(row.data.late).toBeUndefined();
      }
      const read = await get('/get/seed', cookie).expect(200);
      expect(read.body).toEqual({ value: null, has: false });
      expect(await store.load(id)).toBeNull();
      expect(await rowCount()).toBe(0);
    } finally {
      await start();
    }
  });

  it('an expired session removed by another request meanwhile stays removed', async () => {
    await start({ idleTimeout: 3000, touchInterval: 0 });
    try {
      const cookie = await newSession();
      const created = Date.now();
      const g = gate();
      const slow = fire(post(`/set-gated/${g.name}`, cookie, { late: true }));
      await g.entered;
      await until(created + 3000);
      // This request meets the expired session and removes it.
      expect((await get('/get/seed', cookie).expect(200)).body).toEqual({ value: null, has: false });
      expect(await store.load(idOf(cookie))).toBeNull();
      g.release();
      expect((await slow).status).toBe(200);
      expect(await rowCount()).toBe(0);
    } finally {
      await start();
    }
  });

  it('two first requests without a cookie get two independent sessions', async () => {
    const [a, b] = await Promise.all([post('/set', undefined, { who: 'a' }), post('/set', undefined, { who: 'b' })]);
    const ca = sessionCookie(a)!;
    const cb = sessionCookie(b)!;
    expect(ca).toBeDefined();
    expect(cb).toBeDefined();
    expect(ca).not.toBe(cb);
    expect((await store.load(idOf(ca)))!.data).toEqual({ who: 'a' });
    expect((await store.load(idOf(cb)))!.data).toEqual({ who: 'b' });
    expect(await rowCount()).toBe(2);
  });

  it('statement budget: ten clients writing one session at once', async () => {
    const cookie = await newSession();
    logger.reset();
    const rounds = 5;
    for (let round = 0; round < rounds; round++) {
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => post('/set', cookie, { [`r${round}c${i}`]: i })));
      for (const r of results) expect(r.status).toBe(200);
    }
    const writes = rounds * 10;
    const perWrite = logger.count / writes;
    console.log(`[${engine}] statements per write, 10 clients on one session: ${perWrite.toFixed(2)} (${logger.count} / ${writes})`);
    expect(perWrite).toBeLessThanOrEqual(3);
    const loaded = await store.load(idOf(cookie));
    expect(Object.keys(loaded!.data)).toHaveLength(writes + 1);
  });

  it('statement budgets without contention', async () => {
    // No session used: no statement.
    await get('/public').expect(200);
    expect(logger.count).toBe(0);
    // A new session: one INSERT.
    const cookie = await newSession();
    expect(logger.count).toBe(1);
    // A write to an existing session: load + UPDATE.
    logger.reset();
    await post('/set', cookie, { a: 1 }).expect(200);
    expect(logger.count).toBeLessThanOrEqual(2);
    // A read: one SELECT.
    logger.reset();
    await get('/read', cookie).expect(200);
    expect(logger.count).toBe(1);
    // A bad cookie: nothing.
    logger.reset();
    await get('/read', `${cookie.slice(0, -2)}AA`).expect(200);
    expect(logger.count).toBe(0);
    // Logout: one DELETE, no load.
    logger.reset();
    await post('/logout', cookie).expect(200);
    expect(logger.count).toBeLessThanOrEqual(engine === 'mariadb' ? 2 : 1);
  });
});
