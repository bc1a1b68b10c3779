import type { Redis } from 'ioredis';
import { consumerApp, removeBuiltPackage, type ConsumerApp } from './support/consumer.js';
import { describeRedis, dropPrefix, newRedis, REDIS_PORT, testPrefix } from './support/redis.js';

/**
 * Applications that install the built package the way npm would, with only the packages they chose,
 * compiled by tsc and run by Node in processes of their own: what a user's app meets, not what the
 * repository's test set-up happens to provide.
 */

const NEST = ['@nestjs/common', '@nestjs/core', '@nestjs/platform-express', 'reflect-metadata', 'rxjs'];
const SQL = ['typeorm', 'better-sqlite3'];

/** The route every consumer app serves: a visit counter in the session. */
function visitsController(extraRoutes = ''): string {
  return `@Controller()
class VisitsController {
  @Get('visits')
  async visits(@Session() session: SessionHandle) {
    const visits = ((await session.get<number>('visits')) ?? 0) + 1;
    await session.set('visits', visits);
    return { visits };
  }
  ${extraRoutes}
}
`;
}

/** Listens on a free port and prints it; a failed start-up prints its message and exits with 1. */
const MAIN = `async function main() {
  const app = await NestFactory.create(AppModule, { logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  console.log('listening on ' + app.getHttpServer().address().port);
}
main().catch((err) => {
  console.error('start-up failed: ' + (err instanceof Error ? err.message : String(err)));
  process.exit(1);
});
`;

/** A whole Nest app; `store` is the expression given to forRoot (none: the default store). */
function appSource(store: string | undefined, extraImports = '', extraRoutes = ''): string {
  return `import 'reflect-metadata';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CookieSessionStore, MemorySessionStore, Session, SessionModule, type SessionHandle } from 'nestjs-lazy-session';
${extraImports}

${visitsController(extraRoutes)}

void MemorySessionStore;
void CookieSessionStore;

@Module({
  imports: [SessionModule.forRoot({ secret: 'consumer-app-secret-0123456789abcdef', sqlitePath: 'sessions.sqlite', pruneInterval: 0${store ? `, store: ${store}` : ''} })],
  controllers: [VisitsController],
})
class AppModule {}

${MAIN}`;
}

/** Two visits with the cookie the first one set: the session works end to end. */
async function expectTwoVisits(app: ConsumerApp): Promise<void> {
  const running = await app.start('main.js');
  try {
    const first = await running.get('/visits');
    expect(first).toMatchObject({ status: 200, body: '{"visits":1}' });
    const cookie = first.setCookie[0].split(';')[0];
    expect(await running.get('/visits', cookie)).toMatchObject({ status: 200, body: '{"visits":2}' });
  } finally {
    await running.stop();
  }
}

afterAll(() => removeBuiltPackage());

describe('a Nest app compiled to CommonJS (tsc module: commonjs)', () => {
  let app: ConsumerApp;
  afterEach(() => app?.remove());

  it('requires the package, runs on the default SQLite store and loads the typeorm subpath', async () => {
    app = consumerApp([...NEST, ...SQL], 'commonjs');
    app.compile(
      { 'main.ts': appSource(undefined, "import { SessionEntity } from 'nestjs-lazy-session/typeorm';", "@Get('entity') entity() { return SessionEntity.name; }") },
      'commonjs',
    );
    await expectTwoVisits(app);
    const running = await app.start('main.js');
    try {
      expect(await running.get('/entity')).toMatchObject({ status: 200, body: 'SessionEntity' });
    } finally {
      await running.stop();
    }
  }, 120_000);
});

describe('an app that installed neither typeorm nor better-sqlite3', () => {
  let app: ConsumerApp;
  afterEach(() => app?.remove());

  it.each([
    ['memory', 'new MemorySessionStore()'],
    ['cookie', "new CookieSessionStore({ keys: ['consumer-cookie-key-0123456789abcdef'] })"],
  ])('imports the package and runs on the %s store', async (_name, store) => {
    app = consumerApp(NEST, 'module');
    app.compile({ 'main.ts': appSource(store) }, 'esm');
    await expectTwoVisits(app);
  }, 120_000);

  it('fails start-up with the install command when it chooses the default store', async () => {
    app = consumerApp(NEST, 'module');
    app.compile({ 'main.ts': appSource(undefined) }, 'esm');
    const result = await app.runToEnd('main.js');
    expect(result.code).toBe(1);
    expect(result.stdout).not.toContain('listening on');
    expect(result.stderr).toContain('npm install typeorm better-sqlite3');
  }, 120_000);
});

describe('an app that installed typeorm but not better-sqlite3', () => {
  let app: ConsumerApp;
  afterEach(() => app?.remove());

  it('fails start-up naming `npm install better-sqlite3` when it chooses the default store', async () => {
    app = consumerApp([...NEST, 'typeorm'], 'module');
    app.compile({ 'main.ts': appSource(undefined) }, 'esm');
    const result = await app.runToEnd('main.js');
    expect(result.stdout).not.toContain('listening on');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/npm install better-sqlite3(?! typeorm)/);
  }, 120_000);
});

