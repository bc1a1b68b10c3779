import 'reflect-metadata';
import { jest } from '@jest/globals';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
// Straight from the modules, not the package index (see session.lifecycle.spec.ts).
import { MemorySessionStore } from '../../src/stores/memory.store.js';
import { Authenticated, Public, Session, SessionValue, UserId } from '../../src/nest/decorators.js';
import { SessionAuthGuard } from '../../src/nest/guard.js';
import { attachContext } from '../../src/request/context.js';
import { SessionNotInRequestError } from '../../src/errors.js';

const NOT_IN_REQUEST = new SessionNotInRequestError().message;
import { harness } from './support/harness.js';

/**
 * The decorators: the parameter decorators resolve from the request's session, @Authenticated()
 * validates its options and installs the guard with them, @Public() opens a route.
 */

afterEach(() => jest.restoreAllMocks());

/** What Nest calls to resolve a custom parameter decorator: its factory, with the decorator's data. */
type Factory = (data: unknown, ctx: ExecutionContextHost) => unknown;
function resolverOf(decorator: ParameterDecorator): { factory: Factory; data: unknown } {
  class Target {
    handler(_value: unknown) {}
  }
  decorator(Target.prototype, 'handler', 0);
  const args = Reflect.getMetadata(ROUTE_ARGS_METADATA, Target, 'handler') as Record<string, { factory: Factory; data: unknown }>;
  return Object.values(args)[0];
}
const resolve = (decorator: ParameterDecorator, host: ExecutionContextHost) => {
  const { factory, data } = resolverOf(decorator);
  return factory(data, host);
};

function setup() {
  const h = harness(new MemorySessionStore());
  const execution = (cookie?: string, type = 'http') => {
    const x = h.request(cookie);
    attachContext(x.req, x.ctx);
    const host = new ExecutionContextHost([x.req, x.res, () => undefined]);
    host.setType(type);
    return { host, x };
  };
  return { h, execution };
}

describe('parameter decorators', () => {
  it('@Session() gives the request\'s own session handle', async () => {
    const { execution } = setup();
    const { host, x } = execution();
    expect(resolve(Session(), host)).toBe(x.session);
  });

  it('@SessionValue(key) gives that value of the session, undefined when absent', async () => {
    const { h, execution } = setup();
    const { cookie } = await h.seed({ data: { cart: [1, 2], theme: 'dark' } });
    await expect(resolve(SessionValue('cart'), execution(cookie).host)).resolves.toEqual([1, 2]);
    await expect(resolve(SessionValue('theme'), execution(cookie).host)).resolves.toBe('dark');
    await expect(resolve(SessionValue('missing'), execution(cookie).host)).resolves.toBeUndefined();
  });

  it('@UserId() gives the logged-in user, undefined when anonymous', async () => {
    const { h, execution } = setup();
    const { cookie } = await h.seed({ userId: 'alice' });
    await expect(resolve(UserId(), execution(cookie).host)).resolves.toBe('alice');
    await expect(resolve(UserId(), execution().host)).resolves.toBeUndefined();
  });

  it.each([
    ['Session', () => Session()],
    ['SessionValue', () => SessionValue('k')],
    ['UserId', () => UserId()],
  ] as Array<[string, () => ParameterDecorator]>)('@%s() outside an HTTP request throws the not-in-request error', (_name, make) => {
    const { execution } = setup();
    expect(() => resolve(make(), execution(undefined, 'ws').host)).toThrow(NOT_IN_REQUEST);
  });

  it.each([
    ['Session', () => Session()],
    ['SessionValue', () => SessionValue('k')],
    ['UserId', () => UserId()],
  ] as Array<[string, () => ParameterDecorator]>)('@%s() in a microservice handler says that a message has no session', (_name, make) => {
    const { execution } = setup();
    expect(() => resolve(make(), execution(undefined, 'rpc').host)).toThrow(SessionNotInRequestError.inMicroservice().message);
  });
});

describe('@Authenticated() options', () => {
  const message = 'nestjs-lazy-session: @Authenticated({ maxAuthAge }) takes a positive whole number of milliseconds';

  it.each([0, -1, -1000, 1.5, 0.5, Number.NaN, Number.POSITIVE_INFINITY, '1000' as unknown as number])('refuses maxAuthAge %p', (maxAuthAge) => {
    expect(() => Authenticated({ maxAuthAge })).toThrow(message);
  });

  it.each([1, 1000, 86_400_000])('accepts maxAuthAge %p', (maxAuthAge) => {
    expect(() => Authenticated({ maxAuthAge })).not.toThrow();
  });

  it('accepts no options and empty options', () => {
    expect(() => Authenticated()).not.toThrow();
    expect(() => Authenticated({})).not.toThrow();
  });
});

describe('@Authenticated() and @Public() metadata', () => {
  const reflector = new Reflector();

  it('@Authenticated() records its options and installs SessionAuthGuard, on a method and on a class', () => {
    class Routes {
      @Authenticated({ maxAuthAge: 5000 }) stepUp() {}
      @Authenticated() plain() {}
    }
    @Authenticated()
    class Closed {}
    expect(reflector.get('nestjs-lazy-session:authenticated', Routes.prototype.stepUp)).toEqual({ maxAuthAge: 5000 });
    expect(reflector.get('nestjs-lazy-session:authenticated', Routes.prototype.plain)).toEqual({});
    expect(reflector.get('nestjs-lazy-session:authenticated', Closed)).toEqual({});
    for (const target of [Routes.prototype.stepUp, Routes.prototype.plain, Closed]) {
      expect(reflector.get('__guards__', target)).toEqual([SessionAuthGuard]);
    }
  });

  it('@Public() marks a route public and installs no guard', () => {
    class Routes {
      @Public() open() {}
    }
    expect(reflector.get('nestjs-lazy-session:public', Routes.prototype.open)).toBe(true);
    expect(reflector.get('__guards__', Routes.prototype.open)).toBeUndefined();
  });

  it('the guard reads what the decorators recorded: @Public() opens, @Authenticated({ maxAuthAge }) steps up', async () => {
    const T0 = 1_800_000_000_000;
    jest.spyOn(Date, 'now').mockReturnValue(T0);
    class Routes {
      @Public() open() {}
      @Authenticated({ maxAuthAge: 1000 }) stepUp() {}
    }
    const { h, execution } = setup();
    const guard = new SessionAuthGuard(reflector);
    const on = (handler: () => void, cookie?: string) => {
      const { host } = execution(cookie);
      return new ExecutionContextHost(host.getArgs(), Routes as never, handler as never);
    };
    const http = (host: ExecutionContextHost) => {
      host.setType('http');
      return host;
    };
    await expect(guard.canActivate(http(on(Routes.prototype.open)))).resolves.toBe(true);
    const { cookie } = await h.seed({ userId: 'alice', authAt: T0 - 1001 });
    await expect(guard.canActivate(http(on(Routes.prototype.stepUp, cookie)))).rejects.toThrow('Recent authentication required');
  });
});
