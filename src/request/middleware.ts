import type { SessionRuntime } from '../session/runtime.js';
import { attachContext, RequestContext, requestContextStorage } from './context.js';
import type { RequestEntry, SessionHttpAdapter } from '../http/http.adapter.js';

/**
 * Runs in front of every request (the platform's adapter installs it): opens the request's context,
 * for the session handle and CurrentSession. Nothing else: no header is read here. The cross-site
 * rule is judged at the session's first use (LazySession), so a request that never uses the
 * session, GET or webhook POST, pays nothing for it.
 */
export class SessionMiddleware implements RequestEntry {
  constructor(private readonly rt: SessionRuntime, private readonly http: SessionHttpAdapter) {}

  use(req: object, res: object, next: () => void): void {
    const ctx = new RequestContext(this.rt, this.http, req, res);
    attachContext(req, ctx);
    if (this.rt.tracksRequests) requestContextStorage.run(ctx, next);
    else next();
  }
}
