/**
 * How the Express adapter holds a response until the session is stored, over real HTTP on a real
 * Express application: a plain route, a mounted sub-application's, and a response whose write/end a
 * middleware replaced (as compression does) before the session was used.
 */
import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ExpressHttpAdapter } from '../src/http/express.adapter.js';

type Handler = (req: express.Request, res: express.Response) => void;

const adapter = new ExpressHttpAdapter();

type Shape = 'prototype' | 'mounted' | 'wrapped';

async function serve(handler: Handler, shape: Shape): Promise<{ url: string; close: () => Promise<void> }> {
  const app = express();
  adapter.install(app, { use: (_req, _res, next) => next() }, () => undefined);
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
  it('sends nothing until every beforeSend has settled, the latest first, then headers and body in order', async () => {
    const events: string[] = [];
    const srv = await serve((_req, res) => {
      adapter.holdResponse(res, async (status) => {
        events.push(`session ${status}`);
        await tick();
        res.setHeader('x-session', 'stored');
        events.push('session stored');
      });
      adapter.holdResponse(res, async () => {
        events.push('flush');
        await tick();
        events.push('flush done');
      });
      res.status(201);
      res.setHeader('content-type', 'text/plain');
      expect(res.write('a')).toBe(false);
      res.write('b');
      res.end('c');
      events.push('handler done');
    }, mount);
    try {
      const r = await fetch(srv.url);
      expect(r.status).toBe(201);
      expect(r.headers.get('x-session')).toBe('stored');
      expect(await r.text()).toBe('abc');
      expect(events).toEqual(['flush', 'handler done', 'flush done', 'session 201', 'session stored']);
    } finally {
      await srv.close();
    }
  });

  it('a rejected beforeSend answers 503 with no-store, and what the handler wrote is dropped', async () => {
    const seen: number[] = [];
    const srv = await serve((_req, res) => {
      adapter.holdResponse(res, (status) => {
        seen.push(status);
        return undefined;
      });
      adapter.holdResponse(res, () => Promise.reject(new Error('store down')));
      res.setHeader('x-app', '1');
      res.end('secret');
    }, mount);
    try {
      const r = await fetch(srv.url);
      expect(r.status).toBe(503);
      expect(r.headers.get('cache-control')).toBe('no-store');
      expect(r.headers.get('x-app')).toBeNull();
      expect(await r.json()).toEqual({ statusCode: 503, message: 'Session store unavailable', error: 'Service Unavailable' });
      // The session's own beforeSend, if it runs at all, sees the 503: nothing is stored after a failure.
      expect(seen.every((status) => status === 503)).toBe(true);
    } finally {
      await srv.close();
    }
  });

  it('a response that never held is sent as it is, and a held one lets the next request of the connection through', async () => {
    let n = 0;
    const srv = await serve((_req, res) => {
      if (n++ % 2 === 0) adapter.holdResponse(res, () => tick());
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
