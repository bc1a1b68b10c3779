import { HttpException, HttpStatus, ServiceUnavailableException } from '@nestjs/common';
import {
  Authenticated,
  CookieSessionStore,
  SessionDataTooLargeError,
  SessionError,
  SessionNotInRequestError,
  SessionOptionsError,
  SessionStoreUnavailableError,
  SessionSealer,
  SessionStoreUnsupportedError,
} from '../../src/index.js';
import { resolveSessionOptions } from '../../src/options.js';

/** One of each, as the module throws them. */
const made = {
  SessionOptionsError: new SessionOptionsError("option 'secret' is required"),
  SessionNotInRequestError: new SessionNotInRequestError(),
  SessionDataTooLargeError: new SessionDataTooLargeError('cart', 70_000, 65_536),
  SessionStoreUnavailableError: new SessionStoreUnavailableError('load', { cause: new Error('ECONNREFUSED') }),
  SessionStoreUnsupportedError: new SessionStoreUnsupportedError('CookieSessionStore cannot list sessions'),
};
const classes = { SessionOptionsError, SessionNotInRequestError, SessionDataTooLargeError, SessionStoreUnavailableError, SessionStoreUnsupportedError };

describe('SessionError hierarchy', () => {
  it.each(Object.keys(made) as (keyof typeof made)[])('%s is a SessionError, an Error, of its own class and of no sibling, and named after it', (name) => {
    const err = made[name];
    expect(err).toBeInstanceOf(SessionError);
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(classes[name]);
    expect(err.name).toBe(name);
    for (const [other, cls] of Object.entries(classes)) {
      if (other !== name) expect(err instanceof cls).toBe(false);
    }
    expect(String(err)).toMatch(new RegExp(`^${name}: `));
  });

  it('a SessionError of its own is one, named SessionError', () => {
    const err = new SessionError('plain');
    expect(err).toBeInstanceOf(SessionError);
    expect(err.name).toBe('SessionError');
    expect(err instanceof SessionOptionsError).toBe(false);
  });

  it('an error that is not the module’s is not a SessionError, nor is anything else', () => {
    expect(new Error('x') instanceof SessionError).toBe(false);
    expect(new TypeError('x') instanceof SessionError).toBe(false);
    expect(new ServiceUnavailableException() instanceof SessionError).toBe(false);
    for (const value of [null, undefined, 0, 'SessionError', {}, Symbol('x')]) expect(value instanceof SessionError).toBe(false);
  });

  it('the brand cannot be faked by an unrelated class: same name, same-looking symbol, truthy value', () => {
    const lookAlike: unique symbol = Symbol('nestjs-lazy-session.error');
    class SessionErrorLookAlike extends Error {
      override readonly name = 'SessionError';
      readonly [lookAlike] = true;
    }
    expect(new SessionErrorLookAlike('x') instanceof SessionError).toBe(false);
    const truthy = Object.assign(new Error('x'), { [Symbol.for('nestjs-lazy-session.error')]: 1 });
    expect(truthy instanceof SessionError).toBe(false);
    const stringKey = Object.assign(new Error('x'), { 'nestjs-lazy-session.error': true });
    expect(stringKey instanceof SessionError).toBe(false);
  });

  it('another copy of the package (same registered brand) is recognised by the base class only', () => {
    // What a duplicate install's error looks like from here: a class of its own carrying the shared brand.
    const shared: unique symbol = Symbol.for('nestjs-lazy-session.error');
    class OtherCopyOptionsError extends Error {
      readonly [shared] = true;
    }
    expect(new OtherCopyOptionsError('x') instanceof SessionError).toBe(true);
    expect(new OtherCopyOptionsError('x') instanceof SessionOptionsError).toBe(false);
  });
});

describe('the errors one by one', () => {
  it('SessionOptionsError prefixes the package name once, and keeps a cause', () => {
    expect(made.SessionOptionsError.message).toBe("nestjs-lazy-session: option 'secret' is required");
    expect(new SessionOptionsError('nestjs-lazy-session: already prefixed').message).toBe('nestjs-lazy-session: already prefixed');
    const cause = new Error('root');
    expect(new SessionOptionsError('x', { cause }).cause).toBe(cause);
  });

  it('SessionNotInRequestError says where the session is available', () => {
    expect(made.SessionNotInRequestError.message).toMatch(/^nestjs-lazy-session: no current request\. The session is available only while an HTTP request, a GraphQL operation or a WebSocket message is handled/);
    expect(made.SessionNotInRequestError.message).toMatch(/not at start-up, in timers or in queue workers\.$/);
  });

  it('SessionDataTooLargeError carries the key, the size and the limit', () => {
    const err = made.SessionDataTooLargeError;
    expect([err.key, err.bytes, err.limit]).toEqual(['cart', 70_000, 65_536]);
    expect(err.message).toBe("setting 'cart' would make the session data (maxDataBytes) 70000 bytes, over the limit of 65536");
    expect(new SessionDataTooLargeError('k', 5000, 4096, 'the Set-Cookie line of the cookie store').message).toBe(
      "setting 'k' would make the Set-Cookie line of the cookie store 5000 bytes, over the limit of 4096",
    );
  });

  it('SessionStoreUnavailableError is a Nest HttpException 503, with the operation and the cause', () => {
    const err = made.SessionStoreUnavailableError;
    expect(err).toBeInstanceOf(HttpException);
    expect(err).toBeInstanceOf(ServiceUnavailableException);
    expect(err.getStatus()).toBe(HttpStatus.SERVICE_UNAVAILABLE);
    expect(err.getResponse()).toEqual({ statusCode: 503, message: 'Session store unavailable', error: 'Service Unavailable' });
    expect(err.message).toBe('Session store unavailable');
    expect(err.operation).toBe('load');
    expect((err.cause as Error).message).toBe('ECONNREFUSED');
  });

  it('SessionStoreUnsupportedError is a configuration error, not an HTTP one', () => {
    expect(made.SessionStoreUnsupportedError).not.toBeInstanceOf(HttpException);
    expect(made.SessionStoreUnsupportedError.message).toBe('CookieSessionStore cannot list sessions');
  });
});

describe('start-up refusals are SessionOptionsError', () => {
  const refusal = (fn: () => unknown): unknown => {
    try {
      fn();
    } catch (err) {
      return err;
    }
    throw new Error('did not throw');
  };

  it.each([
    ['module options', () => resolveSessionOptions({ secret: 'short' }), /option 'secret' must be a string of at least 32 characters/],
    ['encryption keys', () => new SessionSealer([]), /encryptionKeys must be a non-empty array/],
    ['cookie store keys', () => new CookieSessionStore({ keys: ['short'] }), /each of CookieSessionStore keys must be a string of at least 32 characters/],
    ['cookie store without keys', () => new CookieSessionStore(undefined as never), /CookieSessionStore needs \{ keys: string\[\] \}/],
    ['@Authenticated maxAuthAge', () => Authenticated({ maxAuthAge: 0 }), /@Authenticated\(\{ maxAuthAge \}\) takes a positive whole number of milliseconds/],
  ])('%s', (_, fn, message) => {
    const err = refusal(fn);
    expect(err).toBeInstanceOf(SessionOptionsError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toMatch(/^nestjs-lazy-session: /);
  });
});
