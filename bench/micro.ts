/**
 * Micro-benchmark: what the module costs a route that never uses the session, in ns per request.
 *
 *   node .run/bench/micro.js [--markdown]        (MICRO_N=requests per round, MICRO_ROUNDS=rounds)
 *
 * 1. Through the whole Nest app, in-process: the same Express-based app with and without
 *    SessionModule, requests injected with light-my-request (no sockets), GET /public with and
 *    without a session cookie. Rounds alternate between the two apps; the median round is used.
 * 2. The module's own hot path alone: SessionMiddleware.use + SessionInterceptor.intercept around a
 *    handler that returns at once, against the bare handler.
 */
import 'reflect-metadata';
import { Controller, Get, Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { lastValueFrom, of } from 'rxjs';
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MemorySessionStore, SessionModule } from '../src/index.js';
import { SessionMiddleware } from '../src/session.middleware.js';
import { ExpressHttpAdapter as NodeHttpAdapter } from '../src/http/express.adapter.js'; // renamed by the lead
import { resolveSessionOptions } from '../src/session.options.js';
import type { SessionRuntime } from '../src/session.runtime.js';

// light-my-request comes with Fastify (@nestjs/platform-fastify); CommonJS.
const inject = createRequire(import.meta.url)('light-my-request') as (
  dispatch: unknown,
  opts: { method: string; url: string; headers?: Record<string, string> },
) => Promise<{ statusCode: number }>;

const SECRET = 'bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
const N = Number(process.env.MICRO_N ?? 10_000);
const ROUNDS = Number(process.env.MICRO_ROUNDS ?? 5);
const COOKIE = '__Host-sid=' + 'A'.repeat(43) + '.' + 'B'.repeat(43);

@Controller()
class PublicController {
  @Get('public')
  publicRoute() {
    return { ok: true };
  }
}

async function makeApp(withSession: boolean): Promise<INestApplication> {
  @Module({
    imports: withSession ? [SessionModule.forRoot({ secret: SECRET, store: new MemorySessionStore(), pruneInterval: 0 })] : [],
    controllers: [PublicController],
  })
  class MicroModule {}
  const app = await NestFactory.create(MicroModule, new ExpressAdapter(), { logger: false });
  await app.init();
  return app;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeInject(dispatch: unknown, headers: Record<string, string> | undefined, n: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const res = await inject(dispatch, { method: 'GET', url: '/public', headers });
    if (res.statusCode !== 200) throw new Error(`GET /public answered ${res.statusCode}`);
  }
  return Number(process.hrtime.bigint() - t0) / n;
}

interface AppFigures {
  label: string;
  without: number;
  with: number;
}

const CASES = [
  ['GET /public, no cookie', undefined],
  ['GET /public, with a session cookie', { cookie: COOKIE }],
] as const;

/**
 * One variant in this process: ns per request for each case. Each variant gets its own process:
 * the module's AsyncLocalStorage turns on Node's promise hooks for the whole process (Node 20),
 * which would slow the app without the module too if both shared one.
 */
async function variant(withSession: boolean): Promise<number[]> {
  const app = await makeApp(withSession);
  const dispatch = app.getHttpAdapter().getInstance();
  const out: number[] = [];
  for (const [, headers] of CASES) {
    await timeInject(dispatch, headers, N / 2);
    out.push(await timeInject(dispatch, headers, N));
  }
  await app.close();
  return out;
}

