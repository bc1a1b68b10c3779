import 'reflect-metadata';
import {
  Body, Catch, Controller, Get, Injectable, Module, Post, UseFilters, UseGuards, UseInterceptors, UsePipes,
  type ArgumentsHost, type CallHandler, type CanActivate, type ExceptionFilter, type ExecutionContext,
  type NestInterceptor, type NestMiddleware, type MiddlewareConsumer, type NestModule, type PipeTransform, type Type,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { CurrentSession, MemorySessionStore, SessionManager, SessionModule } from '../src/index.js';
import { SessionRuntime } from '../src/session/runtime.js';
import { SECRET, startApp } from './support/test-app.js';

/**
 * CurrentSession and SessionManager need requests tracked in AsyncLocalStorage, which the module
 * turns on only when something injects them. Nest builds the guards, interceptors, pipes, filters
 * and middleware named in decorators or `consumer.apply()` outside `providers`: each must be found
 * too, or its first request answers 500 ("no current request").
 */

@Injectable()
class SessionGuard implements CanActivate {
  constructor(private readonly session: CurrentSession) {}
  async canActivate(): Promise<boolean> {
    await this.session.set('guarded', true);
    return true;
  }
}

@Injectable()
class SessionInterceptor implements NestInterceptor {
  constructor(private readonly session: CurrentSession) {}
  async intercept(_ctx: ExecutionContext, next: CallHandler) {
    await this.session.set('intercepted', true);
    return next.handle();
  }
}

@Injectable()
class SessionPipe implements PipeTransform {
  constructor(private readonly session: CurrentSession) {}
  async transform(value: unknown) {
    await this.session.set('piped', true);
    return value;
  }
}

class Boom extends Error {}

@Catch(Boom)
class SessionFilter implements ExceptionFilter {
  constructor(private readonly session: CurrentSession, private readonly manager: SessionManager) {}
  async catch(_e: Boom, host: ArgumentsHost) {
    await this.session.set('failed', true);
    const sessions = await this.manager.listForUser('nobody');
    const res = host.switchToHttp().getResponse();
    // Express and Fastify responses both have status() and send().
    res.status(418).send({ sessions: sessions.length });
  }
}

@Injectable()
class SessionMiddleware implements NestMiddleware {
  constructor(private readonly session: CurrentSession) {}
  use(_req: unknown, _res: unknown, next: (err?: unknown) => void) {
    this.session.set('seen', true).then(() => next(), next);
  }
}

@Controller('method')
class MethodGuardController {
  @Get()
  @UseGuards(SessionGuard)
  route() {
    return 'ok';
  }
}

@Controller('class')
@UseGuards(SessionGuard)
class ClassGuardController {
  @Get()
  route() {
    return 'ok';
  }
}

@Controller('interceptor')
class InterceptorController {
  @Get()
  @UseInterceptors(SessionInterceptor)
  route() {
    return 'ok';
  }
}

@Controller('pipe')
class PipeController {
  @Post('method')
  @UsePipes(SessionPipe)
  method(@Body() body: unknown) {
    return body;
  }

  @Post('param')
  param(@Body(SessionPipe) body: unknown) {
    return body;
  }
}

@Controller('filter')
@UseFilters(SessionFilter)
class FilterController {
  @Get()
  route() {
    throw new Boom();
  }
}

@Controller('middleware')
class MiddlewareController {
  @Get()
  route() {
    return 'ok';
  }
}

@Module({ controllers: [MiddlewareController] })
class MiddlewareModule implements NestModule {
  configure(consumer: MiddlewareConsumer) {
    consumer.apply(SessionMiddleware).forRoutes('middleware');
  }
}

/** A feature module of the app, as real apps put their controllers. */
function feature(controller: Type): Type {
  @Module({ controllers: [controller] })
  class Feature {}
  return Feature;
}

async function appWith(feature: Type, platform: 'express' | 'fastify') {
  const moduleRef = await Test.createTestingModule({
    imports: [SessionModule.forRoot({ secret: SECRET, store: new MemorySessionStore(), pruneInterval: 0 }), feature],
  }).compile();
  return startApp(moduleRef, platform);
}

describe.each(['express', 'fastify'] as const)('request tracking on %s', (platform) => {
  it.each([
    ['a guard applied with @UseGuards on a method', feature(MethodGuardController), 'get', '/method', 200],
    ['a guard applied with @UseGuards on a controller', feature(ClassGuardController), 'get', '/class', 200],
    ['an interceptor applied with @UseInterceptors', feature(InterceptorController), 'get', '/interceptor', 200],
    ['a pipe applied with @UsePipes', feature(PipeController), 'post', '/pipe/method', 201],
    ['a pipe given to a parameter decorator', feature(PipeController), 'post', '/pipe/param', 201],
    ['an exception filter applied with @UseFilters (injecting CurrentSession and SessionManager)', feature(FilterController), 'get', '/filter', 418],
  ] as const)('is on for %s, whose requests are served', async (_name, mod, method, path, status) => {
    const app = await appWith(mod, platform);
    try {
      const res = await request(app.getHttpServer())[method](path).send({ a: 1 });
      expect(res.status).toBe(status);
      expect(app.get(SessionRuntime).tracksRequests).toBe(true);
    } finally {
      await app.close();
    }
  });

  // Express: tracked like the rest. Fastify: Nest runs middleware (through middie) before the module's
  // onRequest hook has made the request's context, so CurrentSession there could only fail at run
  // time: the start-up fails instead, naming the fix.
  it('a middleware applied with consumer.apply() that injects CurrentSession: tracked on Express, refused at start-up on Fastify', async () => {
    if (platform === 'fastify') {
      await expect(appWith(MiddlewareModule, platform)).rejects.toThrow(/middleware SessionMiddleware injects CurrentSession.*on Fastify.*guard, interceptor/s);
      return;
    }
    const app = await appWith(MiddlewareModule, platform);
    try {
      expect((await request(app.getHttpServer()).get('/middleware')).status).toBe(200);
      expect(app.get(SessionRuntime).tracksRequests).toBe(true);
    } finally {
      await app.close();
    }
  });
});
