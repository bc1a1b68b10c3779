import type { DataSource } from 'typeorm';

/**
 * What the store's own statement paths share (PgStatementRunner: node-postgres' pool;
 * SqliteStatementRunner: better-sqlite3's connection), each of which a store takes instead of
 * TypeORM's QueryRunner where it can.
 */

/** A statement's answer, as TypeORM's structured QueryResult gives it. */
export interface QueryResultLike {
  records?: Record<string, unknown>[];
  affected?: number | null;
}

/** A TypeORM subscriber that listens to every query; the store's own statement paths would skip it. */
interface QueryListener {
  beforeQuery?: unknown;
  afterQuery?: unknown;
}

/**
 * Whether any subscriber of the DataSource, declared or registered, listens to queries
 * (beforeQuery/afterQuery): the one thing TypeORM's query path does that the store's own paths do
 * not, so such a DataSource keeps TypeORM's path.
 */
export function listensToQueries(dataSource: DataSource): boolean {
  const subscribers = (dataSource.options.subscribers ?? []) as unknown[];
  const listening = (s: unknown) => {
    const proto = typeof s === 'function' ? (s.prototype as QueryListener) : (s as QueryListener);
    return typeof proto?.beforeQuery === 'function' || typeof proto?.afterQuery === 'function';
  };
  return subscribers.some(listening) || (dataSource.isInitialized && dataSource.subscribers.some(listening));
}
