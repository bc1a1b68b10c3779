import 'reflect-metadata';
import type { INestApplication, Type } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { Args, Field, GraphQLModule, Int, Mutation, ObjectType, Query, ResolveField, Resolver } from '@nestjs/graphql';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { jest } from '@jest/globals';
import {
  Authenticated, CurrentSession, Public, Session, SessionAuthGuard, SessionModule, SessionValue, UserId,
  type CookieSessionStore, type SessionHandle, type SessionModuleOptions, type SessionStore,
} from '../../src/index.js';
import { CartService, SECRET, startApp } from './test-app.js';

/** What a resolver ran, so a test can tell a denied resolver from one that ran. */
export const served: string[] = [];

@ObjectType()
export class Profile {
  @Field(() => String)
  kind!: string;
}

@ObjectType()
export class Counter {
  @Field(() => Int)
  n!: number;
}

/**
 * The session read in every place a resolver can read it: queries, mutations and field resolvers,
 * through each decorator, CurrentSession (CartService) and the guard.
 */
@Resolver(() => Profile)
export class ProfileResolver {
  constructor(private readonly cart: CartService, private readonly session: CurrentSession) {}

  /** Never touches the session: 0 statements, no cookie. */
  @Query(() => String)
  @Public()
  ping(): string {
    served.push('ping');
    return 'pong';
  }

  /** The session is read by its field resolvers only. */
  @Query(() => Profile)
  @Public()
  profile(): Profile {
    return { kind: 'profile' };
  }

  @ResolveField(() => String, { nullable: true })
  userId(@UserId() userId: string | undefined): string | null {
    return userId ?? null;
  }

  @ResolveField(() => Int, { nullable: true })
  visits(@SessionValue('visits') visits: number | undefined): number | null {
    return visits ?? null;
  }

  @ResolveField(() => [String])
  items(): Promise<string[]> {
    return this.cart.items();
  }

  @ResolveField(() => String, { nullable: true })
  async note(@Session() session: SessionHandle): Promise<string | null> {
    return (await session.get<string>('note')) ?? null;
  }

  @Query(() => Int, { nullable: true })
  @Public()
  visitCount(@SessionValue('visits') visits: number | undefined): number | null {
    return visits ?? null;
  }

  @Query(() => String, { nullable: true })
  @Public()
  async whoami(@UserId() userId: string | undefined): Promise<string | null> {
    return userId ?? null;
  }

  /** Through CurrentSession, in a resolver that takes no session parameter. */
  @Query(() => String, { nullable: true })
  @Public()
  async currentUser(): Promise<string | null> {
    return (await this.session.getUserId()) ?? null;
  }

  @Query(() => String)
  @Authenticated()
  privateData(@UserId() userId: string): string {
    served.push('privateData');
    return `private of ${userId}`;
  }

  @Mutation(() => Boolean)
  @Authenticated({ maxAuthAge: 60_000 })
  sensitive(): boolean {
    served.push('sensitive');
    return true;
  }

  @Mutation(() => Counter)
  @Public()
  async visit(@Session() session: SessionHandle): Promise<Counter> {
    const n = ((await session.get<number>('visits')) ?? 0) + 1;
    await session.set('visits', n);
    return { n };
  }

  @Mutation(() => Boolean)
  @Public()
  async setNote(@Session() session: SessionHandle, @Args('note') note: string): Promise<boolean> {
    await session.set('note', note);
    return true;
  }

  @Mutation(() => [String])
  @Public()
  addItem(@Args('item') item: string): Promise<string[]> {
    return this.cart.add(item);
  }

  @Mutation(() => Boolean)
  @Public()
  async login(@Session() session: SessionHandle, @Args('user') user: string): Promise<boolean> {
    await session.login(user);
    return true;
  }

  @Mutation(() => Boolean)
  @Public()
  async logout(@Session() session: SessionHandle): Promise<boolean> {
    await session.logout();
    return true;
  }

  /** Changes the session, then fails: what is stored of it? */
  @Mutation(() => Boolean)
  @Public()
  async setThenFail(@Session() session: SessionHandle): Promise<boolean> {
    await session.set('poison', true);
    throw new Error('unexpected');
  }
}

/**
 * A field of Profile behind @Authenticated(): Nest guards it only under fieldResolverEnhancers:
 * ['guards'], and the module refuses to start without that.
 */
@Resolver(() => Profile)
export class SecretFieldResolver {
  @ResolveField(() => String)
  @Authenticated()
  secret(@UserId() userId: string): string {
    served.push('secret');
    return `secret of ${userId}`;
  }

  /** Open on purpose: @Public() on the method wins over the class's declaration, as in the guard. */
  @ResolveField(() => String)
  @Public()
  motto(): string {
    return 'open';
  }
}

/** The same field guarded through its class instead. */
@Authenticated()
@Resolver(() => Profile)
export class ClosedClassFieldResolver {
  @ResolveField(() => String)
  closedByClass(): string {
    return 'closed';
  }
}

/** Decorators only: nothing injects CurrentSession, so requests are not tracked in AsyncLocalStorage. */
@Resolver()
export class PlainResolver {
  @Query(() => String, { nullable: true })
  whoami(@UserId() userId: string | undefined): string | null {
    return userId ?? null;
  }

  @Mutation(() => Boolean)
  async login(@Session() session: SessionHandle, @Args('user') user: string): Promise<boolean> {
    await session.login(user);
    return true;
  }

