import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopChild } from './children.js';

/**
 * An application outside the repository that uses the package as npm would install it: the package
 * built by tsc from src/ and copied (not linked) into the app's own node_modules, next to links to
 * only the packages the app names. Node resolves links to their real paths, so the package, a real
 * copy, sees exactly what the app installed and nothing else of the repository's node_modules.
 */

const root = fileURLToPath(new URL('../..', import.meta.url));
const repoModules = realpathSync(join(root, 'node_modules'));
const tsc = join(repoModules, 'typescript', 'bin', 'tsc');

function run(cmd: string, args: string[], cwd: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}

let built: string | undefined;

/** dist/ exactly as `npm run build` makes it (built once per test file), and package.json, in <dir>/node_modules/nestjs-lazy-session. */
export function installBuiltPackage(dir: string): void {
  if (!built) {
    const out = mkdtempSync(join(tmpdir(), 'nls-build-'));
    run(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', join(out, 'dist')], root);
    copyFileSync(join(root, 'package.json'), join(out, 'package.json'));
    built = out;
  }
  cpSync(built, join(dir, 'node_modules', 'nestjs-lazy-session'), { recursive: true });
}

/** For afterAll: the build that installBuiltPackage made. */
export function removeBuiltPackage(): void {
  if (built) rmSync(built, { recursive: true, force: true });
  built = undefined;
}

export function linkPackages(dir: string, names: string[]): void {
  for (const name of names) {
    const target = join(dir, 'node_modules', name);
    mkdirSync(dirname(target), { recursive: true });
    symlinkSync(join(repoModules, name), target, 'dir');
  }
}

export interface ConsumerApp {
  dir: string;
  /** Compiles the app's TypeScript with tsc (options as the app's own tsconfig would give them). */
  compile(files: Record<string, string>, moduleSystem: 'commonjs' | 'esm'): void;
  start(entry: string, env?: Record<string, string>): Promise<RunningApp>;
  /** Runs to the end (an app that starts listening is stopped); resolves the exit code and output. */
  runToEnd(entry: string): Promise<{ code: number | null; stdout: string; stderr: string }>;
  remove(): Promise<void>;
}

export interface RunningApp {
  port: number;
  get(path: string, cookie?: string): Promise<{ status: number; body: string; setCookie: string[] }>;
  stop(): Promise<void>;
}

/**
 * A temp app with the built package and links to `packages` (plus @types/node to compile). `type`
 * decides how Node loads the app's .js files, as the app's own package.json would.
 */
export function consumerApp(packages: string[], type: 'commonjs' | 'module'): ConsumerApp {
  const dir = mkdtempSync(join(tmpdir(), 'nls-consumer-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type }));
  installBuiltPackage(dir);
  linkPackages(dir, [...packages, '@types/node']);
  const children: ChildProcess[] = [];
  return {
    dir,
    compile(files, moduleSystem) {
      for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
      const moduleOptions = moduleSystem === 'commonjs' ? ['--module', 'commonjs'] : ['--module', 'nodenext', '--moduleResolution', 'nodenext'];
      run(process.execPath, [tsc, ...moduleOptions, '--target', 'ES2022', '--strict', '--experimentalDecorators', '--emitDecoratorMetadata', '--esModuleInterop', '--skipLibCheck', '--types', 'node', '--outDir', 'out', ...Object.keys(files)], dir);
    },
    start(entry, env = {}) {
      const child = spawn(process.execPath, [join(dir, 'out', entry)], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      return new Promise<RunningApp>((resolve, reject) => {
        let out = '';
        let err = '';
        child.stderr!.on('data', (d) => (err += d));
        child.stdout!.on('data', (d) => {
          out += d;
          const m = /listening on (\d+)/.exec(out);
          if (m) resolve(running(child, Number(m[1])));
        });
        child.on('exit', (code) => reject(new Error(`app exited (${code}) before listening:\n${out}\n${err}`)));
      });
    },
    runToEnd(entry) {
      const child = spawn(process.execPath, [join(dir, 'out', entry)], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      let stdout = '';
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      // An app that starts although it should not would otherwise serve until the test times out.
      child.stdout!.on('data', (d) => {
        stdout += d;
        if (stdout.includes('listening on')) child.kill();
      });
      return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
    },
    async remove() {
      await Promise.all(children.map((c) => stopChild(c)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function running(child: ChildProcess, port: number): RunningApp {
  return {
    port,
    get: (path, cookie) =>
      new Promise((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path, headers: cookie ? { cookie } : {} }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, setCookie: res.headers['set-cookie'] ?? [] }));
        });
        req.on('error', reject);
        req.end();
      }),
    stop: () => stopChild(child),
  };
}
