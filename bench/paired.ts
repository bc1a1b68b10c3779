/**
 * GET /public against the app without sessions, the two loaded at the same moment on the same core.
 *
 * Why not one after the other: the effect to find is a few percent, while on a shared machine one
 * 2-second run can be 10–30% off the next (other tenants' load comes and goes, and slows CPU time
 * itself, not only throughput). Runs in sequence carry that noise into every ratio, and three rounds
 * of it cannot tell 1.00× from 1.10×. Two apps sharing the app core under load at the same moment are
 * interleaved by the scheduler every few milliseconds and slowed alike by whatever else runs, so their
 * ratio keeps little of it. The app without sessions against a second process of itself (A/A) shows
 * what is left: the resolution of the method.
 *
 * Each round, each pair gets two fresh processes (pinned to the app core once up), warmed together on
 * the routes every mode serves; then it runs PAIRED_RUNS times, its two apps each driven by their own
 * autocannon (BENCH_CONNECTIONS connections, a session cookie per connection), and each app's CPU
 * time and requests served are read over a BENCH_SECONDS window inside both loads, after
 * PAIRED_WARMUP seconds of them. Per run: CPU time per request and requests/s of each, and their ratios; a target is
 * judged on the median over every run of every round.
 */
import { CONNECTIONS, createSessions, load, startApp, stats, stopApp, type App } from './apps.js';
import { fmtSpread, spread, type Spread } from './spread.js';

export interface PairedRun {
  round: number;
  /** The mode measured against the baseline (or the baseline's second process, for A/A). */
  a: string;
  b: string;
  aCpu: number;
  bCpu: number;
  aRps: number;
  bRps: number;
  /** SQL statements plus Redis round trips of the measured mode's app, per request (0 is a target). */
  aOps: number;
  /** Both apps' CPU time over the run's wall time: about 1 when the app core, not the load generator, was the limit. */
  busy: number;
}

/** The baseline's second process, for the A/A pair. */
export const twin = (base: string) => `${base} (2nd process)`;

/** The pairs of each platform: every lazy mode selected against the app without sessions, and A/A. */
export function pairsOf(modes: string[]): Array<{ base: string; others: string[] }> {
  const groups = [
    { base: 'none', others: ['lazy-sqlite', 'lazy-postgres', 'lazy-mariadb', 'lazy-redis', 'lazy-cookie'] },
    { base: 'none-fastify', others: ['lazy-fastify-sqlite', 'lazy-fastify-postgres'] },
  ];
  const out = groups
    .filter((g) => modes.includes(g.base))
    .map((g) => ({ base: g.base, others: [...g.others.filter((m) => modes.includes(m)), twin(g.base)] }))
    .filter((g) => g.others.length > 1);
  // none-<store> when selected (BENCH_MODES): the module against the same app holding the same
  // client, and that app against the bare one: what the module costs, and what the client does.
  for (const held of modes.filter((m) => /^none-(sqlite|postgres|mariadb|redis)$/.test(m))) {
    const lazy = held.replace(/^none-/, 'lazy-');
    out.push({ base: held, others: modes.includes(lazy) ? [lazy] : [] });
    if (modes.includes('none')) out.push({ base: 'none', others: [held] });
  }
  return out.filter((g) => g.others.length > 0);
}

const seconds = Number(process.env.BENCH_SECONDS ?? '2');
/**
 * Seconds of each run's own load before its window. Not the sequential runs' 0.3: with it, on Express
 * the first window of two back to back measured the module's app at 1.08–1.44× the CPU per request of
 * the app without sessions in every pair of every run (37 of 37, cookie store included) and the second
 * at 0.96–1.17×, while the A/A pairs' first windows measured 0.97–1.03× (Fastify: 0.99–1.60×, less
 * consistently). Neither a forced GC before the window (removed:
 * the same) nor 1.5 or 6 s of paired load before the run's own (the same) took it away; later windows
 * of one continuous load did. So a pair is measured once per round, after this much of its load.
 */
