/*
 * What sharding costs: the RedisSessionStore on one Redis against the same store on the local Redis
 * Cluster (scripts/redis-cluster.sh), and on the cluster with waitForReplica, for GET /me (one
 * load) and POST /cart (a load and a write). Interleaved rounds (the order alternates each round),
 * each mode in a fresh app process pinned to core 1 (bench/cluster-app.ts), autocannon on core 0;
 * every figure is the median over the rounds with its min–max.
 *
 *   npm run build:run && node .run/bench/cluster.js     # BENCH_SECONDS (5), BENCH_ROUNDS (3)
 *
 * bench/run.ts includes the section this returns (clusterSection) in bench/RESULTS.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { CLUSTER_BENCH_MODES, type ClusterBenchMode } from './cluster-app.js';
import { PIN } from './pinning.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
/** Ports nobody listens on (the main benchmark's apps may run meanwhile). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
const PORT = await freePort();
const ADMIN = await freePort();
const BASE = `http://127.0.0.1:${PORT}`;
const CONNECTIONS = 16;
const SESSIONS = 200;
/** Seconds of load before each run (0.5, not 1: the full run has to stay within 15 minutes). */
const WARMUP = 0.5;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ROUTES = { me: { method: 'GET', path: '/me' }, cart: { method: 'POST', path: '/cart' } } as const;
type Route = keyof typeof ROUTES;

const LABELS: Record<ClusterBenchMode, string> = {
  single: 'one Redis',
  cluster: 'Redis Cluster (3 masters)',
  'cluster-wait': 'Redis Cluster, waitForReplica',
};


