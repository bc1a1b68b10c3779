import type { ExecutionContext } from '@nestjs/common';
import type { RequestContext } from '../request/context.js';

/**
 * The request context of one WebSocket message: the session named by the cookie of the socket's
 * handshake. (To be built: issue 14.)
 */
export function socketContextOf(_execution: ExecutionContext): RequestContext | undefined {
  return undefined;
}
