/**
 * The benchmark application: one NestJS app whose session stack and HTTP platform are chosen by the mode.
 *
 *   node .run/bench/app.js <mode>          (or BENCH_MODE=<mode>)
 *
 * Modes (see ALL_MODES in run.ts):
 *   none, none-fastify                              no sessions: the ceiling
 *   none-<store>                                    no sessions, but holding the client lazy-<store> uses
 *                                                   (sqlite, postgres, mariadb, redis): the same application
 *                                                   with the same database, minus this module
 *   lazy-<store>, lazy-fastify-<store>              this module; <store>: sqlite, postgres, mariadb
 *                                                   (TypeOrmSessionStore), redis (RedisSessionStore over
 *                                                   ioredis), cookie (CookieSessionStore)
 *   floor-postgres, floor-fastify-postgres          no session layer: the least a server-side session read on
 *                                                   PostgreSQL must do (see floorStack), GET /me only
 *   lazy-<store>-current                            the same, but /me and /cart go through a singleton
 *                                                   service that injects CurrentSession (AsyncLocalStorage on)
 *   express-session-typeorm-<db>, express-session-redis      express-session + connect-typeorm / connect-redis
 *   fastify-session-redis, fastify-session-typeorm-<db>      @fastify/session + @fastify/cookie on Nest's
 *                                                   Fastify adapter, store connect-redis / connect-typeorm
 * A '-fastify' marker anywhere (or BENCH_PLATFORM=fastify) selects @nestjs/platform-fastify.
 *
 * Routes (every stack): GET /public (never touches the session), GET /me (reads it), POST /cart
 * (increments a counter in it), POST /login (login with id rotation), POST /setup (creates a
 * session: used by the orchestrator before a run, not measured).
 *
 * A second, plain node:http server on BENCH_ADMIN_PORT reports process.cpuUsage(), the SQL
 * statements TypeORM sent (a counting logger on the DataSource) and the Redis commands the app's
 * client sent (each client call counted once: one EVALSHA is one round trip), so the orchestrator
 * can take deltas around a load run without going through Nest.
 */
import 'reflect-metadata';
import { createServer } from 'node:http';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  Controller, Get, HttpCode, Injectable, Module, Post, Query, Req, RequestMethod, Res,
  type CallHandler, type DynamicModule, type ExecutionContext, type INestApplication, type MiddlewareConsumer, type NestInterceptor, type NestMiddleware, type NestModule, type Type,
} from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { DataSource, EventSubscriber, type DataSourceOptions, type EntitySubscriberInterface, type Logger as TypeOrmLogger } from 'typeorm';
import * as lib from '../src/index.js';
import { CurrentSession, RedisSessionStore, Session, SessionModule, TypeOrmSessionStore, type SessionHandle, type SessionStore } from '../src/index.js';

export const SECRET = 'bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
export type Platform = 'express' | 'fastify';
export type Db = 'sqlite' | 'postgres' | 'mariadb';
/** Where a stack keeps its sessions: a SQL database, Redis, or (ours only) the cookie itself. */
export type Backend = Db | 'redis' | 'cookie';
export type StackName = 'none' | 'floor' | 'lazy' | 'express-session-typeorm' | 'express-session-redis' | 'fastify-session-typeorm' | 'fastify-session-redis';

export interface ModeInfo {
  mode: string;
  stack: StackName;
  db?: Backend;
  platform: Platform;
  /** lazy only: /me and /cart go through a singleton service that injects CurrentSession. */
  current: boolean;
  /**
   * connect-typeorm on SQLite only: TypeORM's default better-sqlite3 settings (rollback journal,
   * synchronous FULL), as a user who installs it would have them, instead of the module's WAL settings.
   */
  defaults?: boolean;
  /**
   * lazy on PostgreSQL only ('-viaorm'): the store's statements through TypeORM's QueryRunner, as
   * before 0.2.0 (a no-op query subscriber on the DataSource makes the store keep TypeORM's path).
   */
  viaOrm?: boolean;
}

