import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { refuseCrossSite, sessionCookie } from '../session/first-use.js';
import type { SessionRuntime } from '../session/runtime.js';
import { handshakeReader } from './reader.js';

/**
 * What the two WebSocket platforms keep of a socket's handshake, in this one place. socket.io keeps
 * the request on the socket (`socket.request`). ws does not: @nestjs/platform-ws hands it to
 * handleConnection only, so the upgrades of the application's HTTP server are recorded here by
 * their TCP connection, which the ws socket holds (`_socket`, a field ws has long kept). A socket whose
 * handshake is not found has no session, which fails closed (the guard refuses, @Session() throws).
 */
const upgrades = new WeakMap<object, IncomingMessage>();
/** The session runtime of each application's HTTP server, so a handshake finds its application's. */
const runtimes = new WeakMap<object, SessionRuntime>();

/**
 * Once at start-up, on the application's HTTP server. The WebSocket servers of the gateways are
 * attached by then; only if one listens for upgrades is a listener added, in front of it, since an
 * `upgrade` listener changes how Node treats upgrade requests, which an HTTP-only app must not see.
 */
export function watchHandshakes(server: unknown, rt: SessionRuntime): void {
  if (!server || typeof server !== 'object') return;
  runtimes.set(server, rt);
  const http = server as Server;
  if (typeof http.listenerCount !== 'function' || http.listenerCount('upgrade') === 0) return;
  http.prependListener('upgrade', (req: IncomingMessage, socket: Duplex) => {
    if (refusesHandshake(rt, req)) return void socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    upgrades.set(socket, req);
  });
}

/**
 * Cross-Site WebSocket Hijacking: a page of another site opening a socket that the browser gives
 * the user's cookie. Refused at the handshake by the cross-site rule for a POST, when the handshake
 * carries the session cookie; the socket is never opened, and the WebSocket servers behind this
 * listener find the connection ended.
 */
function refusesHandshake(rt: SessionRuntime, req: IncomingMessage): boolean {
  const io = { http: handshakeReader, req, res: undefined };
  if (!sessionCookie(io, rt.options.cookie.name).present) return false;
  try {
    refuseCrossSite(rt.options.csrf, io);
    return false;
  } catch {
    return true;
  }
}

/** The handshake request of a socket.io or ws socket, and the session runtime of its application. */
export function handshakeOf(client: unknown): { req: IncomingMessage; rt: SessionRuntime } | undefined {
  if (!client || typeof client !== 'object') return undefined;
  const c = client as { request?: IncomingMessage; _socket?: object };
  const req = isRequest(c.request) ? c.request : c._socket ? upgrades.get(c._socket) : undefined;
  // Node sets `server` on every connection a server accepts.
  const server = (req?.socket as { server?: object } | undefined)?.server;
  const rt = server ? runtimes.get(server) : undefined;
  return req && rt ? { req, rt } : undefined;
}

function isRequest(value: unknown): value is IncomingMessage {
  return !!value && typeof value === 'object' && typeof (value as IncomingMessage).headers === 'object';
}
