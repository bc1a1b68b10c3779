/**
 * `nestjs-lazy-session/typeorm`: what needs the typeorm package at run time (the entity's
 * decorators), apart from the root so that an app on the Redis, cookie or memory store can import
 * the root without typeorm installed. The store and the migration only use typeorm's types, so the
 * root exports them too.
 */
export { SessionEntity, MySqlSessionEntity } from './stores/typeorm/entity.js';
export { CreateSessionsTable1764000000000 } from './stores/typeorm/migration.js';
export { UpgradeSessionsTable1765000000000 } from './stores/typeorm/upgrade.migration.js';
export { TypeOrmSessionStore, type TypeOrmSessionStoreOptions } from './stores/typeorm/typeorm.store.js';
