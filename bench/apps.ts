/**
 * The bench's app processes and the load on them, shared by bench/run.ts (runs one after another) and
 * bench/paired.ts (two apps loaded at the same moment): start a mode's app in its own process (pinned
 * to the app core once up), read its counters, create sessions, and drive a route with autocannon.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { PIN } from './pinning.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? '10');

export const ROUTES = {
  public: { method: 'GET', path: '/public' },
  me: { method: 'GET', path: '/me' },
  cart: { method: 'POST', path: '/cart' },
  login: { method: 'POST', path: '/login' },
} as const;
export type Route = keyof typeof ROUTES;
export type Shape = 'per-connection' | 'one-session';

export interface Stats {
  userUs: number;
  systemUs: number;
  statements: number;
  redisCommands: number;
  /** Requests the app's HTTP server has seen. */
  requests: number;
  rss: number;
}

const PORT = 3700;

// ---------------------------------------------------------------------------------------------
// The app children: every mode of a round runs in its own process, all started before the round's
// first run (each on its own pair of ports), so that the two sides of a ratio can run back to back.

export interface App {
  mode: string;
  child: ChildProcess;
  base: string;
  admin: number;
}

/** How an app process is started: `under` runs it inside another program (bench/instructions.ts: valgrind). */
export interface StartOptions {
  under?: string[];
  /** How long the app may take to answer; 30 s, far more under valgrind. */
  timeoutMs?: number;
}

export async function startApp(mode: string, slot: number, { under = [], timeoutMs = 30_000 }: StartOptions = {}): Promise<App> {
  const appJs = join(here, 'app.js');
  const port = PORT + 2 * slot;
  const app = { mode, base: `http://127.0.0.1:${port}`, admin: port + 1 } as App;
  const args = [process.execPath, '--expose-gc', ...(process.env.BENCH_APP_NODE_OPTIONS ? process.env.BENCH_APP_NODE_OPTIONS.split(' ') : []), appJs, mode];
  // Started on both cores (the apps of a round start together), pinned to the app core once up.
  const [cmd, ...rest] = PIN ? ['taskset', '-c', '0,1', ...under, ...args] : [...under, ...args];
  const child = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BENCH_PORT: String(port), BENCH_ADMIN_PORT: String(app.admin) }, cwd: root });
  app.child = child;
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`bench app '${mode}' exited with ${child.exitCode}: ${out}`);
    try {
      await stats(app);
      // Every thread of the process (-a): libuv's pool and V8's helpers too.
      if (PIN) execFileSync('taskset', ['-a', '-cp', '1', String(child.pid)], { stdio: 'ignore' });
      return app;
    } catch {
      await sleep(100);
    }
  }
  child.kill('SIGKILL');
  throw new Error(`bench app '${mode}' did not start: ${out}`);
}

export async function stopApp(app: App): Promise<void> {
  const child = app.child;
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(10_000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

export async function stats(app: App): Promise<Stats> {
  const res = await fetch(`http://127.0.0.1:${app.admin}/stats`);
  return (await res.json()) as Stats;
}

// ---------------------------------------------------------------------------------------------
// Sessions and cookies

const COOKIE_NAMES = ['__Host-sid', 'connect.sid', 'sessionId'];

export function sessionCookieFrom(headers: Record<string, unknown>): string | undefined {
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

/** n fresh sessions through POST /setup (not measured), each with `bytes` of data besides the counter. */
export async function createSessions(app: App, n: number, bytes = 0): Promise<string[]> {
  const cookies: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${app.base}/setup${bytes ? `?bytes=${bytes}` : ''}`, { method: 'POST' });
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
 * ('one-session': many tabs of one browser); `amount`, when given, is a number of requests instead of
 * a duration. A Set-Cookie in a response (login rotates the id)
 * updates the jar, as a browser would.
 */
export async function load(app: App, route: Route, shape: Shape, pool: string[], seconds: number, amount?: number): Promise<autocannon.Result> {
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
  return autocannon({ url: app.base, connections: CONNECTIONS, ...(amount ? { amount } : { duration: seconds }), requests: [request as unknown as autocannon.Request] });
}