function runVariant(withSession: boolean): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), `--variant=${withSession ? 'lazy' : 'plain'}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`micro variant exited with ${code}`))));
  });
}

async function wholeApp(): Promise<AppFigures[]> {
  const a: number[][] = [];
  const b: number[][] = [];
  for (let r = 0; r < ROUNDS; r++) {
    a.push(await runVariant(false));
    b.push(await runVariant(true));
  }
  return CASES.map(([label], i) => ({ label, without: median(a.map((x) => x[i])), with: median(b.map((x) => x[i])) }));
}

/** The middleware and interceptor alone, with the smallest request/response the adapter reads. */
async function hotPath(): Promise<{ bare: number; module: number; modulePost: number }> {
  const options = resolveSessionOptions({ secret: SECRET, store: new MemorySessionStore() });
  const rt = { options, http: new NodeHttpAdapter() } as unknown as SessionRuntime;
  const mw = new SessionMiddleware(rt);
  const value = { ok: true };
  const handler = { handle: () => of(value) };
  const n = N * 10;

  const withModule = (method: string) => async () => {
    const req = { method, headers: { cookie: COOKIE }, url: '/public' };
    const res = {};
    const ctx = { getType: () => 'http', switchToHttp: () => ({ getRequest: () => req, getResponse: () => res }) } as never;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const r = { ...req };
      const c = { ...(ctx as object), switchToHttp: () => ({ getRequest: () => r, getResponse: () => res }) } as never;
      await new Promise<void>((resolve, reject) => {
        void c;
        mw.use(r, res, () => {
          lastValueFrom(handler.handle()).then(() => resolve(), reject);
        });
      });
    }
    return Number(process.hrtime.bigint() - t0) / n;
  };
  // The bare loop pays the same object spreads as the module loop, so only the module's work differs.
  const bareSame = async () => {
    const req = { method: 'GET', headers: { cookie: COOKIE }, url: '/public' };
    const res = {};
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const r = { ...req };
      const c = { switchToHttp: () => ({ getRequest: () => r, getResponse: () => res }) };
      await new Promise<void>((resolve, reject) => {
        void c;
        lastValueFrom(handler.handle()).then(() => resolve(), reject);
      });
    }
    return Number(process.hrtime.bigint() - t0) / n;
  };
  const get = withModule('GET');
  const post = withModule('POST');
  await bareSame();
  await get();
  await post();
  const a: number[] = [];
  const b: number[] = [];
  const c: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    a.push(await bareSame());
    b.push(await get());
    c.push(await post());
  }
  return { bare: median(a), module: median(b), modulePost: median(c) };
}

async function main(): Promise<void> {
  const v = process.argv.find((a) => a.startsWith('--variant='));
  if (v) {
    process.stdout.write(JSON.stringify(await variant(v.endsWith('=lazy'))));
    return;
  }
  const markdown = process.argv.includes('--markdown');
  const app = await wholeApp();
  const hot = await hotPath();
  const lines: string[] = [];
  lines.push('## Micro-benchmark: the module on a route that never uses the session', '');
  lines.push(
    `\`node .run/bench/micro.js\` (bench/micro.ts), ${ROUNDS} alternating rounds of ${N} sequential requests, median round, on the app core. ` +
      'Whole app: the same Express-based Nest app with and without `SessionModule`, each round in a fresh process (the module\'s AsyncLocalStorage turns on promise hooks process-wide on Node 20), requests injected in-process with light-my-request (no sockets). ' +
      'Middleware + interceptor alone: `SessionMiddleware.use` + `SessionInterceptor.intercept` around a handler that returns at once, against that handler alone.',
    '',
  );
  lines.push('| path | without the module | with the module | module overhead |', '|---|--:|--:|--:|');
  for (const f of app) lines.push(`| whole app, ${f.label} | ${f.without.toFixed(0)} ns | ${f.with.toFixed(0)} ns | ${(f.with - f.without).toFixed(0)} ns (${((f.with / f.without - 1) * 100).toFixed(1)}%) |`);
  lines.push(`| middleware + interceptor alone, GET with a cookie | ${hot.bare.toFixed(0)} ns | ${hot.module.toFixed(0)} ns | ${(hot.module - hot.bare).toFixed(0)} ns |`);
  lines.push(`| middleware + interceptor alone, POST with a cookie (CSRF check) | ${hot.bare.toFixed(0)} ns | ${hot.modulePost.toFixed(0)} ns | ${(hot.modulePost - hot.bare).toFixed(0)} ns |`);
  lines.push('');
  if (markdown) process.stdout.write(lines.join('\n') + '\n');
  else console.log(lines.join('\n'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
