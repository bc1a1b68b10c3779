import type { ExecutionContext } from '@nestjs/common';
import { RequestContext } from '../request/context.js';
import type { SessionRuntime } from '../session/runtime.js';
import type { LazySession } from '../session/handle.js';
import { handshakeOf } from './handshake.js';
import { handshakeReader } from './reader.js';

/**
 * One WebSocket message's request context, over its socket's handshake request: a context per
 * message, so that every message reads the session again and sees it ended (revocation).
 */
export class MessageContext extends RequestContext {
  /** Until SessionInterceptor holds the message, nothing would store a change: LazySession refuses it. */
  readonly overSocket = { storesChanges: false };
  private asked = false;

  constructor(rt: SessionRuntime, req: unknown, client: unknown) {
    super(rt, handshakeReader, req, client);
  }

  override get session(): LazySession {
    this.asked = true;
    return super.session;
  }

  /** No one has asked for the session yet: a message that arrives now may share it and still read it after its arrival. */
  get fresh(): boolean {
    return !this.asked;
  }
}

/**
 * Nest hands a message's guards and interceptors one arguments array ([client, data, ack or event,
 * pattern]), and its parameter decorators copies of it. Guards and interceptors find the message's
 * context by that array; decorators by the message's own values, in the slot where SessionInterceptor
 * put it (it alone knows when a message ends). A guard never looks in the slots: it runs first, so
 * whatever is there is another message's, whose read of the session may predate this one.
 */
const byArgs = new WeakMap<unknown[], MessageContext>();
const held = new WeakMap<object, Map<unknown, HeldMessage>>();

interface HeldMessage {
  ctx: MessageContext;
  holds: number;
  /** Whether one of the messages sharing the context finished well: then its changes are stored. */
  store: boolean;
  /** Settles once the last of them is done and the changes are stored. */
  stored: Promise<void>;
  settle(stored: Promise<void>): void;
}

function heldMessage(ctx: MessageContext): HeldMessage {
  let settle!: (stored: Promise<void>) => void;
  const stored = new Promise<void>((resolve) => (settle = resolve));
  // Awaited by the messages that share the context; when none does, a failure is not unhandled.
  stored.catch(() => undefined);
  return { ctx, holds: 0, store: false, stored, settle };
}

/**
 * What tells one message from another on its socket: its payload object, else its acknowledgement
 * callback (socket.io), else its event and value. Two messages alike in all of these that run at the
 * same time may share one context (stored once both are done); a change made after the shared
 * context was stored is refused, never lost.
 */
function messageKey(args: unknown[]): unknown {
  const [, data, third] = args;
  if ((typeof data === 'object' && data !== null) || typeof data === 'function') return data;
  if (typeof third === 'function') return third;
  return `${String(args[args.length - 1])}\u0000${typeof data}\u0000${String(data)}`;
}

function newContext(args: unknown[]): MessageContext | undefined {
  const found = handshakeOf(args[0]);
  if (!found) return undefined;
  const ctx = new MessageContext(found.rt, found.req, args[0]);
  byArgs.set(args, ctx);
  return ctx;
}

/**
 * The request context of one WebSocket message, as its parameter decorators (and any other caller but
 * the guard) find it: the session named by the handshake's cookie.
 */
export function socketContextOf(execution: ExecutionContext): RequestContext | undefined {
  const args = execution.getArgs();
  const client = args[0];
  if (!client || typeof client !== 'object') return undefined;
  return byArgs.get(args) ?? held.get(client)?.get(messageKey(args))?.ctx ?? newContext(args);
}

/** The context of one WebSocket message as SessionAuthGuard, its first stage, finds it. */
export function guardContextOf(execution: ExecutionContext): RequestContext | undefined {
  const args = execution.getArgs();
  const client = args[0];
  if (!client || typeof client !== 'object') return undefined;
  return byArgs.get(args) ?? newContext(args);
}

/** A message held open by SessionInterceptor until its handler is done. */
export interface OpenMessage {
  readonly ctx: MessageContext;
  /** Stores the session's changes, once every message sharing the context is done; then lets go. */
  done(): Promise<void>;
  /** Lets go without storing (the handler failed, or the client went away). */
  abandon(): void;
}

export function openMessage(execution: ExecutionContext): OpenMessage | undefined {
  const args = execution.getArgs();
  const client = args[0];
  if (!client || typeof client !== 'object') return undefined;
  const key = messageKey(args);
  let messages = held.get(client);
  let entry = messages?.get(key);
  const own = byArgs.get(args);
  // Another message alike, still running: shared only while nobody has read its session, so that
  // this message reads it after it arrived (revocation); else this message takes the slot.
  if (!entry || (entry.ctx !== own && !entry.ctx.fresh)) {
    const ctx = own ?? newContext(args);
    if (!ctx) return undefined;
    if (!messages) held.set(client, (messages = new Map()));
    messages.set(key, (entry = heldMessage(ctx)));
  }
  const open = entry;
  open.ctx.overSocket.storesChanges = true;
  const map = messages!;
  open.holds++;
  let settled = false;
  const release = (store: boolean): Promise<void> => {
    if (settled) return open.stored;
    settled = true;
    open.store ||= store;
    if (--open.holds === 0) {
      if (map.get(key) === open) map.delete(key);
      open.settle(open.store ? (open.ctx.session.commit() ?? Promise.resolve()) : Promise.resolve());
    }
    return open.stored;
  };
  return { ctx: open.ctx, done: () => release(true), abandon: () => void release(false) };
}
