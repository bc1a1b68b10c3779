import { HttpException, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { catchError, concatMap, from, of, throwError, type Observable } from 'rxjs';
import { contextOfExecution } from './session.context.js';

/**
 * Stores what the handler changed before the response is sent: after a result, or after a handled
 * (4xx) error; never after a 5xx. A session that was never touched costs a flag check.
 */
@Injectable()
export class SessionInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const ctx = contextOfExecution(context);
    if (!ctx) return next.handle();
    return next.handle().pipe(
      concatMap((value) => {
        const pending = ctx.touched?.commit();
        return pending ? from(pending.then(() => value)) : of(value);
      }),
      catchError((err: unknown) => {
        const pending = err instanceof HttpException && err.getStatus() < 500 ? ctx.touched?.commit() : undefined;
        return pending ? from(pending.then(() => Promise.reject(err))) : throwError(() => err);
      }),
    );
  }
}
