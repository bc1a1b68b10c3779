import 'reflect-metadata';
import { Module, type DynamicModule, type LoggerService, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
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
  platform?: 'express';
  logger?: LoggerService | LogLevel[] | false;
}

export interface DemoApp {
  app: NestExpressApplication;
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
function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
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
  if (options.platform !== undefined && options.platform !== 'express') throw new Error(`demo: unsupported platform ${String(options.platform)}`);
  const secret = options.secret ?? demoSecret().secret;
  const app = await NestFactory.create<NestExpressApplication>(DemoModule.register({ secret, sqlitePath: options.sqlitePath }), {
    logger: options.logger ?? ['log', 'warn', 'error'],
  });
  app.disable('x-powered-by');
  app.use(securityHeaders);
  const port = options.port ?? 3000;
  await (options.host === undefined ? app.listen(port) : app.listen(port, options.host));
  const actual = (app.getHttpServer().address() as AddressInfo).port;
  return { app, port: actual, url: `http://localhost:${actual}`, close: () => app.close() };
}
