import type { IncomingMessage, ServerResponse } from 'node:http';
import { mergedVary, UNAVAILABLE_BODY, type HeldRequest, type RequestEntry, type PlatformAdapter } from './http.adapter.js';
import { RequestReader } from './request-reader.js';

type Send = (this: ServerResponse, ...args: unknown[]) => unknown;
type Call = [send: Send, args: unknown[]];

interface ExpressApp {
  handle(req: IncomingMessage, res: ServerResponse, done?: unknown): void;
  /** The prototype Express gives this application's responses; a mounted application's inherits from it. */
  response: { write: Send; end: Send };
}

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
  install(instance: unknown, entry: RequestEntry, find: (req: unknown) => HeldRequest | undefined): void {
    const app = instance as ExpressApp;
    const handle = app.handle;
    app.handle = function (this: unknown, req: IncomingMessage, res: ServerResponse, done?: unknown): void {
      entry.use(req, res, () => handle.call(this, req, res, done));
    };
    holdSends(app.response, find);
  }
}

/**
 * Headers leave with the first write() or end(), so both wait there for the request's `beforeSend`
 * (which answers once, at the first call): what the handler writes meanwhile is queued (write()
 * answers false, so a piped stream waits for 'drain') and replayed, in order, once it has settled; a
 * rejection is answered with 503. Taken over once, on the application's own response prototype, not
 * on each response: a property added to Express's response objects per request costs V8's slow path
 * (a map migration) on every request that uses its session, about 5% of a `GET /me` counted in
 * instructions. Mounted applications' responses inherit from this prototype; a middleware that
 * replaces write/end on a response (compression) calls these through the ones it kept.
 */
function holdSends(proto: ExpressApp['response'], find: (req: unknown) => HeldRequest | undefined): void {
  const write = proto.write;
  const end = proto.end;
  /** The calls of a response waiting for its beforeSend: a response that waits for nothing is never here. */
  const waiting = new WeakMap<ServerResponse, Call[]>();
  /** How many responses wait: while none does (almost always), a write or end skips the lookup. */
  let held = 0;

  const ask = (res: ServerResponse): Promise<void> | undefined => {
    try {
      return find(res.req)?.beforeSend(res.statusCode);
    } catch (err) {
      return Promise.reject(err);
    }
  };

  const settle = (res: ServerResponse, pending: Promise<void>, queue: Call[]) => {
    waiting.set(res, queue);
    held++;
    const done = () => {
      held--;
      waiting.delete(res);
    };
    pending.then(
      () => {
        done();
        for (const [send, args] of queue) send.apply(res, args);
        if (queue.some(([send]) => send === write)) res.emit('drain');
      },
      () => {
        done();
        if (res.headersSent) return void res.destroy();
        for (const name of res.getHeaderNames()) if (name !== 'vary') res.removeHeader(name);
        res.statusCode = 503;
        res.setHeader('content-type', 'application/json; charset=utf-8');
        res.setHeader('cache-control', 'no-store');
        end.call(res, UNAVAILABLE_BODY);
      },
    );
  };

  // `arguments` rather than rest parameters: every response of the application comes through here,
  // and passing them on as they are allocates nothing. `whileHeld` is what the call answers meanwhile.
  const takeOver = (send: Send, whileHeld: (res: ServerResponse) => unknown) =>
    function (this: ServerResponse) {
      const queue = held === 0 ? undefined : waiting.get(this);
      if (queue) {
        queue.push([send, Array.from(arguments)]);
        return whileHeld(this);
      }
      const pending = ask(this);
      if (!pending) return send.apply(this, arguments as unknown as unknown[]);
      settle(this, pending, [[send, Array.from(arguments)]]);
      return whileHeld(this);
    };
  proto.write = takeOver(write, () => false);
  proto.end = takeOver(end, (res) => res);
}