  @Query(() => String)
  @Authenticated()
  privateData(@UserId() userId: string): string {
    return `private of ${userId}`;
  }

  /** A login older than 1 ms is too old here. */
  @Query(() => String)
  @Authenticated({ maxAuthAge: 1 })
  stepUp(): string {
    served.push('stepUp');
    return 'stepped up';
  }
}

/** Neither @Public() nor @Authenticated(): closed under APP_GUARD, open without it. */
@Resolver()
export class UndecidedResolver {
  @Query(() => String)
  undecided(): string {
    served.push('undecided');
    return 'served';
  }
}

export type GraphqlDriver = 'apollo' | 'mercurius';

let mercuriusReady: Promise<void> | undefined;

/**
 * Mercurius requires @fastify/static, which require()s content-disposition, an ES module: Node 20.19
 * does that, jest's module loader does not before Node 24.9. The real module is imported here and
 * handed to that require(), so Mercurius runs exactly as it does in an app.
 */
function prepareMercurius(): Promise<void> {
  return (mercuriusReady ??= (async () => {
    const fromTest = createRequire(import.meta.url);
    const fromStatic = createRequire(createRequire(fromTest.resolve('mercurius')).resolve('@fastify/static'));
    const path = fromStatic.resolve('content-disposition');
    const real = await import(pathToFileURL(path).href);
    // Through an alias: ts-jest hoists a literal `jest.mock(...)` above the lines that compute its path.
    const registry = jest;
    registry.mock(path, () => real);
  })());
}

export interface GraphqlAppOptions {
  driver: GraphqlDriver;
  store: SessionStore | CookieSessionStore;
  options?: Partial<SessionModuleOptions>;
  /** SessionAuthGuard as APP_GUARD. */
  globalGuard?: boolean;
  /** Guards run on field resolvers too (Nest's fieldResolverEnhancers). */
  guardFields?: boolean;
  resolvers?: Type[];
  /** Also answer several operations sent in one request (Apollo's and Mercurius's batching). */
  batching?: boolean;
}

/**
 * A real GraphQL server: Apollo on Express or Mercurius on Fastify, listening on 127.0.0.1, with the
 * session module in front of it as in any app.
 */
export async function createGraphqlApp({ driver, store, options, globalGuard, guardFields, resolvers, batching }: GraphqlAppOptions): Promise<{ app: INestApplication; url: string }> {
  if (driver === 'mercurius') await prepareMercurius();
  const common = { autoSchemaFile: true, graphiql: false, ...(guardFields ? { fieldResolverEnhancers: ['guards' as const] } : {}) };
  const graphql =
    driver === 'apollo'
      ? GraphQLModule.forRoot({ driver: (await import('@nestjs/apollo')).ApolloDriver, ...common, allowBatchedHttpRequests: batching === true })
      : GraphQLModule.forRoot({ driver: (await import('@nestjs/mercurius')).MercuriusDriver, ...common, allowBatchedQueries: batching === true });
  const moduleRef = await Test.createTestingModule({
    imports: [SessionModule.forRoot({ secret: SECRET, store, pruneInterval: 0, ...options }), graphql],
    providers: [
      CartService,
      ...(resolvers ?? [ProfileResolver, UndecidedResolver]),
      ...(globalGuard ? [{ provide: APP_GUARD, useClass: SessionAuthGuard }] : []),
    ],
  }).compile();
  const app = await startApp(moduleRef, driver === 'apollo' ? 'express' : 'fastify');
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}/graphql` };
}

export interface GqlResponse {
  status: number;
  headers: Headers;
  body: { data?: Record<string, unknown> | null; errors?: { message: string; path?: string[]; extensions?: Record<string, unknown> }[] } & Record<string, unknown>;
  setCookie: string[];
}

/** A GraphQL client over real HTTP that keeps the session cookie as a browser would. */
export class GqlClient {
  cookie: string | undefined;
  constructor(readonly url: string, private readonly name = '__Host-sid') {}

  private keep(res: Response): string[] {
    const lines = res.headers.getSetCookie();
    for (const line of lines) {
      if (!line.startsWith(`${this.name}=`)) continue;
      this.cookie = /Max-Age=0/i.test(line) ? undefined : line.split(';')[0];
    }
    return lines;
  }

  /** POST with a JSON body: one operation, or an array of them (a batch). */
  async post(body: unknown, headers: Record<string, string> = {}): Promise<GqlResponse> {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(this.cookie ? { cookie: this.cookie } : {}), ...headers },
      body: JSON.stringify(body),
    });
    const setCookie = this.keep(res);
    return { status: res.status, headers: res.headers, body: (await res.json()) as GqlResponse['body'], setCookie };
  }

  query(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GqlResponse> {
    return this.post({ query, variables }, headers);
  }

  /** GET ?query=… (a query over GET, as caches and CDNs like it). */
  async get(query: string, headers: Record<string, string> = {}): Promise<GqlResponse> {
    const res = await fetch(`${this.url}?query=${encodeURIComponent(query)}`, {
      headers: { ...(this.cookie ? { cookie: this.cookie } : {}), 'apollo-require-preflight': 'true', ...headers },
    });
    const setCookie = this.keep(res);
    return { status: res.status, headers: res.headers, body: (await res.json()) as GqlResponse['body'], setCookie };
  }
}
