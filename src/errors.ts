import { ServiceUnavailableException } from '@nestjs/common';

/** A set() would take the session's serialized data past maxDataBytes; nothing was changed. */
export class SessionDataTooLargeError extends Error {
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
  constructor(readonly operation: string, options?: { cause?: unknown }) {
    super('Session store unavailable', { cause: options?.cause, description: 'Service Unavailable' });
  }
}

/**
 * The store cannot do this by design (the cookie store cannot list or end sessions server-side).
 * A configuration error, never turned into a 503.
 */
export class SessionStoreUnsupportedError extends Error {
  override readonly name = 'SessionStoreUnsupportedError';
}
