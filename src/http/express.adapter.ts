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
   *
   * The response is held through write() and end() of the application's response prototype, patched
   * once here, rather than through own properties set on each response that uses its session: two
   * closures assigned to a Node response gave every such response a shape of its own, and Node's
   * own writeHead/setHeader/end then ran slower on it (measured: bench/RESULTS.md).
   */
  install(instance: unknown, entry: RequestEntry, _find: (req: unknown) => HeldRequest | undefined): void {
    const app = instance as { handle(req: IncomingMessage, res: ServerResponse, done?: unknown): void; response?: object };
    const handle = app.handle;
    app.handle = function (this: unknown, req: IncomingMessage, res: ServerResponse, done?: unknown): void {
      entry.use(req, res, () => handle.call(this, req, res, done));
    };
    if (app.response) patchPrototype(app.response as ServerResponse);
  }

  /**
   * Headers leave with the first write() or end(), so both are held: the first of them starts the
   * `beforeSend`s (the latest first, each after the one before it settled), and what the handler
   * writes meanwhile is queued (write() answers false, so a piped stream waits for 'drain') and
   * replayed, in order, once they have settled.
   */
  holdResponse(res: unknown, beforeSend: (status: number) => Promise<void> | undefined): void {
    const r = res as HeldResponse;
    if (r.headersSent) return;
    const hold = r[HOLD];
    if (hold !== undefined && !hold.done) return void hold.waits.push(beforeSend);
    if (r.write === heldWrite && r.end === heldEnd) r[HOLD] = new Hold(r, beforeSend, original(r));
    else r[HOLD] = holdOwn(r, beforeSend);
  }
}

const HOLD = Symbol('nestjs-lazy-session.hold');

type HeldResponse = ServerResponse & { [HOLD]?: Hold };

const ORIGINALS = Symbol('nestjs-lazy-session.originals');

type Originals = { write: (...args: unknown[]) => boolean; end: (...args: unknown[]) => ServerResponse };

/**
 * write and end as they were before patchPrototype, kept on the patched prototype itself: a mounted
 * sub-application's response prototype inherits from its parent's, so it finds them too.
 */
function original(r: ServerResponse): Originals {
  return (r as ServerResponse & { [ORIGINALS]: Originals })[ORIGINALS];
}

const heldWrite = function (this: HeldResponse) {
  const hold = this[HOLD];
  // eslint-disable-next-line prefer-rest-params
  if (hold === undefined || hold.done) return original(this).write.apply(this, arguments as unknown as unknown[]);
  // eslint-disable-next-line prefer-rest-params
  hold.call('write', Array.prototype.slice.call(arguments));
  return false;
} as ServerResponse['write'];

const heldEnd = function (this: HeldResponse) {
  const hold = this[HOLD];
  // eslint-disable-next-line prefer-rest-params
  if (hold === undefined || hold.done) return original(this).end.apply(this, arguments as unknown as unknown[]);
  // eslint-disable-next-line prefer-rest-params
  hold.call('end', Array.prototype.slice.call(arguments));
  return this;
} as ServerResponse['end'];

function patchPrototype(proto: ServerResponse): void {
  if (proto.write === heldWrite) return;
  Object.defineProperty(proto, ORIGINALS, { value: { write: proto.write, end: proto.end } });
  proto.write = heldWrite;
  proto.end = heldEnd;
}

/** One response's hold: what waits before it is sent, and what it wrote meanwhile. */
class Hold {
  readonly waits: Array<(status: number) => Promise<void> | undefined>;
  private readonly queue: Call[] = [];
  private started = false;
  done = false;

  /** `to`: where the held calls go once released; `undo`, run first when it ends either way. */
  constructor(
    private readonly r: HeldResponse,
    first: (status: number) => Promise<void> | undefined,
    private readonly to: Originals,
    private readonly undo?: () => void,
  ) {
    this.waits = [first];
  }

  call(method: 'write' | 'end', args: unknown[]): void {
    this.queue.push([method, args]);
    if (this.started) return;
    this.started = true;
    this.next();
  }

  /** The latest beforeSend first, as nested holds would run: each one's wait settles before the next starts. */
  private next(): void {
    for (;;) {
      const wait = this.waits.pop();
      if (wait === undefined) return this.release();
      const pending = wait(this.r.statusCode);
      if (pending) return void pending.then(() => this.next(), () => this.fail());
    }
  }

  private release(): void {
    this.done = true;
    this.undo?.();
    const { write, end } = this.to;
    for (const [method, args] of this.queue) {
      if (method === 'write') write.apply(this.r, args);
      else end.apply(this.r, args);
    }
    this.queue.length = 0;
    this.r.emit('drain');
  }

  private fail(): void {
    this.done = true;
    this.undo?.();
    this.queue.length = 0;
    answerUnavailable(this.r, this.to.end);
  }
}

function answerUnavailable(r: ServerResponse, end: (...args: unknown[]) => ServerResponse): void {
  if (r.headersSent) return void r.destroy();
  for (const name of r.getHeaderNames()) if (name !== 'vary') r.removeHeader(name);
  r.statusCode = 503;
  r.setHeader('content-type', 'application/json; charset=utf-8');
  r.setHeader('cache-control', 'no-store');
  end.call(r, UNAVAILABLE_BODY);
}

/**
 * A response whose write/end are not the patched prototype's (a middleware replaced them on the
 * response, as compression does): held through own properties, put back when the hold ends.
 */
function holdOwn(r: HeldResponse, beforeSend: (status: number) => Promise<void> | undefined): Hold {
  const to: Originals = { write: r.write as Originals['write'], end: r.end as Originals['end'] };
  const hold = new Hold(r, beforeSend, to, () => {
    r.write = to.write as typeof r.write;
    r.end = to.end as typeof r.end;
  });
  r.write = function (...args: unknown[]) {
    hold.call('write', args);
    return false;
  } as typeof r.write;
  r.end = function (...args: unknown[]) {
    hold.call('end', args);
    return r;
  } as typeof r.end;
  return hold;
}
