/**
 * `npm run bench`: nestjs-lazy-session side by side with express-session (+ connect-typeorm,
 * + connect-redis) on Express and with @fastify/session (+ connect-typeorm, + connect-redis) on
 * Fastify, in the same NestJS app, and the same app without sessions as the ceiling on each platform.
 *
 * The orchestrator and its autocannon load run on core 0 (it re-executes itself under
 * `taskset -c 0`); each mode's app runs in a child process under `taskset -c 1`. For every
 * mode × route × traffic shape it measures requests/s, p99 latency, the app's CPU time per request
 * (process.cpuUsage() deltas from the app's admin server), SQL statements per request (a counting
 * TypeORM logger in the app) or Redis round trips per request (the app's client calls; the server's
 * INFO commandstats delta, which also counts the commands a Lua script runs, is shown next to it),
 * and writes bench/RESULTS.md with the ratios of the issue's targets.
 *
 * Every comparison is decided on interleaved rounds (BENCH_ROUNDS, at least 3 by default). In each
 * round every mode's app is a fresh process; all of them start together (on both cores, then pinned
 * to the app core), each is warmed on everything it will serve, and then the round's runs go route by
 * route, each route's modes in ALL_MODES order, which puts the two sides of every ratio next to each
 * other (on GET /public, when run in sequence, the app without sessions runs again after every second store), forwards in
 * odd rounds and backwards in even ones; every run starts with a forced GC of the app. A ratio is
 * taken per run against the nearest run of the other side in the same round (the mean of both when
 * one is just before and one just after), and reported as the median over the rounds with its
 * min–max; a target counts as met on the median only.
 *
 * GET /public is the exception: its targets ask for a few percent, which runs in sequence cannot
 * resolve on a shared machine, and a baseline that runs more often than the modes around it is
 * favoured. The full run measures it in paired runs instead (bench/paired.ts: each mode and the app
 * without sessions on the same core at the same moment, fresh processes per pair, an A/A pair for the
 * resolution), and they decide its targets; a focus that names it (public, public-fastify) also runs
 * it in sequence, with `none-<store>` (the app without sessions holding the store's client).
 *
 * The full run (no BENCH_FOCUS/MODES/ROUTES): GET /me and POST /cart with one session shared by all
 * connections on the stacks that targets compare, and the floor of a session read on Express and
 * Fastify (bench/app.ts, floorStack); the size sweep (1, 16, 64 kB sessions on SQLite, PostgreSQL, Redis);
 * GET /public in paired runs on every store and platform; the CPU profiles of GET /me on PostgreSQL
 * (bench/profile.ts, Express and Fastify); the Redis Cluster section: 890 s on this
 * 2-core machine on a slow day (966 s before the trims noted at warm(), cluster.ts and profile.ts).
 *
 * Environment (all optional):
 *   BENCH_ROUNDS        rounds (default 3)
 *   BENCH_FOCUS         comma list of comparisons to run alone while working, instead of the full
 *                       selection: paired, public, public-fastify, postgres, postgres-fastify, sqlite,
 *                       redis, current, sizes, profile, pg-path (see FOCUS below);
 *                       e.g. BENCH_FOCUS=public BENCH_ROUNDS=5 npm run bench
 *   BENCH_SECONDS       measured seconds per run (default 2; the size sweep's: BENCH_SWEEP_SECONDS, 1)
 *   BENCH_WARMUP        warm-up seconds before each run (default 0.3)
 *   BENCH_APP_WARMUP    seconds each process is warmed before its round, over all it serves (default 1.5)
 *   BENCH_CONNECTIONS   autocannon connections (default 10)
 *   BENCH_MODES         comma list of modes (default: ALL_MODES but OPTIONAL_MODES, or the focus's)
 *   BENCH_ROUTES        comma list among public,me,cart,login (default public,me,cart)
 *   BENCH_SHAPES        comma list among per-connection,one-session (default: GET /public
 *                       per-connection, the others one-session)
 *   BENCH_SIZES         the size sweep's session sizes in bytes (default 1000,16000,64000);
 *                       BENCH_SWEEP=0 leaves the sweep out
 *   BENCH_OUT           where to write the Markdown (default bench/RESULTS.md)
 *   BENCH_PAIRED        0 to leave out the paired runs of GET /public (then measured in sequence);
 *                       PAIRED_RUNS: runs of each pair per round (default 1); PAIRED_WARMUP: seconds
 *                       of each paired run's load before its window (default 2.5; see bench/paired.ts)
 *   BENCH_MICRO         1 to add the in-process micro-benchmark (bench/micro.ts, 3 rounds); off by
 *                       default since GET /public is decided by paired runs (bench/paired.ts)
 *   BENCH_PROFILE       0 to skip the CPU profile (PROFILE_SECONDS: its measured seconds, default 3)
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasCookieStore, opsKindOf } from './app.js';
import { CONNECTIONS, ROUTES, createSessions, load, startApp, stats, stopApp, type App, type Route, type Shape } from './apps.js';
import { fmtSpread, spread, type Spread } from './spread.js';
import { clusterSection } from './cluster.js';
import { PIN } from './pinning.js';
import { pairedPublic, pairedRatio, pairedSection, type PairedRun } from './paired.js';
import { profileSection } from './profile.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

// ---------------------------------------------------------------------------------------------
// Pinning: the orchestrator (and so autocannon, which runs in-process) on core 0.


// ---------------------------------------------------------------------------------------------

/**
 * Every mode, in the order a round measures them on each route: the two sides of every ratio are
 * neighbours (ours next to theirs, `none` amid the stores whose `GET /public` it is compared with),
 * so they run seconds apart; every other round runs the order backwards.
 */
export const ALL_MODES = [
  // Express
  'floor-postgres',
  'lazy-postgres',
  'none-postgres',
  'express-session-typeorm-postgres',
  'lazy-sqlite',
  'none-sqlite',
  'express-session-typeorm-sqlite',
  'express-session-typeorm-sqlite-defaults',
  'none',
  'lazy-sqlite-current',
  'lazy-redis',
  'none-redis',
  'express-session-redis',
  'lazy-mariadb',
  ...(hasCookieStore ? ['lazy-cookie'] : []),
  // Fastify
  'floor-fastify-postgres',
  'lazy-fastify-postgres',
  'fastify-session-typeorm-postgres',
  'none-fastify',
  'lazy-fastify-sqlite',
  'fastify-session-redis',
];
/** Modes with no target, left out of the full run for time (BENCH_MODES or a focus brings them back). */
const OPTIONAL_MODES = ['fastify-session-redis', 'express-session-typeorm-sqlite', 'lazy-sqlite-current', 'none-sqlite', 'none-postgres', 'none-redis'];
/** Session sizes of the size sweep (bytes of data besides the counter), and the stores it covers. */
const SWEEP_MODES = ['lazy-sqlite', 'lazy-postgres', 'lazy-redis'];
const SWEEP_ROUTES: Route[] = ['me', 'cart'];
const BOTH: Shape[] = ['per-connection', 'one-session'];

