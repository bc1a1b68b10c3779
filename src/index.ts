export { SessionModule } from './module/session.module.js';
export { SESSION_STORE } from './constants.js';
export type { SessionModuleOptions, SessionCookieOptions, SessionCsrfOptions, SessionUser, ResolveUser } from './options.js';
export { Session, SessionValue, UserId, CurrentUser, Authenticated, Public } from './nest/decorators.js';
export { SessionAuthGuard, type AuthenticatedOptions } from './nest/guard.js';
export { CurrentSession } from './nest/current-session.js';
export { SessionInterceptor } from './nest/interceptor.js';
export { SessionManager, type SessionInfo } from './nest/manager.js';
export type { SessionHandle, SessionData, SessionKey, LoginOptions } from './session/handle.js';
export {
  startAuthorization, finishAuthorization, AuthorizationStateError,
  type AuthorizationRequestParameters, type AuthorizationCallbackChecks, type AuthorizationOptions,
} from './oauth/authorization.js';
export { SessionCompatMiddleware } from './compat/compat.middleware.js';
export { SessionCompatGuard } from './compat/compat.guard.js';
export type { ExpressSessionView } from './compat/view.js';
export type { SessionEvent, SessionEventType } from './session/events.js';
export { SessionError, SessionOptionsError, SessionNotInRequestError, SessionDataTooLargeError, SessionStoreUnavailableError, SessionStoreUnsupportedError, SessionOverSocketError } from './errors.js';
export type { SessionStore, UserIndexedSessionStore, SessionRecord, SessionPatch, SessionTimeouts, StoredSessionSummary } from './stores/store.js';
export { TypeOrmSessionStore, type TypeOrmSessionStoreOptions } from './stores/typeorm/typeorm.store.js';
export { MemorySessionStore } from './stores/memory.store.js';
export { CookieSessionStore, type CookieSessionStoreOptions, type CookieCarrier } from './stores/cookie.store.js';
export { RedisSessionStore, type RedisSessionStoreOptions } from './stores/redis/redis.store.js';
export { SessionSealer } from './crypto/seal.js';
export { CreateSessionsTable1764000000000 } from './stores/typeorm/migration.js';
export { UpgradeSessionsTable1765000000000 } from './stores/typeorm/upgrade.migration.js';
// SessionEntity and MySqlSessionEntity need typeorm's decorators at run time: import them from 'nestjs-lazy-session/typeorm'.
