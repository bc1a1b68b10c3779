type RequestLike = { headers: Record<string, string | string[] | undefined>; method?: string; protocol?: unknown };

/**
 * Reading a request is the same on both platforms: Express's request is Node's, and Fastify's
 * request carries Node's headers and method and a `protocol` of its own.
 */
export abstract class RequestReader {
  header(req: unknown, name: string): string | string[] | undefined {
    return (req as RequestLike).headers[name];
  }

  method(req: unknown): string {
    return (req as RequestLike).method ?? 'GET';
  }

  /**
   * The platform's req.protocol: the socket's, or X-Forwarded-Proto when the platform's own
   * trust-proxy setting (Express's 'trust proxy', Fastify's trustProxy) trusts the peer.
   */
  scheme(req: unknown): string | undefined {
    const protocol = (req as RequestLike).protocol;
    return typeof protocol === 'string' ? protocol : undefined;
  }
}
