import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { Controller, Get, Global, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { CreateSessionsTable1764000000000, Session, SessionModule, TypeOrmSessionStore, type SessionHandle } from '../src/index.js';
import { SECRET, startApp } from './support/test-app.js';

/**
 * Every ```ts block of the README, type-checked as a file of a user's app (strict, ES modules), with
 * the package resolved to src/: an example that does not compile as copied fails here, so the README
 * cannot rot. The blocks may import the few files every app has of its own, given below.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const dir = join(root, 'readme-examples');

/** The user's own files that examples import, reduced to what the examples use of them. */
const APP_FILES: Record<string, string> = {
  'app.module.ts': `import { Module } from '@nestjs/common';
@Module({})
export class AppModule {}
`,
  'users.service.ts': `import { Injectable } from '@nestjs/common';
export interface User { id: string; name: string }
export class LoginDto { username!: string; password!: string; remember?: boolean }
@Injectable()
export class UsersService {
  async verify(username: string, password: string): Promise<User | undefined> { return username && password ? undefined : undefined; }
  async find(id: string): Promise<User | undefined> { return id ? undefined : undefined; }
}
`,
  'audit-log.ts': `export const auditLog = { insert: async (row: Record<string, unknown>): Promise<void> => void row };
`,
};

/**
 * Declarations of packages the examples name that this repository has not installed (not one of
 * its dependencies): used only while they are missing, and announced, so that the check against the
 * real package takes over as soon as it is installed.
 */
const STUBS: Record<string, string> = {
  '@nestjs/config': `declare module '@nestjs/config' {
  import type { DynamicModule } from '@nestjs/common';
  export class ConfigModule { static forRoot(options?: { isGlobal?: boolean }): DynamicModule }
  export class ConfigService { get<T = unknown>(key: string): T | undefined; getOrThrow<T = unknown>(key: string): T }
}
`,
  '@nestjs/typeorm': `declare module '@nestjs/typeorm' {
  import type { DynamicModule } from '@nestjs/common';
  import type { DataSourceOptions } from 'typeorm';
  export type TypeOrmModuleOptions = DataSourceOptions & { retryAttempts?: number; retryDelay?: number; autoLoadEntities?: boolean };
  export class TypeOrmModule { static forRoot(options?: TypeOrmModuleOptions): DynamicModule }
}
`,
};

interface Block {
  /** README line of the block's first code line. */
  line: number;
  code: string;
}

function tsBlocks(text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```ts') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end].trim() !== '```') end++;
    blocks.push({ line: start + 1, code: lines.slice(start, end).join('\n') + '\n' });
    i = end;
  }
  return blocks;
}

const options: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2022.d.ts'],
  strict: true,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  skipLibCheck: true,
  noEmit: true,
  types: ['node'],
  paths: { 'nestjs-lazy-session': [join(root, 'src/index.ts')], 'nestjs-lazy-session/typeorm': [join(root, 'src/typeorm.ts')], 'nestjs-lazy-session/testing': [join(root, 'src/testing.ts')], 'nestjs-lazy-session/passport': [join(root, 'src/passport.ts')] },
};

/** Type-checks these blocks together with the app's files; messages point at README lines. */
function check(blocks: Block[], stubs: string[]): string[] {
  const files = new Map<string, string>(Object.entries(APP_FILES).map(([name, text]) => [join(dir, name), text]));
  stubs.forEach((name, i) => files.set(join(dir, `stub-${i}.d.ts`), STUBS[name]));
  const blockAt = new Map<string, Block>();
  for (const b of blocks) {
    const file = join(dir, `readme-line-${b.line}.ts`);
    files.set(file, b.code);
    blockAt.set(file, b);
  }
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => files.has(f) || fileExists.call(host, f);
  host.readFile = (f) => files.get(f) ?? readFile.call(host, f);
  // The folder exists only in memory: module resolution looks for it before the file.
  const directoryExists = host.directoryExists?.bind(host);
  host.directoryExists = (d) => d === dir || (directoryExists ? directoryExists(d) : true);
  host.getSourceFile = (f, lang, ...rest) => (files.has(f) ? ts.createSourceFile(f, files.get(f)!, lang) : getSourceFile.call(host, f, lang, ...rest));
  const program = ts.createProgram([...files.keys()], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    const block = d.file && blockAt.get(d.file.fileName);
    if (!block || d.start === undefined) return `${d.file?.fileName ?? ''}: ${text}`;
    const { line } = d.file!.getLineAndCharacterOfPosition(d.start);
    return `README.md:${block.line + line}: ${text}`;
  });
}

describe('README examples', () => {
  const blocks = tsBlocks(readme);
  const missing = Object.keys(STUBS).filter((name) => !existsSync(join(root, 'node_modules', name, 'package.json')));
  if (missing.length > 0) console.warn(`!!! README examples checked against declarations written in test/readme.spec.ts for ${missing.join(', ')}: not installed here`);

  it('has ts examples to check', () => {
    expect(blocks.length).toBeGreaterThan(10);
  });

  it('compile as written, with their imports, under strict', () => {
    // A block that augments SessionData would change the others: each gets a program of its own.
    const augmenting = blocks.filter((b) => /declare module 'nestjs-lazy-session'/.test(b.code));
    const plain = blocks.filter((b) => !augmenting.includes(b));
    const diagnostics = [plain, ...augmenting.map((b) => [b])].flatMap((group) => check(group, missing));
    expect(diagnostics).toEqual([]);
  }, 120_000);
});

describe("README's forRootAsync example, with the DataSource as TypeOrmModule.forRoot() provides it", () => {
  // TypeOrmModule.forRoot() provides an initialized DataSource under the DataSource token; this
  // provider does the same with the options of the example, on SQLite instead of PostgreSQL.
  async function appWith() {
    @Controller()
    class VisitsController {
      @Get('visits')
      async visits(@Session() session: SessionHandle) {
        const visits = ((await session.get<number>('visits')) ?? 0) + 1;
        await session.set('visits', visits);
        return { visits };
      }
    }

    @Global()
    @Module({
      providers: [
        {
          provide: DataSource,
          useFactory: () =>
            new DataSource({ type: 'better-sqlite3', database: ':memory:', migrations: [CreateSessionsTable1764000000000], migrationsRun: true }).initialize(),
        },
      ],
      exports: [DataSource],
    })
    class FakeTypeOrmModule {}

    const moduleRef = await Test.createTestingModule({
      imports: [
        FakeTypeOrmModule,
        SessionModule.forRootAsync({
          inject: [DataSource],
          useFactory: (dataSource: DataSource) => ({ secret: SECRET, pruneInterval: 0, store: new TypeOrmSessionStore(dataSource) }),
        }),
      ],
      controllers: [VisitsController],
    }).compile();
    const app = await startApp(moduleRef);
    return { app, dataSource: app.get(DataSource) };
  }

  it('serves sessions from the first request when the migration runs at start-up', async () => {
    const { app, dataSource } = await appWith();
    try {
      const first = await request(app.getHttpServer()).get('/visits');
      expect(first.status).toBe(200);
      expect(first.body).toEqual({ visits: 1 });
    } finally {
      await app.close();
      await dataSource.destroy();
    }
  });
});
