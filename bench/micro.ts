/**
 * Micro-benchmark: what the module costs a route that never uses the session, in ns per request.
 *
 *   node .run/bench/micro.js [--markdown]        (MICRO_N=requests per round, MICRO_ROUNDS=rounds)
 *
 * 1. Through the whole Nest app, in-process: the same app with and without SessionModule, on Express
 *    and on Fastify, requests injected with light-my-request (no sockets), GET /public with and
 *    without a session cookie. Each variant runs in a fresh process per round, rounds alternate
 *    between the variants, and the median round is used.
 * 2. The module's per-request work on such a route alone. There is no global interceptor: a session
 *    that is never used is never stored, so a route that does not use it meets only
 *    SessionMiddleware.use (a context object on the request; the cross-site rule is judged at the
 *    session's first use, so POST rows measure the same work as GET), timed against calling next() directly. The last
 *    row is the same middleware with request tracking on (what injecting CurrentSession or
 *    SessionManager switches on): AsyncLocalStorage.run around next().
 */
import 'reflect-metadata';
import { Controller, Get, Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { MemorySessionStore, SessionModule } from '../src/index.js';
import { SessionMiddleware } from '../src/request/middleware.js';
import { ExpressHttpAdapter } from '../src/http/express.adapter.js';
import { resolveSessionOptions } from '../src/options.js';
import type { SessionRuntime } from '../src/session/runtime.js';

// light-my-request comes with Fastify (@nestjs/platform-fastify); CommonJS.
type Inject = (dispatch: unknown, opts: { method: string; url: string; headers?: Record<string, string> }) => Promise<{ statusCode: number }>;
const lightInject = createRequire(import.meta.url)('light-my-request') as Inject;

const SECRET = 'bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
const N = Number(process.env.MICRO_N ?? 5_000);
const ROUNDS = Number(process.env.MICRO_ROUNDS ?? 5);
const COOKIE = '__Host-sid=' + 'A'.repeat(43) + '.' + 'B'.repeat(43);
type Platform = 'express' | 'fastify';
const PLATFORMS: Platform[] = ['express', 'fastify'];

@Controller()
class PublicController {
  @Get('public')
  publicRoute() {
    return { ok: true };
  }
}

/** The app and a function that sends one request to it in-process. */
async function makeApp(platform: Platform, withSession: boolean): Promise<{ app: INestApplication; send: (headers?: Record<string, string>) => Promise<number> }> {
  @Module({
    imports: withSession ? [SessionModule.forRoot({ secret: SECRET, store: new MemorySessionStore(), pruneInterval: 0 })] : [],
    controllers: [PublicController],
  })
  class MicroModule {}
  if (platform === 'express') {
    const app = await NestFactory.create(MicroModule, new ExpressAdapter(), { logger: false });
    await app.init();
    const dispatch = app.getHttpAdapter().getInstance();
    return { app, send: async (headers) => (await lightInject(dispatch, { method: 'GET', url: '/public', headers })).statusCode };
  }
  const { FastifyAdapter } = await import('@nestjs/platform-fastify');
  const app = await NestFactory.create(MicroModule, new FastifyAdapter(), { logger: false });
  await app.init();
  const fastify = app.getHttpAdapter().getInstance() as { ready(): Promise<unknown>; inject: (o: object) => Promise<{ statusCode: number }> };
  await fastify.ready();
  return { app, send: async (headers) => (await fastify.inject({ method: 'GET', url: '/public', headers })).statusCode };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeRequests(send: (headers?: Record<string, string>) => Promise<number>, headers: Record<string, string> | undefined, n: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const status = await send(headers);
    if (status !== 200) throw new Error(`GET /public answered ${status}`);
  }
  return Number(process.hrtime.bigint() - t0) / n;
}

const CASES = [
  ['GET /public, no cookie', undefined],
  ['GET /public, with a session cookie', { cookie: COOKIE }],
] as const;

/** One variant in this process: ns per request for each case (after a warm-up of half as many). */
async function variant(platform: Platform, withSession: boolean): Promise<number[]> {
  const { app, send } = await makeApp(platform, withSession);
  const out: number[] = [];
  for (const [, headers] of CASES) {
    await timeRequests(send, headers, N / 2);
    out.push(await timeRequests(send, headers, N));
  }
  await app.close();
  return out;
}

function runVariant(platform: Platform, withSession: boolean): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), `--variant=${platform}:${withSession ? 'lazy' : 'plain'}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`micro variant exited with ${code}`))));
  });
}

interface AppFigures {
  label: string;
  without: number;
  with: number;
}

async function wholeApp(platform: Platform): Promise<AppFigures[]> {
  const a: number[][] = [];
  const b: number[][] = [];
  for (let r = 0; r < ROUNDS; r++) {
    a.push(await runVariant(platform, false));
    b.push(await runVariant(platform, true));
  }
  return CASES.map(([label], i) => ({ label: `${platform}, ${label}`, without: median(a.map((x) => x[i])), with: median(b.map((x) => x[i])) }));
}

/**
 * SessionMiddleware.use alone against next() alone, on real node:http IncomingMessage objects
 * shaped as Express hands them over (made before the clock starts, a fresh one per call: the
 * middleware adds a property to each). Synchronous: without request tracking the middleware calls
 * next() before it returns.
 */
function hotPath(): { bare: number; get: number; post: number; postOrigin: number; tracked: number; calls: number } {
  const options = resolveSessionOptions({ secret: SECRET, store: new MemorySessionStore() });
  const rt = { options, tracksRequests: false } as unknown as SessionRuntime;
  const mw = new SessionMiddleware(rt, new ExpressHttpAdapter());
  const batch = 20_000;
  const batches = Math.max(1, Math.round((N * 20) / batch));
  const socket = new Socket();
  const res = {};
  let calls = 0;
  const next = () => void calls++;
  const make = (method: string, extra: Record<string, string>) => {
    const m = new IncomingMessage(socket);
    m.method = method;
    m.url = '/public';
    m.headers = { host: 'app.example', cookie: COOKIE, ...extra };
    Object.assign(m, { originalUrl: '/public', baseUrl: '', params: {}, query: {}, res: {}, next });
    return m;
  };
  const loop = (method: string, extra: Record<string, string>, viaModule: boolean) => {
    let ns = 0;
    for (let b = 0; b < batches; b++) {
      const reqs = Array.from({ length: batch }, () => make(method, extra));
      const t0 = process.hrtime.bigint();
      if (viaModule) for (const r of reqs) mw.use(r, res, next);
      else for (const r of reqs) next();
      ns += Number(process.hrtime.bigint() - t0);
    }
    return ns / (batches * batch);
  };
  const same = { origin: 'http://app.example', 'sec-fetch-site': 'same-origin' };
  const run = () => [loop('GET', {}, false), loop('GET', {}, true), loop('POST', {}, true), loop('POST', same, true)];
  run();
  const rounds = Array.from({ length: ROUNDS }, run);
  // Last: AsyncLocalStorage.run turns on promise hooks for the rest of the process (Node 20).
  (rt as { tracksRequests: boolean }).tracksRequests = true;
  loop('GET', {}, true);
  const tracked = Array.from({ length: ROUNDS }, () => loop('GET', {}, true));
  if (calls === 0) throw new Error('next() was never called');
  const col = (i: number) => median(rounds.map((r) => r[i]));
  return { bare: col(0), get: col(1), post: col(2), postOrigin: col(3), tracked: median(tracked), calls: batches * batch };
}

async function main(): Promise<void> {
  const v = process.argv.find((a) => a.startsWith('--variant='));
  if (v) {
    const [platform, kind] = v.slice('--variant='.length).split(':');
    process.stdout.write(JSON.stringify(await variant(platform as Platform, kind === 'lazy')));
    return;
  }
  const markdown = process.argv.includes('--markdown');
  const app: AppFigures[] = [];
  for (const platform of PLATFORMS) app.push(...(await wholeApp(platform)));
  const hot = hotPath();
  const lines: string[] = [];
  lines.push('## Micro-benchmark: the module on a route that never uses the session', '');
  lines.push(
    `\`node .run/bench/micro.js\` (bench/micro.ts), on the app core. ` +
      `Whole app: ${ROUNDS} alternating rounds of ${N} sequential requests (after ${N / 2} of warm-up), median round; the same Nest app with and without \`SessionModule\` (handlers use \`@Session()\`, so no AsyncLocalStorage), on Express and on Fastify, each round in a fresh process, requests injected in-process with light-my-request (no sockets). ` +
      `Middleware alone: there is no global interceptor any more (a session that is never used is never stored, and the before-send hook is only attached once a handler uses the session), so such a route meets only \`SessionMiddleware.use\`: ${ROUNDS} rounds of ${hot.calls} calls on node:http IncomingMessage objects (as Express hands them over), median, against calling \`next()\` directly.`,
    '',
  );
  lines.push('| path | without the module | with the module | module overhead |', '|---|--:|--:|--:|');
  for (const f of app) lines.push(`| whole app, ${f.label} | ${f.without.toFixed(0)} ns | ${f.with.toFixed(0)} ns | ${(f.with - f.without).toFixed(0)} ns (${((f.with / f.without - 1) * 100).toFixed(1)}%) |`);
  const row = (label: string, ns: number) => lines.push(`| SessionMiddleware.use alone, ${label} | ${hot.bare.toFixed(0)} ns | ${ns.toFixed(0)} ns | ${(ns - hot.bare).toFixed(0)} ns |`);
  row('GET with a cookie', hot.get);
  row('POST with a cookie, no Origin', hot.post);
  row('POST with a cookie, same-origin', hot.postOrigin);
  row('GET with a cookie, request tracking on (CurrentSession injected: AsyncLocalStorage.run)', hot.tracked);
  lines.push('');
  lines.push(
    'The whole-app rows carry the noise of a full Nest request (tens of µs, varying by a few % between processes); the middleware rows are the module\'s own cost. ' +
      'With request tracking on, the cost is not only the row above: promise hooks stay on for the whole process, which slows every await of every request (see the CurrentSession section).',
    '',
  );
  if (markdown) process.stdout.write(lines.join('\n') + '\n');
  else console.log(lines.join('\n'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
