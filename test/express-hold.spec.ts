/**
 * How the Express adapter holds a response until the session is stored, over real HTTP on a real
 * Express application: a plain route, a mounted sub-application's, and a response whose write/end a
 * middleware replaced (as compression does) before the session was used. The adapter asks the
 * request's HeldRequest (here set by the handler through `hold`) at the response's first write or end.
 */
import express from 'express';
import { ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ExpressHttpAdapter } from '../src/http/express.adapter.js';
import type { HeldRequest } from '../src/http/http.adapter.js';

type Handler = (req: express.Request, res: express.Response) => void;

const adapter = new ExpressHttpAdapter();

type Shape = 'prototype' | 'mounted' | 'wrapped';

const held = new WeakMap<object, HeldRequest>();
/** What the request's context does: beforeSend answers once (RequestContext). */
function hold(req: object, beforeSend: (status: number) => Promise<void> | undefined): void {
  let sent = false;
  held.set(req, { beforeSend: (status) => (sent ? undefined : ((sent = true), beforeSend(status))) });
}

async function serve(handler: Handler, shape: Shape): Promise<{ url: string; close: () => Promise<void> }> {
  const app = express();
  adapter.install(app, { use: (_req, _res, next) => next() }, (req) => held.get(req as object));
  const mount = shape === 'mounted';
  if (mount) {
    const sub = express();
    sub.get('/', handler);
    app.use('/sub', sub);
  } else {
    if (shape === 'wrapped') {
      // What compression does: write and end replaced on the response, calling the ones they replaced.
      app.use((_req, res, next) => {
        const write = res.write;
        const end = res.end;
        res.write = function (this: unknown, ...args: unknown[]) {
          return (write as (...a: unknown[]) => boolean).apply(this, args);
        } as typeof res.write;
        res.end = function (this: unknown, ...args: unknown[]) {
          return (end as (...a: unknown[]) => unknown).apply(this, args);
        } as typeof res.end;
        next();
      });
    }
    app.get('/', handler);
  }
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}${mount ? '/sub' : '/'}`, close: () => new Promise((r) => server.close(() => r())) };
}

const tick = () => new Promise<void>((r) => setTimeout(r, 20));

describe.each([
  ['a route of the application', 'prototype'],
  ['a route of a mounted sub-application', 'mounted'],
  ['a response whose write and end a middleware replaced', 'wrapped'],
] as const)('Express hold on %s', (_name, mount) => {
  it('sends nothing until beforeSend has settled, asked once at the first write, then headers and body in order', async () => {
    const events: string[] = [];
    const own: string[] = [];
    const srv = await serve((req, res) => {
      hold(req, async (status) => {
        events.push(`session ${status}`);
        await tick();
        res.setHeader('x-session', 'stored');
        events.push('session stored');
      });
      res.status(201);
      res.setHeader('content-type', 'text/plain');
      expect(res.write('a')).toBe(false);
      res.write('b');
      res.end('c');
      events.push('handler done');
      // Held without a property of its own on the response (one would cost every such request V8's slow path).
      own.push(...['write', 'end'].filter((name) => Object.hasOwn(res, name)));
    }, mount);
    try {
      const r = await fetch(srv.url);
      expect(r.status).toBe(201);
      expect(r.headers.get('x-session')).toBe('stored');
      expect(await r.text()).toBe('abc');
      expect(events).toEqual(['session 201', 'handler done', 'session stored']);
      expect(own).toEqual(mount === 'wrapped' ? ['write', 'end'] : []);
    } finally {
      await srv.close();
    }
  });

  it('a rejected beforeSend answers 503 with no-store, and what the handler wrote is dropped', async () => {
    const seen: number[] = [];
    const srv = await serve((req, res) => {
      hold(req, (status) => {
        seen.push(status);
        return Promise.reject(new Error('store down'));
      });
      res.setHeader('x-app', '1');
      res.setHeader('vary', 'Cookie');
      res.end('secret');
    }, mount);
    try {
      const r = await fetch(srv.url);
      expect(r.status).toBe(503);
      expect(r.headers.get('cache-control')).toBe('no-store');
      expect(r.headers.get('x-app')).toBeNull();
      expect(r.headers.get('vary')).toBe('Cookie');
      expect(await r.json()).toEqual({ statusCode: 503, message: 'Session store unavailable', error: 'Service Unavailable' });
      // Asked once, with the handler's status: the 503 that replaced the response asks nothing more.
      expect(seen).toEqual([200]);
    } finally {
      await srv.close();
    }
  });

  it('a response that never held is sent as it is, and a held one lets the next request of the connection through', async () => {
    let n = 0;
    const srv = await serve((req, res) => {
      if (n++ % 2 === 0) hold(req, () => tick());
      res.json({ n });
    }, mount);
    try {
      for (let i = 1; i <= 4; i++) {
        const r = await fetch(srv.url);
        expect(await r.json()).toEqual({ n: i });
      }
    } finally {
      await srv.close();
    }
  });
});

describe('Express hold, beyond the application it was installed on', () => {
  it('headers sent by writeHead before the first write: beforeSend is still asked, once, and its failure closes the connection', async () => {
    const seen: number[] = [];
    const srv = await serve((req, res) => {
      hold(req, (status) => {
        seen.push(status);
        return Promise.reject(new Error('store down'));
      });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('a');
      res.end('b');
    }, 'prototype');
    try {
      // Too late for a 503: the connection is closed rather than sending a response whose session was not stored.
      await expect(fetch(srv.url).then((r) => r.text())).rejects.toThrow();
      expect(seen).toEqual([200]);
    } finally {
      await srv.close();
    }
  });

  it('leaves Express\'s shared response prototype, and so every other application, as it was', async () => {
    const srv = await serve((_req, res) => void res.end('x'), 'prototype');
    try {
      expect(express.response.write).toBe(ServerResponse.prototype.write);
      expect(express.response.end).toBe(ServerResponse.prototype.end);
      expect(express().response.end).toBe(ServerResponse.prototype.end);
    } finally {
      await srv.close();
    }
  });
});
