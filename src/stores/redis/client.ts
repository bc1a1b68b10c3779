import { SessionOptionsError } from '../../errors.js';
import type { Script } from './scripts.js';

export type Send = (args: string[]) => Promise<unknown>;

/**
 * A command sender over an ioredis client (Redis or Cluster) or a node-redis client, told apart by
 * shape so that neither package is imported at run time.
 */
export function sender(client: unknown): { send: Send; keyPrefix: string; cluster: boolean } {
  const c = client as Record<string, unknown> & { options?: { keyPrefix?: unknown } };
  if (c && typeof c.call === 'function' && typeof c.defineCommand === 'function') {
    const call = c.call as (...args: string[]) => Promise<unknown>;
    const keyPrefix = typeof c.options?.keyPrefix === 'string' ? c.options.keyPrefix : '';
    return { send: (args) => call.apply(c, args), keyPrefix, cluster: c.isCluster === true };
  }
  if (c && typeof c.sendCommand === 'function' && typeof c.connect === 'function') {
    if (typeof c.getSlotRandomNode === 'function' || 'masters' in c) {
      throw new SessionOptionsError('nestjs-lazy-session: RedisSessionStore takes a node-redis client, not a node-redis cluster; use an ioredis Cluster for Redis Cluster');
    }
    const sendCommand = c.sendCommand as (args: string[]) => Promise<unknown>;
    return { send: (args) => sendCommand.call(c, args), keyPrefix: '', cluster: false };
  }
  throw new SessionOptionsError('nestjs-lazy-session: RedisSessionStore needs an ioredis client (new Redis(...) or new Cluster(...)) or a node-redis client');
}

/**
 * Runs a script by its SHA, loading it with EVAL once the server says it does not know it (after a
 * restart or SCRIPT FLUSH): one round trip in the usual case.
 */
export async function runScript(send: Send, s: Script, keys: string[], args: string[]): Promise<unknown> {
  const tail = [String(keys.length), ...keys, ...args];
  try {
    return await send(['EVALSHA', s.sha, ...tail]);
  } catch (err) {
    if (!/NOSCRIPT/.test(String((err as Error)?.message))) throw err;
    return send(['EVAL', s.source, ...tail]);
  }
}