const warmup = Number(process.env.PAIRED_WARMUP ?? '2.5');
const RUNS = Math.max(1, Number(process.env.PAIRED_RUNS ?? '1'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Both sides see the same traffic before they are measured: a route that uses the session and one that does not. */
async function warm(app: App): Promise<void> {
  // Short: each run's own load warms GET /public for PAIRED_WARMUP seconds before its window.
  await load(app, 'public', 'per-connection', await createSessions(app, CONNECTIONS), 0.2);
  await load(app, 'me', 'one-session', await createSessions(app, 1), 0.2);
}

async function gc(app: App): Promise<void> {
  await (await fetch(`http://127.0.0.1:${app.admin}/gc`)).arrayBuffer();
}

async function run(a: App, b: App, round: number, labels: [string, string]): Promise<PairedRun> {
  const [poolA, poolB] = [await createSessions(a, CONNECTIONS), await createSessions(b, CONNECTIONS)];
  await Promise.all([gc(a), gc(b)]);
  // One load per app for warm-up + window + a margin; the window is measured strictly inside both
  // (autocannon instances never start or stop at the same instant, and an app alone on the core at
  // either end would serve faster).
  const loads = Promise.all([load(a, 'public', 'per-connection', poolA, warmup + seconds + 0.3), load(b, 'public', 'per-connection', poolB, warmup + seconds + 0.3)]);
  await sleep((warmup + 0.2) * 1000);
  const [a0, b0] = await Promise.all([stats(a), stats(b)]);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const [a1, b1] = await Promise.all([stats(a), stats(b)]);
  const wallUs = (performance.now() - t0) * 1000;
  await loads;
  const cpuA = a1.userUs + a1.systemUs - a0.userUs - a0.systemUs;
  const cpuB = b1.userUs + b1.systemUs - b0.userUs - b0.systemUs;
  const [nA, nB] = [a1.requests - a0.requests, b1.requests - b0.requests];
  return {
    round,
    a: labels[0],
    b: labels[1],
    aCpu: cpuA / nA,
    bCpu: cpuB / nB,
    aRps: nA / (wallUs / 1e6),
    bRps: nB / (wallUs / 1e6),
    busy: (cpuA + cpuB) / wallUs,
    aOps: (a1.statements - a0.statements + a1.redisCommands - a0.redisCommands) / nA,
  };
}

/**
 * Every round, every pair: both apps started together, warmed together, measured PAIRED_RUNS times
 * back to back, stopped. Nothing else runs in between, so both sides have the same history: a process
 * that sat idle while others ran comes back slower for seconds (measured: the app without sessions
 * kept busy across pairs beat a second process of itself by 4–10% after a 1-second warm-up), and a
 * baseline shared by every pair would get that edge over each of them.
 */
export async function pairedPublic(modes: string[], rounds: number, log: (line: string) => void): Promise<PairedRun[]> {
  const out: PairedRun[] = [];
  const pairs = pairsOf(modes).flatMap(({ base, others }) => others.map((other) => [other, base] as const));
  for (let round = 1; round <= rounds; round++) {
    for (const [other, base] of round % 2 ? pairs : [...pairs].reverse()) {
      const apps: App[] = [];
      try {
        apps.push(...(await Promise.all([startApp(other === twin(base) ? base : other, 0), startApp(base, 1)])));
        const [a, b] = apps;
        await Promise.all([warm(a), warm(b)]);
        for (let i = 0; i < RUNS; i++) {
          const r = await run(a, b, round, [other, base]);
          out.push(r);
          log(`paired r${round} ${other.padEnd(26)} ${r.aCpu.toFixed(0).padStart(4)} µs ${r.aRps.toFixed(0).padStart(6)} req/s | ${base} ${r.bCpu.toFixed(0).padStart(4)} µs ${r.bRps.toFixed(0).padStart(6)} req/s | CPU ${(r.aCpu / r.bCpu).toFixed(3)}× req/s ${(r.aRps / r.bRps).toFixed(3)}× core ${(r.busy * 100).toFixed(0)}%`);
        }
      } finally {
        for (const app of apps) await stopApp(app);
      }
    }
  }
  return out;
}

/** a ÷ b over every run of the pair: CPU per request or requests/s. */
export function pairedRatio(runs: PairedRun[], a: string, b: string, pick: 'cpu' | 'rps'): Spread | undefined {
  const mine = runs.filter((r) => r.a === a && r.b === b);
  return spread(mine.map((r) => (pick === 'cpu' ? r.aCpu / r.bCpu : r.aRps / r.bRps)));
}

export function pairedSection(runs: PairedRun[], rounds: number): string[] {
  if (runs.length === 0) return [];
  const lines = [
    '## GET /public: paired runs (the targets\' measurement)',
    '',
    `Each mode and the same app without sessions share the app core and are loaded at the same moment, each by its own autocannon (${CONNECTIONS} connections, a session cookie per connection); CPU time and requests served (counted by each app\'s server) are read over a ${seconds}-s window inside both loads, after ${warmup} s of the same loads (a shorter warm-up measured the module's app higher in the first window of every pair, a step the A/A pairs did not show: see bench/paired.ts); ` +
      `${rounds} rounds; in each, every pair is two fresh processes, started and warmed together, measured ${RUNS === 1 ? 'once' : `${RUNS} times back to back`}, then stopped (a process left idle while others run comes back slower for seconds, so a baseline shared across pairs would be favoured). Runs one after another carry the machine's noise (one 2-second run is often 10–30% off the next, CPU time per request included) into every ratio; ` +
      'two apps on one core at the same moment are slowed alike, so their ratio keeps little of it. The A/A row (the app without sessions against a second process of itself) is the resolution of the method: a ratio within its spread is no difference at all. ' +
      '"Core busy" is both apps\' CPU time over wall time: near 100% means the app core, not the load generator, set the pace.',
    '',
    '| platform | mode | ÷ | CPU µs/req (mode) | CPU µs/req (baseline) | CPU/req ratio | req/s (mode) | req/s ratio | ops/req (mode) | core busy |',
    '|---|---|---|--:|--:|--:|--:|--:|--:|--:|',
  ];
  const pairs = [...new Set(runs.map((r) => `${r.a}\u0000${r.b}`))].map((k) => k.split('\u0000') as [string, string]);
  for (const [a, b] of pairs) {
    const mine = runs.filter((r) => r.a === a && r.b === b);
    const s = (f: (r: PairedRun) => number) => spread(mine.map(f));
    lines.push(
      `| ${b.includes('fastify') ? 'Fastify' : 'Express'} | ${a} | ${b} | ${fmtSpread(s((r) => r.aCpu))} | ${fmtSpread(s((r) => r.bCpu))} | ${fmtSpread(pairedRatio(runs, a, b, 'cpu'), 3, '×')} | ` +
        `${fmtSpread(s((r) => r.aRps))} | ${fmtSpread(pairedRatio(runs, a, b, 'rps'), 3, '×')} | ${fmtSpread(s((r) => r.aOps), 2)} | ${fmtSpread(s((r) => r.busy * 100))}% |`,
    );
  }
  lines.push('');
  return lines;
}
