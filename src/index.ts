export { SessionModule } from './session.module.js';
export type { SessionModuleOptions, SessionCookieOptions, SessionCsrfOptions } from './session.options.js';
export { Session, SessionValue, UserId, Authenticated, Public } from './session.decorators.js';
export { SessionAuthGuard, type AuthenticatedOptions } from './session.guard.js';
export { CurrentSession } from './current-session.js';
export { SessionManager, type SessionInfo } from './session.manager.js';
export type { SessionHandle, SessionData, SessionKey, LoginOptions } from './session.handle.js';
export type { SessionEvent, SessionEventType } from './session.events.js';
export { SessionDataTooLargeError, SessionStoreUnavailableError, SessionStoreUnsupportedError } from './session.errors.js';
export type { SessionStore, SessionRecord, SessionPatch, SessionTimeouts, StoredSessionSummary, CookieCarrier } from './stores/session.store.js';
export { TypeOrmSessionStore, type TypeOrmSessionStoreOptions } from './stores/typeorm.store.js';
export { MemorySessionStore } from './stores/memory.store.js';
export { CookieSessionStore, type CookieSessionStoreOptions } from './stores/cookie.store.js';
export { RedisSessionStore, type RedisSessionStoreOptions } from './stores/redis.store.js';
export { SessionSealer } from './stores/session.seal.js';
export { CreateSessionsTable1764000000000 } from './stores/session.migration.js';
export { UpgradeSessionsTable1765000000000 } from './stores/session.upgrade.migration.js';
// SessionEntity and MySqlSessionEntity need typeorm's decorators at run time: import them from 'nestjs-lazy-session/typeorm'.
