import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import type { IncomingMessage, ServerResponse } from 'node:http';

type Req = IncomingMessage & { body?: unknown; originalUrl?: string };
type Res = ServerResponse & { send(body: string): unknown };

/**
 * What @nestjs/apollo loads from `@as-integrations/express5` to serve Apollo on Express, written here
 * for the one case where that package is not installed: Apollo's own HTTP handling
 * (executeHTTPGraphQLRequest) between Express's request and response, nothing more. The spec uses
 * the real package as soon as it is installed.
 */
export function expressMiddleware(server: ApolloServer<BaseContext>, options?: { context?: (arg: { req: Req; res: Res }) => Promise<BaseContext> }) {
  return (req: Req, res: Res, next: (err?: unknown) => void): void => {
    const headers = new HeaderMap();
    for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    const search = new URL(req.originalUrl ?? req.url ?? '/', 'http://localhost').search;
    server
      .executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: (req.method ?? 'GET').toUpperCase(), headers, search, body: req.body },
        context: async () => (options?.context ? options.context({ req, res }) : {}),
      })
      .then(async (response) => {
        for (const [name, value] of response.headers) res.setHeader(name, value);
        res.statusCode = response.status ?? 200;
        if (response.body.kind === 'complete') return void res.send(response.body.string);
        for await (const chunk of response.body.asyncIterator) res.write(chunk);
        res.end();
      })
      .catch(next);
  };
}
