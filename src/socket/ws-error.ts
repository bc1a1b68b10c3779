import { ForbiddenException, HttpException } from '@nestjs/common';
import { CROSS_SITE_REFUSED } from '../http/cross-site.js';
import { SessionError } from '../errors.js';

/**
 * Nest tells a socket's client only what a WsException says (anything else is an "Internal server
 * error"). @nestjs/websockets is imported here, at the point of use, so that an application without
 * gateways never loads it; by the time a message is handled, Nest has loaded it already.
 */
async function wsException(message: string): Promise<Error> {
  const { WsException } = await import('@nestjs/websockets');
  return new WsException(message);
}

/** A message the guard turns away: the socket stays open for the messages that need no user. */
export async function refuseMessage(): Promise<never> {
  throw await wsException('Unauthorized');
}

/**
 * The session's own refusals, as the client of a socket can read them: a session ended or a cookie
 * that cannot be set (SessionOverSocketError), the store unavailable, a cross-site socket. Other
 * errors are the application's, and pass unchanged.
 */
export async function asWsError(err: unknown): Promise<unknown> {
  const sessions = err instanceof SessionError || (err instanceof ForbiddenException && err.message === CROSS_SITE_REFUSED);
  if (!sessions) return err;
  return wsException(err instanceof HttpException ? err.message : (err as Error).message);
}
