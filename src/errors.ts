import { ForbiddenException, ServiceUnavailableException } from '@nestjs/common';

const BRAND = Symbol.for('nestjs-lazy-session.error');

/**
 * What every error of this module is an instance of, so an application can tell them apart from its
 * own with one `instanceof SessionError`. The store outage must also be a Nest HttpException (so any
 * exception filter answers it 503), and a class has one parent: membership is by brand, not by chain.
 * The brand is a registered symbol so that two copies of the package (a monorepo's duplicate install)
 * still recognise each other's errors.
 */
export class SessionError extends Error {
  override readonly name: string = 'SessionError';
  readonly [BRAND] = true;

  static override [Symbol.hasInstance](value: unknown): boolean {
    // Subclasses inherit this static: only the base answers by brand, or every subclass would claim
    // its siblings (a SessionNotInRequestError would be `instanceof SessionOptionsError`).
    if (this !== SessionError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return isBranded(value);
  }
}

function isBranded(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { [BRAND]?: boolean })[BRAND] === true;
}

/** The module was configured in a way it refuses to start with (options, store, platform). */
export class SessionOptionsError extends SessionError {
  override readonly name = 'SessionOptionsError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message.startsWith('nestjs-lazy-session: ') ? message : `nestjs-lazy-session: ${message}`, options);
  }
}

/** The session was asked for where no request is being handled (start-up, timers, queue workers). */
export class SessionNotInRequestError extends SessionError {
  override readonly name = 'SessionNotInRequestError';
  constructor(message = NO_REQUEST) {
    super(message);
  }

  /**
   * A microservice (RPC) message: it carries no cookie, so it has no session; the caller has to
   * send what the handler needs (the user id) in the message itself.
   */
  static inMicroservice(): SessionNotInRequestError {
    return new SessionNotInRequestError(
      'nestjs-lazy-session: a microservice (RPC) handler has no session: sessions travel in HTTP cookies, and a message carries none. ' +
        'Send what the handler needs (the user id) in the message, from the HTTP handler that has the session.',
    );
  }
}

const NO_REQUEST =
  'nestjs-lazy-session: no current request. The session is available only while an HTTP request, a GraphQL operation or a ' +
  'WebSocket message is handled (in a controller, resolver, gateway, guard, interceptor, pipe or a service they call) and only ' +
  'when SessionModule is imported; not at start-up, in timers or in queue workers.';

/** A set() would take the session's serialized data past maxDataBytes; nothing was changed. */
export class SessionDataTooLargeError extends SessionError {
  override readonly name = 'SessionDataTooLargeError';
  constructor(readonly key: string, readonly bytes: number, readonly limit: number, what = 'the session data (maxDataBytes)') {
    super(`setting '${key}' would make ${what} ${bytes} bytes, over the limit of ${limit}`);
  }
}

/**
 * The store failed or did not answer in time. It is an HTTP 503, so a request that needed the
 * session is answered "Service Unavailable" by Nest's own exception handling, whoever awaited it.
 */
export class SessionStoreUnavailableError extends ServiceUnavailableException {
  readonly [BRAND] = true;
  constructor(readonly operation: string, options?: { cause?: unknown }) {
    super('Session store unavailable', { cause: options?.cause, description: 'Service Unavailable' });
  }
}

/**
 * The store cannot do this by design (the cookie store cannot list or end sessions server-side).
 * A configuration error, never turned into a 503.
 */
export class SessionStoreUnsupportedError extends SessionError {
  override readonly name = 'SessionStoreUnsupportedError';
}

/**
 * The cross-site refusal, a 403. Its `extensions` carry GraphQL's code for it: graphql-js copies a
 * thrown error's `extensions` into the GraphQL error, so a resolver refused on Mercurius answers
 * `FORBIDDEN` as Apollo's driver does from the 403, without this module loading `graphql`.
 */
export class CrossSiteRefusedException extends ForbiddenException {
  readonly extensions = { code: 'FORBIDDEN' };
}

/**
 * A WebSocket message asked for what only an HTTP response can do: set or clear the session cookie
 * (login, regenerate, logout, starting a session, or changing one kept in its cookie), or use a
 * session that has ended since the socket opened. Over a socket it reaches the client as a WsException.
 */
export class SessionOverSocketError extends SessionError {
  override readonly name = 'SessionOverSocketError';

  static cannotSetCookie(what: string): SessionOverSocketError {
    return new SessionOverSocketError(
      `nestjs-lazy-session: ${what} cannot set the session cookie over a WebSocket (a message has no HTTP response): do it over HTTP, ` +
        'then reconnect the socket so that its handshake carries the new cookie.',
    );
  }

  /**
   * A change in a gateway that nothing stores: its messages are not held by SessionInterceptor, or
   * the message's changes were stored already (its handler went on after it completed).
   */
  static notStored(afterStore = false): SessionOverSocketError {
    return new SessionOverSocketError(
      afterStore
        ? "nestjs-lazy-session: this WebSocket message's session changes were stored already: make the change before the handler completes."
        : 'nestjs-lazy-session: a session change in a WebSocket gateway needs SessionInterceptor to be stored: add ' +
            '@UseInterceptors(SessionInterceptor) to the gateway (or the handler).',
    );
  }

  /** The socket's session was ended (logout, destroy, SessionManager, expiry): the socket is no longer that user's. */
  static ended(): SessionOverSocketError {
    return new SessionOverSocketError('Unauthorized');
  }
}
