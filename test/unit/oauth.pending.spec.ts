import { createHash } from 'node:crypto';
import { jest } from '@jest/globals';
import { toJson } from '../../src/session/json.js';
import { addPending, MAX_PENDING, PENDING_KEY, PENDING_TTL, s256, takePending } from '../../src/oauth/pending.js';
import { finishAuthorization, startAuthorization, AuthorizationStateError } from '../../src/oauth/authorization.js';
import { nodeStyleResponse } from '../../src/http/node-response.js';
import { SessionError } from '../../src/errors.js';
import type { SessionHandle } from '../../src/index.js';

/**
 * The pending authorization requests on a session: taken once, for the same client, in time; bogus
 * states never match and never disturb the real one. (The flows over real HTTP against a real
 * provider are in test/oidc.spec.ts.)
 */

/** The three handle methods the pending list uses, over a Map, counting writes; keys and values checked as the real session checks them. */
function fakeSession() {
  const data = new Map<string, unknown>();
  let writes = 0;
  const session = {
    get: async (k: string) => (data.has(k) ? JSON.parse(JSON.stringify(data.get(k))) : undefined),
    set: async (k: string, v: unknown) => void (writes++, data.set(k, JSON.parse(toJson(k, v)))),
    // Like the real session, deleting an absent key changes (and writes) nothing.
    delete: async (k: string) => void (data.has(k) && (writes++, data.delete(k))),
  };
  return { session: session as unknown as SessionHandle, data, writes: () => writes };
}

afterEach(() => jest.restoreAllMocks());

