import { mergedVary, UNAVAILABLE_BODY, type HeldRequest, type PlatformAdapter, type RequestEntry } from './http.adapter.js';
import { RequestReader } from './request-reader.js';

interface ReplyLike {
  statusCode: number;
  header(name: string, value: unknown): unknown;
  getHeader(name: string): unknown;
  code(status: number): unknown;
}

interface FastifyLike {
  addHook(name: 'onSend', hook: (request: unknown, reply: ReplyLike, payload: unknown, done: (err: null, payload: unknown) => void) => void): unknown;
  addHook(name: 'onRequest', hook: (request: object, reply: ReplyLike & object, done: () => void) => void): unknown;
}

/**
 * Fastify: the context holds Fastify's request and reply from its onRequest hook on, the very objects
 * guards and handlers get, so headers always go through the reply; the session is stored in an onSend
 * hook, which Fastify awaits before it writes anything.
 */
export class FastifyHttpAdapter extends RequestReader implements PlatformAdapter {
  /** Nest runs middleware through middie, whose hook Fastify registered before this module's. */
  readonly middlewareSeesContext = false;

  addSetCookie(res: unknown, line: string): void {
    // Fastify appends each set-cookie value rather than replacing the previous one.
    (res as ReplyLike).header('set-cookie', line);
  }

  setHeader(res: unknown, name: string, value: string): void {
    (res as ReplyLike).header(name, value);
  }

  addVary(res: unknown, field: string): void {
    const reply = res as ReplyLike;
    const vary = mergedVary(reply.getHeader('vary'), field);
    if (vary !== undefined) reply.header('vary', vary);
  }

  install(instance: unknown, entry: RequestEntry, find: (req: unknown) => HeldRequest | undefined): void {
    const fastify = instance as FastifyLike;
    // A plain onRequest hook rather than Nest middleware, which Fastify runs through middie.
    // Fastify's own request and reply (not their `raw`): they are what guards and handlers get, and
    // only the request knows the protocol under the server's trustProxy setting.
    fastify.addHook('onRequest', (request, reply, done) => entry.use(request, reply, done));
    // Callback style, not async: a request whose session was never used then costs no promise.
    fastify.addHook('onSend', (request, reply, payload, done) => {
      let pending: Promise<void> | undefined;
      try {
        pending = find(request)?.beforeSend(reply.statusCode);
      } catch (err) {
        pending = Promise.reject(err);
      }
      if (!pending) return done(null, payload);
      pending.then(
        () => done(null, payload),
        () => {
          reply.code(503);
          reply.header('content-type', 'application/json; charset=utf-8');
          reply.header('cache-control', 'no-store');
          done(null, UNAVAILABLE_BODY);
        },
      );
    });
  }
}
