import { ForbiddenException } from '@nestjs/common';
import { refuseCrossSite, sessionCookie } from '../../src/session/first-use.js';
import type { SessionRequestIO } from '../../src/session/request-io.js';
import { CROSS_SITE_REFUSED } from '../../src/http/cross-site.js';
import { FakeHttp } from './support/harness.js';

/**
 * What the session asks of its request at first use: whether the cross-site rule refuses it, and
 * the session cookie. The rule itself is unit tested in csrf.spec.ts; here, that the request's own
 * headers, method and scheme are what reach it.
 */
const http = new FakeHttp();
const io = (method: string, headers: Record<string, string>, scheme = 'https'): SessionRequestIO => ({ http, req: { method, headers, scheme }, res: { headers: {} } });
const ON = { allowedOrigins: new Set<string>(['https://partner.example']) };
const refused = (csrf: false | typeof ON, request: SessionRequestIO): boolean => {
  try {
    refuseCrossSite(csrf, request);
    return false;
  } catch (err) {
    expect(err).toBeInstanceOf(ForbiddenException);
    expect((err as ForbiddenException).message).toBe(CROSS_SITE_REFUSED);
    return true;
  }
};

describe('refuseCrossSite', () => {
  it('refuses a state-changing request whose Sec-Fetch-Site says another site', () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) expect(refused(ON, io(method, { host: 'app.example', 'sec-fetch-site': 'cross-site' }))).toBe(true);
  });

  it('refuses a state-changing request whose Origin is foreign, without Sec-Fetch-Site', () => {
    expect(refused(ON, io('POST', { host: 'app.example', origin: 'https://evil.example' }))).toBe(true);
  });

  it("admits the request's own origin, judged with the request's Host and scheme", () => {
    expect(refused(ON, io('POST', { host: 'app.example', origin: 'https://app.example' }))).toBe(false);
    // The same origin over another scheme than the request's is another origin.
    expect(refused(ON, io('POST', { host: 'app.example', origin: 'https://app.example' }, 'http'))).toBe(true);
    expect(refused(ON, io('POST', { host: 'other.example', origin: 'https://app.example' }))).toBe(true);
  });

  it('admits an allowed origin, and a same-origin Sec-Fetch-Site', () => {
    expect(refused(ON, io('POST', { host: 'app.example', origin: 'https://partner.example' }))).toBe(false);
    expect(refused(ON, io('POST', { host: 'app.example', 'sec-fetch-site': 'same-origin', origin: 'https://app.example' }))).toBe(false);
  });

  it('never refuses a safe method, nor anything when the rule is off', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS']) expect(refused(ON, io(method, { host: 'app.example', 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }))).toBe(false);
    expect(refused(false, io('POST', { host: 'app.example', 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }))).toBe(false);
  });

  it('admits a client that sends neither header (not a browser)', () => {
    expect(refused(ON, io('POST', { host: 'app.example' }))).toBe(false);
  });
});

describe('sessionCookie', () => {
  it('absent, present with its value, or present but malformed (no value)', () => {
    expect(sessionCookie(io('GET', {}), 'sid')).toEqual({ present: false, value: undefined });
    expect(sessionCookie(io('GET', { cookie: 'a=1; sid=abc' }), 'sid')).toEqual({ present: true, value: 'abc' });
    expect(sessionCookie(io('GET', { cookie: 'sid=abc; sid=def' }), 'sid')).toEqual({ present: true, value: undefined });
  });
});
