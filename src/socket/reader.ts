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
  /**
   * X-Forwarded-Proto's first value when present, else the connection's own. Unlike an HTTP request's
   * (whose platform decides whether to trust the proxy), taken as sent: browsers send no Sec-Fetch-Site
   * on a WebSocket handshake, so behind a TLS-terminating proxy the Origin is all there is, and a page
   * cannot set this header on a WebSocket, so the scheme it names cannot admit another site's page.
   */
  scheme: (req) => {
    const forwarded = (req as IncomingMessage).headers['x-forwarded-proto'];
    if (typeof forwarded === 'string' && forwarded.trim() !== '') return forwarded.split(',')[0]!.trim().toLowerCase();
    return ((req as IncomingMessage).socket as TLSSocket | undefined)?.encrypted ? 'https' : 'http';
  },
  addSetCookie: () => {
    throw SessionOverSocketError.cannotSetCookie('changing a session kept in its cookie (CookieSessionStore)');
  },
  setHeader: () => undefined,
  addVary: () => undefined,
};
