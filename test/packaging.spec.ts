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

  it('exports the public surface of API.md and nothing internal', async () => {
    const api = await import('../src/index.js');
    for (const name of ['SessionModule', 'Session', 'SessionValue', 'UserId', 'Authenticated', 'Public', 'SessionAuthGuard', 'CurrentSession', 'SessionManager', 'TypeOrmSessionStore', 'SessionEntity', 'MemorySessionStore', 'RedisSessionStore', 'CookieSessionStore', 'SessionDataTooLargeError']) {
      expect(api).toHaveProperty(name);
    }
    for (const internal of ['SessionRuntime', 'SessionMiddleware', 'SessionBootstrap', 'SESSION_OPTIONS', 'SESSION_STORE', 'LazySession']) {
      expect(api).not.toHaveProperty(internal);
    }
  });
});