/** The comparisons that BENCH_FOCUS can run alone: what each needs, nothing more. */
const FOCUS: Record<string, { modes: string[]; routes: Route[]; shapes: Shape[]; sweep?: boolean }> = {
  public: { modes: ['none', 'lazy-sqlite', 'none-sqlite', 'lazy-postgres', 'none-postgres', 'lazy-redis', 'none-redis'], routes: ['public'], shapes: ['per-connection'] },
  'public-fastify': { modes: ['none-fastify', 'lazy-fastify-sqlite', 'lazy-fastify-postgres'], routes: ['public'], shapes: ['per-connection'] },
  postgres: { modes: ['floor-postgres', 'lazy-postgres', 'express-session-typeorm-postgres'], routes: ['me', 'cart'], shapes: ['one-session'] },
  'postgres-fastify': { modes: ['floor-fastify-postgres', 'lazy-fastify-postgres', 'fastify-session-typeorm-postgres'], routes: ['me', 'cart'], shapes: ['one-session'] },
  sqlite: { modes: ['lazy-sqlite', 'express-session-typeorm-sqlite', 'express-session-typeorm-sqlite-defaults'], routes: ['me', 'cart'], shapes: ['one-session'] },
  redis: { modes: ['lazy-redis', 'express-session-redis'], routes: ['me', 'cart'], shapes: ['one-session'] },
  current: { modes: ['none', 'lazy-sqlite', 'lazy-sqlite-current'], routes: ['public', 'me', 'cart'], shapes: ['one-session'] },
  /** GET /public's targets alone: every lazy mode and the app without sessions, loaded at the same moment (bench/paired.ts). */
  paired: { modes: ['none', 'lazy-sqlite', 'lazy-postgres', 'lazy-mariadb', 'lazy-redis', 'lazy-cookie', 'none-fastify', 'lazy-fastify-sqlite', 'lazy-fastify-postgres'], routes: [], shapes: [] },
  sizes: { modes: [], routes: [], shapes: [], sweep: true },
  profile: { modes: [], routes: [], shapes: [] },
  /** The store's own PostgreSQL path against TypeORM's QueryRunner (what 0.1.0 did). */
  'pg-path': { modes: ['lazy-postgres', 'lazy-postgres-viaorm'], routes: ['me', 'cart'], shapes: ['one-session'] },
};

export interface RunResult {
  /** 1-based: which interleaved round this run belongs to. */
  round: number;
  /** Size sweep only: bytes of session data besides the counter. */
  bytes?: number;
  /** Position in its round: a ratio compares a run with the nearest run of the other side. */
  seq: number;
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
  /** SQL statements (TypeORM modes) or Redis round trips (the app's client calls; redis modes) per request. */
  opsPerReq: number;
  opsKind: 'sql' | 'redis' | '-';
  /** Redis: commands the server ran per request (INFO commandstats, commands inside Lua scripts included). */
  serverRedisPerReq?: number;
  rss: number;
}

const env = (k: string, d: string) => process.env[k] ?? d;
const list = (k: string, d: string[]) => (process.env[k] ? process.env[k]!.split(',').map((s) => s.trim()).filter(Boolean) : d);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const SECONDS = Number(env('BENCH_SECONDS', '2'));
/** The size sweep's runs: its effects are large (2× and more), so shorter runs decide them. */
const SWEEP_SECONDS = Number(env('BENCH_SWEEP_SECONDS', '1'));
const ROUNDS = Math.max(1, Math.floor(Number(env('BENCH_ROUNDS', '3'))));
const WARMUP = Number(env('BENCH_WARMUP', '0.3'));
/** Each process's warm-up before the round's first measured run, over everything it will serve. */
const APP_WARMUP = Number(env('BENCH_APP_WARMUP', '1.5'));
const SIZES = list('BENCH_SIZES', ['1000', '16000', '64000']).map(Number);
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

/**
 * Load on each distinct run of the app, and on GET /public, GET /me and POST /cart whether measured or
 * not (the app without sessions answers them without one), so that every process of a round has
 * served the same kinds of request; BENCH_APP_WARMUP seconds shared among them (0.3 s at least each).
 * Not the size sweep's runs: their ratios are 1.2–4×, each run has its own warm-up, and warming
 * their six sessions in every round cost a minute of the full run's 15.
 */
async function warm(app: App, steps: Step[]): Promise<void> {
  const seen = new Set<string>();
  const common: Step[] = [
    { mode: app.mode, route: 'public', shape: 'per-connection' },
    { mode: app.mode, route: 'me', shape: 'one-session' },
    { mode: app.mode, route: 'cart', shape: 'one-session' },
  ];
  const distinct = [...common, ...steps.filter((x) => x.bytes === undefined)].filter((x) => !seen.has(`${x.route} ${x.shape}`) && seen.add(`${x.route} ${x.shape}`));
  const each = Math.max(0.3, APP_WARMUP / distinct.length);
  for (const x of distinct) await load(app, x.route, x.shape, await createSessions(app, x.shape === 'per-connection' ? CONNECTIONS : 1, x.bytes), each);
}

async function measure(app: App, route: Route, shape: Shape, round: number, seq: number, bytes?: number): Promise<RunResult> {
  const mode = app.mode;
  const sessions = shape === 'per-connection' ? CONNECTIONS : 1;
  const warmup = WARMUP;
  if (warmup > 0) await load(app, route, shape, await createSessions(app, sessions, bytes), warmup);
  const pool = await createSessions(app, sessions, bytes);
  const opsKind = opsKindOf(mode);
  const isRedis = opsKind === 'redis';
  const r0 = isRedis ? await redisCalls() : undefined;
  await (await fetch(`http://127.0.0.1:${app.admin}/gc`)).arrayBuffer();
  const s0 = await stats(app);
  const result = await load(app, route, shape, pool, bytes === undefined ? SECONDS : SWEEP_SECONDS);
  const s1 = await stats(app);
  const r1 = isRedis ? await redisCalls() : undefined;
  const requests = result.requests.total;
  const per = (n: number) => (requests > 0 ? n / requests : NaN);
  let opsPerReq = 0;
  let serverRedisPerReq: number | undefined;
  if (opsKind === 'sql') opsPerReq = per(s1.statements - s0.statements);
  else if (isRedis) {
    opsPerReq = per(s1.redisCommands - s0.redisCommands);
    // The INFO/HELLO/QUIT of our own probe connections are not the app's.
    if (r0 && r1) serverRedisPerReq = per(r1.total - r0.total - (r1.info - r0.info));
  }
  return {
    round,
    seq,
    mode,
    route,
    shape,
    ...(bytes !== undefined ? { bytes } : {}),
    requests,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    rps: requests / (result.duration || (bytes === undefined ? SECONDS : SWEEP_SECONDS)),
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuUsPerReq: per(s1.userUs + s1.systemUs - s0.userUs - s0.systemUs),
    opsPerReq,
    opsKind,
    serverRedisPerReq,
    rss: s1.rss,
  };
}

