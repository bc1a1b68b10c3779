import { jest } from '@jest/globals';
import { UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
// Straight from the modules, not the package index (see session.lifecycle.spec.ts).
import { MemorySessionStore } from '../../src/stores/memory.store.js';
import { SessionAuthGuard, effectiveAccess } from '../../src/nest/guard.js';
import { Authenticated, Public } from '../../src/nest/decorators.js';
import { attachContext } from '../../src/request/context.js';
import { harness, type FakeRes } from './support/harness.js';

/**
 * SessionAuthGuard with a fake ExecutionContext and the fake adapter of the harness: which
 * declaration wins, what each transport gets, the 401s, the step-up (maxAuthAge) and Cache-Control.
 * The end-to-end behaviour over HTTP, WebSocket and microservices is in test/guard.spec.ts.
 */

const T0 = 1_800_000_000_000;
let now = T0;
beforeEach(() => {
  now = T0;
  jest.spyOn(Date, 'now').mockImplementation(() => now);
});
afterEach(() => jest.restoreAllMocks());

// The routes, declared as an application would.
class Anything {
  plain() {}
  @Public() open() {}
  @Authenticated() closed() {}
  @Authenticated({ maxAuthAge: 60_000 }) stepUp() {}
  // Both on one level: the closed one wins.
  @Public() @Authenticated() both() {}
  @Authenticated() @Public() bothReversed() {}
}

@Public()
class OpenClass {
  open() {}
  @Authenticated() closed() {}
  @Authenticated({ maxAuthAge: 1000 }) stepUp() {}
}

@Authenticated()
class ClosedClass {
  closed() {}
  @Public() open() {}
}

@Authenticated({ maxAuthAge: 5000 })
class StepUpClass {
  stepUp() {}
}

/** A class with Public metadata set to false by hand: only `true` opens. */
class FalsePublic {
  handler() {}
}
Reflect.defineMetadata('nestjs-lazy-session:public', false, FalsePublic.prototype.handler);

type Cls = { prototype: object } & (new () => unknown);
const handlerOf = (cls: Cls, name: string) => (cls.prototype as Record<string, (...a: unknown[]) => unknown>)[name];

function setup() {
  const mem = new MemorySessionStore();
  const h = harness(mem);
  const guard = new SessionAuthGuard(new Reflector());
  /** An execution of `cls.name` for one request (cookie), as Nest would hand it to the guard. */
  function execution(cls: Cls, name: string, opts: { cookie?: string; type?: string; attach?: boolean } = {}) {
    const x = h.request(opts.cookie);
    if (opts.attach !== false) attachContext(x.req, x.ctx);
    // The layer's response (Fastify's reply, say) is the one the request's context was made with.
    const layerRes: FakeRes = x.res;
    const host = new ExecutionContextHost([x.req, layerRes, () => undefined], cls as never, handlerOf(cls, name) as never);
    host.setType(opts.type ?? 'http');
    return { host, x, layerRes };
  }
  return { h, mem, guard, execution };
}

describe('effectiveAccess', () => {
  const step = { maxAuthAge: 5 };
  it('takes the method declaration over the class one, in both directions', () => {
    expect(effectiveAccess('public', {})).toBe('public');
    expect(effectiveAccess(step, 'public')).toBe(step);
    expect(effectiveAccess({}, step)).toEqual({});
  });
  it('falls back to the class declaration', () => {
    expect(effectiveAccess(undefined, 'public')).toBe('public');
    expect(effectiveAccess(undefined, step)).toBe(step);
  });
  it('closes when nothing is declared', () => {
    expect(effectiveAccess(undefined, undefined)).toEqual({});
  });
});

describe('SessionAuthGuard: declarations', () => {
  it.each([
    [Anything, 'open'],
    [OpenClass, 'open'],
    [ClosedClass, 'open'],
  ] as Array<[Cls, string]>)('lets an anonymous request through a public route (%p.%s)', async (cls, name) => {
    const { guard, execution } = setup();
    const { host, layerRes, x } = execution(cls, name);
    await expect(guard.canActivate(host)).resolves.toBe(true);
    // A public route does not touch the session: nothing loaded, no header.
    expect(layerRes.headers).toEqual({});
    expect(x.res.headers.vary).toBeUndefined();
  });

  it.each([
    [Anything, 'plain'],
    [Anything, 'closed'],
    [Anything, 'both'],
    [Anything, 'bothReversed'],
    [OpenClass, 'closed'],
    [ClosedClass, 'closed'],
    [FalsePublic, 'handler'],
  ] as Array<[Cls, string]>)('refuses an anonymous request on a closed route (%p.%s) with a 401', async (cls, name) => {
    const { guard, execution } = setup();
    const { host } = execution(cls, name);
    await expect(guard.canActivate(host)).rejects.toThrow(new UnauthorizedException('Authentication required'));
  });

  it.each([
    [Anything, 'plain'],
    [Anything, 'both'],
    [OpenClass, 'closed'],
    [ClosedClass, 'closed'],
  ] as Array<[Cls, string]>)('lets a logged-in request through a closed route (%p.%s)', async (cls, name) => {
    const { guard, execution, h } = setup();
    const { cookie } = await h.seed({ userId: 'alice', authAt: T0 - 3600_000 });
    await expect(guard.canActivate(execution(cls, name, { cookie }).host)).resolves.toBe(true);
  });
});

describe('SessionAuthGuard: transports', () => {
  it('denies a closed rpc handler with false (the transport answers Forbidden)', async () => {
    const { guard, execution, h } = setup();
    const { cookie } = await h.seed({ userId: 'alice' });
    await expect(guard.canActivate(execution(Anything, 'closed', { type: 'rpc', cookie }).host)).resolves.toBe(false);
  });

  it('denies a closed ws handler whose socket has no session with WsException("Unauthorized")', async () => {
    const { WsException } = await import('@nestjs/websockets');
    const { guard, execution } = setup();
    const denied = guard.canActivate(execution(Anything, 'closed', { type: 'ws' }).host);
    await expect(denied).rejects.toBeInstanceOf(WsException);
    await expect(denied).rejects.toThrow('Unauthorized');
  });

  it.each(['ws', 'rpc', 'graphql'])('lets a public %s handler through', async (type) => {
    const { guard, execution } = setup();
    await expect(guard.canActivate(execution(Anything, 'open', { type }).host)).resolves.toBe(true);
  });

  it('answers other contexts (GraphQL) with a 401', async () => {
    const { guard, execution, h } = setup();
    const { cookie } = await h.seed({ userId: 'alice' });
    await expect(guard.canActivate(execution(Anything, 'closed', { type: 'graphql', cookie }).host)).rejects.toThrow(
      new UnauthorizedException('Authentication required'),
    );
  });

  it('fails loudly over HTTP when SessionModule did not open the request', async () => {
    const { guard, execution } = setup();
    await expect(guard.canActivate(execution(Anything, 'closed', { attach: false }).host)).rejects.toThrow(
      'nestjs-lazy-session: SessionAuthGuard needs SessionModule to be imported',
    );
  });
});

describe('SessionAuthGuard: Cache-Control', () => {
  it('marks the 401 and the allowed private response no-store, on the layer\'s response', async () => {
    const { guard, execution, h } = setup();
    const anon = execution(Anything, 'closed');
    await expect(guard.canActivate(anon.host)).rejects.toThrow(UnauthorizedException);
    expect(anon.layerRes.headers['cache-control']).toBe('no-store');

    const { cookie } = await h.seed({ userId: 'alice' });
    const known = execution(Anything, 'closed', { cookie });
    await expect(guard.canActivate(known.host)).resolves.toBe(true);
    expect(known.layerRes.headers['cache-control']).toBe('no-store');
  });
});

describe('SessionAuthGuard: maxAuthAge (step-up)', () => {
  const recent = new UnauthorizedException('Recent authentication required');

  it('allows a login exactly maxAuthAge old, refuses one a millisecond older', async () => {
    const { guard, execution, h } = setup();
    const { cookie } = await h.seed({ userId: 'alice', authAt: T0 - 60_000 });
    await expect(guard.canActivate(execution(Anything, 'stepUp', { cookie }).host)).resolves.toBe(true);
    now = T0 + 1;
    await expect(guard.canActivate(execution(Anything, 'stepUp', { cookie }).host)).rejects.toThrow(recent);
  });

  it('refuses a session with a user but no login time', async () => {
    const { guard, execution, h } = setup();
    const { cookie } = await h.seed({ userId: 'alice', authAt: null });
    await expect(guard.canActivate(execution(Anything, 'stepUp', { cookie }).host)).rejects.toThrow(recent);
    // Without maxAuthAge the same session passes.
    await expect(guard.canActivate(execution(Anything, 'closed', { cookie }).host)).resolves.toBe(true);
  });

  it('takes maxAuthAge from the class when the method declares nothing, and the method\'s over the class\'s', async () => {
    const { guard, execution, h } = setup();
    const { cookie } = await h.seed({ userId: 'alice', authAt: T0 - 3000 });
    await expect(guard.canActivate(execution(StepUpClass, 'stepUp', { cookie }).host)).resolves.toBe(true);
    await expect(guard.canActivate(execution(OpenClass, 'stepUp', { cookie }).host)).rejects.toThrow(recent);
    now = T0 + 2001;
    await expect(guard.canActivate(execution(StepUpClass, 'stepUp', { cookie }).host)).rejects.toThrow(recent);
  });

  it('counts a login made earlier in the same request as recent', async () => {
    const { guard, h } = setup();
    const x = h.request();
    attachContext(x.req, x.ctx);
    await x.session.login('bob');
    now = T0 + 60_000;
    const host = new ExecutionContextHost([x.req, x.res, () => undefined], Anything as never, Anything.prototype.stepUp as never);
    host.setType('http');
    await expect(guard.canActivate(host)).resolves.toBe(true);
  });

  it('refuses an anonymous request on a step-up route as unauthenticated, not as stale', async () => {
    const { guard, execution } = setup();
    await expect(guard.canActivate(execution(Anything, 'stepUp').host)).rejects.toThrow(new UnauthorizedException('Authentication required'));
  });
});
