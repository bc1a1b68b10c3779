import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { catchError, concatMap, finalize, from, mergeMap, throwError, toArray, type Observable } from 'rxjs';
import { requestContextStorage } from '../request/context.js';
import { openMessage } from '../socket/context.js';
import { asWsError } from '../socket/ws-error.js';

/**
 * Stores a WebSocket message's session changes. An HTTP request's session is stored just before its
 * response leaves; a message has no response to hold, so this waits for the handler to complete,
 * stores what it changed, and only then lets its result (the acknowledgement, or the reply event)
 * go to the client. A handler that returns a stream is answered once it completes. Apply it to a
 * gateway: `@UseInterceptors(SessionInterceptor)`. Elsewhere (HTTP, GraphQL) it does nothing: those
 * requests are stored by the module already.
 *
 * It also turns the session's refusals into WsExceptions, which Nest sends to the client ("Unauthorized"
 * for a session ended since the socket opened, the reason for a cookie that a socket cannot set).
 */
@Injectable()
export class SessionInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType<string>() !== 'ws') return next.handle();
    const message = openMessage(context);
    if (!message) return next.handle();
    const { ctx } = message;
    // Nest binds the handler to the async context in which handle() is called: CurrentSession finds the message.
    const handled = ctx.rt.tracksRequests ? requestContextStorage.run(ctx, () => next.handle()) : next.handle();
    return handled.pipe(
      toArray(),
      concatMap(async (values) => {
        await message.done();
        return values;
      }),
      mergeMap((values) => from(values)),
      catchError((err: unknown) => {
        message.abandon();
        return from(asWsError(err)).pipe(mergeMap((e) => throwError(() => e)));
      }),
      finalize(() => message.abandon()),
    );
  }
}
