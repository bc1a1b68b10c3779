import { ForbiddenException } from '@nestjs/common';
import type { SessionHandle } from '../session/handle.js';
import { addPending, randomValue, s256, takePending } from './pending.js';

/** The parameters of an authorization request, named as the authorization endpoint (and openid-client's buildAuthorizationUrl) takes them. */
export interface AuthorizationRequestParameters {
  state: string;
  nonce: string;
  code_challenge: string;
  code_challenge_method: 'S256';
}

/** What the token exchange must check, named as openid-client's `authorizationCodeGrant` takes them. */
export interface AuthorizationCallbackChecks {
  expectedState: string;
  expectedNonce: string;
  pkceCodeVerifier: string;
}

export interface AuthorizationOptions {
  /**
   * Which provider (or client) the request is for, when an application has several: a callback is
   * accepted only for a request made for the same one. Default '' (one provider).
   */
  provider?: string;
}

const BRAND = Symbol.for('nestjs-lazy-session.error');

/**
 * A callback that does not answer an authorization request of this session: a wrong, forged,
 * replayed or expired `state`, or none. 403: nothing of it is used, and nobody is logged in.
 */
export class AuthorizationStateError extends ForbiddenException {
  readonly [BRAND] = true;
  constructor() {
    super('Authorization response refused: its state does not match a sign-in started in this session');
  }
}

const clientOf = (options: AuthorizationOptions) => `oidc ${options.provider ?? ''}`;

/**
 * Starts an authorization-code flow with PKCE: a new `state`, OIDC `nonce` and PKCE code verifier,
 * kept in this session (which is created if needed), and the parameters to send, ready to spread into
 * openid-client's `buildAuthorizationUrl(config, { redirect_uri, scope, ...params })`.
 */
export async function startAuthorization(session: SessionHandle, options: AuthorizationOptions = {}): Promise<AuthorizationRequestParameters> {
  const verifier = randomValue();
  const nonce = randomValue();
  const { state } = await addPending(session, { client: clientOf(options), verifier, nonce });
  return { state, nonce, code_challenge: s256(verifier), code_challenge_method: 'S256' };
}

/**
 * At the callback: the request that `callbackUrl`'s `state` names, taken out of the session (so it is
 * checked once), as the checks of openid-client's `authorizationCodeGrant(config, callbackUrl, checks)`.
 * Throws AuthorizationStateError (403) when the state is missing, unknown to this session, used
 * already or older than 10 minutes.
 */
export async function finishAuthorization(session: SessionHandle, callbackUrl: URL, options: AuthorizationOptions = {}): Promise<AuthorizationCallbackChecks> {
  if (!(callbackUrl instanceof URL)) throw new TypeError('finishAuthorization(session, callbackUrl): callbackUrl must be a URL');
  const states = callbackUrl.searchParams.getAll('state');
  // Two states in one callback is not a response any provider sends.
  const pending = states.length === 1 ? await takePending(session, states[0], clientOf(options)) : undefined;
  if (!pending?.verifier || !pending.nonce) throw new AuthorizationStateError();
  return { expectedState: pending.state, expectedNonce: pending.nonce, pkceCodeVerifier: pending.verifier };
}
