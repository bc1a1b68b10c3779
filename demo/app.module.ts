import 'reflect-metadata';
import { Module, type DynamicModule, type LoggerService, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { INestApplication } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ThrottlerModule } from '@nestjs/throttler';
import { WsAdapter } from '@nestjs/platform-ws';
import { SessionModule } from '../src/index.js';
import { demoSecret } from './secret.js';
import { DemoController } from './demo.controller.js';
import { UserDirectory } from './users.js';
import { ProfileGateway, ProfileScriptController, SessionWatchers } from './ws.gateway.js';
import { OidcController } from './oidc.controller.js';
import { DEMO_OIDC, startTestProvider, type DemoOidc } from './test-provider.js';

export { DEMO_ONLY_INSECURE_SECRET, demoSecret } from './secret.js';

export interface DemoAppOptions {
  /** 0 picks a free port. Default 3000. */
  port?: number;
  /** Default: all interfaces. */
  host?: string;
  /** The embedded SQLite file. Default 'sessions.sqlite' in the working directory (the library's default). */
  sqlitePath?: string;
  secret?: string;
  /** Default 'express'. */
  platform?: 'express' | 'fastify';
  logger?: LoggerService | LogLevel[] | false;
  /** Login attempts allowed per client and account within `ttl` ms. Default 5 per minute. */
  loginAttempts?: { limit: number; ttl: number };
}

export interface DemoApp {
  app: INestApplication;
  /**
   * http://localhost:<port>, the origin to open in a browser. The cookie is Secure, which browsers
   * accept over plain http only from localhost: elsewhere, serve the demo over https.
   */
  url: string;
  port: number;
  close(): Promise<void>;
}

@Module({})
export class DemoModule {
  static register(options: { secret: string; sqlitePath?: string; loginAttempts?: { limit: number; ttl: number }; oidc: DemoOidc }): DynamicModule {
    const { limit, ttl } = options.loginAttempts ?? { limit: 5, ttl: 60_000 };
    // The profile pages' sockets, told by onEvent when their session ends (demo/ws.gateway.ts).
    const watchers = new SessionWatchers();
    return {
      module: DemoModule,
      imports: [
        // No `store`: the library's zero-setup SQLite store, exactly as a new user would start.
        SessionModule.forRoot({ secret: options.secret, ...(options.sqlitePath ? { sqlitePath: options.sqlitePath } : {}), onEvent: watchers.onEvent }),
        // Used by the login route only (see DemoController.login): past the limit, 429 for a whole `ttl`.
        // The default (unnamed) throttler: its 429 carries the standard Retry-After header.
        ThrottlerModule.forRoot([{ limit, ttl, blockDuration: ttl, getTracker: loginTracker }]),
      ],
      controllers: [DemoController, ProfileScriptController, OidcController],
      providers: [
        { provide: UserDirectory, useFactory: () => UserDirectory.create() },
        { provide: SessionWatchers, useValue: watchers },
        ProfileGateway,
        { provide: DEMO_OIDC, useValue: options.oidc },
      ],
    };
  }
}

/**
 * Attempts count per client address and account: guessing one account's password is stopped, while
 * the other people behind the same address (an office, a carrier's NAT) still log in. Express and
 * Fastify both give the parsed form as `body` and the socket's address as `ip` (no proxy trusted).
 */
function loginTracker(req: Record<string, unknown>): string {
  const body = req.body as Record<string, unknown> | undefined;
  const username = typeof body?.username === 'string' ? body.username.trim().toLowerCase().slice(0, 64) : '';
  return `${String(req.ip)}|${username}`;
}

/** Headers that cost nothing and close whole classes of attacks on the demo's pages. */
function securityHeaders(_req: unknown, res: ServerResponse, next: () => void): void {
  res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'");
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'same-origin');
  next();
}

export async function createDemoApp(options: DemoAppOptions = {}): Promise<DemoApp> {
  const platform = options.platform ?? 'express';
  if (platform !== 'express' && platform !== 'fastify') throw new Error(`demo: unsupported platform ${String(platform)}`);
  const secret = options.secret ?? demoSecret().secret;
  // "Sign in with the test provider": an OpenID Connect provider of its own, in this process.
  const oidc = await startTestProvider();
  const module = DemoModule.register({ secret, sqlitePath: options.sqlitePath, loginAttempts: options.loginAttempts, oidc });
  const logger = options.logger ?? (['log', 'warn', 'error'] as LogLevel[]);
  let app: INestApplication;
  if (platform === 'fastify') {
    // Loaded only here: the Express app never needs Fastify's packages, nor the reverse.
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    app = await NestFactory.create(module, new FastifyAdapter(), { logger });
  } else {
    app = await NestFactory.create(module, { logger });
    (app.getHttpAdapter().getInstance() as { disable(name: string): void }).disable('x-powered-by');
  }
  app.use(securityHeaders);
  // The profile page's WebSocket (demo/ws.gateway.ts), on the same server and port.
  app.useWebSocketAdapter(new WsAdapter(app));
  const port = options.port ?? 3000;
  await (options.host === undefined ? app.listen(port) : app.listen(port, options.host));
  const actual = (app.getHttpServer().address() as AddressInfo).port;
  oidc.appUrl = `http://localhost:${actual}`;
  return { app, port: actual, url: oidc.appUrl, close: () => app.close().finally(() => oidc.close()) };
}
