/**
 * Scale check on PostgreSQL (a script, not a test):
 *
 *   npm run build:run && node .run/bench/scale.js
 *
 * Fills a table with SCALE_ROWS (default 1,000,000) session rows in one generate_series INSERT,
 * shows the EXPLAIN of the store's real load statement (an index lookup on the primary key), times
 * loads, then marks half the rows expired and times prune() in batches while readers keep loading
 * live sessions through the same connection pool, reporting read latencies before and during it.
 *
 * Env: SCALE_ROWS, SCALE_BATCH (pruneBatchSize, default 1000), SCALE_READERS (8), SCALE_KEEP=1
 * (keep the table), PGHOST/PGPORT/PGUSER/PGDATABASE (127.0.0.1/5432/postgres/test). Loopback only.
 */
import 'reflect-metadata';
import type { DataSource } from 'typeorm';
import { benchPostgres } from './postgres.js';
import { TypeOrmSessionStore } from '../src/index.js';
import type { SqlDialect } from '../src/stores/typeorm/dialect.js';

const ROWS = Number(process.env.SCALE_ROWS ?? 1_000_000);
const BATCH = Number(process.env.SCALE_BATCH ?? 1000);
const READERS = Number(process.env.SCALE_READERS ?? 8);
const TABLE = 'scale_sessions';

const ms = (t0: number) => performance.now() - t0;

function pct(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function line(label: string, v: number[]): string {
  return `${label.padEnd(22)} n=${String(v.length).padStart(6)}  p50 ${pct(v, 50).toFixed(2)} ms  p95 ${pct(v, 95).toFixed(2)} ms  p99 ${pct(v, 99).toFixed(2)} ms  max ${Math.max(...v).toFixed(2)} ms`;
}

/** The id of generated row g (same expression as the INSERT below). */
const idOfRow = async (ds: DataSource, g: number) =>
  ((await ds.query(`SELECT encode(sha256(convert_to($1::text, 'UTF8')), 'hex') AS id`, [`s${g}`])) as { id: string }[])[0].id;

async function main(): Promise<void> {
  const ds = benchPostgres();
  await ds.initialize();
  const store = new TypeOrmSessionStore(ds, { tableName: TABLE, pruneBatchSize: BATCH });
  const sql = (store as unknown as { sql: SqlDialect }).sql;

  await ds.query(`DROP TABLE IF EXISTS "${TABLE}"`);
  for (const ddl of store.createTableStatements(false)) await ds.query(ddl);

  const now = Date.now();
  let t0 = performance.now();
  // created_at carries the row number, so that half the rows can be picked out later.
  await ds.query(
    `INSERT INTO "${TABLE}" (id, handle, data, user_id, created_at, last_seen_at, expires_at, auth_at, remember)
     SELECT encode(sha256(convert_to('s' || g, 'UTF8')), 'hex'), 'h' || g, '{"cart":[["a","b"]],"n":[1]}',
            CASE WHEN g % 10 = 0 THEN 'user' || (g % 5000) END, g, $1::bigint, $2::bigint, NULL, 0
     FROM generate_series(1, $3::int) g`,
    [now, now + 3_600_000, ROWS],
  );
  const insertMs = ms(t0);
  t0 = performance.now();
  await ds.query(`ANALYZE "${TABLE}"`);
  console.log(`inserted ${ROWS.toLocaleString('en')} rows in ${(insertMs / 1000).toFixed(1)} s (ANALYZE ${(ms(t0) / 1000).toFixed(1)} s)`);
  const size = ((await ds.query(`SELECT pg_size_pretty(pg_total_relation_size($1)) AS s`, [TABLE])) as { s: string }[])[0].s;
  console.log(`table + indexes: ${size}`);

  // The real load statement, with a real id.
  const probe = await idOfRow(ds, Math.floor(ROWS / 2) + 7);
  const plan = (await ds.query(`EXPLAIN (ANALYZE, BUFFERS) ${sql.load}`, [probe])) as { 'QUERY PLAN': string }[];
  console.log(`\nEXPLAIN ANALYZE ${sql.load}\n  ${plan.map((r) => r['QUERY PLAN']).join('\n  ')}`);
  if (!plan.some((r) => r['QUERY PLAN'].includes(`Index Scan using ${TABLE}_pkey`))) {
    console.error('!! the load statement is not an index scan on the primary key');
    process.exitCode = 1;
  }

  // Load timings on random live rows (upper half: never expired below).
  const liveIds: string[] = [];
  for (let i = 0; i < 500; i++) liveIds.push(await idOfRow(ds, Math.floor(ROWS / 2) + 1 + Math.floor(Math.random() * (ROWS / 2))));
  const loadTimes: number[] = [];
  for (const id of liveIds) {
    const t = performance.now();
    const r = await store.load(id);
    loadTimes.push(ms(t));
    if (!r) throw new Error('live row not found');
  }
  console.log(`\n${line('load (sequential)', loadTimes)}`);

  async function readers(stop: () => boolean): Promise<number[]> {
    const times: number[] = [];
    await Promise.all(
      Array.from({ length: READERS }, async () => {
        while (!stop()) {
          const id = liveIds[Math.floor(Math.random() * liveIds.length)];
          const t = performance.now();
          const r = await store.load(id);
          times.push(ms(t));
          if (!r) throw new Error('a live session went missing during prune');
        }
      }),
    );
    return times;
  }

  // Baseline: concurrent readers alone for 3 s.
  const baseEnd = Date.now() + 3000;
  const baseline = await readers(() => Date.now() >= baseEnd);
  console.log(line(`load, ${READERS} readers`, baseline));

  // Half the rows expire.
  const half = Math.floor(ROWS / 2);
  t0 = performance.now();
  await ds.query(`UPDATE "${TABLE}" SET expires_at = $1 WHERE created_at <= $2`, [now - 1000, half]);
  console.log(`\nmarked ${half.toLocaleString('en')} rows expired in ${(ms(t0) / 1000).toFixed(1)} s`);
  await ds.query(`ANALYZE "${TABLE}"`);

  // Prune in batches while the readers keep going.
  let pruning = true;
  const batchTimes: number[] = [];
  let last = performance.now();
  const readDuring = readers(() => !pruning);
  t0 = performance.now();
  const removed = await store.prune(Date.now(), () => {
    const t = performance.now();
    batchTimes.push(t - last);
    last = t;
  });
  const pruneMs = ms(t0);
  pruning = false;
  const during = await readDuring;
  console.log(`prune removed ${removed.toLocaleString('en')} rows in ${(pruneMs / 1000).toFixed(1)} s (${batchTimes.length} batches of ${BATCH}, ${Math.round(removed / (pruneMs / 1000)).toLocaleString('en')} rows/s)`);
  console.log(line('prune batch', batchTimes));
  console.log(line(`load during prune`, during));
  const left = Number(((await ds.query(`SELECT COUNT(*) AS n FROM "${TABLE}"`)) as { n: string }[])[0].n);
  console.log(`rows left: ${left.toLocaleString('en')} (expected ${(ROWS - half).toLocaleString('en')})`);
  if (removed !== half || left !== ROWS - half) process.exitCode = 1;

  if (process.env.SCALE_KEEP !== '1') await ds.query(`DROP TABLE IF EXISTS "${TABLE}"`);
  await ds.destroy();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
