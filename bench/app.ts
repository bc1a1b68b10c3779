/**
 * The benchmark application: one NestJS app whose session stack is chosen by the mode.
 *
 *   node .run/bench/app.js <mode>          (or BENCH_MODE=<mode>)
 *
 * Modes: none, lazy-sqlite, lazy-postgres, lazy-mariadb, express-session-typeorm-sqlite,
 * express-session-typeorm-postgres, express-session-redis. A mode is <stack>[-<db>]; the HTTP
 * platform comes from a '-fastify' marker in the mode or BENCH_PLATFORM (only 'express' is wired
 * today: a Fastify stack adds a `platforms.fastify` entry to its stack below, nothing else changes).
 *
 * Routes (every stack): GET /public (never touches the session), GET /me (reads it), POST /cart
 * (increments a counter in it), POST /login (login with id rotation), POST /setup (creates a
 * session: used by the orchestrator before a run, not measured).
 *
 * A second, plain node:http server on BENCH_ADMIN_PORT reports process.cpuUsage(), the SQL
 * statements TypeORM sent (a counting logger on the DataSource) and the Redis commands issued,
 * so the orchestrator can take deltas around a load run without going through Nest.
 */
import 'reflect-metadata';
import { createServer } from 'node:http';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  Controller, Get, HttpCode, Injectable, Module, Post, Req, RequestMethod,
  type CallHandler, type DynamicModule, type ExecutionContext, type INestApplication, type MiddlewareConsumer, type NestInterceptor, type NestMiddleware, type NestModule, type Type,
} from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { DataSource, type DataSourceOptions, type Logger as TypeOrmLogger } from 'typeorm';
import { Session, SessionModule, TypeOrmSessionStore, type SessionHandle } from '../src/index.js';

export const SECRET = 'bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
export type Platform = 'express' | 'fastify';
export type Db = 'sqlite' | 'postgres' | 'mariadb';
export type StackName = 'none' | 'lazy' | 'express-session-typeorm' | 'express-session-redis';

export interface ModeInfo {
  mode: string;
  stack: StackName;
  db?: Db;
  platform: Platform;
}

/** 'lazy-postgres' → { stack: 'lazy', db: 'postgres' }; '-fastify' anywhere selects that platform. */
export function parseMode(mode: string): ModeInfo {
  let rest = mode;
  let platform: Platform = (process.env.BENCH_PLATFORM as Platform) || 'express';
  if (/-fastify(?=-|$)/.test(rest)) {
    platform = 'fastify';
    rest = rest.replace(/-fastify(?=-|$)/, '');
  }
  for (const stack of ['express-session-typeorm', 'express-session-redis', 'lazy', 'none'] as const) {
    if (rest === stack) return { mode, stack, platform };
    if (rest.startsWith(`${stack}-`)) {
      const db = rest.slice(stack.length + 1) as Db;
      if (!['sqlite', 'postgres', 'mariadb'].includes(db)) break;
      return { mode, stack, db, platform };
    }
  }
  throw new Error(`unknown bench mode '${mode}'`);
}

// ---------------------------------------------------------------------------------------------
// Counters the admin server reports

export const counters = { statements: 0, redisCommands: 0 };
const TRANSACTION_CONTROL = /^\s*(BEGIN|COMMIT|ROLLBACK|START TRANSACTION|SAVEPOINT|RELEASE SAVEPOINT|SET TRANSACTION)\b/i;

