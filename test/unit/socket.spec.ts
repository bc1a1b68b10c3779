import 'reflect-metadata';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
// Straight from the modules, not the package index (see session.lifecycle.spec.ts).
import { MemorySessionStore } from '../../src/stores/memory.store.js';
import { CookieSessionStore } from '../../src/stores/cookie.store.js';
import { guardContextOf, openMessage, socketContextOf } from '../../src/socket/context.js';
import { handshakeOf, watchHandshakes } from '../../src/socket/handshake.js';
import { ForbiddenException } from '@nestjs/common';
import { SessionOverSocketError, SessionStoreUnavailableError } from '../../src/errors.js';
import { asWsError } from '../../src/socket/ws-error.js';
import { handshakeReader } from '../../src/socket/reader.js';
import { harness, type AnyStore } from './support/harness.js';

/**
 * A WebSocket message's context: found by the guard, the interceptor and the parameter decorators of
 * one message (Nest gives the first two one arguments array, the decorators copies of it), never by
 * the next message, and over the socket's handshake: what needs a cookie is refused.
 */

/** An application's HTTP server as the handshake sees it; no one listens for upgrades here. */
function app<S extends AnyStore>(store: S) {
  const h = harness(store);
  const server = { listenerCount: () => 0 };
  watchHandshakes(server, h.rt);
  /** A socket.io-like client whose handshake carried `cookie`. */
  const client = (cookie?: string) => ({ request: { headers: { cookie }, socket: { server } } });
  return { h, client };
}

/** The arguments Nest gives a message's guard and interceptor: client, data, ack or event, pattern. */
const message = (client: object, data: unknown, third: unknown = undefined, pattern = 'event'): unknown[] => [client, data, third, pattern];
const ws = (args: unknown[]) => {
  const host = new ExecutionContextHost(args);
  host.setType('ws');
  return host;
};
/** What a parameter decorator gets: a copy of the arguments. */
const copy = (args: unknown[]) => ws([...args]);

