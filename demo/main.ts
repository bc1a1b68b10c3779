import { Logger } from '@nestjs/common';
import { createDemoApp, demoSecret } from './app.module.js';

const logger = new Logger('Demo');
const { secret, isDemoSecret } = demoSecret();
if (isDemoSecret) logger.warn('SESSION_SECRET is not set: using the public demo-only secret. Never deploy this way.');

const port = process.env.PORT ? Number(process.env.PORT) : 3000;
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, got ${process.env.PORT}`);

// Only this machine by default: the demo's secret and accounts are public.
// `npm start -- --fastify` or DEMO_PLATFORM=fastify: the same app on @nestjs/platform-fastify.
const platform = process.argv.includes('--fastify') || process.env.DEMO_PLATFORM === 'fastify' ? 'fastify' : 'express';
const demo = await createDemoApp({ port, host: process.env.HOST ?? 'localhost', secret, platform });
demo.app.enableShutdownHooks();
logger.log(`nestjs-lazy-session demo (${platform}) listening on ${demo.url} (sessions in ./sessions.sqlite)`);
