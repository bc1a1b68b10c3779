import { OAuth2Server } from 'oauth2-mock-server';
import * as client from 'openid-client';

/**
 * The demo's OpenID Connect provider: an oauth2-mock-server started inside the demo process, so
 * that "Sign in with the test provider" works with no setup. It is a TEST provider: it signs anybody
 * in, without a password, as the same user. A real application discovers its provider (https) instead.
 */
export interface DemoOidc {
  issuer: string;
  /** Discovery, made once. */
  configuration: Promise<client.Configuration>;
  /** The demo's own origin, known once it listens: the callback URL is built on it, never on the Host header. */
  appUrl: string | undefined;
  close(): Promise<void>;
}

export const DEMO_OIDC = Symbol('demo OpenID Connect provider');
export const TEST_PROVIDER_USER = 'test-user';

export async function startTestProvider(): Promise<DemoOidc> {
  const server = new OAuth2Server();
  await server.issuer.keys.generate('RS256');
  await server.start(0, 'localhost');
  server.service.on('beforeTokenSigning', (token: { payload: Record<string, unknown> }) => {
    token.payload.sub = TEST_PROVIDER_USER;
    token.payload.name = 'Test Provider User';
  });
  const issuer = server.issuer.url!;
  return {
    issuer,
    // Plain http on localhost: only the test provider is allowed that.
    configuration: client.discovery(new URL(issuer), 'nestjs-lazy-session-demo', 'demo-client-secret', undefined, { execute: [client.allowInsecureRequests] }),
    appUrl: undefined,
    close: () => server.stop(),
  };
}
