import type { IncomingMessage, ServerResponse } from 'node:http';
import { mergedVary, UNAVAILABLE_BODY, type HeldRequest, type RequestEntry, type PlatformAdapter } from './http.adapter.js';
import { RequestReader } from './request-reader.js';

type Call = [method: 'write' | 'end', args: unknown[]];

/** Express: its request and response are Node's own, extended. */
export class ExpressHttpAdapter extends RequestReader implements PlatformAdapter {
  /** Nest middleware is mounted after this module's, so it runs inside the request's context. */
  readonly middlewareSeesContext = true;

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
    const vary = mergedVary(r.getHeader('vary'), field);
    if (vary !== undefined) r.setHeader('vary', vary);
  }

  /**
   * In front of Express's router rather than as one of its layers: every layer costs every request
   * of the application on its way to a route (matching, the router's next(), its promise checks),
   * measurably more than the entry itself on a route that never uses the session. Express hands
   * each request to `app.handle`, so the entry runs first and then lets Express go on as before.
   */
  install(instance: unknown, entry: RequestEntry, _find: (req: unknown) => HeldRequest | undefined): void {
    const app = instance as { handle(req: IncomingMessage, res: ServerResponse, done?: unknown): void };
    const handle = app.handle;
    app.handle = function (this: unknown, req: IncomingMessage, res: ServerResponse, done?: unknown): void {
      entry.use(req, res, () => handle.call(this, req, res, done));
    };
  }

  /**
   * Headers leave with the first write() or end(), so both are held: the first of them starts
   * `beforeSend`, and what the handler writes meanwhile is queued (write() answers false, so a
   * piped stream waits for 'drain') and replayed, in order, once it has settled.
   */
  holdResponse(res: unknown, beforeSend: (status: number) => Promise<void> | undefined): void {
    const r = res as ServerResponse;
    if (r.headersSent) return;
    const write = r.write as (...args: unknown[]) => boolean;
    const end = r.end as (...args: unknown[]) => ServerResponse;
    const queue: Call[] = [];
    let started = false;
    const release = () => {
      r.write = write as typeof r.write;
      r.end = end as typeof r.end;
      for (const [method, args] of queue) {
        if (method === 'write') write.apply(r, args);
        else end.apply(r, args);
      }
      queue.length = 0;
      r.emit('drain');
    };
    const fail = () => {
      r.write = write as typeof r.write;
      r.end = end as typeof r.end;
      queue.length = 0;
      if (r.headersSent) return void r.destroy();
      for (const name of r.getHeaderNames()) if (name !== 'vary') r.removeHeader(name);
      r.statusCode = 503;
      r.setHeader('content-type', 'application/json; charset=utf-8');
      r.setHeader('cache-control', 'no-store');
      end.call(r, UNAVAILABLE_BODY);
    };
    const hold = (method: 'write' | 'end', args: unknown[]) => {
      queue.push([method, args]);
      if (started) return;
      started = true;
      const pending = beforeSend(r.statusCode);
      if (pending) pending.then(release, fail);
      else release();
    };
    r.write = function (...args: unknown[]) {
      hold('write', args);
      return (r.write as unknown) === write;
    } as typeof r.write;
    r.end = function (...args: unknown[]) {
      hold('end', args);
      return r;
    } as typeof r.end;
  }
}
