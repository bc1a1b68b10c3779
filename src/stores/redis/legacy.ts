import type { SessionRecord } from '../store.js';
import { connect } from './client.js';
import type { HashCodec } from './hash.js';

/*
 * The key layout of 0.1.0, one slot for everything under prefix L:
 *   L s:<id> (hash, the same fields as today's), L h:<handle> (string), L u:<userId> (sorted set),
 *   L expiries (sorted set).
 */

const glob = (s: string) => s.replace(/[*?[\]\\]/g, '\\$&');

async function* scan(send: (args: string[]) => Promise<unknown>, match: string): AsyncGenerator<string[]> {
  let cursor = '0';
  do {
    const [next, keys] = (await send(['SCAN', cursor, 'MATCH', match, 'COUNT', '500'])) as [string, string[]];
    yield keys.map(String);
    cursor = String(next);
  } while (cursor !== '0');
}

/**
 * Copies every session of the 0.1.0 layout under `legacyPrefix`, read through `source` (a client of
 * the one server that holds them), into the store (`create`), then deletes the old keys. A session
 * whose data no longer opens, or already past its grace, is only deleted. Returns the sessions copied.
 */
export async function migrate010(source: unknown, legacyPrefix: string, hash: HashCodec, create: (r: SessionRecord) => Promise<void>): Promise<number> {
  const { send, keyPrefix } = connect(source);
  let copied = 0;
  const sessions = `${legacyPrefix}s:`;
  // SCAN's pattern and its answers carry an ioredis keyPrefix; the other commands add it themselves.
  for await (const found of scan(send, `${glob(keyPrefix + sessions)}*`)) {
    for (const key of found.map((k) => k.slice(keyPrefix.length))) {
      const id = key.slice(sessions.length);
      const record = hash.record(id, await send(['HGETALL', key]));
      if (record) {
        await create(record);
        copied++;
      }
      await send(['DEL', key]);
      if (record) await send(['DEL', `${legacyPrefix}h:${record.handle}`]);
    }
  }
  for (const kind of ['u:', 'h:']) {
    for await (const found of scan(send, `${glob(keyPrefix + legacyPrefix + kind)}*`)) for (const key of found) await send(['DEL', key.slice(keyPrefix.length)]);
  }
  await send(['DEL', `${legacyPrefix}expiries`]);
  return copied;
}
