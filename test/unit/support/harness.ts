import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { SessionRuntime } from '../../../src/session/runtime.js';
import { RequestContext } from '../../../src/request/context.js';
import { resolveSessionOptions, type SessionModuleOptions } from '../../../src/options.js';
import { newHandle, newToken, signToken, storeKey } from '../../../src/crypto/token.js';
import type { SessionHttpAdapter } from '../../../src/http/http.adapter.js';
import type { SessionEvent } from '../../../src/session/events.js';
import type { SessionRecord, SessionStore } from '../../../src/stores/store.js';
import type { CookieSessionStore } from '../../../src/stores/cookie.store.js';

/** What the module can be given as its store. */
export type AnyStore = SessionStore | CookieSessionStore;
import type { LazySession } from '../../../src/session/handle.js';

// The runtime logs store failures; the unit specs check them through their effects.
Logger.overrideLogger(false);

export const SECRET = 'unit-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
export const OLD_SECRET = 'unit-old-secret-0123456789-abcdefghijklmnopqrstu';

/** A request and response as plain objects: what the fake adapter reads and writes. */
export interface FakeReq {
  method: string;
  headers: Record<string, string | string[] | undefined>;
}
export interface FakeRes {
  headers: Record<string, string | string[]>;
}

/** A minimal SessionHttpAdapter over FakeReq/FakeRes: it records, it does not send. */
export class FakeHttp implements SessionHttpAdapter {
  header(req: unknown, name: string) {
    return (req as FakeReq).headers[name];
  }
  method(req: unknown) {
    return (req as FakeReq).method;
  }
  /** The scheme a platform would report (its trust-proxy setting applied); http unless the request says. */
  scheme(req: unknown) {
    return (req as FakeReq & { scheme?: string }).scheme ?? 'http';
  }
  addSetCookie(res: unknown, line: string) {
    const r = res as FakeRes;
    const prev = r.headers['set-cookie'];
    r.headers['set-cookie'] = [...((prev as string[] | undefined) ?? []), line];
  }
  setHeader(res: unknown, name: string, value: string) {
    (res as FakeRes).headers[name.toLowerCase()] = value;
  }
  addVary(res: unknown, field: string) {
    const r = res as FakeRes;
    r.headers.vary = r.headers.vary ? `${r.headers.vary}, ${field}` : field;
  }
}

/** A store wrapper that records every call (name and arguments) made to the real store inside. */
export function recording<S extends AnyStore>(inner: S): S & { calls: Array<[string, unknown[]]> } {
  const calls: Array<[string, unknown[]]> = [];
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'calls') return calls;
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls.push([String(prop), args]);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as S & { calls: Array<[string, unknown[]]> };
}

export interface Harness<S extends AnyStore> {
  rt: SessionRuntime;
  store: S & { calls: Array<[string, unknown[]]> };
  events: SessionEvent[];
  /** One request: its session, its response, and `send(status)` which runs what the adapter runs before sending. */
  request(cookie?: string | string[], method?: string): Exchange;
  /** A session stored directly (times relative to `now`); returns its Cookie header value. */
  seed(record: Partial<SessionRecord>, secret?: string): Promise<{ cookie: string; id: string; token: string; record: SessionRecord }>;
}

export interface Exchange {
  session: LazySession;
  req: FakeReq;
  res: FakeRes;
  ctx: RequestContext;
  send(status?: number): Promise<void>;
  setCookies(): string[];
  /** The Cookie header a browser would send next ('' when cleared, undefined when not set). */
  nextCookie(): string | undefined;
}

export function harness<S extends AnyStore>(store: S, options: Partial<SessionModuleOptions> = {}): Harness<S> {
  const events: SessionEvent[] = [];
  const resolved = resolveSessionOptions({ secret: SECRET, store, pruneInterval: 0, onEvent: (e) => void events.push(e), ...options });
  const recorded = recording(store);
  const rt = new SessionRuntime(resolved, recorded, false);
  const http = new FakeHttp();
  const name = resolved.cookie.name;
  return {
    rt,
    store: recorded,
    events,
    request(cookie, method = 'GET') {
      const req: FakeReq = { method, headers: { cookie } };
      const res: FakeRes = { headers: {} };
      const ctx = new RequestContext(rt, http, req, res);
      const setCookies = () => (res.headers['set-cookie'] as string[] | undefined) ?? [];
      return {
        session: ctx.session,
        req,
        res,
        ctx,
        /** What the platform's adapter does before sending (nothing to wait for if the session was unused). */
        async send(status = 200) {
          await ctx.beforeSend(status);
        },
        setCookies,
        nextCookie() {
          const line = setCookies().find((l) => l.startsWith(`${name}=`));
          if (!line) return undefined;
          return /Max-Age=0/.test(line) ? '' : line.split(';')[0];
        },
      };
    },
    async seed(partial, secret = SECRET) {
      const token = newToken();
      const now = Date.now();
      const record: SessionRecord = {
        id: storeKey(token),
        handle: newHandle(),
        data: {},
        userId: null,
        createdAt: now,
        lastSeenAt: now,
        expiresAt: now + resolved.idleTimeout,
        authAt: null,
        remember: false,
        ...partial,
      };
      await (store as SessionStore).create(record);
      return { cookie: `${name}=${signToken(token, secret)}`, id: record.id, token, record };
    },
  };
}

/** The token inside a `name=token.sig` cookie. */
export const tokenOf = (cookie: string) => cookie.slice(cookie.indexOf('=') + 1, cookie.indexOf('=') + 44);
/** The store id a `name=token.sig` cookie names. */
export const idOf = (cookie: string) => storeKey(tokenOf(cookie));
