import { Controller, Get, Inject, Redirect, Req, UnauthorizedException } from '@nestjs/common';
import * as client from 'openid-client';
import { Session, finishAuthorization, startAuthorization, type SessionHandle } from '../src/index.js';
import { DEMO_OIDC, type DemoOidc } from './test-provider.js';

/**
 * "Sign in with the test provider": the authorization-code flow with PKCE through openid-client,
 * its state, nonce and verifier kept in the session and checked once at the callback.
 */
@Controller('auth/oidc')
export class OidcController {
  constructor(@Inject(DEMO_OIDC) private readonly oidc: DemoOidc) {}

  private callbackUrl(): string {
    if (!this.oidc.appUrl) throw new Error('demo: the app URL is not known yet');
    return `${this.oidc.appUrl}/auth/oidc/callback`;
  }

  @Get()
  @Redirect()
  async start(@Session() session: SessionHandle): Promise<{ url: string }> {
    const params = await startAuthorization(session);
    const url = client.buildAuthorizationUrl(await this.oidc.configuration, { redirect_uri: this.callbackUrl(), scope: 'openid', ...params });
    return { url: url.href };
  }

  @Get('callback')
  @Redirect('/profile', 303)
  async callback(@Session() session: SessionHandle, @Req() req: { originalUrl?: string; url: string }): Promise<void> {
    // Express gives the path as originalUrl, Fastify as url; the origin is the demo's own.
    const current = new URL(req.originalUrl ?? req.url, this.callbackUrl());
    const checks = await finishAuthorization(session, current);
    const tokens = await client.authorizationCodeGrant(await this.oidc.configuration, current, checks).catch(() => {
      throw new UnauthorizedException('Sign-in with the test provider failed');
    });
    await session.login(`oidc:${tokens.claims()!.sub}`);
  }
}