describe('pending authorization requests', () => {
  it('a state is taken once, for its client only', async () => {
    const { session, data } = fakeSession();
    const a = await addPending(session, { client: 'one', verifier: 'v' });
    expect(await takePending(session, a.state, 'two')).toBeUndefined();
    expect(await takePending(session, a.state, 'one')).toMatchObject({ state: a.state, verifier: 'v', client: 'one' });
    expect(await takePending(session, a.state, 'one')).toBeUndefined();
    expect(data.has(PENDING_KEY)).toBe(false);
    // Under this module's own name, never one of the application's keys.
    await addPending(session, { client: 'one' });
    expect([...data.keys()]).toEqual(['nestjs-lazy-session:authorization']);
  });

  it('leaves absent fields out (a strategy without PKCE has no verifier; undefined is not JSON)', async () => {
    const { session, data } = fakeSession();
    const a = await addPending(session, { client: 'c', verifier: undefined, appState: undefined });
    expect(Object.keys((data.get(PENDING_KEY) as object[])[0]).sort()).toEqual(['at', 'client', 'state']);
    expect(await takePending(session, a.state, 'c')).toEqual({ state: a.state, client: 'c', at: a.at });
  });

  it('is refused after the time limit, and removed', async () => {
    const { session, data } = fakeSession();
    const now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(now);
    const a = await addPending(session, { client: 'c' });
    clock.mockReturnValue(now + PENDING_TTL - 1);
    const b = await addPending(session, { client: 'c' });
    clock.mockReturnValue(now + PENDING_TTL);
    expect(await takePending(session, a.state, 'c')).toBeUndefined();
    expect((data.get(PENDING_KEY) as unknown[]).length).toBe(1);
    expect(await takePending(session, b.state, 'c')).toBeDefined();
    // An entry from the future (a clock that went back) is not trusted either.
    const c = await addPending(session, { client: 'c' });
    clock.mockReturnValue(now);
    expect(await takePending(session, c.state, 'c')).toBeUndefined();
  });

  it(`keeps the ${MAX_PENDING} newest`, async () => {
    const { session } = fakeSession();
    const states = [];
    for (let i = 0; i <= MAX_PENDING; i++) states.push((await addPending(session, { client: 'c' })).state);
    expect(await takePending(session, states[0], 'c')).toBeUndefined();
    for (const s of states.slice(1)) expect(await takePending(session, s, 'c')).toBeDefined();
  });

  it('a bogus state matches nothing and leaves the real one alone', async () => {
    const { session, writes } = fakeSession();
    const real = await addPending(session, { client: 'c' });
    const before = writes();
    for (const bogus of ['', real.state.slice(0, -1), `${real.state}x`, '__proto__', 'constructor', 'x'.repeat(10_000), 42, null, undefined, [real.state], { state: real.state }]) {
      expect(await takePending(session, bogus, 'c')).toBeUndefined();
    }
    expect(writes()).toBe(before);
    expect(await takePending(session, real.state, 'c')).toBeDefined();
  });

  it('ignores whatever else is found under its key', async () => {
    const now = Date.now();
    const broken = [null, 1, 'x', { state: 'x', client: 'c' }, { state: 'x', client: 'c', at: String(now) }, { state: 7, client: 'c', at: now }, { state: 'x', client: 7, at: now }];
    for (const junk of ['text', 7, { state: 'x' }, broken]) {
      const { session, data } = fakeSession();
      data.set(PENDING_KEY, junk);
      expect(await takePending(session, 'x', 'c')).toBeUndefined();
      const added = await addPending(session, { client: 'c' });
      expect(data.get(PENDING_KEY)).toEqual([added]);
    }
  });

  it('startAuthorization sends the S256 challenge of the verifier that finishAuthorization returns, with state and nonce', async () => {
    const { session } = fakeSession();
    const params = await startAuthorization(session);
    expect(params.code_challenge_method).toBe('S256');
    const url = new URL(`https://app.example/callback?code=c&state=${params.state}`);
    const checks = await finishAuthorization(session, url);
    expect(checks.expectedState).toBe(params.state);
    expect(checks.expectedNonce).toBe(params.nonce);
    expect(createHash('sha256').update(checks.pkceCodeVerifier).digest('base64url')).toBe(params.code_challenge);
    expect(s256('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'); // RFC 7636, appendix B
    expect(checks.pkceCodeVerifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await expect(finishAuthorization(session, url)).rejects.toBeInstanceOf(AuthorizationStateError);
  });

  it("no provider and provider '' are the same one", async () => {
    const { session } = fakeSession();
    const { state } = await startAuthorization(session);
    await expect(finishAuthorization(session, new URL(`https://app.example/cb?state=${state}`), { provider: '' })).resolves.toBeDefined();
  });

  it("finishAuthorization refuses another provider's request, two states, and a callback that is not a URL", async () => {
    const { session } = fakeSession();
    const { state } = await startAuthorization(session, { provider: 'a' });
    await expect(finishAuthorization(session, new URL(`https://app.example/cb?state=${state}`), { provider: 'b' })).rejects.toThrow(AuthorizationStateError);
    await expect(finishAuthorization(session, new URL(`https://app.example/cb?state=${state}&state=${state}`), { provider: 'a' })).rejects.toThrow(AuthorizationStateError);
    await expect(finishAuthorization(session, `https://app.example/cb?state=${state}` as never, { provider: 'a' })).rejects.toThrow('callbackUrl must be a URL');
    const err = await finishAuthorization(session, new URL('https://app.example/cb'), { provider: 'a' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionError);
    expect((err as AuthorizationStateError).getStatus()).toBe(403);
    expect((err as Error).message).toBe('Authorization response refused: its state does not match a sign-in started in this session');
    // Still there for the real callback.
    await expect(finishAuthorization(session, new URL(`https://app.example/cb?state=${state}`), { provider: 'a' })).resolves.toBeDefined();
  });
});

describe('nodeStyleResponse', () => {
  it("returns Express's response as it is", () => {
    const res = { setHeader() {}, end() {}, statusCode: 200 };
    expect(nodeStyleResponse(res)).toBe(res);
    expect(nodeStyleResponse(undefined)).toBeUndefined();
  });

  it("writes through Fastify's reply, so its onSend hook runs", () => {
    const calls: unknown[][] = [];
    const reply = {
      statusCode: 200,
      code(s: number) {
        calls.push(['code', s]);
        this.statusCode = s;
      },
      header: (n: string, v: unknown) => calls.push(['header', n, v]),
      getHeader: (n: string) => (n === 'x' ? 'y' : undefined),
      send: (p: unknown) => calls.push(['send', p]),
    };
    const res = nodeStyleResponse(reply) as { statusCode: number; setHeader(n: string, v: unknown): void; getHeader(n: string): unknown; end(b?: unknown): void };
    res.statusCode = 302;
    res.setHeader('Location', 'https://idp.example/authorize');
    res.end();
    expect(res.statusCode).toBe(302);
    expect(res.getHeader('x')).toBe('y');
    expect(calls).toEqual([['code', 302], ['header', 'Location', 'https://idp.example/authorize'], ['send', '']]);
  });
});
