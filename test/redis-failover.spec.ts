import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Redis, type Cluster } from 'ioredis';
import { RedisSessionStore } from '../src/index.js';
import { storeKey } from '../src/crypto/token.js';
import { createTestApp } from './support/test-app.js';
import { CLUSTER_BASE, describeRedisCluster, dropClusterPrefix, newCluster, testPrefix } from './support/redis.js';

/*
 * Failover under traffic, over real HTTP: one master of the local cluster is killed (SIGKILL) while
 * every client increments a counter in its session. Sessions on the other shards must be served
 * without a single error; sessions on the lost shard answer 503 (never 200 with a fresh session,
 * never a new cookie) until the replica is promoted, then are served again by the same app. The
 * master dies 300 ms after its replication link broke. Run twice: without the durability option
 * (acknowledged writes of that window are lost: counted), and with waitForReplica (none may be). Afterwards the killed node is restarted and rejoins as a replica, for the other suites.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const run = promisify(execFile);
const script = join(import.meta.dirname, '..', 'scripts', 'redis-cluster.sh');

/** The cluster whole again: every node up (a killed one rejoins as a replica), cluster_state ok everywhere. */
const restore = () => run('bash', [script, 'start'], { env: { ...process.env, REDIS_CLUSTER_BASE: String(CLUSTER_BASE) } });

async function nodeInfo(port: number): Promise<{ pid: number; role: string }> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    await r.connect();
    const info = await r.info();
    return { pid: Number(/process_id:(\d+)/.exec(info)![1]), role: /role:(\w+)/.exec(info)![1] };
  } finally {
    r.disconnect();
  }
}

interface Figures {
  /** Non-200 answers per master port, for sessions of the other shards. */
  otherShardErrors: number;
  lostShardStatuses: Record<number, number>;
  /** A 200 that carried a new session cookie: a silent logout. */
  silentLogouts: number;
  /** Acknowledged increments later read back lower. */
  lostWrites: number;
  firstRecoveryMs: number;
  allRecoveredMs: number;
  promotedMs: number;
  requests: number;
}

