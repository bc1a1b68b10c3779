import { applyDecorators, createParamDecorator, SetMetadata, UseGuards, type ExecutionContext } from '@nestjs/common';
import { AUTHENTICATED_KEY, PUBLIC_KEY } from '../constants.js';
import { SessionNotInRequestError, SessionOptionsError } from '../errors.js';
import { SessionAuthGuard, type AuthenticatedOptions } from './guard.js';
import { contextOfExecution, sessionOfExecution } from './execution.js';
import type { SessionKey } from '../session/handle.js';
import type { ModulesContainer } from '@nestjs/core';
import { methodsWithParameter } from './handlers.js';

/** Parameter: the request's lazy session handle. Nothing is loaded until a method is called. */
export const Session = createParamDecorator((_: unknown, ctx: ExecutionContext) => sessionOfExecution(ctx));

/** Parameter: one session value (undefined when absent), loaded when the route is called. */
export const SessionValue: (key: SessionKey) => ParameterDecorator = createParamDecorator(
  (key: string, ctx: ExecutionContext) => sessionOfExecution(ctx).get(key),
);

/** Parameter: the logged-in user's id, or undefined. */
export const UserId = createParamDecorator((_: unknown, ctx: ExecutionContext) => sessionOfExecution(ctx).getUserId());

/**
 * Parameter: the logged-in user as the `resolveUser` option loads it, or undefined when nobody is
 * logged in (or resolveUser found nobody). Loaded only for the handlers that ask, at most once per
 * request; type it `SessionUser | undefined` (declare SessionUser's shape in the module augmentation).
 */
export const CurrentUser = createParamDecorator(currentUser);

function currentUser(_: unknown, ctx: ExecutionContext) {
  const context = contextOfExecution(ctx);
  if (!context) throw new SessionNotInRequestError();
  return context.user();
}

/**
 * @CurrentUser() without the `resolveUser` option could only fail at run time, on every request of
 * the handlers that ask: refused at start-up, naming them.
 */
export function refuseCurrentUserWithoutResolver(modules: ModulesContainer, resolveUser: unknown): void {
  if (resolveUser !== undefined) return;
  const asking = methodsWithParameter(modules, currentUser);
  if (asking.length === 0) return;
  throw new SessionOptionsError(
    `@CurrentUser() is used by ${asking.join(', ')}, but it needs the 'resolveUser' option, which loads the user from the session's user id: ` +
      'SessionModule.forRoot({ resolveUser: (userId) => ... }). Add it, or read the id with @UserId() instead.',
  );
}

/** Method or class: 401 unless the session has a user (and, with maxAuthAge, a recent enough login). */
export function Authenticated(options: AuthenticatedOptions = {}): MethodDecorator & ClassDecorator {
  if (options.maxAuthAge !== undefined && (!Number.isInteger(options.maxAuthAge) || options.maxAuthAge <= 0)) {
    throw new SessionOptionsError('@Authenticated({ maxAuthAge }) takes a positive whole number of milliseconds');
  }
  return applyDecorators(SetMetadata(AUTHENTICATED_KEY, options), UseGuards(SessionAuthGuard));
}

/** Method or class: opens a route to anonymous requests under a global SessionAuthGuard. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC_KEY, true);
