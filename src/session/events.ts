export type SessionEventType = 'created' | 'regenerated' | 'login' | 'logout' | 'destroyed' | 'expired';

/** A lifecycle event: it names the session by its handle, never by its token. */
export interface SessionEvent {
  type: SessionEventType;
  handle: string;
  userId?: string;
  at: Date;
}
