import { Logger } from '@nestjs/common';
import type { RequestContext } from '../request/context.js';
import type { LazySession } from '../session/handle.js';

type Callback = (err?: unknown) => void;

/** express-session's methods: a session key of one of these names is not shown as a property (it stays stored). */
const METHODS = new Set(['regenerate', 'destroy', 'reload', 'save', 'touch', 'resetMaxAge']);
const LINK = Symbol('nestjs-lazy-session.compat');
const logger = new Logger('SessionModule');

/** JSON as express-session would store it: undefined when the value has none (the key is then removed). */
function json(value: unknown): string | undefined {
  return JSON.stringify(value);
}

/**
 * One request's express-session-shaped view: its own enumerable properties are the session's keys,
 * copied at load. What changed in them (nested changes too: connect-flash and Passport mutate objects
 * in place) is found by comparing each key's JSON with the copy taken at load, and written through the
 * request's LazySession, key by key, when the response is sent or save() is called: every rule of the
 * module (rotation, no resurrection, the size limit) holds for them.
 */
class Link {
  /** The JSON of each key as the LazySession has it. */
  private readonly known = new Map<string, string>();
  view: ExpressSessionView | undefined;

  constructor(private readonly session: LazySession, private readonly target: Record<string, unknown>) {}

  /** A new view of the session's current data, put on the request as `session`. */
  async open(): Promise<ExpressSessionView> {
    const view = new ExpressSessionView(this);
    await this.fill(view);
    this.view = view;
    this.target.session = view;
    return view;
  }

  async fill(view: ExpressSessionView): Promise<void> {
    for (const key of Object.keys(view)) delete (view as unknown as Record<string, unknown>)[key];
    this.known.clear();
    for (const key of await this.session.keys()) {
      if (METHODS.has(key)) continue;
      const text = json(await this.session.get(key));
      if (text === undefined) continue;
      this.known.set(key, text);
      Object.defineProperty(view, key, { value: JSON.parse(text), enumerable: true, writable: true, configurable: true });
    }
  }

  /**
   * Writes what the current view changed; the first failure is reported after the other keys were
   * tried. Safe to call again: what was written is now known.
   */
  async flush(): Promise<void> {
    const view = this.view as unknown as Record<string, unknown> | undefined;
    if (!view) return;
    let failure: unknown;
    const attempt = async (write: () => Promise<void>) => {
      try {
        await write();
      } catch (err) {
        failure ??= err;
      }
    };
    const present = new Set<string>();
    for (const key of Object.keys(view)) {
      if (METHODS.has(key)) continue;
      let text: string | undefined;
      try {
        text = json(view[key]);
      } catch (err) {
        failure ??= new TypeError(`req.session.${key} cannot be stored as JSON: ${(err as Error).message}`);
        present.add(key);
        continue;
      }
      if (text === undefined) continue;
      present.add(key);
      if (this.known.get(key) === text) continue;
      await attempt(async () => {
        await this.session.set(key, JSON.parse(text));
        this.known.set(key, text);
      });
    }
    for (const key of [...this.known.keys()]) {
      if (present.has(key)) continue;
      await attempt(async () => {
        await this.session.delete(key);
        this.known.delete(key);
      });
    }
    if (failure !== undefined) throw failure;
  }

  /** express-session's regenerate: a new id and no data (the module's own login stays). */
  async regenerate(): Promise<void> {
    await this.session.clear();
    await this.session.regenerate();
    await this.open();
  }

  async destroy(): Promise<void> {
    this.view = undefined;
    delete this.target.session;
    await this.session.destroy();
  }
}

/** Runs `work`, then the express-session-style callback (when given); returns the view, as express-session does. */
function settle(view: ExpressSessionView, work: Promise<void>, callback: Callback | undefined, what: string): ExpressSessionView {
  work.then(
    () => callback?.(),
    (err) => {
      if (callback) callback(err);
      else logger.error(`req.session.${what}() failed: ${(err as Error)?.message ?? String(err)}`);
    },
  );
  return view;
}

/**
 * `req.session` as express-session shapes it, for third-party middleware that insists on it
 * (Passport's login sessions, connect-flash): the session's keys as properties, and `regenerate`,
 * `save`, `destroy`, `reload`, `touch`. Not provided: `id`, `cookie`, `req.sessionID`, `req.sessionStore`.
 */
export class ExpressSessionView {
  declare private readonly [LINK]: Link;

  constructor(link: Link) {
    Object.defineProperty(this, LINK, { value: link, enumerable: false });
  }

  /** A new session id and empty data (express-session's meaning); `req.session` is replaced by the new view. */
  regenerate(callback?: Callback): this {
    return settle(this, this[LINK].regenerate(), callback, 'regenerate') as this;
  }

  /** The changes are written through the session now; they are stored before the response is sent, as every change. */
  save(callback?: Callback): this {
    return settle(this, this[LINK].view === this ? this[LINK].flush() : Promise.resolve(), callback, 'save') as this;
  }

  /** Ends the session at once (deleted from the store, cookie cleared); `req.session` is removed. */
  destroy(callback?: Callback): this {
    return settle(this, this[LINK].destroy(), callback, 'destroy') as this;
  }

  /** Back to the session's data as this request's LazySession has it: unsaved property changes are dropped. */
  reload(callback?: Callback): this {
    return settle(this, this[LINK].fill(this), callback, 'reload') as this;
  }

  /** The module keeps the expiry itself. */
  touch(): this {
    return this;
  }

  resetMaxAge(): this {
    return this;
  }
}

/**
 * Loads the request's session and puts its express-session-shaped view on `target` (the request
 * object the middleware, guard or handler sees) as `session`; its changes are written before the
 * session is stored, whatever the platform. A cross-site request is refused here (403), as any first
 * use of the session is.
 */
export async function attachExpressSession(ctx: RequestContext, target: object): Promise<ExpressSessionView> {
  const existing = (target as { session?: unknown }).session;
  if (existing instanceof ExpressSessionView) return existing;
  const link = new Link(ctx.session, target as Record<string, unknown>);
  const view = await link.open();
  ctx.beforeCommit(async () => {
    try {
      await link.flush();
    } catch (err) {
      // The response is already decided: the change is reported, never turned into a 503.
      logger.error(`req.session: a change was not stored: ${(err as Error)?.message ?? String(err)}`);
    }
  });
  return view;
}
