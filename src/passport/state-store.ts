import { contextOf } from '../request/context.js';
import { SessionOptionsError } from '../errors.js';
import { addPending, takePending } from '../oauth/pending.js';

/** What passport-oauth2 tells a state store about the request (its `meta` argument). */
export interface OAuth2RequestMeta {
  authorizationURL: string;
  tokenURL: string;
  clientID: string;
  callbackURL?: string;
}

type StoreCallback = (err: Error | null, state?: string) => void;
type VerifyCallback = (err: Error | null, ok: boolean | string, info?: unknown) => void;

const clientOf = (meta: OAuth2RequestMeta | undefined) => `oauth2 ${meta?.authorizationURL ?? ''} ${meta?.clientID ?? ''}`;

function sessionOf(req: unknown) {
  const ctx = contextOf(req);
  if (!ctx) throw new SessionOptionsError('SessionStateStore found no session for this request: is SessionModule imported, and the strategy run by a guard on an HTTP route?');
  return ctx.session;
}

/**
 * The `store` of passport-oauth2 strategies (`new Strategy({ ..., store: new SessionStateStore(), pkce: true })`):
 * the authorization request's state (and PKCE verifier, and the `state` object given to
 * `authenticate`) kept in this module's session instead of express-session's `req.session`. At the
 * callback the state must be one this session issued for the same client, less than 10 minutes ago,
 * and it is removed as it is checked: a forged or replayed callback fails the strategy (a 401 through
 * `AuthGuard`). Loads nothing of passport: it is called by the strategy.
 */
export class SessionStateStore {
  /** passport-oauth2 calls the five-argument form (it counts the parameters): keep them all. */
  store(req: unknown, verifier: string | undefined, appState: unknown, meta: OAuth2RequestMeta, callback: StoreCallback): void {
    let session;
    try {
      session = sessionOf(req);
    } catch (err) {
      return callback(err as Error);
    }
    addPending(session, { client: clientOf(meta), verifier, appState: appState ?? undefined }).then(
      (pending) => callback(null, pending.state),
      (err: Error) => callback(err),
    );
  }

  /** The four-argument form, with `meta`, so that the client is checked too. */
  verify(req: unknown, providedState: unknown, meta: OAuth2RequestMeta, callback: VerifyCallback): void {
    let session;
    try {
      session = sessionOf(req);
    } catch (err) {
      return callback(err as Error, false);
    }
    takePending(session, providedState, clientOf(meta)).then(
      (pending) => {
        if (!pending) return callback(null, false, { message: 'Invalid authorization request state.' });
        // A string is the PKCE verifier to send with the code; true when the strategy uses no PKCE.
        callback(null, pending.verifier ?? true, pending.appState);
      },
      (err: Error) => callback(err, false),
    );
  }
}