async function cpu(): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${ADMIN}/`);
  const { userUs, systemUs } = (await res.json()) as { userUs: number; systemUs: number };
  return userUs + systemUs;
}

async function startApp(mode: ClusterBenchMode): Promise<ChildProcess> {
  const args = [process.execPath, join(here, 'cluster-app.js'), mode];
  const [cmd, ...rest] = PIN ? ['taskset', '-c', '1', ...args] : args;
  const child = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BENCH_PORT: String(PORT), BENCH_ADMIN_PORT: String(ADMIN) }, cwd: root });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(100)) {
    if (child.exitCode !== null) throw new Error(`cluster bench app '${mode}' exited with ${child.exitCode}: ${out}`);
    if (await cpu().then(() => true, () => false)) return child;
  }
  child.kill('SIGKILL');
  throw new Error(`cluster bench app '${mode}' did not start: ${out}`);
}

async function stopApp(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(10_000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

async function sessions(): Promise<string[]> {
  const cookies: string[] = [];
  for (let i = 0; i < SESSIONS; i++) {
    const res = await fetch(`${BASE}/setup`, { method: 'POST' });
    await res.arrayBuffer();
    const cookie = res.headers.getSetCookie().map((l) => l.split(';')[0]).find((p) => p.startsWith('__Host-sid='));
    if (res.status !== 200 || !cookie) throw new Error(`POST /setup answered ${res.status} without a session cookie`);
    cookies.push(cookie);
  }
  return cookies;
}

/** Each connection keeps one session of the pool. */
function load(route: Route, pool: string[], seconds: number): Promise<autocannon.Result> {
  let next = 0;
  const request = {
    ...ROUTES[route],
    setupRequest(req: autocannon.Request & { cookie?: string }) {
      req.cookie ??= pool[next++ % pool.length];
      req.headers = { ...req.headers, cookie: req.cookie };
      return req;
    },
  };
  return autocannon({ url: BASE, connections: CONNECTIONS, duration: seconds, requests: [request as unknown as autocannon.Request] });
}

interface Run {
  mode: ClusterBenchMode;
  route: Route;
  rps: number;
  p99: number;
  cpuUs: number;
  errors: number;
}

async function measure(mode: ClusterBenchMode, seconds: number): Promise<Run[]> {
  const app = await startApp(mode);
  try {
    const pool = await sessions();
    const out: Run[] = [];
    for (const route of Object.keys(ROUTES) as Route[]) {
      await load(route, pool, WARMUP);
      const before = await cpu();
      const r = await load(route, pool, seconds);
      const used = (await cpu()) - before;
      const total = r.requests.total;
      out.push({ mode, route, rps: r.requests.average, p99: r.latency.p99, cpuUs: total > 0 ? used / total : NaN, errors: r.errors + r.non2xx });
    }
    return out;
  } finally {
    await stopApp(app);
  }
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (v: number[], d = 0) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length === 1 || s[0] === s[s.length - 1] ? median(v).toFixed(d) : `${median(v).toFixed(d)} (${s[0].toFixed(d)}–${s[s.length - 1].toFixed(d)})`;
};

/** The cluster modes beside one Redis, as a Markdown section. */
export async function clusterSection(opts: { seconds: number; rounds: number }): Promise<string> {
  const runs: Run[] = [];
  for (let round = 0; round < opts.rounds; round++) {
    const order = round % 2 === 0 ? CLUSTER_BENCH_MODES : [...CLUSTER_BENCH_MODES].reverse();
    for (const mode of order) {
      const rs = await measure(mode, opts.seconds);
      for (const r of rs) console.error(`cluster bench r${round} ${mode.padEnd(12)} ${r.route.padEnd(4)} ${r.rps.toFixed(0).padStart(6)} req/s  p99 ${r.p99} ms  ${r.cpuUs.toFixed(0)} µs/req  ${r.errors} errors`);
      runs.push(...rs);
    }
  }
  const lines = [
    '## Redis Cluster: what sharding costs',
    '',
    `RedisSessionStore over one Redis (ioredis \`Redis\`) and over a local Redis Cluster of 3 masters and 3 replicas (ioredis \`Cluster\`, \`scripts/redis-cluster.sh\`), ` +
      `plain and with \`waitForReplica\` (each write waits for one replica: \`WAIT 1 1000\`). Express, ${CONNECTIONS} connections over ${SESSIONS} sessions; ` +
      `${opts.rounds} interleaved rounds (the order alternates), every mode in a fresh app process${PIN ? ' on core 1, autocannon on core 0' : ''}; ${opts.seconds} s per run after ${WARMUP} s warm-up. ` +
      'Median over the rounds, min–max in parentheses; the ratio is taken within each round. The cluster runs on the same machine: its figures show the client-side cost of sharding (slot routing, one connection per master), not the capacity more machines add.',
    '',
    '| store | route | req/s | p99 ms | CPU µs/req | vs one Redis (req/s) | errors |',
    '|---|---|--:|--:|--:|--:|--:|',
  ];
  for (const route of Object.keys(ROUTES) as Route[]) {
    const baseline = runs.filter((r) => r.mode === 'single' && r.route === route);
    for (const mode of CLUSTER_BENCH_MODES) {
      const rs = runs.filter((r) => r.mode === mode && r.route === route);
      // Within each round: both sides ran close together in time.
      const ratios = rs.map((r, round) => r.rps / baseline[round].rps);
      lines.push(
        `| ${LABELS[mode]} | ${ROUTES[route].method} ${ROUTES[route].path} | ${fmt(rs.map((r) => r.rps))} | ${fmt(rs.map((r) => r.p99))} | ${fmt(rs.map((r) => r.cpuUs))} | ${mode === 'single' ? '1' : `${fmt(ratios, 2)}×`} | ${rs.reduce((a, r) => a + r.errors, 0)} |`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (PIN && process.env.BENCH_PINNED !== '1') {
    const child = spawn('taskset', ['-c', '0', process.execPath, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, BENCH_PINNED: '1' } });
    child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
  } else {
    clusterSection({ seconds: Number(process.env.BENCH_SECONDS ?? 5), rounds: Number(process.env.BENCH_ROUNDS ?? 3) })
      .then((md) => console.log(md))
      .catch((err) => {
        console.error(err);
        process.exit(1);
      });
  }
}
