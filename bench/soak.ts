/**
 * Soak test: many clients, thousands of sessions, mixed reads / writes / logins / logouts against
 * PostgreSQL over real HTTP (loopback only), for SOAK_SECONDS (default 60).
 *
 *   npm run soak                       (SOAK_SECONDS=20 npm run soak for a short one)
 *
 * Every client counts its own increments, so a lost write is detected exactly: each private
 * session belongs to one client, and on the shared sessions each client increments a key of its
 * own. Prints a summary table; exits 1 when there were errors or lost writes.
 *
 * Env: SOAK_SECONDS (60), SOAK_CLIENTS (48), SOAK_SESSIONS_PER_CLIENT (40), SOAK_SHARED (16),
 * SOAK_MAX_REQUESTS (2,000,000), PGHOST/PGPORT/PGUSER/PGDATABASE (127.0.0.1/5432/postgres/test).
 */
import 'reflect-metadata';
import { Agent, request as httpRequest } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { AddressInfo } from 'node:net';
import { Controller, Get, HttpCode, Module, Param, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { benchPostgres } from './postgres.js';
import { Session, SessionModule, TypeOrmSessionStore, type SessionHandle } from '../src/index.js';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const SECONDS = env('SOAK_SECONDS', 60);
const CLIENTS = env('SOAK_CLIENTS', 48);
const PER_CLIENT = env('SOAK_SESSIONS_PER_CLIENT', 40);
const SHARED = env('SOAK_SHARED', 16);
const MAX_REQUESTS = env('SOAK_MAX_REQUESTS', 2_000_000);
const TABLE = 'soak_sessions';
const SECRET = 'soak-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

@Controller()
class SoakController {
  @Get('public')
  pub() {
    return { ok: true };
  }

  @Get('count/:key')
  async count(@Session() s: SessionHandle, @Param('key') key: string) {
    return { n: (await s.get<number>(key)) ?? 0 };
  }

  @Post('incr/:key')
  @HttpCode(200)
  async incr(@Session() s: SessionHandle, @Param('key') key: string) {
    const n = ((await s.get<number>(key)) ?? 0) + 1;
    await s.set(key, n);
    return { n };
  }

  @Post('login/:user')
  @HttpCode(200)
  async login(@Session() s: SessionHandle, @Param('user') user: string) {
    await s.login(user);
    return { ok: true };
  }

  @Post('logout')
  @HttpCode(200)
  async logout(@Session() s: SessionHandle) {
    await s.logout();
    return { ok: true };
  }
}

// ---- a small keep-alive HTTP client --------------------------------------------------------------

interface Res {
  status: number;
  cookie?: string;
  cleared: boolean;
  body: { n?: number };
}

const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
let port = 0;

function call(method: 'GET' | 'POST', path: string, cookie?: string): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, agent, headers: cookie ? { cookie } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let body: Res['body'] = {};
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Res['body'];
        } catch {
          /* not JSON */
        }
        const line = ((res.headers['set-cookie'] as string[] | undefined) ?? []).find((l) => l.startsWith('__Host-sid='));
        const cleared = line !== undefined && /Max-Age=0/.test(line);
        resolve({ status: res.statusCode ?? 0, cookie: line && !cleared ? line.split(';')[0] : undefined, cleared, body });
      });
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

// ---- the load -----------------------------------------------------------------------------------

interface Private {
  cookie?: string;
  user: string;
  counts: Map<string, number>;
}

const stats = {
  requests: 0,
  errors: 0,
  lost: 0,
  byOp: new Map<string, { n: number; totalMs: number; maxMs: number }>(),
  sessionsCreated: 0,
  logouts: 0,
  logins: 0,
  errorSamples: [] as string[],
};

function record(op: string, ms: number): void {
  const s = stats.byOp.get(op) ?? { n: 0, totalMs: 0, maxMs: 0 };
  s.n++;
  s.totalMs += ms;
  s.maxMs = Math.max(s.maxMs, ms);
  stats.byOp.set(op, s);
}

