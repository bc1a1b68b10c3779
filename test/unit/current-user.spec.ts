import 'reflect-metadata';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
// Straight from the modules, not the package index (see session.lifecycle.spec.ts).
import { MemorySessionStore } from '../../src/stores/memory.store.js';
import { CurrentUser } from '../../src/nest/decorators.js';
import { attachContext } from '../../src/request/context.js';
import { SessionNotInRequestError, SessionOptionsError } from '../../src/errors.js';
import type { SessionModuleOptions } from '../../src/options.js';
import { harness } from './support/harness.js';

/**
 * @CurrentUser() and the request context behind it: resolveUser is called only when asked, once per
 * request and user id, never for an anonymous session; and the context's send-time work (the
 * express-session-shaped view's writes) runs before the session is stored, never for a 5xx.
 */

type Factory = (data: unknown, ctx: ExecutionContextHost) => unknown;
function factoryOf(decorator: ParameterDecorator): Factory {
  class Target {
    handler(_value: unknown) {}
  }
  decorator(Target.prototype, 'handler', 0);
  const args = Reflect.getMetadata(ROUTE_ARGS_METADATA, Target, 'handler') as Record<string, { factory: Factory }>;
  return Object.values(args)[0].factory;
}

function setup(options: Partial<SessionModuleOptions> = {}) {
  const calls: string[] = [];
  const h = harness(new MemorySessionStore(), {
    resolveUser: async (userId) => {
      calls.push(userId);
      return userId === 'ghost' ? null : { id: userId, name: `name of ${userId}` };
    },
    ...options,
  });
  const request = (cookie?: string, type = 'http') => {
    const x = h.request(cookie);
    attachContext(x.req, x.ctx);
    const host = new ExecutionContextHost([x.req, x.res, () => undefined]);
    host.setType(type);
    return { host, x, user: () => factoryOf(CurrentUser())(undefined, host) as Promise<unknown> };
  };
  return { h, calls, request };
}

describe('@CurrentUser()', () => {
  it('resolves the logged-in user once per request, however many ask at once', async () => {
    const { h, calls, request } = setup();
    const { cookie } = await h.seed({ userId: 'alice' });
    const r = request(cookie);
    const [a, b] = await Promise.all([r.user(), r.user()]);
    expect(a).toEqual({ id: 'alice', name: 'name of alice' });
    expect(b).toBe(a);
    expect(await r.user()).toBe(a);
    expect(calls).toEqual(['alice']);
    await request(cookie).user();
    expect(calls).toEqual(['alice', 'alice']);
  });

  it('is undefined for an anonymous session, without calling resolveUser', async () => {
    const { calls, request } = setup();
    expect(await request().user()).toBeUndefined();
    expect(calls).toEqual([]);
  });

  it('is undefined when resolveUser finds nobody (null)', async () => {
    const { h, request } = setup();
    const { cookie } = await h.seed({ userId: 'ghost' });
    expect(await request(cookie).user()).toBeUndefined();
  });

  it('follows a login or a logout made earlier in the same request', async () => {
    const { h, calls, request } = setup();
    const { cookie } = await h.seed({ userId: 'alice' });
    const r = request(cookie);
    expect(await r.user()).toMatchObject({ id: 'alice' });
    await r.x.session.login('bob');
    expect(await r.user()).toMatchObject({ id: 'bob' });
    await r.x.session.logout();
    expect(await r.user()).toBeUndefined();
    expect(calls).toEqual(['alice', 'bob']);
  });

  it('a resolveUser that throws fails the request with its error', async () => {
    const { h, request } = setup({ resolveUser: () => Promise.reject(new Error('users database down')) });
    const { cookie } = await h.seed({ userId: 'alice' });
    await expect(request(cookie).user()).rejects.toThrow('users database down');
  });

  it('without resolveUser, says which option is missing', async () => {
    const { h, request } = setup({ resolveUser: undefined });
    const { cookie } = await h.seed({ userId: 'alice' });
    const err = await request(cookie).user().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionOptionsError);
    expect((err as Error).message).toContain("'resolveUser'");
  });

  it('where no request context exists (a microservice message), throws the not-in-request error', () => {
    const { request } = setup();
    expect(() => request(undefined, 'rpc').user()).toThrow(SessionNotInRequestError);
  });
});

describe('work before the session is stored (RequestContext.beforeCommit)', () => {
  it('runs at beforeSend before the session is written, once, and not for a 5xx', async () => {
    const { h } = setup();
    const order: string[] = [];
    const request = async () => {
      const x = h.request();
      await x.session.set('a', 1);
      x.ctx.beforeCommit(async (status) => {
        order.push(`flush ${status}`);
        await x.session.set('b', 2);
      });
      return x;
    };
    const failed = await request();
    expect(failed.ctx.beforeSend(502)).toBeUndefined();
    // A response is sent once: a later call (another write of the same response) waits for nothing.
    expect(failed.ctx.beforeSend(200)).toBeUndefined();
    expect(order).toEqual([]);
    expect(h.store.calls.filter(([name]) => name === 'create')).toEqual([]);
    const x = await request();
    await x.ctx.beforeSend(200);
    expect(x.ctx.beforeSend(200)).toBeUndefined();
    expect(order).toEqual(['flush 200']);
    const [created] = h.store.calls.filter(([name]) => name === 'create');
    expect((created[1][0] as { data: unknown }).data).toEqual({ a: 1, b: 2 });
  });
});
