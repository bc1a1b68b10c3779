import type { PlatformAdapter } from './http.adapter.js';
import { ExpressHttpAdapter } from './express.adapter.js';
import { FastifyHttpAdapter } from './fastify.adapter.js';

/** The adapter for the platform Nest reports (`getType()` of its HTTP adapter): Fastify's, else Express's. */
export function platformAdapter(type: string): PlatformAdapter {
  return type === 'fastify' ? new FastifyHttpAdapter() : new ExpressHttpAdapter();
}
