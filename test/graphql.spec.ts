import type { INestApplication } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { CountingLogger } from './support/counting-logger.js';
import { describeEngines, openStore, type Engine } from './support/databases.js';
import { ClosedClassFieldResolver, createGraphqlApp, GqlClient, PlainResolver, ProfileResolver, SecretFieldResolver, served, type GqlResponse, type GraphqlDriver } from './support/graphql-app.js';
import { sleep } from './support/http.js';
import { breakable } from './support/breakable.js';
import type { Redis } from 'ioredis';
import { describeRedis, dropPrefix, newRedis, testPrefix } from './support/redis.js';
import { MemorySessionStore, RedisSessionStore, type TypeOrmSessionStore } from '../src/index.js';

/**
 * GraphQL over real HTTP: Apollo on Express and Mercurius on Fastify, each a listening app with the
 * session module in front of it, and a client that keeps the cookie. The same decorators, guard and
 * CurrentSession as over HTTP, with the same statement budget, counted on every SQL engine.
 */

const DRIVERS: { driver: GraphqlDriver; platform: string }[] = [
  { driver: 'apollo', platform: 'express' },
  { driver: 'mercurius', platform: 'fastify' },
];

const quote = (engine: Engine, t: string) => (engine === 'mariadb' ? `\`${t}\`` : `"${t}"`);
const CROSS_SITE = { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' };

function errorOf(res: GqlResponse): { message: string; code: unknown } {
  const error = res.body.errors?.[0];
  if (!error) throw new Error(`expected a GraphQL error, got ${JSON.stringify(res.body)}`);
  return { message: error.message, code: error.extensions?.code };
}

for (const { driver, platform } of DRIVERS) await describeEngines(`GraphQL on ${driver} (${platform})`, (engine) => {
  const table = `gql_${driver}_${engine}`;
  const logger = new CountingLogger();
  let dataSource: DataSource;
  let store: TypeOrmSessionStore;
  let app: INestApplication;
  let url: string;

  /** The statements an exchange costs, transaction control excluded. */
  async function counted<T>(fn: () => Promise<T>): Promise<[T, number, string[]]> {
    logger.reset();
    const result = await fn();
    return [result, logger.count, [...logger.statements]];
  }

  async function rowCount(): Promise<number> {
    const [row] = await dataSource.query(`SELECT COUNT(*) AS n FROM ${quote(engine, table)}`);
    return Number((row as { n: unknown }).n);
  }

  beforeAll(async () => {
    ({ dataSource, store } = await openStore(engine, table, logger));
    ({ app, url } = await createGraphqlApp({ driver, store, globalGuard: true, batching: true }));
  });
  afterAll(async () => {
    await app?.close();
    await dataSource?.destroy();
  });
  beforeEach(() => (served.length = 0));

  describe('statement budget', () => {
    it('an operation that never uses the session costs 0 statements, even with a cookie; creating one costs 1', async () => {
      const c = new GqlClient(url);
      const [created, n] = await counted(() => c.query('mutation { visit { n } }'));
      expect(created.body.data).toEqual({ visit: { n: 1 } });
      expect(n).toBe(1);
      expect(c.cookie).toBeDefined();
      const [res, none] = await counted(() => c.query('{ ping }'));
      expect(res.body).toEqual({ data: { ping: 'pong' } });
      expect(none).toBe(0);
      expect(res.setCookie).toEqual([]);
      expect(res.headers.get('vary') ?? '').not.toMatch(/cookie/i);
    });

    it('every resolver of one operation (queries, field resolvers, CurrentSession) shares one load: 1 statement', async () => {
      const c = new GqlClient(url);
      await c.query('mutation { visit { n } }');
      await c.query('mutation { addItem(item: "tea") }');
      await c.query('mutation { setNote(note: "hello") }');
      const [res, n, sql] = await counted(() => c.query('{ profile { kind userId visits items note } whoami visitCount currentUser }'));
      expect(res.body).toEqual({
        data: { profile: { kind: 'profile', userId: null, visits: 1, items: ['tea'], note: 'hello' }, whoami: null, visitCount: 1, currentUser: null },
      });
      expect(n).toBe(1);
      expect(sql[0]).toMatch(/^SELECT/);
      expect(res.headers.get('vary')).toMatch(/cookie/i);
    });

    it('several operations sent in one request (a batch) share one load: 1 statement', async () => {
      const c = new GqlClient(url);
      await c.query('mutation { visit { n } }');
      const [res, n] = await counted(() => c.post([{ query: '{ visitCount }' }, { query: '{ profile { visits items } }' }, { query: '{ ping }' }]));
      expect(res.body).toEqual([
        { data: { visitCount: 1 } },
        { data: { profile: { visits: 1, items: [] } } },
        { data: { ping: 'pong' } },
      ]);
      expect(n).toBe(1);
    });

    it('a mutation on an existing session costs at most 2 statements, and is stored before the response', async () => {
      const c = new GqlClient(url);
      await c.query('mutation { visit { n } }');
      for (let i = 2; i <= 4; i++) {
        const [res, n] = await counted(() => c.query('mutation { visit { n } }'));
        expect(res.body.data).toEqual({ visit: { n: i } });
        expect(n).toBeLessThanOrEqual(2);
      }
      // The response left only after the write: the next request, sent at once, sees it.
      expect((await c.query('{ visitCount }')).body.data).toEqual({ visitCount: 4 });
    });

    it('a tampered cookie costs 0 statements and reads as no session', async () => {
      const c = new GqlClient(url);
      await c.query('mutation { visit { n } }');
      const [name, value] = c.cookie!.split('=');
      c.cookie = `${name}=${value.slice(0, 10)}${value[10] === 'A' ? 'B' : 'A'}${value.slice(11)}`;
      const [res, n] = await counted(() => c.query('{ visitCount whoami }'));
      expect(res.body.data).toEqual({ visitCount: null, whoami: null });
      expect(n).toBe(0);
    });
  });

  describe('login and logout in mutations', () => {
    it('login() rotates the id and sends the new cookie; the old one no longer names the session', async () => {
      const c = new GqlClient(url);
      await c.query('mutation { visit { n } }');
      const before = c.cookie!;
      const [res, n, sql] = await counted(() => c.query('mutation { login(user: "alice") }'));
      expect(res.body.data).toEqual({ login: true });
      // The load, then the row moved to the new id with the user: 2 statements.
      expect(n).toBe(2);
      expect(sql[1]).toMatch(/^UPDATE/);
      expect(res.setCookie).toHaveLength(1);
      expect(c.cookie).toBeDefined();
      expect(c.cookie).not.toBe(before);
      // Data kept across the rotation; the user is there at once.
      expect((await c.query('{ whoami currentUser visitCount privateData }')).body.data).toEqual({
        whoami: 'alice', currentUser: 'alice', visitCount: 1, privateData: 'private of alice',
      });
      const stale = new GqlClient(url);
      stale.cookie = before;
      expect((await stale.query('{ whoami visitCount }')).body.data).toEqual({ whoami: null, visitCount: null });
    });

    it('logout() deletes the session and clears the cookie', async () => {
      const c = new GqlClient(url);
      await c.query('mutation { login(user: "bob") }');
      const loggedIn = c.cookie!;
      const rows = await rowCount();
      const [res, n] = await counted(() => c.query('mutation { logout }'));
      expect(res.body.data).toEqual({ logout: true });
      expect(n).toBe(1);
      expect(res.setCookie.some((l) => /^__Host-sid=;.*Max-Age=0/i.test(l))).toBe(true);
      expect(c.cookie).toBeUndefined();
      expect(await rowCount()).toBe(rows - 1);
      const replay = new GqlClient(url);
      replay.cookie = loggedIn;
      expect(errorOf(await replay.query('{ privateData }')).code).toBe('UNAUTHENTICATED');
    });
  });

  describe('SessionAuthGuard as APP_GUARD', () => {
    it('a denied resolver is a GraphQL error with extensions.code UNAUTHENTICATED (not a 500), and never runs', async () => {
      const c = new GqlClient(url);
      for (const query of ['{ privateData }', '{ undecided }']) {
        const [res, n] = await counted(() => c.query(query));
        expect(res.status).toBe(200);
        expect(res.body.data).toBeNull();
        expect(errorOf(res)).toEqual({ message: 'Authentication required', code: 'UNAUTHENTICATED' });
        expect(res.headers.get('cache-control')).toBe('no-store');
        expect(n).toBe(0);
      }
      expect(served).toEqual([]);
    });

    it('denies with a cookie of an anonymous session too (1 statement: the guard loads it), and serves a logged-in user', async () => {
      const c = new GqlClient(url);
      await c.query('mutation { visit { n } }');
      const [denied, n] = await counted(() => c.query('{ privateData }'));
      expect(errorOf(denied).code).toBe('UNAUTHENTICATED');
      expect(n).toBe(1);
      await c.query('mutation { login(user: "carol") }');
      const [ok, n2] = await counted(() => c.query('{ privateData undecided whoami }'));
      expect(ok.body).toEqual({ data: { privateData: 'private of carol', undecided: 'served', whoami: 'carol' } });
      expect(n2).toBe(1);
      expect((await c.query('mutation { sensitive }')).body).toEqual({ data: { sensitive: true } });
      // Root query fields run side by side: the order they finish in is not part of the test.
      expect([...served].sort()).toEqual(['privateData', 'sensitive', 'undecided']);
    });

    it('only the denied fields fail: the others of the operation are answered', async () => {
      const c = new GqlClient(url);
      const res = await c.query('{ ping privateData }');
      // privateData is non-null, so the whole data is null: GraphQL's own rule.
      expect(res.body.data).toBeNull();
      expect(errorOf(res).code).toBe('UNAUTHENTICATED');
      expect(served).toEqual(['ping']);
    });
  });

  describe('cross-site requests', () => {
    it('a cross-site POST /graphql is refused at the session\'s first use: nothing stored, no cookie, 0 statements', async () => {
      const c = new GqlClient(url);
      await c.query('mutation { setNote(note: "mine") }');
      const rows = await rowCount();
      const [res, n] = await counted(() => c.query('mutation { setNote(note: "evil") }', undefined, CROSS_SITE));
      expect(res.status).toBe(200);
      expect(errorOf(res)).toEqual({ message: 'Cross-site request refused', code: 'FORBIDDEN' });
      expect(res.setCookie).toEqual([]);
      expect(n).toBe(0);
      const stranger = new GqlClient(url);
      const [login] = await counted(() => stranger.query('mutation { login(user: "mallory") }', undefined, CROSS_SITE));
      expect(errorOf(login).code).toBe('FORBIDDEN');
      expect(login.setCookie).toEqual([]);
      expect(await rowCount()).toBe(rows);
      expect((await c.query('{ profile { note } }')).body.data).toEqual({ profile: { note: 'mine' } });
    });

    it('serves a same-origin POST, and a cross-site one that never uses the session', async () => {
      const c = new GqlClient(url);
      expect((await c.query('mutation { setNote(note: "same") }', undefined, { 'sec-fetch-site': 'same-origin' })).body.data).toEqual({ setNote: true });
      expect((await c.query('{ ping }', undefined, CROSS_SITE)).body).toEqual({ data: { ping: 'pong' } });
    });
  });

  describe('queries over GET', () => {
    it('a GET query reads the session (1 statement); a mutation over GET is refused by the server before any resolver runs', async () => {
      const c = new GqlClient(url);
      await c.query('mutation { visit { n } }');
      const [res, n] = await counted(() => c.get('{ visitCount whoami }'));
      expect(res.body).toEqual({ data: { visitCount: 1, whoami: null } });
      expect(n).toBe(1);
      const [mutation, m] = await counted(() => c.get('mutation { visit { n } }'));
      expect(mutation.status).toBe(405);
      expect(m).toBe(0);
      expect((await c.query('{ visitCount }')).body.data).toEqual({ visitCount: 1 });
    });
  });

  describe('errors inside a resolver', () => {
    it('a resolver that fails after changing the session: the error is in a 200 answer, so the change is stored (as for a 4xx over HTTP)', async () => {
      const c = new GqlClient(url);
      await c.query('mutation { visit { n } }');
      const res = await c.query('mutation { setThenFail }');
      expect(res.status).toBe(200);
      expect(errorOf(res).message).toBe('unexpected');
      const [row] = await dataSource.query(`SELECT COUNT(*) AS n FROM ${quote(engine, table)} WHERE data LIKE '%poison%'`);
      expect(Number((row as { n: unknown }).n)).toBeGreaterThan(0);
    });
  });
});

for (const { driver, platform } of DRIVERS) describe(`GraphQL on ${driver} (${platform}) without request tracking, and with guarded field resolvers`, () => {
  const apps: INestApplication[] = [];
  afterAll(async () => {
    for (const a of apps) await a.close();
  });
  beforeEach(() => (served.length = 0));

  it('the decorators find the session through the operation\'s context alone (nothing injects CurrentSession)', async () => {
    const { app, url } = await createGraphqlApp({ driver, store: new MemorySessionStore(), resolvers: [PlainResolver] });
    apps.push(app);
    const c = new GqlClient(url);
    expect(errorOf(await c.query('{ privateData }')).code).toBe('UNAUTHENTICATED');
    await c.query('mutation { login(user: "dave") }');
    expect((await c.query('{ whoami privateData }')).body.data).toEqual({ whoami: 'dave', privateData: 'private of dave' });
  });

  it('@Authenticated({ maxAuthAge }) denies a login older than that with UNAUTHENTICATED', async () => {
    const { app, url } = await createGraphqlApp({ driver, store: new MemorySessionStore(), resolvers: [PlainResolver] });
    apps.push(app);
    const c = new GqlClient(url);
    await c.query('mutation { login(user: "erin") }');
    await sleep(5);
    expect(errorOf(await c.query('{ stepUp }'))).toEqual({ message: 'Recent authentication required', code: 'UNAUTHENTICATED' });
    expect(served).toEqual([]);
  });

  it('with fieldResolverEnhancers: [\'guards\'], @Authenticated() on a field resolver denies that field only', async () => {
    const { app, url } = await createGraphqlApp({ driver, store: new MemorySessionStore(), guardFields: true, resolvers: [ProfileResolver, SecretFieldResolver] });
    apps.push(app);
    const c = new GqlClient(url);
    const denied = await c.query('{ profile { kind secret } }');
    expect(errorOf(denied)).toEqual({ message: 'Authentication required', code: 'UNAUTHENTICATED' });
    expect(denied.body.errors![0].path).toEqual(['profile', 'secret']);
    expect(served).toEqual([]);
    await c.query('mutation { login(user: "frank") }');
    expect((await c.query('{ profile { kind secret motto } }')).body.data).toEqual({ profile: { kind: 'profile', secret: 'secret of frank', motto: 'open' } });
  });

  it('without fieldResolverEnhancers: [\'guards\'], @Authenticated() on a field resolver (or its class) stops the start-up: the field would be open', async () => {
    for (const resolver of [SecretFieldResolver, ClosedClassFieldResolver]) {
      await expect(createGraphqlApp({ driver, store: new MemorySessionStore(), resolvers: [ProfileResolver, resolver] })).rejects.toThrow(
        `@Authenticated() is on the GraphQL field resolver ${resolver.name}.${resolver === SecretFieldResolver ? 'secret' : 'closedByClass'}, but Nest runs no guard on field resolvers unless GraphQLModule.forRoot() has fieldResolverEnhancers: ['guards']`,
      );
    }
  });
});

for (const { driver, platform } of DRIVERS) await describeRedis(`GraphQL on ${driver} (${platform}) over the Redis store`, () => {
  let client: Redis;
  let prefix: string;
  let app: INestApplication;
  let url: string;
  /** The commands the store sends: every one goes through ioredis's sendCommand. */
  const commands: string[] = [];

  /**
   * The commands an exchange costs. A script's first run on a server that has not cached it is
   * EVALSHA, answered NOSCRIPT, then EVAL: one command of the store's, so the EVAL is not counted.
   */
  async function counted<T>(fn: () => Promise<T>): Promise<[T, string[]]> {
    commands.length = 0;
    const result = await fn();
    return [result, commands.map((c) => c.toLowerCase()).filter((c) => c !== 'eval')];
  }

  beforeAll(async () => {
    client = await newRedis();
    const send = client.sendCommand.bind(client);
    client.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
      commands.push(command.name);
      return (send as (...args: unknown[]) => unknown)(command, ...rest);
    }) as typeof client.sendCommand;
    prefix = testPrefix(`gql-${driver}`);
    ({ app, url } = await createGraphqlApp({ driver, store: new RedisSessionStore(client, { prefix }), globalGuard: true }));
  });
  afterAll(async () => {
    await app?.close();
    await dropPrefix(client, prefix);
    client.disconnect();
  });

  it('the same budget in store commands: 0 for an operation that never uses the session, 1 for all of its readers', async () => {
    const c = new GqlClient(url);
    const [, created] = await counted(() => c.query('mutation { visit { n } }'));
    expect(created).toEqual(['evalsha']);
    const [pong, none] = await counted(() => c.query('{ ping }'));
    expect(pong.body).toEqual({ data: { ping: 'pong' } });
    expect(none).toEqual([]);
    const [res, sent] = await counted(() => c.query('{ profile { visits items note } whoami visitCount currentUser }'));
    expect(res.body.data).toMatchObject({ profile: { visits: 1 }, visitCount: 1 });
    expect(sent).toEqual(['hgetall']);
  });

  it('login() in a mutation rotates the cookie (2 commands), logout() clears it (1)', async () => {
    const c = new GqlClient(url);
    await c.query('mutation { visit { n } }');
    const before = c.cookie;
    const [, login] = await counted(() => c.query('mutation { login(user: "gina") }'));
    expect(login).toEqual(['hgetall', 'evalsha']);
    expect(c.cookie).toBeDefined();
    expect(c.cookie).not.toBe(before);
    expect((await c.query('{ privateData }')).body.data).toEqual({ privateData: 'private of gina' });
    const [res, logout] = await counted(() => c.query('mutation { logout }'));
    expect(res.body.data).toEqual({ logout: true });
    expect(logout).toEqual(['evalsha']);
    expect(c.cookie).toBeUndefined();
    expect(errorOf(await c.query('{ privateData }')).code).toBe('UNAUTHENTICATED');
  });
});