const SQL: readonly string[] = ['sqlite', 'postgres', 'mariadb'];

/**
 * 'lazy-postgres' → { stack: 'lazy', db: 'postgres' }; '-fastify' anywhere (and the fastify-session
 * stacks) selects that platform; a trailing '-current' selects the CurrentSession variant.
 */
export function parseMode(mode: string): ModeInfo {
  let rest = mode;
  let platform: Platform = (process.env.BENCH_PLATFORM as Platform) || 'express';
  let current = false;
  if (/-fastify(?=-|$)/.test(rest)) {
    platform = 'fastify';
    rest = rest.replace(/-fastify(?=-|$)/, '');
  }
  const viaOrm = rest.endsWith('-viaorm');
  if (viaOrm) rest = rest.slice(0, -'-viaorm'.length);
  if (rest.endsWith('-current')) {
    current = true;
    rest = rest.slice(0, -'-current'.length);
  }
  const defaults = rest.endsWith('-typeorm-sqlite-defaults');
  if (defaults) rest = rest.slice(0, -'-defaults'.length);
  if (rest.startsWith('fastify-session-')) platform = 'fastify';
  const stacks = ['express-session-typeorm', 'express-session-redis', 'fastify-session-typeorm', 'fastify-session-redis', 'lazy', 'none', 'floor'] as const;
  for (const stack of stacks) {
    if (current && stack !== 'lazy') continue;
    if (rest === stack) return { mode, stack, platform, current, db: stack.endsWith('-redis') ? 'redis' : undefined };
    if (rest.startsWith(`${stack}-`)) {
      const db = rest.slice(stack.length + 1) as Backend;
      const ok = stack === 'lazy' ? [...SQL, 'redis', 'cookie'].includes(db) : stack === 'none' ? [...SQL, 'redis'].includes(db) : stack === 'floor' ? db === 'postgres' : stack.endsWith('-typeorm') && SQL.includes(db);
      if (!ok) break;
      return { mode, stack, db, platform, current, ...(defaults ? { defaults } : {}), ...(viaOrm ? { viaOrm } : {}) };
    }
  }
  throw new Error(`unknown bench mode '${mode}'`);
}

/** What the ops column counts for a mode: SQL statements, Redis round trips, or nothing. */
export function opsKindOf(mode: string): 'sql' | 'redis' | '-' {
  const { stack, db } = parseMode(mode);
  if (stack === 'none' || db === 'cookie') return '-';
  return db === 'redis' ? 'redis' : 'sql';
}

/** Whether CookieSessionStore is exported by this checkout (the lazy-cookie mode needs it). */
export const hasCookieStore = typeof (lib as Record<string, unknown>).CookieSessionStore === 'function';

// ---------------------------------------------------------------------------------------------
// Counters the admin server reports

export const counters = { statements: 0, redisCommands: 0, requests: 0 };
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

function dataSourceOptions(db: Backend, file: string, entities: DataSourceOptions['entities'] = [], defaults = false): DataSourceOptions {
  const logging = { logger: new CountingLogger(), logging: ['query' as const] };
  switch (db) {
    case 'sqlite': {
      mkdirSync(DATA_DIR, { recursive: true });
      // One file per app process (apps of a round run side by side): the port tells them apart.
      const database = join(DATA_DIR, `${file}-${process.env.BENCH_PORT ?? '0'}.sqlite`);
      for (const suffix of ['', '-wal', '-shm']) rmSync(database + suffix, { force: true });
      if (defaults) return { type: 'better-sqlite3', database, entities, ...logging };
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
    default:
      throw new Error(`${db} is not a SQL database`);
  }
}

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A node-redis client whose commands (the ones connect-redis sends) are counted, one per call. */
async function countedNodeRedis() {
  const { createClient } = await import('redis');
  const client = createClient({ url: REDIS_URL });
  await client.connect();
  const c = client as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const name of ['get', 'set', 'expire', 'del', 'mGet', 'ttl']) {
    const f = c[name].bind(client);
    c[name] = (...args: unknown[]) => {
      counters.redisCommands++;
      return f(...args);
    };
  }
  return client;
}

