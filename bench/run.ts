/**
 * `npm run bench`: nestjs-lazy-session side by side with express-session (+ connect-typeorm,
 * + connect-redis) in the same NestJS app, and the same app without sessions as the ceiling.
 *
 * The orchestrator and its autocannon load run on core 0 (it re-executes itself under
 * `taskset -c 0`); each mode's app runs in a child process under `taskset -c 1`. For every
 * mode × route × traffic shape it measures requests/s, p99 latency, the app's CPU time per request
 * (process.cpuUsage() deltas from the app's admin server), SQL statements per request (a counting
 * TypeORM logger in the app) or Redis commands per request (INFO commandstats delta), and writes
 * bench/RESULTS.md with the ratios of the issue's targets.
 *
 * Environment (all optional):
 *   BENCH_SECONDS      measured seconds per run (default 4; the full run takes about 5–6 minutes)
 *   BENCH_WARMUP       warm-up seconds before each run (default 1)
 *   BENCH_CONNECTIONS  autocannon connections (default 16)
 *   BENCH_MODES        comma list of modes (default: all below)
 *   BENCH_ROUTES       comma list among public,me,cart,login (default: all)
 *   BENCH_SHAPES       comma list among per-connection,one-session (default: both)
 *   BENCH_OUT          where to write the Markdown (default bench/RESULTS.md)
 *   BENCH_MICRO        0 to skip the in-process micro-benchmark (default: run it, ~20 s)
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

// ---------------------------------------------------------------------------------------------
// Pinning: the orchestrator (and so autocannon, which runs in-process) on core 0.

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const TASKSET = hasTaskset();

// ---------------------------------------------------------------------------------------------

export const ALL_MODES = [
  'none',
  'lazy-sqlite',
  'lazy-postgres',
  'lazy-mariadb',
  'express-session-typeorm-sqlite',
  'express-session-typeorm-postgres',
  'express-session-redis',
];
const ROUTES = {
  public: { method: 'GET', path: '/public' },
  me: { method: 'GET', path: '/me' },
  cart: { method: 'POST', path: '/cart' },
  login: { method: 'POST', path: '/login' },
} as const;
type Route = keyof typeof ROUTES;
type Shape = 'per-connection' | 'one-session';

interface Stats {
  userUs: number;
  systemUs: number;
  statements: number;
  redisCommands: number;
  rss: number;
}

export interface RunResult {
  mode: string;
  route: Route;
  shape: Shape;
  requests: number;
  non2xx: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
  cpuUsPerReq: number;
  /** SQL statements (TypeORM modes) or Redis commands (redis mode) per request. */
  opsPerReq: number;
  opsKind: 'sql' | 'redis' | '-';
  /** Redis: the app's own count of client calls, as a cross-check of commandstats. */
  appRedisPerReq?: number;
}

const env = (k: string, d: string) => process.env[k] ?? d;
const list = (k: string, d: string[]) => (process.env[k] ? process.env[k]!.split(',').map((s) => s.trim()).filter(Boolean) : d);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const SECONDS = Number(env('BENCH_SECONDS', '4'));
const WARMUP = Number(env('BENCH_WARMUP', '1'));
const CONNECTIONS = Number(env('BENCH_CONNECTIONS', '16'));
const PORT = 3700;
const ADMIN = PORT + 1;
const BASE = `http://127.0.0.1:${PORT}`;

// ---------------------------------------------------------------------------------------------
// The app child

async function startApp(mode: string): Promise<ChildProcess> {
  const appJs = join(here, 'app.js');
  const args = [process.execPath, ...(process.env.BENCH_APP_NODE_OPTIONS ? process.env.BENCH_APP_NODE_OPTIONS.split(' ') : []), appJs, mode];
  const [cmd, ...rest] = TASKSET && availableParallelism() >= 2 ? ['taskset', '-c', '1', ...args] : args;
  const child = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BENCH_PORT: String(PORT), BENCH_ADMIN_PORT: String(ADMIN) }, cwd: root });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`bench app '${mode}' exited with ${child.exitCode}: ${out}`);
    try {
      await stats();
      return child;
    } catch {
      await sleep(100);
    }
  }
  child.kill('SIGKILL');
  throw new Error(`bench app '${mode}' did not start: ${out}`);
}

