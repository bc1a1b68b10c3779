import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import type { DemoAppOptions } from '../../demo/app.module.js';
import { stopChild } from './children.js';

/**
 * The demo in a Node process of its own, built by tsc as `npm start` builds it. Not in Jest's
 * process: the demo uses @nestjs/throttler, a CommonJS package that require()s Nest's ES modules,
 * which Node 20.19+ does and Jest's module loader on Node 20 does not.
 */

const root = fileURLToPath(new URL('../..', import.meta.url));
let built = false;

function build(): void {
  if (built) return;
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.run.json')], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the demo failed:\n${r.stdout}\n${r.stderr}`);
  built = true;
}

export interface DemoProcess {
  url: string;
  port: number;
  close(): Promise<void>;
}

const running = new Set<ChildProcess>();

/** For afterAll: ends every demo this file started, also one whose start timed out. */
export async function stopDemos(): Promise<void> {
  await Promise.all([...running].map((child) => stopChild(child)));
  running.clear();
}

/** Builds the demo the first time: give the caller's beforeAll a minute or two. */
export function startDemo(options: Omit<DemoAppOptions, 'logger' | 'port'>): Promise<DemoProcess> {
  build();
  const appModule = pathToFileURL(join(root, '.run', 'demo', 'app.module.js')).href;
  const launcher = `
    const { createDemoApp } = await import(${JSON.stringify(appModule)});
    const demo = await createDemoApp({ ...JSON.parse(process.env.DEMO_OPTIONS), port: 0, logger: false });
    process.on('SIGTERM', () => demo.close().then(() => process.exit(0)));
    console.log('listening on ' + demo.port);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', launcher], {
    cwd: root,
    env: { ...process.env, DEMO_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.on('exit', () => running.delete(child));
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (\d+)/.exec(out);
      if (!m) return;
      const port = Number(m[1]);
      resolve({
        port,
        url: `http://localhost:${port}`,
        close: () => stopChild(child),
      });
    });
    child.on('exit', (code) => reject(new Error(`the demo exited (${code}) before listening:\n${out}\n${err}`)));
  });
}
