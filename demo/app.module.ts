import 'reflect-metadata';
import { Module, type DynamicModule, type LoggerService, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { INestApplication } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SessionModule } from '../src/index.js';
import { DemoController } from './demo.controller.js';
import { UserDirectory } from './users.js';

/**
 * For this demo only, so that `npm start` works with no setup. It is public: anybody can forge
 * cookies for an app that uses it. Real deployments set SESSION_SECRET (32+ random characters).
 */
export const DEMO_ONLY_INSECURE_SECRET = 'demo-only-insecure-secret-do-not-use-in-production';

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
  static register(options: { secret: string; sqlitePath?: string }): DynamicModule {
    return {
      module: DemoModule,
      // No `store`: the library's zero-setup SQLite store, exactly as a new user would start.
      imports: [SessionModule.forRoot({ secret: options.secret, ...(options.sqlitePath ? { sqlitePath: options.sqlitePath } : {}) })],
      controllers: [DemoController],
      providers: [{ provide: UserDirectory, useFactory: () => UserDirectory.create() }],
    };
  }
}

/** Headers that cost nothing and close whole classes of attacks on the demo's pages. */
function securityHeaders(_req: unknown, res: ServerResponse, next: () => void): void {
  res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'");
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'same-origin');
  next();
}

export function demoSecret(env: NodeJS.ProcessEnv = process.env): { secret: string; isDemoSecret: boolean } {
  const fromEnv = env.SESSION_SECRET;
  return fromEnv ? { secret: fromEnv, isDemoSecret: false } : { secret: DEMO_ONLY_INSECURE_SECRET, isDemoSecret: true };
}

export async function createDemoApp(options: DemoAppOptions = {}): Promise<DemoApp> {
  const platform = options.platform ?? 'express';
  if (platform !== 'express' && platform !== 'fastify') throw new Error(`demo: unsupported platform ${String(platform)}`);
  const secret = options.secret ?? demoSecret().secret;
  const module = DemoModule.register({ secret, sqlitePath: options.sqlitePath });
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
  const port = options.port ?? 3000;
  await (options.host === undefined ? app.listen(port) : app.listen(port, options.host));
  const actual = (app.getHttpServer().address() as AddressInfo).port;
  return { app, port: actual, url: `http://localhost:${actual}`, close: () => app.close() };
}