async function stopApp(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(10_000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

async function stats(): Promise<Stats> {
  const res = await fetch(`http://127.0.0.1:${ADMIN}/stats`);
  return (await res.json()) as Stats;
}

// ---------------------------------------------------------------------------------------------
// Sessions and cookies

const COOKIE_NAMES = ['__Host-sid', 'connect.sid'];

function sessionCookieFrom(headers: Record<string, unknown>): string | undefined {
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== 'set-cookie') continue;
    for (const line of Array.isArray(v) ? v : [v]) {
      const pair = String(line).split(';')[0];
      const eq = pair.indexOf('=');
      if (COOKIE_NAMES.includes(pair.slice(0, eq)) && pair.length > eq + 1) return pair;
    }
  }
  return undefined;
}

/** n fresh sessions through POST /setup (not measured). */
async function createSessions(n: number): Promise<string[]> {
  const cookies: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${BASE}/setup`, { method: 'POST' });
    await res.arrayBuffer();
    // No sessions in this mode (none): send a cookie of the same size anyway, as a browser would.
    if (res.status === 404) {
      cookies.push(`__Host-sid=${'A'.repeat(43)}.${'B'.repeat(43)}`);
      continue;
    }
    const cookie = sessionCookieFrom({ 'set-cookie': res.headers.getSetCookie() });
    if (!cookie) throw new Error(`POST /setup answered ${res.status} without a session cookie`);
    cookies.push(cookie);
  }
  return cookies;
}

// ---------------------------------------------------------------------------------------------
// Load

/**
 * One autocannon run. Every connection keeps a cookie jar: its own ('per-connection': autocannon
 * deep-clones the request object per connection, so `jar` is per connection) or one shared by all
 * ('one-session': many tabs of one browser). A Set-Cookie in a response (login rotates the id)
 * updates the jar, as a browser would.
 */
async function load(route: Route, shape: Shape, pool: string[], seconds: number): Promise<autocannon.Result> {
  const shared = { cookie: '' };
  let next = 0;
  const { method, path } = ROUTES[route];
  const request = {
    method,
    path,
    jar: { cookie: '' },
    setupRequest(this: unknown, req: autocannon.Request & { jar: { cookie: string } }) {
      const jar = shape === 'one-session' ? shared : req.jar;
      if (!jar.cookie) jar.cookie = pool[next++ % pool.length];
      req.headers = { ...req.headers, cookie: jar.cookie };
      return req;
    },
    onResponse(this: { jar: { cookie: string } }, _status: number, _body: string, _ctx: unknown, headers: Record<string, unknown>) {
      const cookie = sessionCookieFrom(headers);
      if (cookie) (shape === 'one-session' ? shared : this.jar).cookie = cookie;
    },
  };
  return autocannon({ url: BASE, connections: CONNECTIONS, duration: seconds, requests: [request as unknown as autocannon.Request] });
}

// ---------------------------------------------------------------------------------------------
// Redis commandstats (server-wide: other clients of the same server would be counted too)

async function redisCalls(): Promise<{ total: number; info: number } | undefined> {
  const { createClient } = await import('redis');
  const client = createClient({ url: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379' });
  client.on('error', () => {});
  try {
    await client.connect();
    const text = await client.info('commandstats');
    let total = 0;
    let info = 0;
    for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      total += Number(m[2]);
      if (m[1] === 'info' || m[1] === 'hello' || m[1] === 'client|setinfo' || m[1] === 'quit') info += Number(m[2]);
    }
    return { total, info };
  } finally {
    await client.quit().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------

async function measure(mode: string, route: Route, shape: Shape): Promise<RunResult> {
  const sessions = shape === 'per-connection' ? CONNECTIONS : 1;
  if (WARMUP > 0) await load(route, shape, await createSessions(sessions), WARMUP);
  const pool = await createSessions(sessions);
  const isRedis = mode.includes('redis');
  const r0 = isRedis ? await redisCalls() : undefined;
  const s0 = await stats();
  const result = await load(route, shape, pool, SECONDS);
  const s1 = await stats();
  const r1 = isRedis ? await redisCalls() : undefined;
  const requests = result.requests.total;
  const per = (n: number) => (requests > 0 ? n / requests : NaN);
  const isSql = mode.startsWith('lazy') || mode.startsWith('express-session-typeorm');
  let opsPerReq = 0;
  let opsKind: RunResult['opsKind'] = '-';
  if (isSql) {
    opsPerReq = per(s1.statements - s0.statements);
    opsKind = 'sql';
  } else if (isRedis && r0 && r1) {
    // The INFO/HELLO/QUIT of our own probe connections are not the app's.
    opsPerReq = per(r1.total - r0.total - (r1.info - r0.info));
    opsKind = 'redis';
  }
  return {
    mode,
    route,
    shape,
    requests,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    rps: requests / (result.duration || SECONDS),
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuUsPerReq: per(s1.userUs + s1.systemUs - s0.userUs - s0.systemUs),
    opsPerReq,
    opsKind,
    appRedisPerReq: isRedis ? per(s1.redisCommands - s0.redisCommands) : undefined,
  };
}

async function main(): Promise<void> {
  const modes = list('BENCH_MODES', ALL_MODES);
  const routes = list('BENCH_ROUTES', Object.keys(ROUTES)) as Route[];
  const shapes = list('BENCH_SHAPES', ['per-connection', 'one-session']) as Shape[];
  const started = Date.now();
  const results: RunResult[] = [];
  console.log(`bench: ${modes.length} modes, ${SECONDS}s runs (+${WARMUP}s warm-up), ${CONNECTIONS} connections, pinned: ${TASKSET && process.env.BENCH_PINNED === '1'}`);
  for (const mode of modes) {
    const child = await startApp(mode);
    try {
      for (const route of mode === 'none' || mode.startsWith('none-') ? (['public'] as Route[]).filter((r) => routes.includes(r)) : routes) {
        for (const shape of shapes) {
          const r = await measure(mode, route, shape);
          results.push(r);
          console.log(
            `${mode.padEnd(34)} ${route.padEnd(7)} ${shape.padEnd(15)} ${r.rps.toFixed(0).padStart(7)} req/s  p99 ${String(r.p99).padStart(4)} ms  ` +
              `cpu ${r.cpuUsPerReq.toFixed(0).padStart(5)} µs/req  ${r.opsKind} ${r.opsPerReq.toFixed(2)}/req` +
              (r.non2xx || r.errors ? `  non2xx ${r.non2xx} errors ${r.errors}` : ''),
          );
        }
      }
    } finally {
      await stopApp(child);
    }
  }
  let micro: string | undefined;
  if (process.env.BENCH_MICRO !== '0') {
    console.log('micro-benchmark (in-process, bench/micro.ts) ...');
    micro = await runMicro();
  }
  const out = process.env.BENCH_OUT ?? join(root, 'bench', 'RESULTS.md');
  writeFileSync(out, report(results, micro, (Date.now() - started) / 1000, { modes, routes, shapes }));
  writeFileSync(join(here, 'results.json'), JSON.stringify(results, null, 2));
  console.log(`wrote ${out} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

/** The micro-benchmark in its own process on the app core; its Markdown section on stdout. */
function runMicro(): Promise<string> {
  const args = [process.execPath, join(here, 'micro.js'), '--markdown'];
  const [cmd, ...rest] = TASKSET && availableParallelism() >= 2 ? ['taskset', '-c', '1', ...args] : args;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'inherit'], cwd: root });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`micro.js exited with ${code}`))));
  });
}

