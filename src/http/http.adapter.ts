/**
 * The few HTTP operations the module needs, on the objects the platform hands to middleware, guards
 * and decorators. Everything platform-specific lives behind this interface; the rest of the module
 * never asks which platform it runs on.
 */
export interface SessionHttpAdapter {
  header(req: unknown, name: string): string | string[] | undefined;
  method(req: unknown): string;
  /**
   * The request's scheme as the platform reports it (`http`, `https`): the platform's own
   * trust-proxy setting decides whether X-Forwarded-Proto counts. Undefined when it cannot tell.
   */
  scheme(req: unknown): string | undefined;
  /** Adds one Set-Cookie line, keeping any the application set. */
  addSetCookie(res: unknown, line: string): void;
  setHeader(res: unknown, name: string, value: string): void;
  /** Adds a field to Vary without repeating it. */
  addVary(res: unknown, field: string): void;
}

/** A platform's adapter as start-up sees it: the per-request operations, and how it goes in front. */
export interface PlatformAdapter extends SessionHttpAdapter {
  /** Whether Nest middleware runs after `entry`, so it can find the request's context. */
  readonly middlewareSeesContext: boolean;
  /**
   * Once at start-up, before any route, with the platform's own instance (an Express app, a Fastify
   * server): puts `entry` in front of every request, and has every response, when it is about to be
   * sent, call `beforeSend` of the request `find` names and wait for its promise (a rejection is
   * answered with 503).
   */
  install(instance: unknown, entry: RequestEntry, find: (req: unknown) => HeldRequest | undefined): void;
}

/**
 * What runs first for every request (SessionMiddleware), with the request and response objects that
 * guards and handlers will see (Express's own; Fastify's request and reply), so the request's context
 * holds the same response from start to end. It never answers the request itself.
 */
export interface RequestEntry {
  use(req: object, res: object, next: () => void): void;
}

/** A request as the adapter sees it at send time. */
export interface HeldRequest {
  /**
   * With the response's status, when it is about to be sent; answers once, undefined when there is
   * nothing to wait for (the session was not used, or nothing changed).
   */
  beforeSend(status: number): Promise<void> | undefined;
}

/** The body of the 503 answered when storing the session failed: Nest's usual error shape. */
export const UNAVAILABLE_BODY = JSON.stringify({ statusCode: 503, message: 'Session store unavailable', error: 'Service Unavailable' });

/**
 * The Vary value after adding `field`: undefined when it is already there (or `*` covers it), so both
 * platforms merge one way whatever the application set before.
 */
export function mergedVary(prev: unknown, field: string): string | undefined {
  if (prev === undefined) return field;
  const text = Array.isArray(prev) ? prev.join(', ') : String(prev);
  const lower = field.toLowerCase();
  if (text.split(',').some((f) => f.trim() === '*' || f.trim().toLowerCase() === lower)) return undefined;
  return `${text}, ${field}`;
}
