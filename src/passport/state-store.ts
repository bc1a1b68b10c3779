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

// `any` where @types/passport-oauth2 has it, so that the store is assignable to its StateStore.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type StoreCallback = (err: Error | null, state: any) => void;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type VerifyCallback = (err: Error | null, ok: boolean, state: any) => void;

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
  /**
   * passport-oauth2 picks the form by counting parameters, and this implementation has five: it is
   * always called with the verifier and meta. The shorter overloads are there for the types
   * (@types/passport-oauth2's StateStore), so that `store: new SessionStateStore()` compiles.
   */
  store(req: unknown, callback: StoreCallback): void;
  store(req: unknown, meta: OAuth2RequestMeta, callback: StoreCallback): void;
  store(req: unknown, verifier: string | undefined, appState: unknown, meta: OAuth2RequestMeta, callback: StoreCallback): void;
  store(req: unknown, verifier: unknown, appState?: unknown, meta?: unknown, callback?: StoreCallback): void {
    if (typeof callback !== 'function') throw new TypeError('SessionStateStore.store is called by passport-oauth2 with (req, verifier, state, meta, callback)');
    let session;
    try {
      session = sessionOf(req);
    } catch (err) {
      return callback(err as Error, undefined);
    }
    const v = typeof verifier === 'string' ? verifier : undefined;
    addPending(session, { client: clientOf(meta as OAuth2RequestMeta), verifier: v, appState: appState ?? undefined }).then(
      (pending) => callback(null, pending.state),
      (err: Error) => callback(err, undefined),
    );
  }

  /** Four parameters, so that passport-oauth2 passes `meta` and the client is checked too; overloads as for store(). */
  verify(req: unknown, providedState: string, callback: VerifyCallback): void;
  verify(req: unknown, providedState: string, meta: OAuth2RequestMeta, callback: VerifyCallback): void;
  verify(req: unknown, providedState: unknown, meta: unknown, callback?: VerifyCallback): void {
    if (typeof callback !== 'function') throw new TypeError('SessionStateStore.verify is called by passport-oauth2 with (req, state, meta, callback)');
    let session;
    try {
      session = sessionOf(req);
    } catch (err) {
      return callback(err as Error, false, undefined);
    }
    takePending(session, providedState, clientOf(meta as OAuth2RequestMeta)).then(
      (pending) => {
        if (!pending) return callback(null, false, { message: 'Invalid authorization request state.' });
        // A string is the PKCE verifier to send with the code; true when the strategy uses no PKCE.
        callback(null, (pending.verifier ?? true) as boolean, pending.appState);
      },
      (err: Error) => callback(err, false, undefined),
    );
  }
}
