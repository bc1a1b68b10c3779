/**
 * Instructions per request, counted by valgrind's callgrind: work, not time. A count does not move
 * with the machine's load, a neighbour on the core or cache and page placement, which on a shared VM
 * are larger than the few microseconds some comparisons ask about. It still moves by a few percent
 * between two processes of the same mode (when V8 compiles, deoptimizes and collects differs), so
 * every mode runs in INSTR_RUNS processes (default 2) and the table gives their spread.
 *
 *   npm run build:run && node .run/bench/instructions.js
 *   INSTR_MODES=public:none-fastify,lazy-fastify-postgres INSTR_REQUESTS=5000 node .run/bench/instructions.js
 *   (INSTR_RUNS processes per mode, default 2; INSTR_OUT the Markdown's path; INSTR_SLOT=1 for a second count
 *   at the same time on other ports; INSTR_KEEP=1 keeps callgrind's files)
 *
 * Each mode runs alone under `valgrind --tool=callgrind --instr-atstart=no` (about 50 times slower):
 * it is warmed as the bench warms it (GET /public, GET /me, POST /cart, then the measured route at
 * length), then counted over INSTR_REQUESTS requests of the route (10 connections, one session), and
 * the count is split by callgrind's symbols into V8's compilers, the garbage collector, and the rest
 * (the JavaScript, V8's runtime and builtins, Node, libuv, llhttp; the kernel is not counted).
 * Compilation is reported apart: under valgrind V8's background compiler threads run one at a time
 * with everything else, so it is still compiling long after a native process has settled.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSessions, load, startApp, stats, stopApp, type Route } from './apps.js';

const REQUESTS = Number(process.env.INSTR_REQUESTS ?? '5000');
const WARM_HISTORY = Number(process.env.INSTR_WARM ?? '2000');
const WARM_ROUTE = Number(process.env.INSTR_WARM_ROUTE ?? '20000');

/** route:mode,mode;route:mode,… */
const PLAN = (process.env.INSTR_MODES ?? 'public:none-fastify,none-fastify-postgres,lazy-fastify-postgres,lazy-fastify-sqlite;me:floor-fastify-postgres,lazy-fastify-postgres,fastify-session-typeorm-postgres')
  .split(';')
  .map((part) => {
    const [route, modes] = part.split(':');
    return { route: route as Route, modes: modes.split(',') };
  });

const CATEGORIES: [string, RegExp][] = [
  ['compile', /v8::internal::(compiler|maglev|baseline|wasm)::|OptimizedCompilationJob|OptimizingCompileDispatcher|v8::internal::Compiler::/],
  ['gc', /v8::internal::(Heap|Scavenger|Sweeper|MarkCompact|MinorMarkCompact|ConcurrentMarking|MarkingVisitor|MarkingBarrier|Evacuat|PagedSpace|NewSpace|SemiSpace|MemoryAllocator|GCTracer|IncrementalMarking|ScavengeVisitor|RememberedSet|SlotSet)/],
];

interface Count {
  total: number;
  byCategory: Record<string, number>;
}

