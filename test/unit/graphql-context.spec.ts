import { UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
// Straight from the modules, not the package index (see session.lifecycle.spec.ts).
import { graphqlContext } from '../../src/nest/execution.js';
import { GraphqlUnauthorizedException, SessionAuthGuard } from '../../src/nest/guard.js';
import { attachContext, requestContextStorage, type RequestContext } from '../../src/request/context.js';
import { CrossSiteRefusedException } from '../../src/errors.js';

/**
 * Where a resolver finds its request's context in the GraphQL context object of each driver, and the
 * refusals' GraphQL codes. End to end over Apollo and Mercurius: test/graphql.spec.ts.
 */

const ctx = { marker: 'the request context' } as unknown as RequestContext;
function seenRequest(): object {
  const req = {};
  attachContext(req, ctx);
  return req;
}

describe('graphqlContext', () => {
  it('finds the request under `req` (Apollo, and Nest\'s drivers) or under `reply.request` (Mercurius)', () => {
    expect(graphqlContext({ req: seenRequest() })).toBe(ctx);
    expect(graphqlContext({ reply: { request: seenRequest() } })).toBe(ctx);
    expect(graphqlContext({ request: seenRequest() })).toBe(ctx);
  });

  it('skips a `req` that the module never saw (an app\'s own context may put anything there)', () => {
    expect(graphqlContext({ req: { user: 'x' }, reply: { request: seenRequest() } })).toBe(ctx);
  });

  it('never falls back on AsyncLocalStorage: a subscription runs in the async context of whoever published', () => {
    requestContextStorage.run(ctx, () => {
      expect(graphqlContext({ req: {} })).toBeUndefined();
      expect(graphqlContext({})).toBeUndefined();
      expect(graphqlContext(undefined)).toBeUndefined();
      expect(graphqlContext('text')).toBeUndefined();
    });
  });
});

describe('GraphQL codes of the refusals', () => {
  it('the guard denies a resolver with a 401 that carries extensions.code UNAUTHENTICATED', async () => {
    class Resolver {
      handler() {}
    }
    const host = new ExecutionContextHost([{}, {}, { req: {} }, {}], Resolver as never, Resolver.prototype.handler);
    host.setType('graphql');
    const denied = await new SessionAuthGuard(new Reflector()).canActivate(host).catch((err: unknown) => err);
    expect(denied).toBeInstanceOf(GraphqlUnauthorizedException);
    expect(denied).toBeInstanceOf(UnauthorizedException);
    expect((denied as GraphqlUnauthorizedException).extensions).toEqual({ code: 'UNAUTHENTICATED' });
    expect((denied as UnauthorizedException).getResponse()).toEqual({ statusCode: 401, message: 'Authentication required', error: 'Unauthorized' });
  });

  it('the cross-site refusal is a 403 with extensions.code FORBIDDEN; over HTTP its body is unchanged', () => {
    const refused = new CrossSiteRefusedException('Cross-site request refused');
    expect(refused.getStatus()).toBe(403);
    expect(refused.extensions).toEqual({ code: 'FORBIDDEN' });
    expect(refused.getResponse()).toEqual({ statusCode: 403, message: 'Cross-site request refused', error: 'Forbidden' });
  });
});
