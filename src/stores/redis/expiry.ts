import type { SessionTimeouts } from '../store.js';
import { SessionOptionsError } from '../../errors.js';

/** The module's default idleTimeout: the grace of a store that no module configured. */
const DEFAULT_GRACE = 30 * 60_000;

/**
 * When a session's keys and its index entries expire: the session's expiry plus a grace, which is
 * `expiryGrace`, or else settled once (by useTimeouts, or by the first write) and never changed.
 */
export class RedisExpiry {
  private grace: number | undefined;
  private readonly explicitGrace: boolean;
  /** The module's absoluteTimeout: no session outlives createdAt + it (+ grace), nor need its index entries. */
  private absolute: number | undefined;

  constructor(expiryGrace: number | undefined) {
    this.grace = expiryGrace;
    this.explicitGrace = expiryGrace !== undefined;
    if (this.explicitGrace && (typeof this.grace !== 'number' || !Number.isFinite(this.grace) || this.grace < 0)) {
      throw new SessionOptionsError('nestjs-lazy-session: expiryGrace must be a duration in milliseconds, 0 or more');
    }
  }

  /** See RedisSessionStore.useTimeouts. */
  useTimeouts(timeouts: SessionTimeouts): void {
    const idle = timeouts?.idleTimeout;
    if (typeof idle !== 'number' || !Number.isFinite(idle) || idle <= 0) throw new SessionOptionsError('nestjs-lazy-session: RedisSessionStore.useTimeouts needs a positive idleTimeout in milliseconds');
    const absolute = timeouts.absoluteTimeout;
    if (typeof absolute === 'number' && Number.isFinite(absolute) && absolute > 0) this.absolute = Math.max(this.absolute ?? 0, absolute);
    if (this.explicitGrace) return;
    if (this.grace === undefined) this.grace = idle;
    else if (this.grace !== idle) {
      throw new SessionOptionsError(
        `nestjs-lazy-session: RedisSessionStore's expiry grace is already ${this.grace} ms and cannot follow idleTimeout ${idle}: give each module its own store, or set expiryGrace explicitly`,
      );
    }
  }

  /** When the keys of a session expiring at `expiresAt` expire (epoch ms, as a string). */
  expireAt(expiresAt: number): string {
    // Used before any module said otherwise: the default idleTimeout, from now on.
    this.grace ??= DEFAULT_GRACE;
    return String(Math.trunc(expiresAt + this.grace));
  }

  /** How long past its createdAt a session's index entries are needed: '' (no TTL) when the absolute timeout is unknown. */
  indexLife(): string {
    return this.absolute === undefined ? '' : String(Math.trunc(this.absolute + (this.grace ?? DEFAULT_GRACE)));
  }

  /** How long index entries for a session created at `createdAt` are needed: '' (no TTL) when the absolute timeout is unknown. */
  indexExpireAt(createdAt: number | undefined, at: string): string {
    if (this.absolute === undefined || createdAt === undefined || !Number.isFinite(createdAt)) return '';
    return String(Math.max(Number(at), Math.trunc(createdAt + this.absolute + this.grace!)));
  }
}
