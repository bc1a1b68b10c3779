import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { SessionHttpAdapter } from '../http/http.adapter.js';
import { SessionOverSocketError } from '../errors.js';

/**
 * The session's view of a WebSocket message: the headers of the socket's handshake, and no response.
 * Vary, Cache-Control and holding the response mean nothing here (SessionInterceptor stores the
 * changes); a cookie cannot be sent, which LazySession refuses before it gets here except for a
 * session kept in its cookie, whose every change is a new cookie.
 */
export const handshakeReader: SessionHttpAdapter = {
  header: (req, name) => (req as IncomingMessage).headers[name],
  /**
   * Not the handshake's GET: a message can change state like a POST, so the cross-site rule
   * (CSWSH) applies to the sockets that a browser opened from another site.
   */
  method: () => 'WEBSOCKET',
  /** The connection's own: behind a TLS-terminating proxy, list the public origin in csrf.allowedOrigins. */
  scheme: (req) => ((req as IncomingMessage).socket as TLSSocket | undefined)?.encrypted ? 'https' : 'http',
  addSetCookie: () => {
    throw SessionOverSocketError.cannotSetCookie('changing a session kept in its cookie (CookieSessionStore)');
  },
  setHeader: () => undefined,
  addVary: () => undefined,
  holdResponse: () => undefined,
};
