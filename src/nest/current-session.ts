import { Injectable } from '@nestjs/common';
import { currentSession } from '../request/context.js';
import type { LoginOptions, SessionData, SessionHandle } from '../session/handle.js';

/**
 * The current request's session, injectable into singletons: each call finds the request through
 * AsyncLocalStorage, so consumers are never made request-scoped. Outside a request it throws.
 */
@Injectable()
export class CurrentSession implements SessionHandle<SessionData> {
  get: SessionHandle<SessionData>['get'] = ((key: string) => currentSession().get(key)) as SessionHandle<SessionData>['get'];
  has: SessionHandle<SessionData>['has'] = (key) => currentSession().has(key);
  set: SessionHandle<SessionData>['set'] = (key, value) => currentSession().set(key, value as never);
  delete: SessionHandle<SessionData>['delete'] = (key) => currentSession().delete(key);
  clear = (): Promise<void> => currentSession().clear();
  regenerate = (): Promise<void> => currentSession().regenerate();
  destroy = (): Promise<void> => currentSession().destroy();
  login = (userId: string, options?: LoginOptions): Promise<void> => currentSession().login(userId, options);
  logout = (): Promise<void> => currentSession().logout();
  getUserId = (): Promise<string | undefined> => currentSession().getUserId();
}
