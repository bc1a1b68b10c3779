/*
 * The app of the cluster benchmark (bench/cluster.ts), in a process of its own: Express, the
 * RedisSessionStore over one Redis or over the local Redis Cluster, and the routes of bench/app.ts
 * that read (GET /me) and write (POST /cart) the session, plus POST /setup. A plain node:http server
 * on BENCH_ADMIN_PORT reports process.cpuUsage().
 *
 *   node .run/bench/cluster-app.js single|cluster|cluster-wait
 */
import 'reflect-metadata';
import { createServer } from 'node:http';
import { Controller, Get, HttpCode, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Cluster, Redis } from 'ioredis';
import { RedisSessionStore, Session, SessionModule, type SessionHandle } from '../src/index.js';

export type ClusterBenchMode = 'single' | 'cluster' | 'cluster-wait';
export const CLUSTER_BENCH_MODES: ClusterBenchMode[] = ['single', 'cluster', 'cluster-wait'];

@Controller()
class BenchController {
  @Get('me')
  async me(@Session() s: SessionHandle) {
    return { n: (await s.get<number>('n')) ?? 0 };
  }

  @Post('cart')
  @HttpCode(200)
  async cart(@Session() s: SessionHandle) {
    const n = ((await s.get<number>('n')) ?? 0) + 1;
    await s.set('n', n);
    return { n };
  }

  @Post('setup')
  @HttpCode(200)
  async setup(@Session() s: SessionHandle) {
    await s.set('n', 0);
    return { ok: true };
  }
}

/** The client the README recommends for each. */
async function client(mode: ClusterBenchMode): Promise<Redis | Cluster> {
  const settings = { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 };
  if (mode === 'single') {
    const c = new Redis({ host: '127.0.0.1', port: Number(process.env.BENCH_REDIS_PORT ?? 6379), ...settings, lazyConnect: true });
    c.on('error', (err: Error) => console.error(`cluster bench app: ${err.message}`));
    await c.connect();
    return c;
  }
  const base = Number(process.env.REDIS_CLUSTER_BASE ?? 7000);
  const c = new Cluster([{ host: '127.0.0.1', port: base }], { enableOfflineQueue: false, redisOptions: { maxRetriesPerRequest: 1, connectTimeout: 2000 }, slotsRefreshTimeout: 2000, slotsRefreshInterval: 1000, lazyConnect: true });
  // A slot refresh that times out on a busy machine is reported as an error event: logged, not fatal.
  c.on('error', (err: Error) => console.error(`cluster bench app: ${err.message}`));
  await c.connect();
  return c;
}

async function main(): Promise<void> {
  const mode = (process.argv[2] ?? 'single') as ClusterBenchMode;
  if (!CLUSTER_BENCH_MODES.includes(mode)) throw new Error(`unknown mode ${mode} (${CLUSTER_BENCH_MODES.join(', ')})`);
  const redis = await client(mode);
  const prefix = `bench_cluster:${process.pid}:`;
  const store = new RedisSessionStore(redis, { prefix, waitForReplica: mode === 'cluster-wait' ? 1000 : undefined });

  @Module({ imports: [SessionModule.forRoot({ secret: 'bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz', store, pruneInterval: 0 })], controllers: [BenchController] })
  class AppModule {}

  const app = await NestFactory.create(AppModule, { logger: false });
  const port = Number(process.env.BENCH_PORT ?? 3710);
  await app.listen(port, '127.0.0.1');
  const admin = createServer((req, res) => {
    const cpu = process.cpuUsage();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ userUs: cpu.user, systemUs: cpu.system }));
  });
  admin.listen(Number(process.env.BENCH_ADMIN_PORT ?? port + 1), '127.0.0.1');
  const stop = async () => {
    admin.close();
    await app.close();
    // The sessions written: every key under the prefix, on every master.
    const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        if (keys.length > 0) await node.pipeline(keys.map((k) => ['del', k])).exec();
        cursor = next;
      } while (cursor !== '0');
    }
    redis.disconnect();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  console.log(`cluster bench app ${mode} ready on ${port}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