/** Deletes every key under `prefix` (the bench's own keys only). */
async function dropRedisKeys(prefix: string): Promise<void> {
  const { createClient } = await import('redis');
  const client = createClient({ url: REDIS_URL });
  await client.connect();
  for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) if (keys.length) await client.del(keys);
  await client.quit();
}

// ---------------------------------------------------------------------------------------------
// Controllers. Every stack serves the same four routes with the same work.

/**
 * The same app without sessions: the same routes with the same answers but no session behind them,
 * so that it is warmed on the same traffic as the session stacks (a JIT that has seen only one route
 * would make it an unfairly fast baseline for GET /public).
 */
@Controller()
class NoSessionController {
  @Get('public')
  publicRoute() {
    return { ok: true };
  }

  @Get('me')
  me() {
    return { n: 0 };
  }

  @Post('cart')
  @HttpCode(200)
  cart() {
    return { n: 1 };
  }

  @Post('login')
  @HttpCode(200)
  login() {
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

  /** `?bytes=N`: the session also holds N bytes of other data (the size sweep), in one key /me never reads. */
  @Post('setup')
  @HttpCode(200)
  async setup(@Session() s: SessionHandle, @Query('bytes') bytes?: string) {
    const size = Math.min(Number(bytes) || 0, 1 << 20);
    // Random text: a repeated character would compress to nothing in PostgreSQL's TOAST.
    if (size > 0) await s.set('pad', randomBytes(size).toString('base64url').slice(0, size));
    await s.set('n', 0);
    return { ok: true };
  }
}

/**
 * The CurrentSession variant (lazy-*-current): a singleton service that injects CurrentSession, as an
 * application that reaches the session from deep in its services would. Its presence turns on the
 * module's AsyncLocalStorage for every request (found at start-up), /public included.
 */
@Injectable()
class CounterService {
  constructor(private readonly session: CurrentSession) {}

  async read(): Promise<number> {
    return ((await this.session.get('n')) as number | undefined) ?? 0;
  }

  async increment(): Promise<number> {
    const n = (await this.read()) + 1;
    await this.session.set('n', n);
    return n;
  }
}

@Controller()
class LazyCurrentController {
  constructor(private readonly counter: CounterService) {}

  @Get('public')
  publicRoute() {
    return { ok: true };
  }

  @Get('me')
  async me() {
    return { n: await this.counter.read() };
  }

