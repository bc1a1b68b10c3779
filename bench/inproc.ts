/**
 * GET /me on Fastify in one process, requests injected (light-my-request: no sockets, no load
 * generator), 10 in flight: what a session read costs this module against the floor, one mode per process.
 *
 *   npm run build:run && node .run/bench/inproc.js <mode>      (WARM=requests first, N=requests measured)
 *
 * Modes: `lazy` (MemorySessionStore), `lazy-pg` and `lazy-sqlite` (TypeOrmSessionStore on PostgreSQL,
 * or on SQLite in WAL), and the floors, which do only what any session read must (the cookie's HMAC,
 * the id's SHA-256, the row, JSON.parse): `floor` (a Map), `floor-pg` (one prepared SELECT of `data`
 * through the DataSource's pool), `floor9-pg` (the same SELECT of the nine columns a load read before
 * they were packed), `floor2-pg` (`data` and the packed summary as two columns), `floor1-pg` (the
 * packed summary, a line feed and `data` as one column, as the store reads it now).
 * INPROC_PLATFORM=express runs the same modes on @nestjs/platform-express, requests injected into the
 * Express application by light-my-request (the module's Express hold and Express's own request path included).
 * Prints wall time and CPU time per request. On a noisy machine run two modes at once on one core
 * (`taskset -c 1 node … A & taskset -c 1 node … B`): both are slowed alike, so their ratio holds.
 * Under callgrind (`UNDER_CALLGRIND=1 valgrind --tool=callgrind --instr-atstart=no node …`) only the
 * measured requests are counted.
 */
import 'reflect-metadata';
import { Controller, Get, HttpCode, Module, Post, Req } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { ExpressAdapter } from '@nestjs/platform-express';
import inject from 'light-my-request';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { MemorySessionStore, Session, SessionModule, TypeOrmSessionStore, type SessionHandle } from '../src/index.js';
import { newToken, signToken, storeKey, verifyCookieValue } from '../src/crypto/token.js';

const SECRET = 'bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
const mode = process.argv[2] ?? 'lazy';
/** INPROC_PLATFORM=express: the same modes on @nestjs/platform-express, requests injected into the Express app. */
const EXPRESS = process.env.INPROC_PLATFORM === 'express';
const WARM = Number(process.env.WARM ?? 20000);
const N = Number(process.env.N ?? 5000);

@Controller()
class LazyController {
  @Get('me')
  async me(@Session() s: SessionHandle) {
    return { n: (await s.get<number>('n')) ?? 0 };
  }
  @Post('setup')
  @HttpCode(200)
  async setup(@Session() s: SessionHandle) {
    await s.set('n', 0);
    return { ok: true };
  }
}

const rows = new Map<string, string>();
let get = async (id: string): Promise<string | undefined> => rows.get(id);
@Controller()
class FloorController {
  @Get('me')
  async me(@Req() req: { headers: Record<string, string | undefined> }) {
    const c = req.headers.cookie ?? '';
    const i = c.indexOf('sid=');
    const token = i < 0 ? undefined : verifyCookieValue(decodeURIComponent(c.slice(i + 4).split(';')[0]), [SECRET]);
    const text = token === undefined ? undefined : await get(storeKey(token));
    const data = text === undefined ? {} : (JSON.parse(text) as { n?: [number] });
    return { n: data.n?.[0] ?? 0 };
  }
}