/** Routes a mode serves: the none modes only /public, the CurrentSession variant /public, /me and /cart. */
function routesOf(mode: string, all: Route[]): Route[] {
  const full = process.env.BENCH_MODES === undefined && process.env.BENCH_ROUTES === undefined && process.env.BENCH_FOCUS === undefined;
  // The full run measures GET /public in paired runs only (bench/paired.ts): in sequence, the
  // baseline that runs most often is favoured (see there), and the noise hides a few percent.
  const routes = full && process.env.BENCH_PAIRED !== '0' ? all.filter((r) => r !== 'public') : all;
  if (mode === 'none' || mode.startsWith('none-')) return routes.filter((r) => r === 'public');
  // The floor is a lower bound for reading a session, nothing else.
  if (mode.startsWith('floor-')) return routes.filter((r) => r === 'me');
  if (mode.endsWith('-current')) return routes.filter((r) => r === 'public' || (r === 'me' && !full));
  // Stores with no target beyond GET /public: /me and /cart only when asked for.
  if (full && (mode === 'lazy-mariadb' || mode === 'lazy-cookie')) return routes.filter((r) => r === 'public');
  // No target compares another stack's GET /public: it runs only when asked for (BENCH_MODES).
  if (!mode.startsWith('lazy') && process.env.BENCH_MODES === undefined) return routes.filter((r) => r !== 'public');
  return routes;
}

/** The runs of one mode in a round. GET /public never reads the session: one shape is enough for it. */
function runsOf(mode: string, routes: Route[], shapes: Shape[], shapesGiven: boolean): Array<[Route, Shape]> {
  const out: Array<[Route, Shape]> = [];
  for (const route of routesOf(mode, routes)) {
    const mine = route === 'public' && !shapesGiven ? ['per-connection' as Shape] : shapes;
    for (const shape of mine) out.push([route, shape]);
  }
  return out;
}

interface Selection {
  modes: string[];
  routes: Route[];
  shapes: Shape[];
  shapesGiven: boolean;
  focus: string[];
  /** The size sweep's stores (none: no sweep). */
  sweep: string[];
}

/**
 * BENCH_FOCUS, or the full selection; explicit BENCH_MODES/ROUTES/SHAPES win over either. The full
 * selection measures `/me` and `/cart` with one session shared by every connection (the issue's
 * shape: tabs of one browser); BENCH_SHAPES=per-connection,one-session adds the other one.
 */
function selection(): Selection {
  const focus = list('BENCH_FOCUS', []);
  const unknown = focus.filter((f) => !FOCUS[f]);
  if (unknown.length) throw new Error(`BENCH_FOCUS: unknown ${unknown.join(', ')}; choose among ${Object.keys(FOCUS).join(', ')}`);
  const union = <T>(pick: (f: (typeof FOCUS)[string]) => T[]): T[] => [...new Set(focus.flatMap((f) => pick(FOCUS[f])))];
  const modes = list('BENCH_MODES', focus.length ? union((f) => f.modes) : ALL_MODES.filter((m) => !OPTIONAL_MODES.includes(m)));
  const routes = list('BENCH_ROUTES', focus.length ? union((f) => f.routes) : ['public', 'me', 'cart']) as Route[];
  const shapes = list('BENCH_SHAPES', focus.length ? union((f) => f.shapes) : ['per-connection', 'one-session']) as Shape[];
  const shapesGiven = process.env.BENCH_SHAPES !== undefined || focus.length > 0;
  // Full run: /public per-connection (no session is read), /me and /cart one-session.
  const fullShapes = !shapesGiven;
  const sweep = process.env.BENCH_SWEEP === '0' ? [] : focus.length === 0 || focus.some((f) => FOCUS[f].sweep) ? SWEEP_MODES : [];
  return { modes, routes, shapes: fullShapes ? ['one-session'] : shapes, shapesGiven: !fullShapes || shapesGiven, focus, sweep };
}

/**
 * GET /public: the app without sessions (`none`, `none-fastify`) runs again after every second mode
 * of its platform, so that every mode it is compared with runs right next to one of its runs.
 */
function withBaselines(modes: string[]): string[] {
  const out: string[] = [];
  for (const base of ['none', 'none-fastify']) {
    if (!modes.includes(base)) continue;
    const platform = (m: string) => m.includes('fastify');
    const others = modes.filter((m) => m !== base && platform(m) === platform(base));
    others.forEach((m, i) => {
      out.push(m);
      if (i % 2 === 0 || i === others.length - 1) out.push(base);
    });
    if (others.length === 0) out.push(base);
  }
  return out.concat(modes.filter((m) => !out.includes(m)));
}

interface Step {
  mode: string;
  route: Route;
  shape: Shape;
  bytes?: number;
}

/**
 * A round's runs, route by route (and size by size in the sweep), each route's modes in ALL_MODES
 * order, so that the sides of every ratio are neighbours; odd rounds forwards, even ones backwards.
 */
function plan(sel: Selection, round: number): Step[] {
  const steps: Step[] = [];
  const order = ALL_MODES.filter((m) => sel.modes.includes(m)).concat(sel.modes.filter((m) => !ALL_MODES.includes(m)));
  const keys: Array<[Route, Shape]> = [];
  for (const route of sel.routes) for (const shape of [...sel.shapes, 'per-connection' as Shape]) if (!keys.some(([r, s]) => r === route && s === shape)) keys.push([route, shape]);
  for (const [route, shape] of keys) {
    const serving = order.filter((mode) => runsOf(mode, sel.routes, sel.shapes, sel.shapesGiven).some(([r, s]) => r === route && s === shape));
    for (const mode of route === 'public' ? withBaselines(serving) : serving) steps.push({ mode, route, shape });
  }
  for (const route of SWEEP_ROUTES) for (const bytes of SIZES) for (const mode of sel.sweep) steps.push({ mode, route, shape: 'one-session', bytes });
  return round % 2 === 1 ? steps : steps.reverse();
}

