import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

describe('packaging', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

  it('keeps the platform and client packages optional peers', () => {
    for (const name of ['@nestjs/platform-express', '@nestjs/platform-fastify', 'ioredis', 'redis']) {
      expect(pkg.peerDependencies[name]).toBeDefined();
      expect(pkg.peerDependenciesMeta[name]).toEqual({ optional: true });
    }
    expect(pkg.dependencies).toEqual({ 'better-sqlite3': expect.stringMatching(/^\^12\./) });
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
    'CookieSessionStore',
    'CreateSessionsTable1764000000000',
    'CurrentSession',
    'MemorySessionStore',
    'Public',
    'RedisSessionStore',
    'Session',
    'SessionAuthGuard',
    'SessionDataTooLargeError',
    'SessionEntity',
    'SessionManager',
    'SessionModule',
    'SessionSealer',
    'SessionStoreUnavailableError',
    'SessionStoreUnsupportedError',
    'SessionValue',
    'TypeOrmSessionStore',
    'UserId',
  ];

  it('exports exactly the runtime names of the contract list, nothing more (nothing internal) and nothing less', async () => {
    const api = await import('../src/index.js');
    expect(Object.keys(api).sort()).toEqual(CONTRACT);
    for (const name of CONTRACT) expect((api as Record<string, unknown>)[name]).toBeDefined();
  });
});