describe('the context of one WebSocket message', () => {
  it('is shared by the guard and interceptor (one array) and, while the interceptor holds it, the decorators (a copy)', () => {
    const { client } = app(new MemorySessionStore());
    const socket = client();
    const args = message(socket, { text: 'hi' });
    const fromGuard = socketContextOf(ws(args));
    const held = openMessage(ws(args))!;
    expect(held.ctx).toBe(fromGuard);
    expect(socketContextOf(copy(args))).toBe(fromGuard);
    held.abandon();
    // Let go: a decorator of another message alike finds nothing of it.
    expect(socketContextOf(copy(args))).not.toBe(fromGuard);
  });

  it('tells messages apart by payload object, then acknowledgement, then event and value', () => {
    const { client } = app(new MemorySessionStore());
    const socket = client();
    const holds = [
      openMessage(ws(message(socket, { n: 1 })))!,
      openMessage(ws(message(socket, { n: 1 })))!,
      openMessage(ws(message(socket, 'same', () => undefined)))!,
      openMessage(ws(message(socket, 'same', () => undefined)))!,
      openMessage(ws(message(socket, 'same', undefined, 'a')))!,
      openMessage(ws(message(socket, 'same', undefined, 'b')))!,
      openMessage(ws(message(socket, 1, undefined, 'a')))!,
      openMessage(ws(message(socket, '1', undefined, 'a')))!,
    ];
    expect(new Set(holds.map((h) => h.ctx)).size).toBe(holds.length);
    // The same values on another socket are another message.
    const other = openMessage(ws(message(client(), 'same', undefined, 'a')))!;
    expect(holds.map((h) => h.ctx)).not.toContain(other.ctx);
  });

  it('a message after the last one is done gets a new context: it reads the session again', async () => {
    const { h, client } = app(new MemorySessionStore());
    const { cookie } = await h.seed({ userId: 'ann' });
    const socket = client(cookie);
    const first = openMessage(ws(message(socket, undefined, 'whoami')))!;
    expect(await first.ctx.session.getUserId()).toBe('ann');
    await first.done();
    const second = openMessage(ws(message(socket, undefined, 'whoami')))!;
    expect(second.ctx).not.toBe(first.ctx);
  });

  it('two messages alike at once share one context, stored once, when the last is done; the first waits for it', async () => {
    const { h, client } = app(new MemorySessionStore());
    const { cookie, id } = await h.seed({ userId: 'ann', data: {} });
    const socket = client(cookie);
    const a = openMessage(ws(message(socket, 'x', undefined, 'p')))!;
    const b = openMessage(ws(message(socket, 'x', undefined, 'p')))!;
    expect(b.ctx).toBe(a.ctx);
    await a.ctx.session.set('a', 1);
    let aDone = false;
    const waiting = a.done().then(() => (aDone = true));
    await b.ctx.session.set('b', 2);
    await new Promise((r) => setImmediate(r));
    expect(aDone).toBe(false);
    await b.done();
    await waiting;
    expect((await h.store.load(id))?.data).toEqual({ a: 1, b: 2 });
  });

  it('a message alike that arrives once the running one has read its session reads it again: its guard, interceptor and decorators', async () => {
    const { h, client } = app(new MemorySessionStore());
    const { cookie, id } = await h.seed({ userId: 'ann' });
    const socket = client(cookie);
    const first = message(socket, undefined, 'slow');
    expect(guardContextOf(ws(first))).toBe(socketContextOf(ws(first)));
    const running = openMessage(ws(first))!;
    expect(await running.ctx.session.getUserId()).toBe('ann');
    // Ended meanwhile (another device's logout).
    await h.store.destroy(id);
    const next = message(socket, undefined, 'slow');
    const guarded = guardContextOf(ws(next))!;
    expect(guarded).not.toBe(running.ctx);
    await expect(guarded.session.getUserId()).rejects.toThrow('Unauthorized');
    const held = openMessage(ws(next))!;
    expect(held.ctx).toBe(guarded);
    expect(socketContextOf(copy(next))).toBe(guarded);
    held.abandon();
    await running.done();
  });

  it("a change after the message's context was stored is refused, not lost", async () => {
    const { h, client } = app(new MemorySessionStore());
    const { cookie } = await h.seed({ userId: 'ann' });
    const held = openMessage(ws(message(client(cookie), { n: 1 })))!;
    await held.ctx.session.set('a', 1);
    await held.done();
    await expect(held.ctx.session.set('b', 2)).rejects.toThrow('were stored already');
  });

  it('a failed message alone stores nothing; shared with one that did well, the changes are stored', async () => {
    const { h, client } = app(new MemorySessionStore());
    const { cookie, id } = await h.seed({ userId: 'ann', data: {} });
    const socket = client(cookie);
    const failed = openMessage(ws(message(socket, { n: 1 })))!;
    await failed.ctx.session.set('lost', true);
    failed.abandon();
    expect((await h.store.load(id))?.data).toEqual({});
    const good = openMessage(ws(message(socket, 'y')))!;
    const bad = openMessage(ws(message(socket, 'y')))!;
    await good.ctx.session.set('kept', true);
    const stored = good.done();
    bad.abandon();
    await stored;
    expect((await h.store.load(id))?.data).toEqual({ kept: true });
  });

  it('no handshake, no context: a client the platform does not describe, or a server without the module', () => {
    const { client } = app(new MemorySessionStore());
    expect(socketContextOf(ws(message({}, 'x')))).toBeUndefined();
    expect(socketContextOf(ws(message({ request: { headers: {}, socket: { server: {} } } }, 'x')))).toBeUndefined();
    expect(socketContextOf(ws(['not an object', 'x']))).toBeUndefined();
    expect(openMessage(ws(message({}, 'x')))).toBeUndefined();
    expect(handshakeOf(client())?.req.headers).toEqual({ cookie: undefined });
  });
});