  @Post('cart')
  @HttpCode(200)
  async cart() {
    return { n: await this.counter.increment() };
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

/**
 * express-session and @fastify/session (any store), the way Nest users write it: @Req() and
 * req.session (on Fastify, @Req() is the FastifyRequest, which @fastify/session decorates).
 */
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
  providers?: Type[];
  /** Platform-level setup (middleware, plugins) before app.init(); one entry per platform supported. */
  platforms: Partial<Record<Platform, (app: INestApplication) => Promise<void> | void>>;
  close?: () => Promise<void>;
}

async function buildStack(info: ModeInfo): Promise<Stack> {
  switch (info.stack) {
    case 'none': {
      // none-<db>: the app without sessions that holds the same database client as lazy-<db> (a
      // DataSource, an ioredis client), as an application with that database but no sessions would.
      const held = info.db ? await lazyStore(info.db) : undefined;
      return { ...noneStack(), close: held?.close };
    }

    case 'floor':
      return floorStack();

    case 'lazy': {
      const { store, close } = await lazyStore(info.db ?? 'sqlite', info.viaOrm);
      return {
        imports: [SessionModule.forRoot({ secret: SECRET, store, pruneInterval: 0 })],
        controller: info.current ? LazyCurrentController : LazyController,
        providers: info.current ? [CounterService] : [],
        platforms: { express: () => {}, fastify: () => {} },
        close,
      };
    }

    case 'express-session-typeorm':
    case 'fastify-session-typeorm': {
      const { default: connectTypeorm } = await import('connect-typeorm');
      const { BenchCtSession } = await import('./ct-entity.js');
      // A table of this process's own (the apps of a round run side by side): TypeORM's entityPrefix.
      const prefix = `p${process.env.BENCH_PORT ?? '0'}_`;
      const dataSource = new DataSource({ ...dataSourceOptions(info.db ?? 'sqlite', 'bench_ct', [], info.defaults), entities: [BenchCtSession], entityPrefix: prefix, synchronize: false });
      await dataSource.initialize();
      await dataSource.query(`DROP TABLE IF EXISTS ${info.db === 'mariadb' ? `\`${prefix}bench_ct_sessions\`` : `"${prefix}bench_ct_sessions"`}`);
      await dataSource.synchronize();
      // The configuration connect-typeorm's README recommends (its cleanup runs inside every set).
      const store = new connectTypeorm.TypeormStore({ cleanupLimit: 2, limitSubquery: info.db !== 'mariadb', ttl: 86400 }).connect(dataSource.getRepository(BenchCtSession));
      return { ...(await classicStack(info, store)), close: () => dataSource.destroy() };
    }

    case 'express-session-redis':
    case 'fastify-session-redis': {
      const { RedisStore } = await import('connect-redis');
      const client = await countedNodeRedis();
      const prefix = `bench_sess:${process.pid}:`;
      // connect-redis is an express-session store; @fastify/session takes express-session stores as they are.
      const store = new RedisStore({ client, prefix });
      return {
        ...(await classicStack(info, store)),
        close: async () => {
          await client.quit();
          await dropRedisKeys(prefix);
        },
      };
    }
  }
}

/** Our store for a backend, and how to let go of it. */
async function lazyStore(db: Backend, viaOrm = false): Promise<{ store: SessionStore; close: () => Promise<void> }> {
  if (db === 'redis') {
    const { Redis } = await import('ioredis');
    // The client settings the store's documentation recommends.
    const client = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 });
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve);
      client.once('error', reject);
    });
    // Every command the store sends goes through client.call (one EVALSHA is one round trip).
    const call = client.call.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { call: unknown }).call = (...args: unknown[]) => {
      counters.redisCommands++;
      return call(...args);
    };
    const prefix = `bench_lazy:${process.pid}:`;
    const store = new RedisSessionStore(client, { prefix });
    return {
      store,
      close: async () => {
        client.disconnect();
        await dropRedisKeys(prefix);
      },
    };
  }
  if (db === 'cookie') {
    const Ctor = (lib as Record<string, unknown>).CookieSessionStore as (new (o: { keys: string[] }) => SessionStore) | undefined;
    if (!Ctor) throw new Error('lazy-cookie: CookieSessionStore is not exported by src/index.ts in this checkout');
    return { store: new Ctor({ keys: ['bench-cookie-key-0123456789-abcdefghijklmnop'] }), close: async () => {} };
  }
  @EventSubscriber()
  class QueryListener implements EntitySubscriberInterface {
    afterQuery(): void {}
  }
  const dataSource = new DataSource({ ...dataSourceOptions(db, 'bench_lazy'), subscribers: viaOrm ? [QueryListener] : [] });
  await dataSource.initialize();
  // A table of this process's own: the apps of a round run side by side.
  const table = `bench_lazy_${process.env.BENCH_PORT ?? '0'}_sessions`;
  const store = new TypeOrmSessionStore(dataSource, { tableName: table });
  await dataSource.query(`DROP TABLE IF EXISTS ${db === 'mariadb' ? `\`${table}\`` : `"${table}"`}`);
  for (const sql of store.createTableStatements(false)) await dataSource.query(sql);
  const drop = `DROP TABLE IF EXISTS ${db === 'mariadb' ? `\`${table}\`` : `"${table}"`}`;
  return { store, close: async () => (await dataSource.query(drop).catch(() => {}), await dataSource.destroy()) };
}

/**
 * express-session on Express, or @fastify/session (+ @fastify/cookie) on Fastify, over an
 * express-session-compatible store, with the settings a careful user picks: resave / rolling
 * false, saveUninitialized false.
 */
async function classicStack(info: ModeInfo, store: unknown): Promise<Omit<Stack, 'close'>> {
  if (info.platform === 'express') {
    const { default: expressSession } = await import('express-session');
    const mw = expressSession({ secret: SECRET, resave: false, saveUninitialized: false, store: store as never });
    return { imports: [], controller: ClassicController, platforms: { express: (app) => void app.use(mw) } };
  }
  const { fastifyCookie } = await import('@fastify/cookie');
  const { fastifySession } = await import('@fastify/session');
  return {
    imports: [],
    controller: ClassicController,
    platforms: {
      fastify: async (app) => {
        const f = app as unknown as { register(plugin: unknown, opts?: unknown): Promise<unknown> };
        await f.register(fastifyCookie);
        // secure: false as express-session's default: @fastify/session never saves a session whose
        // cookie is Secure on a plain-HTTP request, and the benchmark speaks plain HTTP.
        await f.register(fastifySession, {
          secret: SECRET,
          store,
          saveUninitialized: false,
          rolling: false,
          cookie: { secure: false, httpOnly: true, sameSite: 'lax', path: '/' },
        });
      },
    },
  };
}

/**
 * The floor (floor-postgres, floor-fastify-postgres): the least any server-side session read on
 * PostgreSQL can do, with no session layer at all. GET /me checks the cookie's HMAC, hashes its token
 * into the row id (SHA-256), runs one prepared `SELECT data … WHERE id = $1` through the DataSource's
 * own node-postgres pool and JSON-parses the data: the issue's "one node-postgres round trip plus the
 * HMAC and SHA-256". No expiry, no idle refresh, no row mapping, no write-back: a lower bound for
 * GET /me, not a usable session. What a session layer adds is its cost over this floor, and
 * theirs ÷ floor is the best ratio any layer could reach against theirs.
 */
async function floorStack(): Promise<Stack> {
  const dataSource = new DataSource(dataSourceOptions('postgres', 'bench_floor'));
  await dataSource.initialize();
  const pool = (dataSource.driver as unknown as { master: { query(q: { name?: string; text: string; values: unknown[] }): Promise<{ rows: Array<{ data: string }> }> } }).master;
  const table = `bench_floor_${process.env.BENCH_PORT ?? '0'}`;
  await dataSource.query(`DROP TABLE IF EXISTS "${table}"`);
  await dataSource.query(`CREATE TABLE "${table}" (id varchar(64) PRIMARY KEY, data text NOT NULL)`);
  const select = { name: `floor_${table}`, text: `SELECT data FROM "${table}" WHERE id = $1` };
  const mac = (token: string) => createHmac('sha256', SECRET).update(token).digest('base64url');
  const rowId = (token: string) => createHash('sha256').update(token).digest('base64url');
  const idOf = (header: string | undefined): string | undefined => {
    const value = header && /(?:^|;\s*)__Host-sid=([^;]*)/.exec(header)?.[1];
    const dot = value ? value.lastIndexOf('.') : -1;
    if (!value || dot < 0) return undefined;
    const token = value.slice(0, dot);
    const sig = Buffer.from(value.slice(dot + 1));
    const expected = Buffer.from(mac(token));
    return sig.length === expected.length && timingSafeEqual(sig, expected) ? rowId(token) : undefined;
  };

  @Controller()
  class FloorController {
    @Get('public')
    publicRoute() {
      return { ok: true };
    }

    @Get('me')
    async me(@Req() req: { headers: Record<string, string | undefined> }) {
      const id = idOf(req.headers.cookie);
      if (id === undefined) return { n: 0 };
      counters.statements++;
      const { rows } = await pool.query({ ...select, values: [id] });
      return { n: rows.length ? ((JSON.parse(rows[0].data) as { n?: number }).n ?? 0) : 0 };
    }

    @Post('cart')
    @HttpCode(200)
    cart() {
      return { n: 1 };
    }

    @Post('setup')
    @HttpCode(200)
    async setup(@Res({ passthrough: true }) res: { header(name: string, value: string): unknown }) {
      const token = randomBytes(32).toString('base64url');
      await dataSource.query(`INSERT INTO "${table}" (id, data) VALUES ($1, $2)`, [rowId(token), JSON.stringify({ n: 0 })]);
      res.header('set-cookie', `__Host-sid=${token}.${mac(token)}; Path=/; HttpOnly; SameSite=Lax`);
      return { ok: true };
    }
  }
  return {
    imports: [],
    controller: FloorController,
    platforms: { express: () => {}, fastify: () => {} },
    close: async () => (await dataSource.query(`DROP TABLE IF EXISTS "${table}"`).catch(() => {}), await dataSource.destroy()),
  };
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
  return { imports: probes.size ? [ProbeModule] : [], controller: NoSessionController, platforms: { express: () => {}, fastify: () => {} } };
}

/** The Nest application of a mode, initialised but not listening. */
export async function createBenchApp(info: ModeInfo): Promise<{ app: INestApplication; close: () => Promise<void> }> {
  const stack = await buildStack(info);
  const install = stack.platforms[info.platform];
  if (!install) throw new Error(`bench mode '${info.mode}': the ${info.stack} stack has no ${info.platform} setup yet`);

  @Module({ imports: stack.imports, controllers: [stack.controller], providers: stack.providers ?? [] })
  class BenchModule {}

  let adapter: ExpressAdapter | import('@nestjs/platform-fastify').FastifyAdapter;
  if (info.platform === 'express') adapter = new ExpressAdapter();
  else {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    adapter = new FastifyAdapter();
  }
  const app = await NestFactory.create<INestApplication>(BenchModule, adapter, { logger: ['error', 'warn'], bodyParser: true });
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

let inspectorSession: import('node:inspector').Session | undefined;

/** Starts the V8 sampling profiler (every 100 µs), or stops it and answers its profile as JSON. */
async function profiler(start: boolean): Promise<string> {
  const { Session } = await import('node:inspector');
  const session = (inspectorSession ??= new Session());
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) => session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result))));
  if (start) {
    try {
      session.connect();
    } catch {
      // connected by an earlier profile
    }
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 100 });
    await post('Profiler.start');
    return '{}';
  }
  const { profile } = (await post('Profiler.stop')) as { profile: unknown };
  return JSON.stringify(profile);
}

async function main(): Promise<void> {
  const mode = process.argv[2] ?? process.env.BENCH_MODE ?? 'none';
  const port = Number(process.env.BENCH_PORT ?? 3000);
  const adminPort = Number(process.env.BENCH_ADMIN_PORT ?? port + 1);
  const { app, close } = await createBenchApp(parseMode(mode));
  await app.listen(port, '127.0.0.1');
  // Requests seen by the server, for measuring windows that lie inside a load run (bench/paired.ts).
  (app.getHttpServer() as import('node:http').Server).on('request', () => void counters.requests++);

  const admin = createServer((req, res) => {
    // bench/profile.ts: a CPU profile of exactly its measured window, taken in-process.
    if (req.url === '/profile/start' || req.url === '/profile/stop') {
      profiler(req.url.endsWith('start')).then(
        (body) => res.end(body),
        (err: Error) => ((res.statusCode = 500), res.end(String(err))),
      );
      return;
    }
    // Before a measured run: the garbage of earlier runs (64 kB sessions of the size sweep, say)
    // is collected now rather than charged to the next run.
    if (req.url === '/gc') {
      (globalThis as { gc?: () => void }).gc?.();
      res.end('{}');
      return;
    }
    if (req.url === '/stats') {
      const cpu = process.cpuUsage();
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ userUs: cpu.user, systemUs: cpu.system, statements: counters.statements, redisCommands: counters.redisCommands, requests: counters.requests, rss: process.memoryUsage.rss() }));
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