const pg = mode.endsWith('-pg');
const sqlite = mode.endsWith('-sqlite');
const TABLE = `inproc_${mode.replace(/-/g, '_')}_${process.pid}`;
const ds = pg
  ? new DataSource({ type: 'postgres', host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test', extra: { max: 10 } })
  : sqlite
    ? new DataSource({ type: 'better-sqlite3', database: join(tmpdir(), `${TABLE}.sqlite`), enableWAL: true, prepareDatabase: (d: { pragma(s: string): unknown }) => void d.pragma('synchronous = NORMAL') })
    : undefined;
if (ds) {
  await ds.initialize();
  await ds.query(`DROP TABLE IF EXISTS ${TABLE}`);
}
const store = ds ? new TypeOrmSessionStore(ds, { tableName: TABLE, createTable: true }) : new MemorySessionStore();
if (ds) await (store as TypeOrmSessionStore).init();
if (pg && ds) {
  const pool = (ds.driver as unknown as { master: { query(q: object): Promise<{ rows: Array<{ data: string }> }> } }).master;
  get = async (id) => {
    const r = (await pool.query({ name: 'inproc_' + mode.replace(/-/g, '_'), text: (mode === 'floor9-pg' ? 'SELECT id, handle, data, user_id, created_at, last_seen_at, expires_at, auth_at, remember' : mode === 'floor2-pg' ? 'SELECT data, json_build_array(handle, user_id, created_at, last_seen_at, expires_at, auth_at, remember)::text AS meta' : mode === 'floor1-pg' ? "SELECT json_build_array(handle, user_id, created_at, last_seen_at, expires_at, auth_at, remember)::text || chr(10) || data AS row" : 'SELECT data') + ` FROM ${TABLE} WHERE id = $1`, values: [id] })).rows[0] as { data: string; meta?: string } | undefined;
    if (r?.meta) JSON.parse(r.meta);
    const packed = (r as { row?: string } | undefined)?.row;
    if (packed !== undefined) {
      const nl = packed.indexOf('\n');
      JSON.parse(packed.slice(0, nl));
      return packed.slice(nl + 1);
    }
    return r?.data;
  };
}

@Module({ imports: [SessionModule.forRoot({ secret: SECRET, store, cookie: { name: 'sid', secure: false } })], controllers: [LazyController] })
class LazyModule {}
@Module({ controllers: [FloorController] })
class FloorModule {}

const app = await NestFactory.create(mode.startsWith('floor') ? FloorModule : LazyModule, EXPRESS ? new ExpressAdapter() : new FastifyAdapter(), { logger: false });
await app.init();
type Injected = { statusCode: number; headers: Record<string, unknown>; body: string };
const instance = app.getHttpAdapter().getInstance() as { inject(o: object): Promise<Injected> } & Parameters<typeof inject>[0];
const fastify = EXPRESS ? { inject: (o: object) => inject(instance, o as Parameters<typeof inject>[1]) as unknown as Promise<Injected> } : instance;
let cookie: string;
if (mode === 'floor') {
  const token = newToken();
  rows.set(storeKey(token), JSON.stringify({ n: [0] }));
  cookie = `sid=${encodeURIComponent(signToken(token, SECRET))}`;
} else if (mode.startsWith('floor')) {
  const token = newToken();
  const now = Date.now();
  await store.create({ id: storeKey(token), handle: 'h'.repeat(22), data: { n: 0 }, userId: null, createdAt: now, lastSeenAt: now, expiresAt: now + 864e5, authAt: null, remember: false });
  cookie = `sid=${encodeURIComponent(signToken(token, SECRET))}`;
} else {
  const r = await fastify.inject({ method: 'POST', url: '/setup' });
  cookie = String((r.headers['set-cookie'] as string | string[]).toString()).split(';')[0];
}
const one = async () => {
  const r = await fastify.inject({ method: 'GET', url: '/me', headers: { cookie } });
  if (r.statusCode !== 200 || r.body !== '{"n":0}') throw new Error(`${r.statusCode} ${r.body}`);
};
const batch = async (n: number) => {
  // 10 in flight, as the HTTP bench's connections.
  let left = n;
  await Promise.all(Array.from({ length: 10 }, async () => { while (left-- > 0) await one(); }));
};
await batch(WARM);
const ctl = (arg: string) => new Promise((r) => execFile('callgrind_control', [arg, String(process.pid)], r));
if (process.env.UNDER_CALLGRIND) await ctl('--instr=on');
const t = process.hrtime.bigint();
const c0 = process.cpuUsage();
await batch(N);
const ns = Number(process.hrtime.bigint() - t) / N;
const cu = process.cpuUsage(c0);
const cpu = (cu.user + cu.system) / N;
if (process.env.UNDER_CALLGRIND) await ctl('--instr=off');
console.log(`${mode}: ${(ns / 1000).toFixed(2)} µs/req wall, ${cpu.toFixed(2)} µs/req CPU`);
await app.close();
if (ds) {
  await ds.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await ds.destroy();
  if (sqlite) for (const suffix of ['', '-wal', '-shm']) rmSync(join(tmpdir(), `${TABLE}.sqlite${suffix}`), { force: true });
}
process.exit(0);