/** Self cost per function from callgrind_annotate, summed by category. */
function countOf(file: string): Count {
  const text = execFileSync('callgrind_annotate', ['--inclusive=no', '--threshold=100', file], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const byCategory: Record<string, number> = { compile: 0, gc: 0, rest: 0 };
  let total = 0;
  for (const line of text.slice(text.indexOf('file:function')).split('\n')) {
    const m = /^\s*([\d,]+) \([\s\d.]+%\)\s+(.*)$/.exec(line);
    if (!m) continue;
    const ir = Number(m[1].replaceAll(',', ''));
    total += ir;
    byCategory[CATEGORIES.find(([, re]) => re.test(m[2]))?.[0] ?? 'rest'] += ir;
  }
  return { total, byCategory };
}

let measured = 0;

async function measure(mode: string, route: Route, dir: string): Promise<Count & { requests: number }> {
  const name = `${mode}-${route}-${++measured}.out`;
  const out = join(dir, name);
  const app = await startApp(mode, SLOT, { under: ['valgrind', '-q', '--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${out}`], timeoutMs: 300_000 });
  try {
    const pool = await createSessions(app, 1);
    for (const r of ['public', 'me', 'cart'] as Route[]) await load(app, r, 'one-session', pool, 0, WARM_HISTORY);
    await load(app, route, 'one-session', pool, 0, WARM_ROUTE);
    await fetch(`http://127.0.0.1:${app.admin}/gc`);
    const before = await stats(app);
    const pid = String(app.child.pid);
    execFileSync('callgrind_control', ['--instr=on', pid], { stdio: 'ignore' });
    await load(app, route, 'one-session', pool, 0, REQUESTS);
    execFileSync('callgrind_control', ['--instr=off', pid], { stdio: 'ignore' });
    const requests = (await stats(app)).requests - before.requests;
    execFileSync('callgrind_control', ['--dump', pid], { stdio: 'ignore' });
    // The dump is written as out.1 once callgrind has handled the request.
    const dumped = () => readdirSync(dir).includes(`${name}.1`);
    for (let i = 0; i < 100 && !dumped(); i++) await new Promise((r) => setTimeout(r, 200));
    return { ...countOf(`${out}.1`), requests };
  } finally {
    await stopApp(app);
  }
}

try {
  execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
} catch {
  console.error('bench:instructions needs valgrind (Debian: apt-get install valgrind)');
  process.exit(1);
}

const RUNS = Number(process.env.INSTR_RUNS ?? '2');
/** Which of the bench's port pairs the app takes: two counts can then run at once, one per core. */
const SLOT = Number(process.env.INSTR_SLOT ?? '0');
const OUT = process.env.INSTR_OUT ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'INSTRUCTIONS.md');
const dir = mkdtempSync(join(tmpdir(), 'bench-instructions-'));
const k = (n: number) => `${(n / 1000).toFixed(1)}k`;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const lines = [
  `# Instructions per request`,
  '',
  `\`npm run bench:instructions\` (bench/instructions.ts), ${new Date().toISOString().slice(0, 10)}: callgrind's count over ${REQUESTS} requests after`,
  `${WARM_ROUTE} of warm-up (10 connections, one session), each mode in ${RUNS} fresh processes, run in turn (A B C A B C).`,
  'Per request, the mean of the runs; `rest` with its min–max. `rest` is what the process executed but for V8\'s',
  'compilers and the garbage collector: the JavaScript, V8\'s runtime and builtins, Node, libuv, llhttp (the kernel is not',
  'counted). Compilation is apart because under valgrind V8 goes on compiling long after a native process has settled.',
  'Two processes of one mode differ by a few percent (when V8 compiles, deoptimizes and collects): read the min–max.',
  '',
  '| route | mode | all | compile | gc | rest (min–max) | rest ÷ first mode |',
  '| --- | --- | --- | --- | --- | --- | --- |',
];
try {
  for (const { route, modes } of PLAN) {
    const counts = new Map<string, (Count & { requests: number })[]>(modes.map((m) => [m, []]));
    for (let run = 0; run < RUNS; run++) for (const mode of modes) counts.get(mode)!.push(await measure(mode, route, dir));
    const rest = (mode: string) => counts.get(mode)!.map((c) => c.byCategory.rest / c.requests);
    const first = rest(modes[0]);
    for (const mode of modes) {
      const cs = counts.get(mode)!;
      const per = (f: (c: Count) => number) => mean(cs.map((c) => f(c) / c.requests));
      const r = rest(mode);
      const range = `${(Math.min(...r) / Math.max(...first)).toFixed(3)}–${(Math.max(...r) / Math.min(...first)).toFixed(3)}`;
      lines.push(`| ${route} | ${mode} | ${k(per((c) => c.total))} | ${k(per((c) => c.byCategory.compile))} | ${k(per((c) => c.byCategory.gc))} | ${k(mean(r))} (${k(Math.min(...r))}–${k(Math.max(...r))}) | ${(mean(r) / mean(first)).toFixed(3)}× (${range}) |`);
      console.error(lines.at(-1));
    }
  }
} finally {
  // INSTR_KEEP=1 keeps callgrind's files, for callgrind_annotate by function.
  if (process.env.INSTR_KEEP === '1') console.error(`callgrind files in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
console.log(lines.join('\n'));
writeFileSync(OUT, lines.join('\n') + '\n');
