import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import type { Cluster } from 'ioredis';
import { RedisSessionStore } from '../src/index.js';
import { createTestApp } from './support/test-app.js';
import { describeRedisCluster, dropClusterPrefix, keysUnder, newCluster, testPrefix } from './support/redis.js';

/** The repository's CI runs the cluster suites against a cluster of its own, stopped whatever happens. */
describe('CI and the Redis Cluster', () => {
  it('starts the local cluster before the tests and stops it on exit', () => {
    const ci = readFileSync(join(import.meta.dirname, '..', '.ci/run'), 'utf8').split('\n').filter((l) => !l.trim().startsWith('#')).join('\n');
    const trap = ci.indexOf("trap 'bash scripts/redis-cluster.sh stop' EXIT");
    const start = ci.indexOf('bash scripts/redis-cluster.sh start');
    expect(trap).toBeGreaterThan(-1);
    expect(start).toBeGreaterThan(trap);
    expect(start).toBeLessThan(ci.indexOf('npm test'));
  });
});

/** Sessions created through the app, counted on each master by SCAN. */
await describeRedisCluster('sessions spread over the shards', () => {
  let cluster: Cluster;
  let app: INestApplication;
  let prefix: string;
  beforeAll(async () => {
    cluster = await newCluster();
    prefix = testPrefix('spread');
    app = await createTestApp({ store: new RedisSessionStore(cluster, { prefix }) });
    await new Promise<void>((resolve) => app.getHttpServer().listen(0, '127.0.0.1', () => resolve()));
  });
  afterAll(async () => {
    await app?.close();
    await dropClusterPrefix(cluster, prefix);
    cluster?.disconnect();
  });

  it('10,000 sessions land on all three masters, none holding more than 40%', async () => {
    const { port } = app.getHttpServer().address() as { port: number };
    const total = 10_000;
    let next = 0;
    let created = 0;
    const worker = async () => {
      while (next < total) {
        next++;
        const res = await fetch(`http://127.0.0.1:${port}/cart/x`, { method: 'POST' });
        await res.text();
        if (res.status === 200 && res.headers.get('set-cookie')) created++;
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    expect(created).toBe(total);
    const masters = cluster.nodes('master');
    expect(masters).toHaveLength(3);
    const counts = await Promise.all(masters.map(async (m) => (await keysUnder(m, prefix)).filter((k) => /\}s:/.test(k)).length));
    console.log(`distribution of ${total} sessions over the masters: ${masters.map((m, i) => `${m.options.port}: ${counts[i]} (${((100 * counts[i]) / total).toFixed(1)}%)`).join(', ')}`);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(total);
    for (const n of counts) {
      expect(n).toBeGreaterThan(0);
      expect(n / total).toBeLessThanOrEqual(0.4);
    }
  }, 120_000);
});