function fail(what: string): void {
  stats.errors++;
  if (stats.errorSamples.length < 10) stats.errorSamples.push(what);
}

async function op(name: string, method: 'GET' | 'POST', path: string, cookie?: string): Promise<Res | undefined> {
  const t0 = performance.now();
  stats.requests++;
  try {
    const res = await call(method, path, cookie);
    record(name, performance.now() - t0);
    if (res.status !== 200) {
      fail(`${name} ${path}: HTTP ${res.status}`);
      return undefined;
    }
    return res;
  } catch (err) {
    fail(`${name} ${path}: ${(err as Error).message}`);
    return undefined;
  }
}

/** Shared sessions: every client increments a key of its own in each of them. */
const shared: { cookie: string; counts: Map<string, number> }[] = [];

async function client(id: number, deadline: number): Promise<void> {
  const mine: Private[] = Array.from({ length: PER_CLIENT }, () => ({ user: `user-${id}`, counts: new Map() }));
  const myKey = `c${id}`;
  let step = 0;
  while (Date.now() < deadline && stats.requests < MAX_REQUESTS) {
    step++;
    const r = Math.random();
    if (r < 0.2) {
      // Contended write: a shared session, this client's own key.
      const s = shared[Math.floor(Math.random() * shared.length)];
      const res = await op('incr shared', 'POST', `/incr/${myKey}`, s.cookie);
      if (res) {
        const expected = (s.counts.get(myKey) ?? 0) + 1;
        s.counts.set(myKey, expected);
        if (res.body.n !== expected) stats.lost++;
      }
      continue;
    }
    const p = mine[Math.floor(Math.random() * mine.length)];
    const key = `k${step % 3}`;
    if (r < 0.55) {
      const res = await op('incr', 'POST', `/incr/${key}`, p.cookie);
      if (!res) continue;
      if (res.cookie) {
        if (p.cookie) fail(`unexpected new cookie on a write to a live session`);
        p.cookie = res.cookie;
        stats.sessionsCreated++;
      }
      const expected = (p.counts.get(key) ?? 0) + 1;
      p.counts.set(key, expected);
      if (res.body.n !== expected) stats.lost++;
    } else if (r < 0.85) {
      const res = await op('read', 'GET', `/count/${key}`, p.cookie);
      if (res && res.body.n !== (p.counts.get(key) ?? 0)) stats.lost++;
    } else if (r < 0.9) {
      if (!p.cookie) continue;
      const res = await op('login', 'POST', `/login/${p.user}`, p.cookie);
      if (res) {
        stats.logins++;
        if (!res.cookie) fail('login without a new cookie');
        else p.cookie = res.cookie;
      }
    } else if (r < 0.93) {
      if (!p.cookie) continue;
      const old = p.cookie;
      const res = await op('logout', 'POST', '/logout', old);
      if (res) {
        stats.logouts++;
        p.cookie = undefined;
        p.counts.clear();
        // The old cookie names nothing any more.
        const after = await op('read', 'GET', `/count/${key}`, old);
        if (after && after.body.n !== 0) fail('a logged-out session still answered');
      }
    } else {
      await op('public', 'GET', '/public');
    }
  }
  // Final check: every count this client kept is what the server has.
  for (const p of mine) {
    if (!p.cookie) continue;
    for (const [key, n] of p.counts) {
      const res = await op('verify', 'GET', `/count/${key}`, p.cookie);
      if (res && res.body.n !== n) stats.lost += Math.abs(n - (res.body.n ?? 0));
    }
  }
}

function mem() {
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss / 1048576, heap: m.heapUsed / 1048576 };
}

