import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SessionHttpAdapter } from './http.adapter.js';

/**
 * Express: its request and response are Node's own, extended. Also what Fastify's middleware layer
 * hands over (`request.raw`, `reply.raw`), so the Fastify adapter falls back to it there.
 */
export class ExpressHttpAdapter implements SessionHttpAdapter {
  header(req: unknown, name: string): string | string[] | undefined {
    return (req as IncomingMessage).headers[name];
  }

  method(req: unknown): string {
    return (req as IncomingMessage).method ?? 'GET';
  }

  addSetCookie(res: unknown, line: string): void {
    const r = res as ServerResponse;
    const prev = r.getHeader('set-cookie');
    r.setHeader('set-cookie', prev === undefined ? [line] : [...(Array.isArray(prev) ? prev : [String(prev)]), line]);
  }

  setHeader(res: unknown, name: string, value: string): void {
    (res as ServerResponse).setHeader(name, value);
  }

  addVary(res: unknown, field: string): void {
    const r = res as ServerResponse;
    const prev = r.getHeader('vary');
    if (prev === undefined) return void r.setHeader('vary', field);
    const text = Array.isArray(prev) ? prev.join(', ') : String(prev);
    const lower = field.toLowerCase();
    if (text.split(',').some((f) => f.trim() === '*' || f.trim().toLowerCase() === lower)) return;
    r.setHeader('vary', `${text}, ${field}`);
  }
}
