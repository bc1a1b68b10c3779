import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

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

  it('exports every entry point to import and to require, each with its types', () => {
    for (const [entry, conditions] of Object.entries(pkg.exports as Record<string, unknown>)) {
      if (entry === './package.json') continue;
      // "default" rather than "import": Node 20.19+ can require() the ES modules, so CommonJS apps load them too.
      expect(Object.keys(conditions as object)).toEqual(['types', 'default']);
    }
    expect(Object.keys(pkg.exports)).toEqual(['.', './typeorm', './package.json']);
  });

  it('loads typeorm only in the ./typeorm entry and in the default store, never from the root statically', () => {
    const staticTypeorm = /^\s*(import|export)\s+(?!type\b)[^;]*?from\s+'(typeorm|better-sqlite3)'/m;
    const offenders = sources(join(root, 'src'))
      .filter((f) => staticTypeorm.test(readFileSync(f, 'utf8')))
      .map((f) => f.slice(root.length));
    expect(offenders).toEqual(['src/stores/session.entity.ts']);
    expect(readFileSync(join(root, 'src/index.ts'), 'utf8')).not.toContain('session.entity');
  });

  it('never loads a platform, Redis or database client package at run time', () => {
    const runtimeImport = /^\s*import\s+(?!type\b)[^;]*?from\s+'(express|fastify|@nestjs\/platform-[a-z]+|ioredis|redis|pg|mysql2)'/m;
    const offenders = sources(join(root, 'src')).filter((f) => runtimeImport.test(readFileSync(f, 'utf8')) || /import\(\s*'(express|fastify|@nestjs\/platform-)/.test(readFileSync(f, 'utf8')));
    expect(offenders).toEqual([]);
  });

  it('exports the public surface of API.md and nothing internal', async () => {
    const api = await import('../src/index.js');
    for (const name of ['SessionModule', 'Session', 'SessionValue', 'UserId', 'Authenticated', 'Public', 'SessionAuthGuard', 'CurrentSession', 'SessionManager', 'TypeOrmSessionStore', 'CreateSessionsTable1764000000000', 'MemorySessionStore', 'RedisSessionStore', 'CookieSessionStore', 'SessionDataTooLargeError']) {
      expect(api).toHaveProperty(name);
    }
    const typeorm = await import('../src/typeorm.js');
    expect(Object.keys(typeorm).sort()).toEqual(['CreateSessionsTable1764000000000', 'MySqlSessionEntity', 'SessionEntity', 'TypeOrmSessionStore', 'UpgradeSessionsTable1765000000000']);
    for (const internal of ['SessionRuntime', 'SessionMiddleware', 'SessionBootstrap', 'SESSION_OPTIONS', 'SESSION_STORE', 'LazySession']) {
      expect(api).not.toHaveProperty(internal);
    }
  });
});
