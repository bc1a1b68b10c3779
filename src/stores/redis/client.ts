import { SessionOptionsError } from '../../errors.js';
import type { Script } from './scripts.js';

/**
 * Commands to Redis, over whichever client the application gave: ioredis (Redis or Cluster) or
 * node-redis (createClient or createCluster), told apart by shape so that neither package is
 * imported at run time. A cluster client routes each command by its first key.
 */
export interface RedisConn {
  send(args: string[]): Promise<unknown>;
  /** The command, then WAIT on the same connection (the node that ran it): its reply and how many replicas acknowledged. */
  sendAndWait(args: string[], replicas: number, timeout: number): Promise<[unknown, number]>;
  /** ioredis' keyPrefix, which the client puts before every key. */
  keyPrefix: string;
  /** A cluster client: a script may only touch one slot. On one server, one script may touch any key. */
  cluster: boolean;
}

/** The key a command is routed by: KEYS[1] of a script, else its first argument. */
const firstKey = (args: string[]): string => (/^EVAL(SHA)?$/i.test(args[0]) ? args[3] : args[1]);

type Call = (...args: string[]) => Promise<unknown>;
type Pipeline = (commands: string[][]) => { exec(): Promise<[Error | null, unknown][] | null> };

function ioredis(c: Record<string, unknown> & { options?: { keyPrefix?: unknown } }): RedisConn {
  const call = c.call as Call;
  const pipeline = c.pipeline as Pipeline;
  return {
    send: (args) => call.apply(c, args),
    // A pipeline goes to one node, the one of its keys: WAIT then waits for that node's replicas.
    async sendAndWait(args, replicas, timeout) {
      const results = (await pipeline.call(c, [[args[0].toLowerCase(), ...args.slice(1)], ['wait', String(replicas), String(timeout)]]).exec()) ?? [];
      const [[err, reply] = [new Error('no reply')], [waitErr, acked] = [new Error('no reply to WAIT')]] = results;
      if (err) throw err;
      if (waitErr) throw waitErr;
      return [reply, Number(acked)];
    },
    keyPrefix: typeof c.options?.keyPrefix === 'string' ? c.options.keyPrefix : '',
    cluster: c.isCluster === true,
  };
}

function nodeRedis(c: Record<string, unknown>): RedisConn {
  const sendCommand = c.sendCommand as (args: string[]) => Promise<unknown>;
  const send = (args: string[]) => sendCommand.call(c, args);
  return {
    send,
    // One connection, commands in order: WAIT follows the write.
    async sendAndWait(args, replicas, timeout) {
      const [reply, acked] = await Promise.all([send(args), send(['WAIT', String(replicas), String(timeout)])]);
      return [reply, Number(acked)];
    },
    keyPrefix: '',
    cluster: false,
  };
}

function nodeRedisCluster(c: Record<string, unknown>): RedisConn {
  const sendCommand = c.sendCommand as (key: string, readonly: boolean, args: string[]) => Promise<unknown>;
  // Reads go to masters too: a replica may lag behind a write the same client just made.
  const send = (args: string[]) => sendCommand.call(c, firstKey(args), false, args);
  return {
    send,
    // Routed by the same key, WAIT reaches the master that ran the write, on the same connection.
    async sendAndWait(args, replicas, timeout) {
      const key = firstKey(args);
      const [reply, acked] = await Promise.all([send(args), sendCommand.call(c, key, false, ['WAIT', String(replicas), String(timeout)])]);
      return [reply, Number(acked)];
    },
    keyPrefix: '',
    cluster: true,
  };
}

export function connect(client: unknown): RedisConn {
  const c = client as Record<string, unknown> & { options?: { keyPrefix?: unknown } };
  if (c && typeof c.call === 'function' && typeof c.defineCommand === 'function' && typeof c.pipeline === 'function') return ioredis(c);
  if (c && typeof c.sendCommand === 'function' && typeof c.connect === 'function') {
    return typeof c.getSlotRandomNode === 'function' || 'masters' in c ? nodeRedisCluster(c) : nodeRedis(c);
  }
  throw new SessionOptionsError('nestjs-lazy-session: RedisSessionStore needs an ioredis client (new Redis(...) or new Cluster(...)) or a node-redis client (createClient or createCluster)');
}

/** Thrown when a write was applied but no replica acknowledged it in time (the `waitForReplica` option). */
export class ReplicaWaitError extends Error {
  constructor(
    timeout: number,
    /** What the master answered: the write was applied there, only not acknowledged by a replica. */
    readonly reply: unknown,
  ) {
    super(`no replica acknowledged the write within ${timeout} ms`);
    this.name = 'ReplicaWaitError';
  }
}

/**
 * Runs a script by its SHA, loading it with EVAL once the server says it does not know it (after a
 * restart, a failover or SCRIPT FLUSH): one round trip in the usual case. With `wait` (a timeout),
 * the write is followed by WAIT 1 on the same node, and fails unless a replica acknowledged it.
 */
export async function runScript(conn: RedisConn, s: Script, keys: string[], args: string[], wait?: number): Promise<unknown> {
  const tail = [String(keys.length), ...keys, ...args];
  const run = async (command: string[]) => {
    if (wait === undefined) return conn.send(command);
    const [reply, acked] = await conn.sendAndWait(command, 1, wait);
    if (acked < 1) throw new ReplicaWaitError(wait, reply);
    return reply;
  };
  try {
    return await run(['EVALSHA', s.sha, ...tail]);
  } catch (err) {
    if (!/NOSCRIPT/.test(String((err as Error)?.message))) throw err;
    return run(['EVAL', s.source, ...tail]);
  }
}