await describeRedisCluster('failover under traffic', () => {
  let admin: Cluster;
  const prefixes: string[] = [];
  beforeAll(async () => {
    await restore();
    admin = await newCluster();
  }, 60_000);
  afterAll(async () => {
    await restore();
    for (const p of prefixes) await dropClusterPrefix(admin, p).catch(() => undefined);
    admin?.disconnect();
  }, 60_000);

  async function failover(waitForReplica: number | undefined): Promise<Figures> {
    const cluster = await newCluster();
    const prefix = testPrefix('failover');
    prefixes.push(prefix);
    const store = new RedisSessionStore(cluster, { prefix, waitForReplica });
    const app: INestApplication = await createTestApp({ store, options: { storeTimeout: 1500 } });
    try {
      await new Promise<void>((resolve) => app.getHttpServer().listen(0, '127.0.0.1', () => resolve()));
      const base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
      const post = async (path: string, cookie?: string) => {
        const res = await fetch(base + path, { method: 'POST', headers: cookie ? { cookie } : {} });
        const body = (await res.json().catch(() => ({}))) as { n?: number };
        return { status: res.status, n: body.n, setCookie: res.headers.get('set-cookie') };
      };
      // The slot map before the kill: each session's master, and the victim's replica.
      type Range = [number, number, [string, number], ...[string, number][]];
      let owners: Range[] = [];
      // A node that rejoined is listed as a replica a moment after the cluster is ok again.
      for (let i = 0; i < 100 && !(owners.length > 0 && owners.every((r) => r.length > 3)); i++) {
        if (i > 0) await sleep(100);
        owners = (await cluster.call('CLUSTER', 'SLOTS')) as Range[];
      }
      const ownerOf = (slot: number) => owners.find(([from, to]) => slot >= from && slot <= to)!;
      const sessions: { cookie: string; port: number; acked: number; down?: boolean; recoveredMs?: number }[] = [];
      for (let i = 0; i < 48; i++) {
        const res = await post('/incr/n');
        expect(res.status).toBe(200);
        const cookie = res.setCookie!.split(';')[0];
        const id = storeKey(cookie.slice(cookie.indexOf('=') + 1, cookie.indexOf('=') + 44));
        const slot = Number(await cluster.call('CLUSTER', 'KEYSLOT', store.sessionKey(id)));
        sessions.push({ cookie, port: Number(ownerOf(slot)[2][1]), acked: 1 });
      }
      const victim = sessions[0].port;
      const replica = Number(owners.find(([, , [, port]]) => Number(port) === victim)![3][1]);
      const lost = sessions.filter((x) => x.port === victim);
      expect(lost.length).toBeGreaterThan(0);
      expect(lost.length).toBeLessThan(sessions.length);
      const { pid } = await nodeInfo(victim);

      const f: Figures = { otherShardErrors: 0, lostShardStatuses: {}, silentLogouts: 0, lostWrites: 0, firstRecoveryMs: 0, allRecoveredMs: 0, promotedMs: 0, requests: 0 };
      let killedAt = 0;
      /** From the replication link's break on: the victim shard's answers count as the lost shard's. */
      let troubleAt = 0;
      let stop = false;
      const drive = async (x: (typeof sessions)[number]) => {
        while (!stop) {
          const r = await post('/incr/n', x.cookie).catch(() => ({ status: 0, n: undefined, setCookie: null }));
          f.requests++;
          // No request of an existing session may get a new one: that would be a silent logout.
          if (r.setCookie) f.silentLogouts++;
          if (x.port !== victim || troubleAt === 0) {
            if (r.status !== 200) f.otherShardErrors++;
          } else {
            f.lostShardStatuses[r.status] = (f.lostShardStatuses[r.status] ?? 0) + 1;
            // Served again after it was seen down (answers in flight at the kill do not count).
            if (r.status !== 200) x.down = true;
            else if (x.down && killedAt > 0) x.recoveredMs ??= Date.now() - killedAt;
          }
          if (r.status === 200) {
            // Lower than an increment already acknowledged: acknowledged writes were lost.
            if (r.n! <= x.acked) f.lostWrites += x.acked - r.n! + 1;
            x.acked = r.n!;
          }
          await sleep(10);
        }
      };
      const driving = Promise.all(sessions.map(drive));
      await sleep(1000);
      // The window in which asynchronous replication loses acknowledged writes: the master's link to
      // its replica breaks (as on a network blip), the master goes on acknowledging writes, and dies
      // before the replica is back. Waiting for a replica, those writes are never acknowledged.
      // (The replica sleeps through it, or it would reconnect and catch up at once.)
      const [master, follower] = [victim, replica].map((port) => new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null }));
      for (const c of [master, follower]) {
        c.on('error', () => {});
        await c.connect();
      }
      troubleAt = Date.now();
      const asleep = follower.call('DEBUG', 'SLEEP', '0.8');
      await master.call('CLIENT', 'KILL', 'TYPE', 'replica');
      await sleep(300);
      killedAt = Date.now();
      process.kill(pid, 'SIGKILL');
      await asleep;
      master.disconnect();
      follower.disconnect();
      for (let i = 0; i < 200 && (await nodeInfo(replica).catch(() => ({ role: '' }))).role !== 'master'; i++) await sleep(100);
      f.promotedMs = Date.now() - killedAt;
      // Waiting for a replica: the promoted master has none until the killed node rejoins as one.
      if (waitForReplica !== undefined) await restore();
      for (let i = 0; i < 300 && lost.some((x) => x.recoveredMs === undefined); i++) await sleep(100);
      await sleep(500);
      stop = true;
      await driving;
      f.firstRecoveryMs = Math.min(...lost.map((x) => x.recoveredMs ?? Infinity));
      f.allRecoveredMs = Math.max(...lost.map((x) => x.recoveredMs ?? Infinity));
      console.log(`failover ${waitForReplica === undefined ? 'without' : `with waitForReplica: ${waitForReplica}`}: master :${victim} killed (${lost.length} of ${sessions.length} sessions), replica :${replica} promoted after ${f.promotedMs} ms; ${JSON.stringify(f)}`);
      return f;
    } finally {
      await app.close();
      cluster.disconnect();
      await restore();
    }
  }

  it.each([
    ['without the durability option', undefined],
    ['with waitForReplica', 1000],
  ])('%s: other shards never fail, the lost shard answers 503 then is served again', async (_name, waitForReplica) => {
    const f = await failover(waitForReplica);
    expect(f.otherShardErrors).toBe(0);
    expect(f.silentLogouts).toBe(0);
    expect(Object.keys(f.lostShardStatuses).sort()).toEqual(['200', '503']);
    expect(f.allRecoveredMs).toBeLessThan(Infinity);
    if (waitForReplica !== undefined) expect(f.lostWrites).toBe(0);
  }, 60_000);
});
