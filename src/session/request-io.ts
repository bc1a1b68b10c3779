import type { SessionHttpAdapter } from '../http/http.adapter.js';

/**
 * The one request a session belongs to, as the session sees it: the platform's request and response
 * and the adapter that reads and writes them. The session needs nothing more of the request layer,
 * which is what keeps the arrow from request/ to session/ one way.
 */
export interface SessionRequestIO {
  readonly req: unknown;
  readonly res: unknown;
  readonly http: SessionHttpAdapter;
  /**
   * A WebSocket message over the socket's handshake request: there is no response to set a cookie
   * on, so what needs one is refused, and a session ended since the handshake is not used. Its
   * changes are stored only where SessionInterceptor holds the message (`storesChanges`); elsewhere
   * a change is refused rather than lost.
   */
  readonly overSocket?: { readonly storesChanges: boolean };
}
