import type { SessionHttpAdapter } from './http.adapter.js';
import { ExpressHttpAdapter } from './express.adapter.js';

interface ReplyLike {
  raw: unknown;
  header(name: string, value: unknown): unknown;
  getHeader(name: string): unknown;
}

const isReply = (res: unknown): res is ReplyLike =>
  typeof res === 'object' && res !== null && 'raw' in res && typeof (res as ReplyLike).header === 'function';

/**
 * Fastify: headers go through the reply, so they survive Fastify's own header handling. Before a
 * guard or interceptor has seen the reply (in middleware) only Node's raw objects exist.
 */
export class FastifyHttpAdapter implements SessionHttpAdapter {
  private readonly raw = new ExpressHttpAdapter();

  header(req: unknown, name: string): string | string[] | undefined {
    return (req as { headers: Record<string, string | string[] | undefined> }).headers[name];
  }

  method(req: unknown): string {
    return (req as { method?: string }).method ?? 'GET';
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
}