// ---------------------------------------------------------------------------------------------
// Report

function pkgVersion(name: string): string {
  try {
    return JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return '?';
  }
}

function machine(): string[] {
  let npm = '?';
  try {
    npm = execFileSync('npm', ['-v'], { encoding: 'utf8' }).trim();
  } catch {}
  const pkgs = ['@nestjs/core', '@nestjs/platform-express', 'typeorm', 'better-sqlite3', 'pg', 'mysql2', 'express-session', 'connect-typeorm', 'connect-redis', 'redis', 'autocannon'];
  let lazy = '?';
  try {
    lazy = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
  } catch {}
  return [
    `- Date: ${new Date().toISOString()}`,
    `- Machine: ${availableParallelism()} CPUs (nproc), ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory`,
    `- Node ${process.version}, npm ${npm}; nestjs-lazy-session ${lazy} (this checkout)`,
    `- Packages: ${pkgs.map((p) => `${p} ${pkgVersion(p)}`).join(', ')}`,
  ];
}

const fmt = (n: number | undefined, d = 0) => (n === undefined || Number.isNaN(n) ? '–' : n.toFixed(d));

function report(results: RunResult[], micro: string | undefined, elapsed: number, sel: { modes: string[]; routes: string[]; shapes: string[] }): string {
  const find = (mode: string, route: Route, shape: Shape) => results.find((r) => r.mode === mode && r.route === route && r.shape === shape);
  const lines: string[] = [];
  lines.push('# Benchmarks: nestjs-lazy-session side by side with express-session', '');
  lines.push('Generated by `npm run bench` (bench/run.ts); do not edit by hand.', '');
  lines.push(...machine());
  lines.push(
    `- Settings: ${SECONDS} s per run after ${WARMUP} s warm-up, ${CONNECTIONS} connections, pipelining 1; app on core 1 (\`taskset -c 1\`), autocannon on core 0; total ${elapsed.toFixed(0)} s.`,
    `- Selection: modes ${sel.modes.join(', ')}; routes ${sel.routes.join(', ')}; shapes ${sel.shapes.join(', ')}.`,
    '',
    'Shapes: **per-connection**: every connection carries its own session cookie (pre-created with `POST /setup`); ' +
      '**one-session**: every connection carries the same session (contention; the connections share one cookie jar, as tabs of one browser do, so a rotated id is picked up by all).',
    'Routes: `GET /public` never uses the session, `GET /me` reads it, `POST /cart` increments a counter in it, `POST /login` logs in with id rotation ' +
      '(ours: `session.login()`; express-session: `req.session.regenerate()`, data carried over). Store settings: our `TypeOrmSessionStore` with default options; ' +
      "connect-typeorm as its README recommends (`cleanupLimit: 2`, `ttl: 86400`); express-session `resave: false, saveUninitialized: false`. SQLite: one file per stack, WAL, `synchronous = NORMAL` (the module's default store settings), for both.",
    'Statement counts allow 1% for requests in flight at the edges of the measured window (their statements are counted, the requests are not). CPU is the app process\'s user+system time (`process.cpuUsage()`) per request. Ops are SQL statements per request (a counting TypeORM logger in the app, both stacks) or Redis commands per request (`INFO commandstats` delta; server-wide).',
    '',
  );

  lines.push('## Results', '');
  lines.push('| mode | route | shape | req/s | p99 ms | CPU µs/req | ops/req | non-2xx | errors |', '|---|---|---|--:|--:|--:|--:|--:|--:|');
  for (const r of results) {
    const ops = r.opsKind === '-' ? '0' : `${fmt(r.opsPerReq, 2)} ${r.opsKind}`;
    lines.push(`| ${r.mode} | ${ROUTES[r.route].method} ${ROUTES[r.route].path} | ${r.shape} | ${fmt(r.rps)} | ${r.p99} | ${fmt(r.cpuUsPerReq)} | ${ops} | ${r.non2xx} | ${r.errors} |`);
  }
  lines.push('');

  // Targets
  type Check = { target: string; value: string; ok: boolean | undefined };
  const checks: Check[] = [];
  const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);
  const add = (target: string, v: number | undefined, ok: (v: number) => boolean, d = 2, suffix = '') =>
    checks.push({ target, value: v === undefined ? 'not run' : `${v.toFixed(d)}${suffix}`, ok: v === undefined ? undefined : ok(v) });
  const shapes: Shape[] = ['per-connection', 'one-session'];
  for (const shape of shapes) {
    const none = find('none', 'public', shape);
    for (const db of ['sqlite', 'postgres', 'mariadb']) {
      const lazy = find(`lazy-${db}`, 'public', shape);
      add(`GET /public ${shape}, lazy-${db}: throughput ≥ 0.95× none`, ratio(lazy?.rps, none?.rps), (v) => v >= 0.95, 2, '×');
      add(`GET /public ${shape}, lazy-${db}: CPU/req ≤ 1.10× none`, ratio(lazy?.cpuUsPerReq, none?.cpuUsPerReq), (v) => v <= 1.1, 2, '×');
      add(`GET /public ${shape}, lazy-${db}: 0 statements`, lazy?.opsPerReq, (v) => v === 0, 2);
    }
  }
  for (const shape of shapes) {
    for (const db of ['sqlite', 'postgres', 'mariadb']) add(`GET /me ${shape}, lazy-${db}: 1 statement`, find(`lazy-${db}`, 'me', shape)?.opsPerReq, (v) => v <= 1.01, 2);
  }
  for (const shape of shapes) {
    add(`GET /me ${shape}: lazy-postgres ≥ 2.5× express-session+connect-typeorm (PostgreSQL)`, ratio(find('lazy-postgres', 'me', shape)?.rps, find('express-session-typeorm-postgres', 'me', shape)?.rps), (v) => v >= 2.5, 2, '×');
    add(`GET /me ${shape}: lazy-sqlite ≥ 6× express-session+connect-typeorm (SQLite)`, ratio(find('lazy-sqlite', 'me', shape)?.rps, find('express-session-typeorm-sqlite', 'me', shape)?.rps), (v) => v >= 6, 2, '×');
  }
  for (const shape of shapes) {
    const max = shape === 'per-connection' ? 2 : 3;
    for (const db of ['sqlite', 'postgres', 'mariadb']) add(`POST /cart ${shape}, lazy-${db}: ≤ ${max} statements`, find(`lazy-${db}`, 'cart', shape)?.opsPerReq, (v) => v <= max * 1.01, 2);
  }
  for (const shape of shapes) {
    add(`POST /cart ${shape}: lazy-postgres ≥ 1.5× express-session+connect-typeorm (PostgreSQL)`, ratio(find('lazy-postgres', 'cart', shape)?.rps, find('express-session-typeorm-postgres', 'cart', shape)?.rps), (v) => v >= 1.5, 2, '×');
    add(`POST /cart ${shape}: lazy-sqlite ≥ 1.5× express-session+connect-typeorm (SQLite)`, ratio(find('lazy-sqlite', 'cart', shape)?.rps, find('express-session-typeorm-sqlite', 'cart', shape)?.rps), (v) => v >= 1.5, 2, '×');
  }
  lines.push('## Targets of the issue', '');
  lines.push('| target | measured | |', '|---|--:|---|');
  for (const c of checks) lines.push(`| ${c.target} | ${c.value} | ${c.ok === undefined ? '–' : c.ok ? 'met' : '**missed**'} |`);
  lines.push('');

  // Side-by-side ratios for every route
  lines.push('## Ratios to express-session on the same database (req/s, ours ÷ theirs)', '');
  lines.push('| route | shape | SQLite (connect-typeorm) | PostgreSQL (connect-typeorm) | lazy-postgres ÷ express-session-redis |', '|---|---|--:|--:|--:|');
  for (const route of Object.keys(ROUTES) as Route[]) {
    for (const shape of shapes) {
      const s = ratio(find('lazy-sqlite', route, shape)?.rps, find('express-session-typeorm-sqlite', route, shape)?.rps);
      const p = ratio(find('lazy-postgres', route, shape)?.rps, find('express-session-typeorm-postgres', route, shape)?.rps);
      const r = ratio(find('lazy-postgres', route, shape)?.rps, find('express-session-redis', route, shape)?.rps);
      if (s === undefined && p === undefined && r === undefined) continue;
      lines.push(`| ${ROUTES[route].method} ${ROUTES[route].path} | ${shape} | ${fmt(s, 2)}× | ${fmt(p, 2)}× | ${fmt(r, 2)}× |`);
    }
  }
  lines.push('');
  if (micro) lines.push(micro.trim(), '');
  return lines.join('\n');
}

// Entry (last, after every const above is initialised).
if (TASKSET && process.env.BENCH_PINNED !== '1' && availableParallelism() >= 2) {
  const child = spawn('taskset', ['-c', '0', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_PINNED: '1' },
  });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