async function main(): Promise<void> {
  const dataSource = benchPostgres();
  await dataSource.initialize();
  const store = new TypeOrmSessionStore(dataSource, { tableName: TABLE });
  await dataSource.query(`DROP TABLE IF EXISTS "${TABLE}"`);
  for (const sql of store.createTableStatements(false)) await dataSource.query(sql);

  @Module({ imports: [SessionModule.forRoot({ secret: SECRET, store, pruneInterval: 5_000 })], controllers: [SoakController] })
  class SoakModule {}

  const app = await NestFactory.create(SoakModule, { logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  port = (app.getHttpServer().address() as AddressInfo).port;

  for (let i = 0; i < SHARED; i++) {
    const res = await call('POST', '/incr/seed');
    if (!res.cookie) throw new Error('could not create a shared session');
    shared.push({ cookie: res.cookie, counts: new Map() });
  }

  console.log(`soak: ${CLIENTS} clients × ${PER_CLIENT} sessions + ${SHARED} shared, ${SECONDS} s, PostgreSQL table ${TABLE}`);
  const began = Date.now();
  const deadline = began + SECONDS * 1000;
  const warm = began + Math.min(SECONDS * 250, 15_000);
  let atWarm: { rss: number; heap: number } | undefined;
  const samples: { t: number; rss: number; heap: number; requests: number }[] = [];
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    samples.push({ t: (Date.now() - began) / 1000, rss: m.rss / 1048576, heap: m.heapUsed / 1048576, requests: stats.requests });
    if (!atWarm && Date.now() >= warm) atWarm = mem();
  }, 1000);
  sampler.unref();

  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i, deadline)));
  const elapsed = (Date.now() - began) / 1000;
  clearInterval(sampler);

  // Shared sessions: every client's own key holds exactly its increments.
  for (const s of shared) {
    for (const [key, n] of s.counts) {
      const res = await op('verify', 'GET', `/count/${key}`, s.cookie);
      if (res && res.body.n !== n) stats.lost += Math.abs(n - (res.body.n ?? 0));
    }
  }
  const atEnd = mem();
  const rows = Number(((await dataSource.query(`SELECT COUNT(*) AS n FROM "${TABLE}"`)) as { n: string }[])[0].n);

  console.log('\n  operation        count    mean ms   max ms');
  for (const [name, s] of [...stats.byOp].sort((a, b) => b[1].n - a[1].n)) {
    console.log(`  ${name.padEnd(14)} ${String(s.n).padStart(7)} ${(s.totalMs / s.n).toFixed(2).padStart(10)} ${s.maxMs.toFixed(1).padStart(8)}`);
  }
  const warmRef = atWarm ?? samples[0] ?? atEnd;
  const table: [string, string][] = [
    ['duration', `${elapsed.toFixed(1)} s`],
    ['requests', `${stats.requests} (${(stats.requests / elapsed).toFixed(0)}/s)`],
    ['sessions created', `${stats.sessionsCreated + SHARED}`],
    ['logins / logouts', `${stats.logins} / ${stats.logouts}`],
    ['rows in table at end', `${rows}`],
    ['errors', `${stats.errors}`],
    ['lost writes', `${stats.lost}`],
    ['RSS after warm-up → end', `${warmRef.rss.toFixed(1)} → ${atEnd.rss.toFixed(1)} MB (${(atEnd.rss - warmRef.rss >= 0 ? '+' : '')}${(atEnd.rss - warmRef.rss).toFixed(1)})`],
    ['heap after warm-up → end', `${warmRef.heap.toFixed(1)} → ${atEnd.heap.toFixed(1)} MB (${(atEnd.heap - warmRef.heap >= 0 ? '+' : '')}${(atEnd.heap - warmRef.heap).toFixed(1)}) after GC`],
  ];
  console.log('\n  summary');
  for (const [k, v] of table) console.log(`  ${k.padEnd(26)} ${v}`);
  if (stats.errorSamples.length) console.log(`\n  first errors:\n    ${stats.errorSamples.join('\n    ')}`);

  await app.close();
  await dataSource.query(`DROP TABLE IF EXISTS "${TABLE}"`);
  await dataSource.destroy();
  agent.destroy();
  process.exitCode = stats.errors === 0 && stats.lost === 0 ? 0 : 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
