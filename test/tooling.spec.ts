import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stopChild } from './support/children.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

/** What a Nest developer and a contributor meet before any code: the CLI, CI and the README. */
describe('project tooling', () => {
  it('`nest build` compiles the demo where nest-cli.json says, and the result serves', async () => {
    const config = JSON.parse(readFileSync(join(root, 'nest-cli.json'), 'utf8'));
    await run(join(root, 'node_modules/.bin/nest'), ['build'], { cwd: root, timeout: 170_000 });
    const tsconfig = JSON.parse(readFileSync(join(root, config.compilerOptions.tsConfigPath), 'utf8'));
    const entry = join(root, tsconfig.compilerOptions.outDir, `${config.entryFile}.js`);
    expect(existsSync(entry)).toBe(true);

    // The demo keeps its SQLite file in the working directory: a temporary one.
    const cwd = mkdtempSync(join(tmpdir(), 'nest-demo-'));
    const child = spawn(process.execPath, [entry], { cwd, env: { ...process.env, PORT: '0', NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        const onData = (chunk: Buffer) => {
          out += chunk.toString();
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1].replace('localhost', '127.0.0.1'));
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        child.once('exit', (code) => reject(new Error(`the demo exited (${code}) before listening:\n${out}`)));
      });
      const res = await fetch(`${url}/login`);
      expect(res.status).toBe(200);
    } finally {
      await stopChild(child);
      rmSync(cwd, { recursive: true, force: true });
    }
  }, 200_000);

  it.each([
    ['a server it never closes (forceExit ends the run; the report names it)', 'forever'],
    ['a server that closes just after the last test (the run once ran out of work before writing them)', 'briefly'],
  ])('Jest writes its results, which CI reads, when a suite leaves %s', async (_name, leftOpen) => {
    mkdirSync(join(root, 'tmp'), { recursive: true });
    const dir = mkdtempSync(join(root, 'tmp', 'jest-end-'));
    try {
      writeFileSync(
        join(dir, 'left-open.spec.ts'),
        "import { createServer } from 'node:net';\n" +
          "it('leaves a server open', () => {\n" +
          "  const server = createServer().listen(0, '127.0.0.1');\n" +
          "  if (process.env.LEFT_OPEN === 'briefly') setTimeout(() => server.close(), 300);\n" +
          '});\n',
      );
      const out = join(dir, 'results.json');
      const jest = join(root, 'node_modules', 'jest', 'bin', 'jest.js');
      const { stderr } = await run(process.execPath, [jest, '--config', join(root, 'jest.config.js'), '--roots', dir, '--testMatch', '**/left-open.spec.ts', '--json', '--outputFile', out], {
        cwd: root,
        env: { ...process.env, LEFT_OPEN: leftOpen, NODE_OPTIONS: '--experimental-vm-modules --no-warnings=ExperimentalWarning' },
        timeout: 60_000,
      });
      expect(existsSync(out)).toBe(true);
      expect(JSON.parse(readFileSync(out, 'utf8')).numPassedTests).toBe(1);
      if (leftOpen === 'forever') expect(stderr).toMatch(/Open after the last suite[\s\S]*server listening on 127\.0\.0\.1:\d+/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it('CI installs and starts its services from the repository alone', () => {
    const ci = readFileSync(join(root, '.ci/run'), 'utf8');
    const code = ci.split('\n').filter((l) => !l.trim().startsWith('#')).join('\n');
    expect(code).toContain('scripts/services.sh');
    expect(code).not.toMatch(/\.\.\/|shared\//);
    expect(existsSync(join(root, 'scripts/services.sh'))).toBe(true);
    expect(existsSync(join(root, 'docker-compose.yml'))).toBe(true);
  });

  it('the README names no file outside the repository, and every file it names exists', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).not.toMatch(/\.\.\/|shared\/API\.md|API\.md/);
    const named = [...readme.matchAll(/`((?:src|test|bench|demo|scripts|\.ci)\/[\w./-]+\.(?:ts|sh|md|json|js)|[\w-]+\.(?:yml|json))`/g)].map((m) => m[1]);
    const missing = named.filter((f) => !f.includes('*') && !existsSync(join(root, f)));
    expect(missing).toEqual([]);
  });
});
