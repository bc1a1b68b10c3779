import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const rootDir = () => root;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

describe('packaging', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

  it('keeps the platform, client and SQL packages optional peers: an app installs only what its store uses', () => {
    for (const name of ['@nestjs/platform-express', '@nestjs/platform-fastify', 'ioredis', 'redis', 'typeorm', 'better-sqlite3']) {
      expect(pkg.peerDependencies[name]).toBeDefined();
      expect(pkg.peerDependenciesMeta[name]).toEqual({ optional: true });
    }
    // `npm install && npm start` in this repository still gets the default store's packages.
    expect(pkg.devDependencies).toMatchObject({ typeorm: expect.any(String), 'better-sqlite3': expect.any(String) });
    expect(pkg.dependencies).toBeUndefined();
  });

  it('keeps the WebSocket packages optional peers, never imported statically: an HTTP-only app does not load them', () => {
    for (const name of ['@nestjs/websockets', '@nestjs/platform-socket.io', '@nestjs/platform-ws']) {
      expect(pkg.peerDependencies[name]).toBeDefined();
      expect(pkg.peerDependenciesMeta[name]).toEqual({ optional: true });
    }
    const staticImport = /^\s*(import|export)\s+(?!type\b)[^;]*?from\s+'(@nestjs\/websockets|@nestjs\/platform-socket\.io|@nestjs\/platform-ws|socket\.io|ws)'/m;
    const requireCall = /require\(\s*'(@nestjs\/websockets|socket\.io|ws)'/;
    const offenders = sources(join(root, 'src')).filter((f) => staticImport.test(readFileSync(f, 'utf8')) || requireCall.test(readFileSync(f, 'utf8')));
    expect(offenders).toEqual([]);
    // Loaded where a message is handled, and nowhere else: by then Nest has loaded it.
    const lazy = sources(join(root, 'src')).filter((f) => /import\(\s*'@nestjs\/websockets'\s*\)/.test(readFileSync(f, 'utf8')));
    expect(lazy.map((f) => f.slice(root.length))).toEqual(['src/socket/ws-error.ts']);
  });

  it('an HTTP-only app runs where the WebSocket and microservice packages are not installed, and never asks for them', () => {
    // Built as `npm start` builds (tsc to .run/), and run by Node itself with those packages unresolvable.
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.run.json')], { cwd: root, encoding: 'utf8' });
    expect(tsc.status).toBe(0);
    const run = spawnSync(process.execPath, ['--import', './test/support/http-only/uninstalled.mjs', 'test/support/http-only/app.mjs'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '', LIB: join(root, '.run/src/index.js') },
      timeout: 60_000,
    });
    expect(run.stdout.trim()).toBe(JSON.stringify({ second: { n: 2 }, guarded: 401 }));
    const asked = run.stderr.split('\n').filter((l) => l.startsWith('uninstalled '));
    // The hook is in force: Nest itself probes for its optional modules (and does without them)...
    expect(asked.some((l) => l.includes('@nestjs/core'))).toBe(true);
    // ...and nothing of the library asks for any of them.
    expect(asked.filter((l) => !l.includes('/node_modules/@nestjs/core/'))).toEqual([]);
  }, 120_000);

  it('exports every entry point to import and to require, each with its types', () => {
    for (const [entry, conditions] of Object.entries(pkg.exports as Record<string, unknown>)) {
      if (entry === './package.json') continue;
      // "default" rather than "import": Node 20.19+ can require() the ES modules, so CommonJS apps load them too.
      expect(Object.keys(conditions as object)).toEqual(['types', 'default']);
    }
    expect(Object.keys(pkg.exports)).toEqual(['.', './typeorm', './testing', './passport', './package.json']);
    // TypeScript's older `moduleResolution: node` finds the subpaths through typesVersions.
    expect(pkg.typesVersions['*']).toEqual({ typeorm: ['./dist/typeorm.d.ts'], testing: ['./dist/testing.d.ts'], passport: ['./dist/passport.d.ts'] });
  });

  it('loads typeorm only in the ./typeorm entry and in the default store, never from the root statically', () => {
    const staticTypeorm = /^\s*(import|export)\s+(?!type\b)[^;]*?from\s+'(typeorm|better-sqlite3)'/m;
    const offenders = sources(join(root, 'src'))
      .filter((f) => staticTypeorm.test(readFileSync(f, 'utf8')))
      .map((f) => f.slice(root.length));
    expect(offenders).toEqual(['src/stores/typeorm/entity.ts']);
    expect(readFileSync(join(root, 'src/index.ts'), 'utf8')).not.toContain('session.entity');
  });

  it('never loads a platform, Redis or database client package at run time', () => {
    const runtimeImport = /^\s*import\s+(?!type\b)[^;]*?from\s+'(express|fastify|@nestjs\/platform-[a-z]+|ioredis|redis|pg|mysql2)'/m;
    const offenders = sources(join(root, 'src')).filter((f) => runtimeImport.test(readFileSync(f, 'utf8')) || /import\(\s*'(express|fastify|@nestjs\/platform-)/.test(readFileSync(f, 'utf8')));
    expect(offenders).toEqual([]);
  });

  /**
   * The public contract of the package's runtime exports, complete and explicit: adding or removing
   * an export is an API change and must change this list too. (Type-only exports do not exist at
   * run time; test/types checks those.)
   */
  const CONTRACT = [
    'Authenticated',
    'AuthorizationStateError',
    'CookieSessionStore',
    'CreateSessionsTable1764000000000',
    'CurrentSession',
    'CurrentUser',
    'MemorySessionStore',
    'Public',
    'RedisSessionStore',
    'SESSION_STORE',
    'Session',
    'SessionAuthGuard',
    'SessionCompatGuard',
    'SessionCompatMiddleware',
    'SessionDataTooLargeError',
    'SessionError',
    'SessionInterceptor',
    'SessionManager',
    'SessionModule',
    'SessionNotInRequestError',
    'SessionOptionsError',
    'SessionOverSocketError',
    'SessionSealer',
    'SessionStoreUnavailableError',
    'SessionStoreUnsupportedError',
    'SessionValue',
    'TypeOrmSessionStore',
    'UpgradeSessionsTable1765000000000',
    'UserId',
    'finishAuthorization',
    'startAuthorization',
  ];
  /** `nestjs-lazy-session/typeorm`: the entities (typeorm's decorators run at import), the migrations, the store. */
  const TYPEORM_CONTRACT = ['CreateSessionsTable1764000000000', 'MySqlSessionEntity', 'SessionEntity', 'TypeOrmSessionStore', 'UpgradeSessionsTable1765000000000'];

  it('exports exactly the runtime names of the contract list, nothing more (nothing internal) and nothing less', async () => {
    const api = await import('../src/index.js');
    expect(Object.keys(api).sort()).toEqual(CONTRACT);
    for (const name of CONTRACT) expect((api as Record<string, unknown>)[name]).toBeDefined();
  });

  it('the typeorm entry exports exactly its contract list: what needs typeorm at run time, and the SQL store', async () => {
    const typeorm = await import('../src/typeorm.js');
    expect(Object.keys(typeorm).sort()).toEqual(TYPEORM_CONTRACT);
  });

  /** `nestjs-lazy-session/passport`: the login guard (it extends @nestjs/passport's AuthGuard) and passport-oauth2's state store. */
  const PASSPORT_CONTRACT = ['PassportLogin', 'SessionStateStore'];

  it('the passport entry exports exactly its contract list', async () => {
    const entry = await import('../src/passport.js');
    expect(Object.keys(entry).sort()).toEqual(PASSPORT_CONTRACT);
  });

  /** The packages of Passport and OpenID Connect: an application that does not use them never loads them. */
  const AUTH_PACKAGES = ['passport', '@nestjs/passport', 'passport-local', 'passport-oauth2', 'openid-client', 'oauth4webapi', 'oauth2-mock-server', 'connect-flash', 'express-session'];

  it('keeps Passport, passport-oauth2 and openid-client optional peers', () => {
    for (const name of ['passport', '@nestjs/passport', 'passport-oauth2', 'openid-client']) {
      expect(pkg.peerDependencies[name]).toBeDefined();
      expect(pkg.peerDependenciesMeta[name]).toEqual({ optional: true });
    }
  });

  it('the root entry loads no Passport or OpenID Connect package, statically or by import(); only the passport entry loads @nestjs/passport', () => {
    const root = runtimeGraph('src/index.ts');
    expect(root.packages.filter((p) => AUTH_PACKAGES.includes(p))).toEqual([]);
    expect(root.files.filter((f) => f.startsWith('src/passport'))).toEqual([]);
    const dynamic = sources(join(rootDir(), 'src')).filter((f) => new RegExp(`import\\(\\s*'(${AUTH_PACKAGES.join('|')})'`).test(readFileSync(f, 'utf8')));
    expect(dynamic).toEqual([]);
    const passportEntry = runtimeGraph('src/passport.ts');
    expect(passportEntry.packages.filter((p) => AUTH_PACKAGES.includes(p))).toEqual(['@nestjs/passport']);
  });

  it('an application without Passport or openid-client, run in a Node process of its own, never loads them', () => {
    // The root entry's whole module graph, loaded by Node itself; a resolve hook records every package asked for.
    const hook = `
      export async function resolve(specifier, context, next) {
        if (!specifier.startsWith('.') && !specifier.startsWith('node:') && !specifier.startsWith('file:')) process.send?.(specifier) ?? console.log('PKG ' + specifier);
        return next(specifier, context);
      }`;
    const script = `
      import { register } from 'node:module';
      register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}), import.meta.url);
      const api = await import(${JSON.stringify(pathToFileURL(join(rootDir(), '.run', 'src', 'index.js')).href)});
      console.log('LOADED ' + Object.keys(api).length);`;
    const build = spawnSync(process.execPath, [join(rootDir(), 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(rootDir(), 'tsconfig.run.json')], { encoding: 'utf8' });
    expect(build.status).toBe(0);
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: rootDir(), encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/LOADED \d+/);
    const loaded = [...run.stdout.matchAll(/^PKG (.+)$/gm)].map((m) => m[1].replace(/^(@[^/]+\/[^/]+|[^/]+).*$/, '$1'));
    expect(loaded).toContain('@nestjs/common');
    expect(loaded.filter((p) => AUTH_PACKAGES.includes(p))).toEqual([]);
  }, 120_000);

  /** `nestjs-lazy-session/testing`: the store conformance suite. */
  const TESTING_CONTRACT = ['describeSessionStore'];

  it('the testing entry exports exactly its contract list', async () => {
    const testing = await import('../src/testing.js');
    expect(Object.keys(testing).sort()).toEqual(TESTING_CONTRACT);
  });

  /**
   * The files an entry loads at run time, followed through relative imports (type-only ones left out),
   * with every package they name; `dynamic` also follows `import()`, which is loaded only when its line
   * runs but must not name what an HTTP-only app lacks either.
   */
  function runtimeGraph(entry: string, dynamic = false): { files: string[]; packages: string[] } {
    const files = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string) => {
      if (files.has(file)) return;
      files.add(file);
      const text = readFileSync(file, 'utf8');
      const specifiers = [
        ...[...text.matchAll(/^\s*(?:import|export)\s+(?!type\b)(?:[^;]*?\sfrom\s+)?'([^']+)'/gm)].map((m) => m[1]),
        ...(dynamic ? [...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)].map((m) => m[1]) : []),
      ];
      for (const spec of specifiers) {
        if (spec.startsWith('.')) visit(join(file, '..', spec.replace(/\.js$/, '.ts')));
        else packages.add(spec);
      }
    };
    visit(join(root, entry));
    return { files: [...files].map((f) => f.slice(root.length)).sort(), packages: [...packages].sort() };
  }

  const GRAPHQL_AND_RPC = /^(graphql|@nestjs\/(graphql|apollo|mercurius|microservices)|mercurius|@apollo\/|@as-integrations\/)/;

  it('an HTTP-only app never loads GraphQL (graphql, @nestjs/graphql, Apollo, Mercurius) or @nestjs/microservices: the module works in resolvers and message handlers without them', () => {
    const reachable = runtimeGraph('src/index.ts', true).packages;
    expect(reachable).toContain('@nestjs/common');
    expect(reachable.filter((p) => GRAPHQL_AND_RPC.test(p))).toEqual([]);
    // Not even for types: what the module knows of a GraphQL context is its shape (nest/execution.ts).
    const named = sources(join(root, 'src')).filter((f) =>
      /(from\s+|import\(\s*|require\(\s*)['"`](graphql|@nestjs\/(graphql|apollo|mercurius|microservices)|mercurius|@apollo\/[^'"`]+)['"`]/.test(readFileSync(f, 'utf8')),
    );
    expect(named).toEqual([]);
    // They stay out of the peers: nothing to install for them, and nothing an HTTP-only app is asked for.
    for (const name of Object.keys(pkg.peerDependencies)) expect(name).not.toMatch(GRAPHQL_AND_RPC);
  });

  it('the testing entry loads no test runner, database or Redis client, nor Nest: only Node built-ins and the store contract', () => {
    const { files, packages } = runtimeGraph('src/testing.ts');
    expect(packages.every((p) => p.startsWith('node:'))).toBe(true);
    expect(files).toContain('src/stores/store.ts');
    expect(files.filter((f) => !f.startsWith('src/testing') && f !== 'src/stores/store.ts')).toEqual([]);
  });
});