for (const { driver, platform } of DRIVERS) describe(`GraphQL on ${driver} (${platform}) when the store fails`, () => {
  const flaky = breakable(new MemorySessionStore());
  let app: INestApplication;
  let url: string;
  beforeAll(async () => {
    ({ app, url } = await createGraphqlApp({ driver, store: flaky, globalGuard: true }));
  });
  afterAll(async () => {
    await app?.close();
  });
  beforeEach(() => {
    served.length = 0;
    flaky.broken = false;
    flaky.failing.clear();
  });

  it('the guard that cannot read the session lets nothing through: the resolver never runs, the answer is 503', async () => {
    const c = new GqlClient(url);
    await c.query('mutation { login(user: "hank") }');
    flaky.broken = true;
    const res = await c.query('{ privateData }');
    // The session the operation needed could not be read: the whole answer is the module's 503, as over HTTP.
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ statusCode: 503, message: 'Session store unavailable', error: 'Service Unavailable' });
    expect(served).toEqual([]);
  });

  it('a mutation whose changes cannot be stored is answered 503 instead of its result, with no cookie', async () => {
    const c = new GqlClient(url);
    flaky.failing.add('create');
    const res = await c.query('mutation { visit { n } }');
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ statusCode: 503, message: 'Session store unavailable', error: 'Service Unavailable' });
    expect(res.setCookie).toEqual([]);
    flaky.failing.clear();
    expect((await c.query('{ visitCount }')).body.data).toEqual({ visitCount: null });
  });
});
