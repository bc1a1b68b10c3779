import { generateKeyPairSync } from 'node:crypto';
import { freePort as freePortOn } from './ports.js';
import { OAuth2Server } from 'oauth2-mock-server';

/** A real OpenID Connect provider on localhost (oauth2-mock-server): discovery, JWKS, PKCE checked at the token endpoint. */
export async function startProvider(): Promise<{ issuer: string; server: OAuth2Server; stop(): Promise<void> }> {
  const server = new OAuth2Server();
  // keys.generate() checks that the JWK is a plain object of its own realm, which one made by Node's
  // crypto is not under Jest's VM modules: the same key, made here and re-read through JSON.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = JSON.parse(JSON.stringify(privateKey.export({ format: 'jwk' })));
  await server.issuer.keys.add({ ...jwk, kid: 'test-key', alg: 'RS256', use: 'sig' });
  await server.start(0, 'localhost');
  return { issuer: server.issuer.url!, server, stop: () => server.stop() };
}

/** A port free right now (re-exported: the OIDC tests' apps name their callback URL before they listen). */
export const freePort = (): Promise<number> => freePortOn('localhost');

export interface Hop {
  status: number;
  location: string | undefined;
  body: string;
  setCookie: string[];
}

/** One browser's cookie jar for the app's session cookie, over real HTTP; redirects are followed by the test, one hop at a time. */
export class Browser {
  cookie: string | undefined;
  constructor(private readonly name = '__Host-sid') {}

  async get(url: string, init: { cookie?: string | null; headers?: Record<string, string> } = {}): Promise<Hop> {
    const cookie = init.cookie === undefined ? this.cookie : (init.cookie ?? undefined);
    const res = await fetch(url, { redirect: 'manual', headers: { ...(cookie ? { cookie } : {}), ...init.headers } });
    const setCookie = res.headers.getSetCookie();
    for (const line of setCookie) {
      if (!line.startsWith(`${this.name}=`)) continue;
      this.cookie = /Max-Age=0/i.test(line) ? undefined : line.split(';')[0];
    }
    return { status: res.status, location: res.headers.get('location') ?? undefined, body: await res.text(), setCookie };
  }
}