describe('a session over a socket', () => {
  it.each(['login', 'regenerate', 'logout'] as const)('%s() rejects, saying to do it over HTTP, and nothing is ended or written', async (method) => {
    const { h, client } = app(new MemorySessionStore());
    const { cookie, id } = await h.seed({ userId: 'ann' });
    const held = openMessage(ws(message(client(cookie), { n: 1 })))!;
    const call = method === 'login' ? held.ctx.session.login('bob') : held.ctx.session[method]();
    await expect(call).rejects.toThrow(SessionOverSocketError);
    await expect(call).rejects.toThrow(`${method}() cannot set the session cookie over a WebSocket`);
    await held.done();
    expect((await h.store.load(id))?.userId).toBe('ann');
  });

  it('a session ended since the handshake is refused, at every use, and never written back', async () => {
    const { h, client } = app(new MemorySessionStore());
    const { cookie, id } = await h.seed({ userId: 'ann' });
    await h.store.destroy(id);
    const held = openMessage(ws(message(client(cookie), { n: 1 })))!;
    await expect(held.ctx.session.getUserId()).rejects.toThrow('Unauthorized');
    await expect(held.ctx.session.set('a', 1)).rejects.toThrow('Unauthorized');
    await expect(held.done()).rejects.toThrow('Unauthorized');
    expect(await h.store.load(id)).toBeNull();
    expect(h.store.calls.map(([name]) => name)).not.toContain('create');
  });

  it('a socket without a session cannot start one: the store is not written', async () => {
    const { h, client } = app(new MemorySessionStore());
    const held = openMessage(ws(message(client(), { n: 1 })))!;
    await held.ctx.session.set('a', 1);
    await expect(held.done()).rejects.toThrow('starting a session cannot set the session cookie over a WebSocket');
    expect(h.store.calls.filter(([name]) => name === 'create')).toEqual([]);
  });

  it('a read does not touch the session, though a touch is due (no write per message); destroy() ends it', async () => {
    const { h, client } = app(new MemorySessionStore());
    const { cookie, id } = await h.seed({ userId: 'ann', lastSeenAt: Date.now() - 120_000 });
    const read = openMessage(ws(message(client(cookie), { n: 1 })))!;
    expect(await read.ctx.session.getUserId()).toBe('ann');
    await read.done();
    expect(h.store.calls.map(([name]) => name)).not.toContain('update');
    const end = openMessage(ws(message(client(cookie), { n: 2 })))!;
    await end.ctx.session.destroy();
    await end.done();
    expect(await h.store.load(id)).toBeNull();
  });

  it('a change not held by SessionInterceptor is refused, with the way out', async () => {
    const { h, client } = app(new MemorySessionStore());
    const { cookie } = await h.seed({ userId: 'ann' });
    const ctx = socketContextOf(ws(message(client(cookie), { n: 1 })))!;
    await expect(ctx.session.set('a', 1)).rejects.toThrow('@UseInterceptors(SessionInterceptor)');
    await expect(ctx.session.delete('a')).rejects.toThrow('@UseInterceptors(SessionInterceptor)');
    await expect(ctx.session.clear()).rejects.toThrow('@UseInterceptors(SessionInterceptor)');
    expect(await ctx.session.getUserId()).toBe('ann');
  });

  it('a session kept in its cookie can be read, not changed: its change would be a new cookie', async () => {
    const { h, client } = app(new CookieSessionStore({ keys: ['k'.repeat(32)] }));
    const http = h.request();
    await http.session.login('ann');
    await http.send();
    const cookie = http.nextCookie()!;
    const held = openMessage(ws(message(client(cookie), { n: 1 })))!;
    expect(await held.ctx.session.getUserId()).toBe('ann');
    await held.ctx.session.set('a', 1);
    await expect(held.done()).rejects.toThrow('changing a session kept in its cookie (CookieSessionStore)');
  });
});

describe('what a socket client is told', () => {
  it("turns the module's refusals into WsExceptions with their message; the application's errors pass unchanged", async () => {
    const { WsException } = await import('@nestjs/websockets');
    const told = async (err: unknown) => {
      const e = await asWsError(err);
      return e instanceof WsException ? e.getError() : e;
    };
    expect(await told(new SessionStoreUnavailableError('load'))).toBe('Session store unavailable');
    expect(await told(new ForbiddenException('Cross-site request refused'))).toBe('Cross-site request refused');
    expect(await told(SessionOverSocketError.ended())).toBe('Unauthorized');
    const own = [new ForbiddenException('Not your room'), new Error('boom'), new WsException('mine'), 'text'];
    for (const err of own) expect(await asWsError(err)).toBe(err);
  });

  it("the handshake's scheme: X-Forwarded-Proto's first value, else the connection's", () => {
    const req = (headers: Record<string, string>, encrypted?: boolean) => ({ headers, socket: { encrypted } });
    expect(handshakeReader.scheme(req({ 'x-forwarded-proto': 'HTTPS, http' }))).toBe('https');
    expect(handshakeReader.scheme(req({ 'x-forwarded-proto': ' ' }, true))).toBe('https');
    expect(handshakeReader.scheme(req({}, true))).toBe('https');
    expect(handshakeReader.scheme(req({}))).toBe('http');
    // Every message is judged like a POST by the cross-site rule.
    expect(handshakeReader.method(req({}))).toBe('WEBSOCKET');
  });
});