/** Counts the SQL statements TypeORM sends (transaction control excluded), for any TypeORM user. */
class CountingLogger implements TypeOrmLogger {
  logQuery(query: string): void {
    if (!TRANSACTION_CONTROL.test(query)) counters.statements++;
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

// ---------------------------------------------------------------------------------------------
// Databases: the same pool settings for our store and for connect-typeorm

const DATA_DIR = process.env.BENCH_DATA_DIR ?? join(process.cwd(), '.run', 'bench-data');

function dataSourceOptions(db: Db, file: string, entities: DataSourceOptions['entities'] = []): DataSourceOptions {
  const logging = { logger: new CountingLogger(), logging: ['query' as const] };
  switch (db) {
    case 'sqlite': {
      mkdirSync(DATA_DIR, { recursive: true });
      const database = join(DATA_DIR, `${file}.sqlite`);
      for (const suffix of ['', '-wal', '-shm']) rmSync(database + suffix, { force: true });
      // The settings of the module's default store (session.default-store.ts), for both stacks.
      return {
        type: 'better-sqlite3', database, enableWAL: true, entities, ...logging,
        prepareDatabase: (d: { pragma(sql: string): unknown }) => {
          d.pragma('busy_timeout = 5000');
          d.pragma('synchronous = NORMAL');
        },
      };
    }
    case 'postgres':
      return { type: 'postgres', host: '127.0.0.1', port: 5432, username: 'postgres', password: process.env.PGPASSWORD ?? '', database: 'test', entities, extra: { max: 10 }, ...logging };
    case 'mariadb':
      return { type: 'mariadb', host: '127.0.0.1', port: 3306, username: 'root', password: '', database: 'test', entities, extra: { connectionLimit: 10 }, ...logging };
  }
}

// ---------------------------------------------------------------------------------------------
// Controllers. Every stack serves the same four routes with the same work.

@Controller()
class NoSessionController {
  @Get('public')
  publicRoute() {
    return { ok: true };
  }
}

/** nestjs-lazy-session, the way its README shows it: @Session() and the handle's methods. */
@Controller()
class LazyController {
  @Get('public')
  publicRoute() {
    return { ok: true };
  }

  @Get('me')
  async me(@Session() s: SessionHandle) {
    return { n: (await s.get<number>('n')) ?? 0 };
  }

  @Post('cart')
  @HttpCode(200)
  async cart(@Session() s: SessionHandle) {
    const n = ((await s.get<number>('n')) ?? 0) + 1;
    await s.set('n', n);
    return { n };
  }

  @Post('login')
  @HttpCode(200)
  async login(@Session() s: SessionHandle) {
    await s.login('bench-user');
    return { ok: true };
  }

  @Post('setup')
  @HttpCode(200)
  async setup(@Session() s: SessionHandle) {
    await s.set('n', 0);
    return { ok: true };
  }
}

/** The part of express-session's (and @fastify/session's) req.session the routes use. */
interface ClassicSession {
  [key: string]: unknown;
  regenerate(cb: (err?: unknown) => void): void;
}
type ClassicRequest = { session: ClassicSession };

const regenerate = (s: ClassicSession) => new Promise<void>((resolve, reject) => s.regenerate((err) => (err ? reject(err) : resolve())));

/** express-session (any store), the way nestjs users write it: @Req() and req.session. */
@Controller()
class ClassicController {
  @Get('public')
  publicRoute() {
    return { ok: true };
  }

  @Get('me')
  me(@Req() req: ClassicRequest) {
    return { n: (req.session.n as number | undefined) ?? 0 };
  }

  @Post('cart')
  @HttpCode(200)
  cart(@Req() req: ClassicRequest) {
    const n = ((req.session.n as number | undefined) ?? 0) + 1;
    req.session.n = n;
    return { n };
  }

  @Post('login')
  @HttpCode(200)
  async login(@Req() req: ClassicRequest) {
    // express-session's regenerate starts empty; carry the data over as our login() does.
    const n = req.session.n;
    await regenerate(req.session);
    req.session.n = n;
    req.session.userId = 'bench-user';
    return { ok: true };
  }

  @Post('setup')
  @HttpCode(200)
  setup(@Req() req: ClassicRequest) {
    req.session.n = 0;
    return { ok: true };
  }
}

// ---------------------------------------------------------------------------------------------
// Stacks: what to import into the module, which controller, and what to install on the platform.

interface Stack {
  imports: Array<DynamicModule | Type>;
  controller: Type;
  /** Platform-level setup (middleware, plugins) before app.init(); one entry per platform supported. */
  platforms: Partial<Record<Platform, (app: INestApplication) => Promise<void> | void>>;
  close?: () => Promise<void>;
}

async function buildStack(info: ModeInfo): Promise<Stack> {
  switch (info.stack) {
    case 'none':
      return noneStack();

    case 'lazy': {
      const dataSource = new DataSource(dataSourceOptions(info.db ?? 'sqlite', 'bench_lazy'));
      await dataSource.initialize();
      const table = 'bench_lazy_sessions';
      const store = new TypeOrmSessionStore(dataSource, { tableName: table });
      await dataSource.query(`DROP TABLE IF EXISTS ${info.db === 'mariadb' ? `\`${table}\`` : `"${table}"`}`);
      for (const sql of store.createTableStatements(false)) await dataSource.query(sql);
      return {
        imports: [SessionModule.forRoot({ secret: SECRET, store, pruneInterval: 0 })],
        controller: LazyController,
        platforms: { express: () => {} },
        close: () => dataSource.destroy(),
      };
    }

    case 'express-session-typeorm': {
      const { default: expressSession } = await import('express-session');
      const { default: connectTypeorm } = await import('connect-typeorm');
      const { BenchCtSession } = await import('./ct-entity.js');
      const dataSource = new DataSource({ ...dataSourceOptions(info.db ?? 'sqlite', 'bench_ct'), entities: [BenchCtSession], synchronize: false });
      await dataSource.initialize();
      await dataSource.query(`DROP TABLE IF EXISTS ${info.db === 'mariadb' ? '`bench_ct_sessions`' : '"bench_ct_sessions"'}`);
      await dataSource.synchronize();
      // The configuration connect-typeorm's README recommends (its cleanup runs inside every set).
      const store = new connectTypeorm.TypeormStore({ cleanupLimit: 2, limitSubquery: info.db !== 'mariadb', ttl: 86400 }).connect(dataSource.getRepository(BenchCtSession));
      const mw = expressSession({ secret: SECRET, resave: false, saveUninitialized: false, store });
      return {
        imports: [],
        controller: ClassicController,
        platforms: { express: (app) => void app.use(mw) },
        close: () => dataSource.destroy(),
      };
    }

    case 'express-session-redis': {
      const { default: expressSession } = await import('express-session');
      const { RedisStore } = await import('connect-redis');
      const { createClient } = await import('redis');
      const client = createClient({ url: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379' });
      await client.connect();
      const prefix = `bench_sess:${process.pid}:`;
      // Counts the commands connect-redis issues, as a cross-check of INFO commandstats.
      const counted = new Proxy(client, {
        get(target, prop, receiver) {
          const v = Reflect.get(target, prop, receiver);
          if (typeof v !== 'function' || !['get', 'set', 'expire', 'del', 'mGet', 'ttl'].includes(String(prop))) return typeof v === 'function' ? v.bind(target) : v;
          return (...args: unknown[]) => {
            counters.redisCommands++;
            return (v as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
      const store = new RedisStore({ client: counted, prefix });
      const mw = expressSession({ secret: SECRET, resave: false, saveUninitialized: false, store });
      return {
        imports: [],
        controller: ClassicController,
        platforms: { express: (app) => void app.use(mw) },
        close: async () => {
          for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) if (keys.length) await client.del(keys);
          await client.quit();
        },
      };
    }
  }
}

/**
 * The ceiling, plus BENCH_PROBE for profiling: pieces of what the module adds, one at a time, to
 * find where its cost on a route that never uses the session goes. Comma list of: 'als' (an
 * AsyncLocalStorage.run around each request), 'middleware' (a no-op Nest middleware for every
 * route), 'interceptor' (a no-op global interceptor).
 */
function noneStack(): Stack {
  const probes = new Set((process.env.BENCH_PROBE ?? '').split(',').filter(Boolean));
  const als = new AsyncLocalStorage<object>();

  @Injectable()
  class ProbeMiddleware implements NestMiddleware {
    use(_req: object, _res: object, next: () => void): void {
      if (probes.has('als')) als.run({}, next);
      else next();
    }
  }
  @Injectable()
  class ProbeInterceptor implements NestInterceptor {
    intercept(_ctx: ExecutionContext, next: CallHandler) {
      return next.handle();
    }
  }
  @Module({
    providers: probes.has('interceptor') ? [ProbeMiddleware, { provide: APP_INTERCEPTOR, useClass: ProbeInterceptor }] : [ProbeMiddleware],
  })
  class ProbeModule implements NestModule {
    configure(consumer: MiddlewareConsumer): void {
      if (probes.has('middleware') || probes.has('als')) consumer.apply(ProbeMiddleware).forRoutes({ path: '{*path}', method: RequestMethod.ALL });
    }
  }
  return { imports: probes.size ? [ProbeModule] : [], controller: NoSessionController, platforms: { express: () => {} } };
}

/** The Nest application of a mode, initialised but not listening. */
export async function createBenchApp(info: ModeInfo): Promise<{ app: INestApplication; close: () => Promise<void> }> {
  const stack = await buildStack(info);
  const install = stack.platforms[info.platform];
  if (!install) throw new Error(`bench mode '${info.mode}': the ${info.stack} stack has no ${info.platform} setup yet`);

  @Module({ imports: stack.imports, controllers: [stack.controller] })
  class BenchModule {}

  // The platform switch: a Fastify adapter goes here (new FastifyAdapter()), see `platforms`.
  const adapter = info.platform === 'express' ? new ExpressAdapter() : undefined;
  if (!adapter) throw new Error(`platform ${info.platform} is not wired yet`);
  const app = await NestFactory.create(BenchModule, adapter, { logger: ['error', 'warn'], bodyParser: true });
  await install(app);
  await app.init();
  return {
    app,
    close: async () => {
      await app.close();
      await stack.close?.();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Process entry: listen, report through the admin server, stop on SIGTERM or stdin end.

async function main(): Promise<void> {
  const mode = process.argv[2] ?? process.env.BENCH_MODE ?? 'none';
  const port = Number(process.env.BENCH_PORT ?? 3000);
  const adminPort = Number(process.env.BENCH_ADMIN_PORT ?? port + 1);
  const { app, close } = await createBenchApp(parseMode(mode));
  await app.listen(port, '127.0.0.1');

  const admin = createServer((req, res) => {
    if (req.url === '/stats') {
      const cpu = process.cpuUsage();
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ userUs: cpu.user, systemUs: cpu.system, statements: counters.statements, redisCommands: counters.redisCommands, rss: process.memoryUsage.rss() }));
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  admin.listen(adminPort, '127.0.0.1');

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    admin.close();
    await close().catch((err) => console.error(err));
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.send?.({ ready: true });
  console.log(`bench app ${mode} ready on ${port} (admin ${adminPort})`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
