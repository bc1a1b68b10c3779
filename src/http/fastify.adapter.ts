import { UNAVAILABLE_BODY, type HeldRequest, type RequestEntry, type SessionHttpAdapter } from './http.adapter.js';
import { ExpressHttpAdapter } from './express.adapter.js';

interface ReplyLike {
  raw: unknown;
  statusCode: number;
  header(name: string, value: unknown): unknown;
  getHeader(name: string): unknown;
  code(status: number): unknown;
}

interface FastifyLike {
  addHook(name: 'onSend', hook: (request: unknown, reply: ReplyLike, payload: unknown) => Promise<unknown>): unknown;
  addHook(name: 'onRequest', hook: (request: object, reply: ReplyLike, done: () => void) => void): unknown;
}

const isReply = (res: unknown): res is ReplyLike =>
  typeof res === 'object' && res !== null && 'raw' in res && typeof (res as ReplyLike).header === 'function';

/**
 * Fastify: headers go through the reply, and the session is stored in an onSend hook, which Fastify
 * awaits before it writes anything. Before a guard or decorator has seen the reply (in middleware)
 * only Node's raw objects exist, so those fall back to the raw response.
 */
export class FastifyHttpAdapter implements SessionHttpAdapter {
  private readonly raw = new ExpressHttpAdapter();

  header(req: unknown, name: string): string | string[] | undefined {
    return (req as { headers: Record<string, string | string[] | undefined> }).headers[name];
  }

  method(req: unknown): string {
    return (req as { method?: string }).method ?? 'GET';
  }

  /** Fastify's request.protocol: the socket's, or X-Forwarded-Proto when the server's trustProxy trusts the peer. */
  scheme(req: unknown): string | undefined {
    const protocol = (req as { protocol?: unknown }).protocol;
    return typeof protocol === 'string' ? protocol : undefined;
  }

  addSetCookie(res: unknown, line: string): void {
    // Fastify appends each set-cookie value rather than replacing the previous one.
    if (isReply(res)) res.header('set-cookie', line);
    else this.raw.addSetCookie(res, line);
  }

  setHeader(res: unknown, name: string, value: string): void {
    if (isReply(res)) res.header(name, value);
    else this.raw.setHeader(res, name, value);
  }

  addVary(res: unknown, field: string): void {
    if (!isReply(res)) return this.raw.addVary(res, field);
    const prev = res.getHeader('vary');
    if (prev === undefined) return void res.header('vary', field);
    const text = Array.isArray(prev) ? prev.join(', ') : String(prev);
    if (text.split(',').some((f) => f.trim() === '*' || f.trim().toLowerCase() === field.toLowerCase())) return;
    res.header('vary', `${text}, ${field}`);
  }

  /** Nothing per request: the onSend hook installed at start-up does the holding. */
  holdResponse(): void {}

  install(instance: unknown, entry: RequestEntry, find: (req: unknown) => HeldRequest | undefined): void {
    const fastify = instance as FastifyLike;
    // A plain onRequest hook rather than Nest middleware, which Fastify runs through middie.
    // Fastify's own request (not request.raw): it is what guards and handlers get, and only it knows
    // the protocol under the server's trustProxy setting.
    fastify.addHook('onRequest', (request, reply, done) => entry.use(request, reply.raw as object, done));
    fastify.addHook('onSend', async (request, reply, payload) => {
      const found = find(request);
      if (!found) return payload;
      // From here on, headers are written through the reply.
      found.res = reply;
      const pending = found.beforeSend(reply.statusCode);
      if (!pending) return payload;
      try {
        await pending;
        return payload;
      } catch {
        reply.code(503);
        reply.header('content-type', 'application/json; charset=utf-8');
        reply.header('cache-control', 'no-store');
        return UNAVAILABLE_BODY;
      }
    });
  }
}