// Issue 12 (Redis- or cookie-only users): an app on the Redis store installs ioredis, and neither
// typeorm nor better-sqlite3.
await describeRedis('an app on the Redis store that installed neither typeorm nor better-sqlite3', () => {
  let app: ConsumerApp;
  let client: Redis;
  const prefix = testPrefix('consumer');
  beforeAll(async () => {
    client = await newRedis();
  });
  afterEach(() => app?.remove());
  afterAll(async () => {
    await dropPrefix(client, prefix);
    client.disconnect();
  });

  it('imports the package and runs on RedisSessionStore with ioredis', async () => {
    app = consumerApp([...NEST, 'ioredis'], 'module');
    app.compile(
      { 'main.ts': appSource(`new RedisSessionStore(new Redis({ host: '127.0.0.1', port: ${REDIS_PORT} }), { prefix: '${prefix}' })`, "import { Redis } from 'ioredis';\nimport { RedisSessionStore } from 'nestjs-lazy-session';") },
      'esm',
    );
    await expectTwoVisits(app);
    expect((await client.keys(`${prefix}*`)).length).toBeGreaterThan(0);
  }, 120_000);
});

/**
 * Issue 12 ("Examples that fail when followed"): the README's forRootAsync example with the real
 * @nestjs/typeorm TypeOrmModule.forRoot() (SQLite instead of PostgreSQL), in a Node process of its own.
 */
function typeOrmModuleApp(withMigration: boolean): string {
  return `import 'reflect-metadata';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { CreateSessionsTable1764000000000, Session, SessionModule, TypeOrmSessionStore, type SessionHandle } from 'nestjs-lazy-session';

${visitsController()}

void CreateSessionsTable1764000000000;

@Module({
  imports: [
    TypeOrmModule.forRoot({
      type: 'better-sqlite3',
      database: 'app.sqlite',
      autoLoadEntities: true,
      ${withMigration ? 'migrations: [CreateSessionsTable1764000000000], migrationsRun: true,' : ''}
    }),
    SessionModule.forRootAsync({
      inject: [DataSource],
      useFactory: (dataSource: DataSource) => ({ secret: 'consumer-app-secret-0123456789abcdef', pruneInterval: 0, store: new TypeOrmSessionStore(dataSource) }),
    }),
  ],
  controllers: [VisitsController],
})
class AppModule {}

${MAIN}`;
}

describe("the README's forRootAsync example with @nestjs/typeorm's TypeOrmModule.forRoot()", () => {
  let app: ConsumerApp;
  afterEach(() => app?.remove());

  it('with the shipped migration run at start-up: serves sessions from the first request', async () => {
    app = consumerApp([...NEST, ...SQL, '@nestjs/typeorm'], 'module');
    app.compile({ 'main.ts': typeOrmModuleApp(true) }, 'esm');
    await expectTwoVisits(app);
  }, 120_000);

  it('without the migration: start-up stops, naming the migrations and createTable (no 503 at run time)', async () => {
    app = consumerApp([...NEST, ...SQL, '@nestjs/typeorm'], 'module');
    app.compile({ 'main.ts': typeOrmModuleApp(false) }, 'esm');
    const result = await app.runToEnd('main.js');
    expect(result.stdout).not.toContain('listening on');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('table "sessions" does not exist');
    expect(result.stderr).toContain('CreateSessionsTable1764000000000');
    expect(result.stderr).toContain('createTable: true');
  }, 120_000);
});

describe("a store author's tests: nestjs-lazy-session/testing", () => {
  let app: ConsumerApp;
  afterEach(() => app?.remove());

  it('runs the conformance suite under node:test in an ES module app', async () => {
    app = consumerApp(NEST, 'module');
    app.compile(
      {
        'store.test.ts': `import { after, before, describe, it } from 'node:test';
import { MemorySessionStore } from 'nestjs-lazy-session';
import { describeSessionStore } from 'nestjs-lazy-session/testing';

describeSessionStore('MemorySessionStore', { open: async () => ({ store: new MemorySessionStore(), close: async () => {} }) }, { describe, it, before, after });
`,
      },
      'esm',
    );
    const result = await app.runToEnd('store.test.js');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('round-trips tricky values');
    expect(result.stdout).toContain('user index');
  }, 120_000);

  it('is required by a CommonJS app that installed nothing else (types found through typesVersions)', async () => {
    app = consumerApp([], 'commonjs');
    app.compile({ 'main.ts': "import { describeSessionStore } from 'nestjs-lazy-session/testing';\nconsole.log(typeof describeSessionStore);\n" }, 'commonjs');
    const result = await app.runToEnd('main.js');
    expect(result).toMatchObject({ code: 0, stdout: 'function\n' });
  }, 120_000);
});
