import request from 'supertest';
import { Controller, Delete, Get, Param, Post, HttpCode, type INestApplication } from '@nestjs/common';
import { MemorySessionStore, Public, Session, SessionManager, type SessionHandle } from '../src/index.js';
import { createTestApp, sessionCookie, PLATFORMS } from './support/test-app.js';

/**
 * SessionManager.destroyByHandle(handle, { userId }): an ownership check that is asked for must
 * happen. A `userId` key that is present but not a user id (undefined from an anonymous
 * getUserId(), '', a number) rejects with a TypeError instead of silently ending any session.
 */

@Controller()
class ManagerController {
  constructor(private readonly manager: SessionManager) {}

  @Post('login/:user')
  @HttpCode(200)
  async login(@Session() s: SessionHandle, @Param('user') user: string) {
    await s.login(user);
    return { ok: true };
  }

  @Get('me')
  async me(@Session() s: SessionHandle) {
    return { userId: (await s.getUserId()) ?? null };
  }

  @Get('handles/:user')
  async handles(@Param('user') user: string) {
    return (await this.manager.listForUser(user)).map((s) => s.handle);
  }

  /** The reviewer's route: open to anonymous users, and "protected" by the caller's own user id. */
  @Delete('sessions/:handle')
  @Public()
  async end(@Session() s: SessionHandle, @Param('handle') handle: string) {
    try {
      return { ended: await this.manager.destroyByHandle(handle, { userId: await s.getUserId() }) };
    } catch (err) {
      return { error: (err as Error).name, message: (err as Error).message };
    }
  }
}

for (const platform of PLATFORMS) describe(`SessionManager.destroyByHandle on ${platform}`, () => {
  let app: INestApplication;
  let manager: SessionManager;

  beforeAll(async () => {
    app = await createTestApp({ platform, store: new MemorySessionStore(), controllers: [ManagerController] });
    manager = app.get(SessionManager);
  });
  afterAll(async () => {
    await app?.close();
  });

  async function login(user: string): Promise<{ cookie: string; handle: string }> {
    const before = new Set((await request(app.getHttpServer()).get(`/handles/${user}`)).body as string[]);
    const res = await request(app.getHttpServer()).post(`/login/${user}`);
    expect(res.status).toBe(200);
    const after = (await request(app.getHttpServer()).get(`/handles/${user}`)).body as string[];
    return { cookie: sessionCookie(res)!, handle: after.find((h) => !before.has(h))! };
  }
  const whoami = async (cookie: string) => (await request(app.getHttpServer()).get('/me').set('Cookie', cookie)).body.userId;

  it('an anonymous request cannot end somebody else\'s session through { userId: await getUserId() }', async () => {
    const bob = await login('bob');
    const res = await request(app.getHttpServer()).delete(`/sessions/${bob.handle}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ error: 'TypeError', message: expect.stringContaining('userId') });
    expect(await whoami(bob.cookie)).toBe('bob');
  });

  it('rejects a present userId that is not a non-empty string, and ends nothing', async () => {
    const bob = await login('bob');
    for (const userId of [undefined, '', null, 42, {}, ['bob']]) {
      await expect(manager.destroyByHandle(bob.handle, { userId: userId as string })).rejects.toThrow(TypeError);
    }
    // Also when the handle itself is malformed: the programming error is reported, not hidden.
    await expect(manager.destroyByHandle('', { userId: undefined })).rejects.toThrow(TypeError);
    expect(await whoami(bob.cookie)).toBe('bob');
  });

  it('still ends only that user\'s session with a real userId, and any session without the key', async () => {
    const bob = await login('bob');
    const alice = await login('alice');
    expect(await manager.destroyByHandle(bob.handle, { userId: 'alice' })).toBe(false);
    expect(await whoami(bob.cookie)).toBe('bob');
    expect(await manager.destroyByHandle(alice.handle, { userId: 'alice' })).toBe(true);
    expect(await whoami(alice.cookie)).toBeNull();
    expect(await manager.destroyByHandle(bob.handle, {})).toBe(true);
    expect(await whoami(bob.cookie)).toBeNull();
    expect(await manager.destroyByHandle('no-such-handle')).toBe(false);
  });

  it('a logged-in user ends their own session through the same route', async () => {
    const carol = await login('carol');
    const res = await request(app.getHttpServer()).delete(`/sessions/${carol.handle}`).set('Cookie', carol.cookie);
    expect(res.body).toEqual({ ended: true });
    expect(await whoami(carol.cookie)).toBeNull();
  });
});