/** Other load on the machine: /proc/loadavg, and each core's busy share over `ms` while the bench is idle. */
interface HostLoad {
  loadavg: string;
  busy: number[];
}
async function hostLoad(ms = 1000): Promise<HostLoad | undefined> {
  try {
    const read = () =>
      readFileSync('/proc/stat', 'utf8')
        .split('\n')
        .filter((l) => /^cpu\d+ /.test(l))
        .map((l) => {
          const v = l.trim().split(/\s+/).slice(1).map(Number);
          const idle = v[3] + (v[4] ?? 0);
          return { idle, total: v.reduce((x, y) => x + y, 0) };
        });
    const a = read();
    await sleep(ms);
    const b = read();
    return {
      loadavg: readFileSync('/proc/loadavg', 'utf8').trim().split(' ').slice(0, 3).join(' '),
      busy: b.map((c, i) => 1 - (c.idle - a[i].idle) / Math.max(1, c.total - a[i].total)),
    };
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const sel = selection();
  const { modes, focus } = sel;
  const before = await hostLoad();
  const started = Date.now();
  const results: RunResult[] = [];
  const loads: string[] = [];
  console.log(
    `bench: ${modes.length} modes × ${ROUNDS} interleaved rounds, ${SECONDS}s runs (+${WARMUP}s warm-up; each process warmed ${APP_WARMUP}s before the round), ${CONNECTIONS} connections, pinned: ${PIN && process.env.BENCH_PINNED === '1'}` +
      (focus.length ? `, focus ${focus.join(', ')}` : '') + (sel.sweep.length ? `, size sweep ${SIZES.join('/')} B on ${sel.sweep.join(', ')}` : ''),
  );
  if (before) console.log(`host before: loadavg ${before.loadavg}, per-core busy ${before.busy.map((b) => `${(b * 100).toFixed(0)}%`).join(' ')}`);
  for (let round = 1; round <= ROUNDS; round++) {
    const steps = plan(sel, round);
    // Fresh processes every round: two processes of one mode differ, and the spread should show it.
    const apps = new Map<string, App>();
    try {
      const launched = await Promise.allSettled([...new Set(steps.map((x) => x.mode))].map((mode, slot) => startApp(mode, slot)));
      for (const r of launched) if (r.status === 'fulfilled') apps.set(r.value.mode, r.value);
      const failed = launched.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      // Every process warmed on everything it will serve before any run is measured: otherwise the
      // first measured run of each process would be its coldest, and a mode measured more than once
      // in a round (none) would have an edge over the others.
      console.log(`${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s round ${round}: ${apps.size} apps started`);
      for (const app of apps.values()) await warm(app, steps.filter((x) => x.mode === app.mode));
      console.log(`${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s round ${round}: warmed`);
      for (const [seq, step] of steps.entries()) {
        const r = await measure(apps.get(step.mode)!, step.route, step.shape, round, seq, step.bytes);
        results.push(r);
        const ops = r.opsKind === '-' ? '' : `${r.opsKind} ${r.opsPerReq.toFixed(2)}/req` + (r.serverRedisPerReq !== undefined ? ` (server ${r.serverRedisPerReq.toFixed(2)})` : '');
        console.log(
          `${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s r${round} ${step.mode.padEnd(34)} ${(step.route + (step.bytes ? ` ${step.bytes / 1000}kB` : '')).padEnd(9)} ${step.shape.padEnd(15)} ${r.rps.toFixed(0).padStart(7)} req/s  p99 ${String(r.p99).padStart(4)} ms  ` +
            `cpu ${r.cpuUsPerReq.toFixed(0).padStart(5)} µs/req  ${ops}` +
            (r.non2xx || r.errors ? `  non2xx ${r.non2xx} errors ${r.errors}` : ''),
        );
      }
    } finally {
      for (const app of apps.values()) await stopApp(app);
    }
    loads.push(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  }
  // GET /public's targets: each lazy mode and the app without sessions at the same moment (bench/paired.ts).
  let paired: PairedRun[] = [];
  if (process.env.BENCH_PAIRED !== '0' && (focus.length === 0 || focus.includes('paired') || focus.includes('public') || focus.includes('public-fastify'))) {
    console.log(`${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s GET /public, paired runs (bench/paired.ts) ...`);
    paired = await pairedPublic(modes, ROUNDS, (line) => console.log(`${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s ${line}`));
  }
  let micro: string | undefined;
  if (process.env.BENCH_MICRO === '1') {
    console.log('micro-benchmark (in-process, bench/micro.ts) ...');
    micro = await runMicro();
  }
  let profile: string | undefined;
  if (process.env.BENCH_PROFILE !== '0' && (focus.length === 0 || focus.includes('profile'))) {
    console.log('CPU profile of GET /me on PostgreSQL (bench/profile.ts) ...');
    profile = await profileSection({ seconds: Number(process.env.PROFILE_SECONDS ?? 3), connections: CONNECTIONS });
  }
  // What sharding costs (bench/cluster.ts): about 2 minutes of the full run's 15. BENCH_CLUSTER=0 skips it.
  let cluster: string | undefined;
  if (process.env.BENCH_CLUSTER !== '0' && focus.length === 0) {
    // Started (or reused) by the repository's own script, as CI does.
    execFileSync('bash', [join(root, 'scripts', 'redis-cluster.sh'), 'start'], { stdio: 'inherit' });
    cluster = await clusterSection({ seconds: SECONDS, rounds: ROUNDS });
  }
  const after = await hostLoad();
  if (after) console.log(`host after: loadavg ${after.loadavg}, per-core busy ${after.busy.map((b) => `${(b * 100).toFixed(0)}%`).join(' ')}`);
  const out = process.env.BENCH_OUT ?? join(root, 'bench', 'RESULTS.md');
  writeFileSync(out, report(results, paired, [profile, micro, cluster], (Date.now() - started) / 1000, sel, { before, after, loads }));
  writeFileSync(join(here, 'results.json'), JSON.stringify(results, null, 2));
  console.log(`wrote ${out} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

/** The micro-benchmark in its own process on the app core; its Markdown section on stdout. */
function runMicro(): Promise<string> {
  const args = [process.execPath, join(here, 'micro.js'), '--markdown'];
  const [cmd, ...rest] = PIN ? ['taskset', '-c', '1', ...args] : args;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'inherit'], cwd: root, env: { MICRO_ROUNDS: '3', MICRO_N: '2500', ...process.env } });
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
  const pkgs = [
    '@nestjs/core', '@nestjs/platform-express', '@nestjs/platform-fastify', 'fastify', 'typeorm', 'better-sqlite3', 'pg', 'mysql2', 'ioredis',
    'express-session', 'connect-typeorm', 'connect-redis', 'redis', '@fastify/session', '@fastify/cookie', 'autocannon',
  ];
  let lazy = '?';
  try {
    lazy = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
  } catch {}
  return [
    `- Date: ${new Date().toISOString()}`,
    `- Machine: ${cpus().length} CPUs, ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory`,
    `- Node ${process.version}, npm ${npm}; nestjs-lazy-session ${lazy} (this checkout)`,
    `- Packages: ${pkgs.map((p) => `${p} ${pkgVersion(p)}`).join(', ')}`,
  ];
}

const fmt = (n: number | undefined, d = 0) => (n === undefined || Number.isNaN(n) ? '–' : n.toFixed(d));

interface LoadInfo {
  before?: HostLoad;
  after?: HostLoad;
  loads: string[];
}

function loadLine(load: LoadInfo): string[] {
  const show = (h?: HostLoad) => (h ? `loadavg ${h.loadavg}, per-core busy ${h.busy.map((b) => `${(b * 100).toFixed(0)}%`).join(' / ')}` : 'not available');
  const busy = [...(load.before?.busy ?? []), ...(load.after?.busy ?? [])];
  const max = busy.length ? Math.max(...busy) : 0;
  const nums = load.loads.map(Number).filter((n) => !Number.isNaN(n));
  const lines = [
    `- Other load on the machine, sampled for 1 s while the bench itself was idle: before the run ${show(load.before)}; after it ${show(load.after)}.` +
      (nums.length ? ` 1-minute load average after each mode (the bench's own app + load generator + database count here): ${Math.min(...nums).toFixed(2)}–${Math.max(...nums).toFixed(2)}.` : ''),
  ];
  if (max > 0.2) lines.push(`- **Warning: another process kept a core ${(max * 100).toFixed(0)}% busy outside the bench; absolute figures are depressed and ratios noisier than usual.**`);
  return lines;
}

type Check = { group: string; target: string; value: string; ok: boolean | undefined };


function report(all: RunResult[], paired: PairedRun[], extra: Array<string | undefined>, elapsed: number, sel: Selection, load: LoadInfo): string {
  const results = all.filter((r) => r.bytes === undefined);
  const sweep = all.filter((r) => r.bytes !== undefined);
  const runs = (mode: string, route: Route, shape: Shape) => results.filter((r) => r.mode === mode && r.route === route && r.shape === shape);
  const stat = (mode: string, route: Route, shape: Shape, pick: (r: RunResult) => number) => spread(runs(mode, route, shape).map(pick));
  /** A ÷ B per round (the two ran close in time), then their spread. */
  const ratioOf = nearestRatio;
  const rpsRatio = (a: string, b: string, route: Route, shape: Shape) => ratioOf(runs(a, route, shape), runs(b, route, shape), (r) => r.rps);
  const cpuRatio = (a: string, b: string, route: Route, shape: Shape) => ratioOf(runs(a, route, shape), runs(b, route, shape), (r) => r.cpuUsPerReq);
  const keys: Array<[string, Route, Shape]> = [];
  for (const r of results) if (!keys.some(([m, ro, sh]) => m === r.mode && ro === r.route && sh === r.shape)) keys.push([r.mode, r.route, r.shape]);

  const lines: string[] = [];
  lines.push('# Benchmarks: nestjs-lazy-session side by side with express-session and @fastify/session', '');
  lines.push('Generated by `npm run bench` (bench/run.ts); do not edit by hand.', '');
  lines.push(...machine());
  lines.push(
    `- Settings: ${ROUNDS} interleaved rounds (every run once per round; in each round every mode's app is a fresh process, all started before its first run, and each route's modes run back to back with the two sides of every ratio next to each other, forwards in odd rounds and backwards in even ones); ${SECONDS} s per run after ${WARMUP} s warm-up (and every process warmed for ${APP_WARMUP} s over all it serves before the round's first run), ${CONNECTIONS} connections, pipelining 1; app on core 1 (\`taskset -c 1\`), autocannon on core 0; total ${elapsed.toFixed(0)} s. ` +
      'Every figure below is the median over the rounds with its min–max in parentheses; a ratio is taken within each round (both sides ran close together in time) and its median decides a target. ' +
      'One comparison alone, while working: `BENCH_FOCUS=public npm run bench` (see bench/run.ts for the list).',
    ...loadLine(load),
    `- Selection: ${sel.focus.length ? `focus ${sel.focus.join(', ')}; ` : ''}modes ${sel.modes.join(', ')}; routes ${sel.routes.join(', ')}; shapes ${sel.shapes.join(', ')} (\`GET /public\` per-connection only, unless shapes are given)` +
      (sel.sweep.length ? `; size sweep on ${sel.sweep.join(', ')} at ${SIZES.join(', ')} bytes.` : '.'),
    '',
    'Modes: `none`/`none-fastify` are the same Nest app without sessions (the ceiling) on Express / Fastify; `none-<store>` the same app holding (unused) the database client `lazy-<store>` uses; `lazy-<store>` and `lazy-fastify-<store>` are this module with `@Session()` in the handlers ' +
      '(stores: `TypeOrmSessionStore` on SQLite, PostgreSQL or MariaDB; `RedisSessionStore` over ioredis with `{ enableOfflineQueue: false, maxRetriesPerRequest: 1 }`; `CookieSessionStore` when this checkout exports it); ' +
      '`lazy-sqlite-current` is `lazy-sqlite` with `/me` and `/cart` going through a singleton service that injects `CurrentSession`, which turns on the module\'s AsyncLocalStorage for every request; ' +
      '`express-session-*` is express-session on Express, `fastify-session-*` is @fastify/session + @fastify/cookie registered on Nest\'s Fastify instance, each over connect-typeorm or connect-redis (node-redis client; @fastify/session takes express-session stores as they are).',
    'Shapes: **per-connection**: every connection carries its own session cookie (pre-created with `POST /setup`); ' +
      '**one-session**: every connection carries the same session (contention; the connections share one cookie jar, as tabs of one browser do, so a rotated id is picked up by all).',
    'Routes: `GET /public` never uses the session, `GET /me` reads it, `POST /cart` increments a counter in it, `POST /login` (only with `BENCH_ROUTES=…,login`) logs in with id rotation ' +
      '(ours: `session.login()`; express-session / @fastify/session: `req.session.regenerate()`, data carried over). Store settings: our `TypeOrmSessionStore` with default options; ' +
      "connect-typeorm as its README recommends (`cleanupLimit: 2`, `ttl: 86400`); express-session `resave: false, saveUninitialized: false`; @fastify/session `saveUninitialized: false, rolling: false`, cookie `secure: false` (it never saves a session with a Secure cookie on plain HTTP; express-session's default is the same). SQLite: one file per stack, WAL, `synchronous = NORMAL` (the module's default store settings), for both, except `express-session-typeorm-sqlite-defaults`.",
    'Statement counts allow 1% for requests in flight at the edges of the measured window (their statements are counted, the requests are not). CPU is the app process\'s user+system time (`process.cpuUsage()`) per request. ' +
      'Ops are SQL statements per request (a counting TypeORM logger in the app, all stacks) or Redis round trips per request (the app\'s client calls, all stacks; in parentheses the commands the server ran, `INFO commandstats`, which also counts each command a Lua script runs: our Redis store sends one script per write).',
    '',
  );

  lines.push('## Results (median over the rounds, min–max in parentheses)', '');
  lines.push('| mode | route | shape | req/s | p99 ms | CPU µs/req | ops/req | non-2xx | errors |', '|---|---|---|--:|--:|--:|--:|--:|--:|');
  for (const [mode, route, shape] of keys) {
    const rs = runs(mode, route, shape);
    const kind = rs[0].opsKind;
    const opsMedian = spread(rs.map((r) => r.opsPerReq))?.median;
    const serverMedian = spread(rs.map((r) => r.serverRedisPerReq ?? NaN))?.median;
    const ops = kind === '-' ? '0' : `${fmt(opsMedian, 2)} ${kind}` + (serverMedian !== undefined ? ` (${fmt(serverMedian, 2)})` : '');
    const sum = (f: (r: RunResult) => number) => rs.reduce((a, r) => a + f(r), 0);
    lines.push(
      `| ${mode} | ${ROUTES[route].method} ${ROUTES[route].path} | ${shape} | ${fmtSpread(stat(mode, route, shape, (r) => r.rps))} | ${fmtSpread(stat(mode, route, shape, (r) => r.p99))} | ` +
        `${fmtSpread(stat(mode, route, shape, (r) => r.cpuUsPerReq))} | ${ops} | ${sum((r) => r.non2xx)} | ${sum((r) => r.errors)} |`,
    );
  }
  lines.push('');

  // Targets: judged on the median only; the spread is shown next to it.
  const checks: Check[] = [];
  let group = '';
  const add = (target: string, v: Spread | undefined, ok: (median: number) => boolean, d = 2, suffix = '') =>
    checks.push({ group, target, value: v === undefined ? 'not run' : fmtSpread(v, d, suffix), ok: v === undefined ? undefined : ok(v.median) });
  const shapes = BOTH;
  const unit = (mode: string) => (opsKindOf(mode) === 'redis' ? 'round trip' : 'statement');
  const ops = (mode: string, route: Route, shape: Shape) => stat(mode, route, shape, (r) => r.opsPerReq);
  const ran = (mode: string, route: Route, shape: Shape) => runs(mode, route, shape).length > 0;

  const platformTargets = (none: string, lazyModes: string[], theirs: Array<{ lazy: string; theirs: string; label: string; me: number; cart: number }>) => {
    for (const shape of shapes) {
      if (!ran(none, 'public', shape) && !(shape === 'per-connection' && paired.some((r) => r.b === none))) continue;
      for (const lazy of lazyModes) {
        // Paired runs (both apps at the same moment) decide where they ran: see bench/paired.ts.
        const both = shape === 'per-connection' && paired.some((r) => r.a === lazy && r.b === none);
        const how = both ? ' (paired)' : '';
        add(`GET /public ${shape}, ${lazy}: throughput ≥ 0.97× ${none}${how}`, both ? pairedRatio(paired, lazy, none, 'rps') : rpsRatio(lazy, none, 'public', shape), (v) => v >= 0.97, 2, '×');
        add(`GET /public ${shape}, ${lazy}: CPU/req ≤ 1.05× ${none}${how}`, both ? pairedRatio(paired, lazy, none, 'cpu') : cpuRatio(lazy, none, 'public', shape), (v) => v <= 1.05, 2, '×');
        if (opsKindOf(lazy) !== '-') add(`GET /public ${shape}, ${lazy}: 0 ${unit(lazy)}s${how}`, both ? spread(paired.filter((r) => r.a === lazy && r.b === none).map((r) => r.aOps)) : ops(lazy, 'public', shape), (v) => v === 0, 2);
      }
    }
    for (const shape of shapes) {
      for (const lazy of lazyModes) if (opsKindOf(lazy) !== '-' && ran(lazy, 'me', shape)) add(`GET /me ${shape}, ${lazy}: 1 ${unit(lazy)}`, ops(lazy, 'me', shape), (v) => v <= 1.01, 2);
    }
    for (const shape of shapes) {
      const max = shape === 'per-connection' ? 2 : 3;
      for (const lazy of lazyModes) if (opsKindOf(lazy) !== '-' && ran(lazy, 'cart', shape)) add(`POST /cart ${shape}, ${lazy}: ≤ ${max} ${unit(lazy)}s`, ops(lazy, 'cart', shape), (v) => v <= max * 1.01, 2);
    }
    for (const t of theirs) {
      for (const shape of shapes) if (ran(t.lazy, 'me', shape)) add(`GET /me ${shape}: ${t.lazy} ≥ ${t.me}× ${t.label}`, rpsRatio(t.lazy, t.theirs, 'me', shape), (v) => v >= t.me, 2, '×');
      for (const shape of shapes) if (ran(t.lazy, 'cart', shape)) add(`POST /cart ${shape}: ${t.lazy} ≥ ${t.cart}× ${t.label}`, rpsRatio(t.lazy, t.theirs, 'cart', shape), (v) => v >= t.cart, 2, '×');
    }
  };
  group = 'Express';
  platformTargets('none', ['lazy-sqlite', 'lazy-postgres', 'lazy-mariadb', 'lazy-redis', ...(hasCookieStore ? ['lazy-cookie'] : [])].filter((m) => sel.modes.includes(m)), [
    { lazy: 'lazy-postgres', theirs: 'express-session-typeorm-postgres', label: 'express-session+connect-typeorm (PostgreSQL)', me: 2.5, cart: 1.5 },
    { lazy: 'lazy-sqlite', theirs: 'express-session-typeorm-sqlite', label: 'express-session+connect-typeorm (SQLite, same WAL settings as ours)', me: 6, cart: 1.5 },
    { lazy: 'lazy-sqlite', theirs: 'express-session-typeorm-sqlite-defaults', label: "express-session+connect-typeorm (SQLite, TypeORM's default settings)", me: 6, cart: 1.5 },
  ].filter((t) => sel.modes.includes(t.theirs)));
  group = 'Fastify';
  platformTargets('none-fastify', ['lazy-fastify-sqlite', 'lazy-fastify-postgres'].filter((m) => sel.modes.includes(m)), [
    { lazy: 'lazy-fastify-postgres', theirs: 'fastify-session-typeorm-postgres', label: '@fastify/session+connect-typeorm (PostgreSQL)', me: 2.5, cart: 1.5 },
  ].filter((t) => sel.modes.includes(t.theirs)));

  const judged = checks.filter((c) => c.ok !== undefined);
  const missed = judged.filter((c) => !c.ok);
  lines.push('## Targets', '');
  lines.push(
    `**${judged.length - missed.length} of ${judged.length} targets met on the median, ${missed.length} missed**` + (checks.length > judged.length ? ` (${checks.length - judged.length} not run)` : '') + '.',
    'The Fastify targets are the Express ones applied on @nestjs/platform-fastify: `GET /public` against the same app without sessions on Fastify, `/me` and `/cart` against @fastify/session over connect-typeorm on the same PostgreSQL. ' +
      'The Express `GET /public` targets also cover the Redis and cookie stores (no store may cost a route that does not use the session); the Redis store\'s counts are round trips. ' +
      'A ratio\'s min–max is the spread of the per-round ratios: where it straddles the target, the median decides, and more rounds (`BENCH_ROUNDS=5`) or longer runs (`BENCH_SECONDS=5`) on a focus narrow it.',
    '',
  );
  if (missed.length) {
    lines.push('Missed:', '');
    for (const c of missed) lines.push(`- ${c.group}: ${c.target}: **${c.value}**`);
    lines.push('');
  }
  lines.push('| platform | target | measured (median, min–max) | |', '|---|---|--:|---|');
  for (const c of checks) lines.push(`| ${c.group} | ${c.target} | ${c.value} | ${c.ok === undefined ? '–' : c.ok ? 'met' : '**missed**'} |`);
  lines.push('');
  lines.push(...pairedSection(paired, ROUNDS));
  likeForLike(lines, sel, rpsRatio, cpuRatio);
  floorSection(lines, runs, rpsRatio);

  // Side-by-side ratios for every route
  const ratioTable = (title: string, cols: Array<{ head: string; a: string; b: string }>, routes: Route[] = Object.keys(ROUTES) as Route[]) => {
    const rows: string[] = [];
    for (const route of routes) {
      for (const shape of shapes) {
        const vs = cols.map((c) => rpsRatio(c.a, c.b, route, shape));
        if (vs.every((v) => v === undefined)) continue;
        rows.push(`| ${ROUTES[route].method} ${ROUTES[route].path} | ${shape} | ${vs.map((v) => fmtSpread(v, 2, '×')).join(' | ')} |`);
      }
    }
    if (rows.length === 0) return;
    lines.push(title, '');
    lines.push(`| route | shape | ${cols.map((c) => c.head).join(' | ')} |`, `|---|---|${cols.map(() => '--:').join('|')}|`, ...rows, '');
  };
  ratioTable('## Express: ratios to express-session (req/s, ours ÷ theirs, per round)', [
    { head: 'lazy-sqlite ÷ connect-typeorm SQLite (same WAL settings)', a: 'lazy-sqlite', b: 'express-session-typeorm-sqlite' },
    { head: "lazy-sqlite ÷ connect-typeorm SQLite (TypeORM's defaults)", a: 'lazy-sqlite', b: 'express-session-typeorm-sqlite-defaults' },
    { head: 'lazy-postgres ÷ connect-typeorm PostgreSQL', a: 'lazy-postgres', b: 'express-session-typeorm-postgres' },
    { head: 'lazy-redis ÷ connect-redis', a: 'lazy-redis', b: 'express-session-redis' },
    { head: 'lazy-postgres ÷ connect-redis', a: 'lazy-postgres', b: 'express-session-redis' },
  ]);
  ratioTable('## Fastify: ratios to @fastify/session (req/s, ours ÷ theirs, per round)', [
    { head: 'lazy-fastify-postgres ÷ connect-typeorm PostgreSQL', a: 'lazy-fastify-postgres', b: 'fastify-session-typeorm-postgres' },
    { head: 'lazy-fastify-postgres ÷ connect-redis', a: 'lazy-fastify-postgres', b: 'fastify-session-redis' },
    { head: 'lazy-fastify-sqlite ÷ connect-redis', a: 'lazy-fastify-sqlite', b: 'fastify-session-redis' },
  ]);
  ratioTable('## Fastify ÷ Express, same stack (req/s, per round)', [
    { head: 'none', a: 'none-fastify', b: 'none' },
    { head: 'lazy-sqlite', a: 'lazy-fastify-sqlite', b: 'lazy-sqlite' },
    { head: 'lazy-postgres', a: 'lazy-fastify-postgres', b: 'lazy-postgres' },
    { head: 'session-redis (@fastify/session ÷ express-session)', a: 'fastify-session-redis', b: 'express-session-redis' },
  ]);

  // CurrentSession
  const curKeys = keys.filter(([m]) => m === 'lazy-sqlite-current');
  if (curKeys.length) {
    lines.push('## The cost of CurrentSession (AsyncLocalStorage)', '');
    lines.push(
      '`lazy-sqlite-current` is `lazy-sqlite` with one difference: `/me` and `/cart` call a singleton service that injects `CurrentSession` instead of taking `@Session()`. ' +
        'Because something injects `CurrentSession`, the module runs every request inside `AsyncLocalStorage` (found at start-up; `trackRequests` overrides it), `GET /public` included, and on Node 20 that turns on promise hooks for the whole process. ' +
        'Applications that only use `@Session()` / `@SessionValue()` / `@UserId()` do not pay it.',
      '',
    );
    lines.push('| route | shape | req/s @Session() | req/s CurrentSession | ratio | CPU µs/req @Session() | CPU µs/req CurrentSession | CPU ratio |', '|---|---|--:|--:|--:|--:|--:|--:|');
    for (const [, route, shape] of curKeys) {
      const a = (p: (r: RunResult) => number) => fmtSpread(stat('lazy-sqlite', route, shape, p));
      const b = (p: (r: RunResult) => number) => fmtSpread(stat('lazy-sqlite-current', route, shape, p));
      lines.push(
        `| ${ROUTES[route].method} ${ROUTES[route].path} | ${shape} | ${a((r) => r.rps)} | ${b((r) => r.rps)} | ${fmtSpread(rpsRatio('lazy-sqlite-current', 'lazy-sqlite', route, shape), 2, '×')} | ` +
          `${a((r) => r.cpuUsPerReq)} | ${b((r) => r.cpuUsPerReq)} | ${fmtSpread(cpuRatio('lazy-sqlite-current', 'lazy-sqlite', route, shape), 2, '×')} |`,
      );
    }
    const t = rpsRatio('lazy-sqlite-current', 'none', 'public', 'per-connection');
    const c = cpuRatio('lazy-sqlite-current', 'none', 'public', 'per-connection');
    if (t && c) lines.push('', `With CurrentSession injected, \`GET /public\` (per-connection) runs at ${fmtSpread(t, 2, '×')} the throughput of \`none\` at ${fmtSpread(c, 2, '×')} its CPU per request (the targets above apply to the default, \`@Session()\` set-up).`);
    lines.push('');
  }

  // Beyond SQL
  const beyond = keys.filter(([m]) => m === 'lazy-redis' || m === 'lazy-cookie');
  if (beyond.length) {
    lines.push('## Beyond SQL: Redis and cookie stores', '');
    lines.push(
      'Round trips per request from the app (server-side commands in parentheses). `lazy-redis` ÷ `express-session-redis` is the like-for-like comparison (both on Redis, same server); no target applies beyond `GET /public` above. ' +
        '`lazy-cookie` keeps the session sealed in the cookie: no store round trip at all, every write re-sends the cookie.',
      '',
    );
    lines.push('| route | shape | lazy-redis req/s | express-session-redis req/s | ratio | lazy-redis trips/req | connect-redis trips/req | lazy-cookie req/s | lazy-cookie ÷ lazy-sqlite |', '|---|---|--:|--:|--:|--:|--:|--:|--:|');
    for (const route of Object.keys(ROUTES) as Route[]) {
      for (const shape of shapes) {
        if (!ran('lazy-redis', route, shape) && !ran('lazy-cookie', route, shape)) continue;
        const trips = (mode: string) => {
          const rs = runs(mode, route, shape);
          return rs.length ? `${fmt(spread(rs.map((r) => r.opsPerReq))?.median, 2)} (${fmt(spread(rs.map((r) => r.serverRedisPerReq ?? NaN))?.median, 2)})` : '–';
        };
        lines.push(
          `| ${ROUTES[route].method} ${ROUTES[route].path} | ${shape} | ${fmtSpread(stat('lazy-redis', route, shape, (r) => r.rps))} | ${fmtSpread(stat('express-session-redis', route, shape, (r) => r.rps))} | ` +
            `${fmtSpread(rpsRatio('lazy-redis', 'express-session-redis', route, shape), 2, '×')} | ${trips('lazy-redis')} | ${trips('express-session-redis')} | ${fmtSpread(stat('lazy-cookie', route, shape, (r) => r.rps))} | ${fmtSpread(rpsRatio('lazy-cookie', 'lazy-sqlite', route, shape), 2, '×')} |`,
        );
      }
    }
    lines.push('');
    if (!sel.modes.includes('lazy-cookie')) lines.push(hasCookieStore ? '`lazy-cookie` was not selected in this run.' : '`lazy-cookie` is not in this run: `CookieSessionStore` is not exported by src/index.ts in this checkout (the mode turns itself on once it is).', '');
  }

  if (sweep.length) lines.push(...sweepSection(sweep, ratioOf));
  for (const section of extra) if (section) lines.push(section.trim(), '');
  return lines.join('\n');
}

// Entry (last, after every const above is initialised).
if (PIN && process.env.BENCH_PINNED !== '1') {
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

/**
 * How cost grows with the session's size: `GET /me` reads one small key and `POST /cart` increments it
 * in a session that also holds `bytes` of other data; each size against 1 KB in the same round.
 */
type Ratio = (a: string, b: string, route: Route, shape: Shape) => Spread | undefined;

/**
 * GET /public with the same database client on both sides: `none-<store>` holds the client that
 * `lazy-<store>` uses, so the ratio is what the module itself costs a route that never uses the
 * session; `none-<store>` ÷ `none` is what merely having that client in the process costs, which an
 * application with that database pays anyway (paired, bench/paired.ts: about nothing for PostgreSQL).
 */
function likeForLike(lines: string[], sel: Selection, rpsRatio: Ratio, cpuRatio: Ratio): void {
  const pairs = ['sqlite', 'postgres', 'redis'].filter((db) => sel.modes.includes(`lazy-${db}`) && sel.modes.includes(`none-${db}`));
  if (pairs.length === 0) return;
  const shape: Shape = 'per-connection';
  lines.push(
    '## GET /public: the module alone, the same database client on both sides',
    '',
    '`none-<store>` is the app without sessions holding the same client as `lazy-<store>` (the TypeORM DataSource, the ioredis client), unused: the same application with the same database, minus this module. ' +
      'The first two columns are what the module costs a route that never uses the session; the last two what holding the database client costs the app without sessions.',
    '',
    '| store | throughput lazy ÷ none-store | CPU/req lazy ÷ none-store | throughput none-store ÷ none | CPU/req none-store ÷ none |',
    '|---|--:|--:|--:|--:|',
  );
  for (const db of pairs) {
    const [lazy, held] = [`lazy-${db}`, `none-${db}`];
    const cells = [rpsRatio(lazy, held, 'public', shape), cpuRatio(lazy, held, 'public', shape), rpsRatio(held, 'none', 'public', shape), cpuRatio(held, 'none', 'public', shape)];
    lines.push(`| ${db} | ${cells.map((c) => fmtSpread(c, 2, '×')).join(' | ')} |`);
  }
  lines.push('');
}

/**
 * GET /me on PostgreSQL against the floor (bench/app.ts, floorStack): one prepared SELECT through the
 * same node-postgres pool plus the cookie's HMAC and the id's SHA-256, with no session layer. A
 * layer's CPU over the floor is its own cost; floor ÷ theirs is the best ratio any layer could reach.
 */
function floorSection(lines: string[], runs: (mode: string, route: Route, shape: Shape) => RunResult[], rpsRatio: Ratio): void {
  const shape: Shape = 'one-session';
  const rows = [
    { platform: 'Express', floor: 'floor-postgres', ours: 'lazy-postgres', theirs: 'express-session-typeorm-postgres', target: 2.5 },
    { platform: 'Fastify', floor: 'floor-fastify-postgres', ours: 'lazy-fastify-postgres', theirs: 'fastify-session-typeorm-postgres', target: 2.5 },
  ].filter((r) => runs(r.floor, 'me', shape).length > 0);
  if (rows.length === 0) return;
  const cpu = (mode: string) => spread(runs(mode, 'me', shape).map((r) => r.cpuUsPerReq));
  /** A's CPU per request minus B's, per round (nearest runs), then the spread. */
  const over = (a: string, b: string) => nearest(runs(a, 'me', shape), runs(b, 'me', shape), (r) => r.cpuUsPerReq, (x, y) => x - y);
  lines.push(
    '## GET /me on PostgreSQL against the floor',
    '',
    '`floor-postgres` / `floor-fastify-postgres` is the same Nest app with no session layer doing the least any server-side session read must do: check the cookie\'s HMAC, hash its token into the row id (SHA-256), run one prepared `SELECT data … WHERE id = $1` through the DataSource\'s node-postgres pool and `JSON.parse` the data. ' +
      'No expiry check, no idle refresh, no row mapping, nothing written back: a lower bound, not a usable session. ' +
      'A layer\'s CPU per request over the floor is its own cost; the floor\'s throughput ÷ theirs is the highest ratio any session layer could reach against theirs on this machine.',
    '',
    '| platform | floor req/s | floor CPU µs/req | ours CPU µs/req | ours − floor (µs) | theirs CPU µs/req | theirs − floor (µs) | ours ÷ floor (req/s) | floor ÷ theirs (req/s): the most any layer could reach | ours ÷ theirs | target |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  );
  for (const r of rows) {
    lines.push(
      `| ${r.platform} | ${fmtSpread(spread(runs(r.floor, 'me', shape).map((x) => x.rps)))} | ${fmtSpread(cpu(r.floor))} | ${fmtSpread(cpu(r.ours))} | ${fmtSpread(over(r.ours, r.floor))} | ${fmtSpread(cpu(r.theirs))} | ${fmtSpread(over(r.theirs, r.floor))} | ` +
        `${fmtSpread(rpsRatio(r.ours, r.floor, 'me', shape), 2, '×')} | ${fmtSpread(rpsRatio(r.floor, r.theirs, 'me', shape), 2, '×')} | ${fmtSpread(rpsRatio(r.ours, r.theirs, 'me', shape), 2, '×')} | ≥ ${r.target}× |`,
    );
  }
  lines.push('');
}

function sweepSection(sweep: RunResult[], ratioOf: (a: RunResult[], b: RunResult[], pick: (r: RunResult) => number) => Spread | undefined): string[] {
  const lines = ['## How cost grows with the session\'s size', ''];
  lines.push(
    'Every connection on one session whose data holds, besides the counter `n`, one string key of the given size (the default `maxDataBytes` is 64 KiB, so 64 kB is about the largest session it allows). `GET /me` reads `n` only; `POST /cart` increments it. ' +
      'Ratios are taken against the smallest size in the same round (median, min–max).',
    '',
    '| store | route | session data | req/s | CPU µs/req | ops/req | req/s ÷ smallest | CPU ÷ smallest |',
    '|---|---|--:|--:|--:|--:|--:|--:|',
  );
  const sizes = [...new Set(sweep.map((r) => r.bytes!))].sort((a, b) => a - b);
  const modes = [...new Set(sweep.map((r) => r.mode))];
  for (const mode of modes) {
    for (const route of SWEEP_ROUTES) {
      const base = sweep.filter((r) => r.mode === mode && r.route === route && r.bytes === sizes[0]);
      for (const bytes of sizes) {
        const rs = sweep.filter((r) => r.mode === mode && r.route === route && r.bytes === bytes);
        if (!rs.length) continue;
        const ops = spread(rs.map((r) => r.opsPerReq))?.median;
        lines.push(
          `| ${mode} | ${ROUTES[route].method} ${ROUTES[route].path} | ${bytes >= 1000 ? `${bytes / 1000} kB` : `${bytes} B`} | ${fmtSpread(spread(rs.map((r) => r.rps)))} | ${fmtSpread(spread(rs.map((r) => r.cpuUsPerReq)))} | ` +
            `${rs[0].opsKind === '-' ? '0' : `${fmt(ops, 2)} ${rs[0].opsKind}`} | ${fmtSpread(ratioOf(rs, base, (r) => r.rps), 2, '×')} | ${fmtSpread(ratioOf(rs, base, (r) => r.cpuUsPerReq), 2, '×')} |`,
        );
      }
    }
  }
  lines.push('');
  return lines;
}

/**
 * A ÷ B per run of A: against the run of B nearest to it in the same round (the mean of the two
 * when one is just before and one just after), then the spread of those ratios.
 */
function nearestRatio(a: RunResult[], b: RunResult[], pick: (r: RunResult) => number): Spread | undefined {
  return nearest(a, b, pick, (x, y) => x / y);
}

/** `combine(A, nearest B)` per run of A, as nearestRatio pairs them, then the spread. */
function nearest(a: RunResult[], b: RunResult[], pick: (r: RunResult) => number, combine: (x: number, y: number) => number): Spread | undefined {
  return spread(
    a.map((x) => {
      const same = b.filter((r) => r.round === x.round && pick(r) > 0);
      if (same.length === 0) return NaN;
      const d = Math.min(...same.map((r) => Math.abs(r.seq - x.seq)));
      const near = same.filter((r) => Math.abs(r.seq - x.seq) === d);
      return combine(pick(x), near.reduce((t, r) => t + pick(r), 0) / near.length);
    }),
  );
}
