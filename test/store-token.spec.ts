import request from 'supertest';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemorySessionStore, SESSION_STORE, SessionModule, type SessionModuleOptions, type SessionRecord } from '../src/index.js';
import { CartService, OpenController, PLATFORMS, SECRET, TestController, sessionCookie, startApp } from './support/test-app.js';

/** A memory store that notes every call made to it: proof that the app's requests reach it. */
class RecordingStore extends MemorySessionStore {
  readonly calls: string[] = [];
  override load(id: string) {
    this.calls.push('load');
    return super.load(id);
  }
  override create(record: SessionRecord) {
    this.calls.push('create');
    return super.create(record);
  }
  useTimeouts(timeouts: { idleTimeout: number; absoluteTimeout: number }) {
    this.calls.push(`useTimeouts ${timeouts.idleTimeout}/${timeouts.absoluteTimeout}`);
  }
  async close() {
    this.calls.push('close');
  }
}

/**
 * The store's injection token is public (as @nestjs/throttler's storage is), so an application's
 * tests swap the store of an unchanged AppModule with `overrideProvider(SESSION_STORE)`.
 */
describe.each(PLATFORMS)('overrideProvider(SESSION_STORE) on %s', (platform) => {
  let dir: string;
  let app: INestApplication | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'store-token-'));
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function appOverriding(options: Partial<SessionModuleOptions>, override: RecordingStore): Promise<INestApplication> {
    const moduleRef = await Test.createTestingModule({
      imports: [SessionModule.forRoot({ secret: SECRET, pruneInterval: 0, ...options })],
      controllers: [TestController, OpenController],
      providers: [CartService],
    })
      .overrideProvider(SESSION_STORE)
      .useValue(override)
      .compile();
    return startApp(moduleRef, platform);
  }

  it('replaces the default store: requests reach the override, and no SQLite file is made', async () => {
    const override = new RecordingStore();
    const sqlitePath = join(dir, 'sessions.sqlite');
    app = await appOverriding({ sqlitePath }, override);

    const set = await request(app.getHttpServer()).post('/set').send({ a: 'through the override' }).expect(200);
    const cookie = sessionCookie(set);
    expect(cookie).toBeDefined();
    // Told the module's timeouts at start-up, as a configured store is.
    expect(override.calls).toEqual(['useTimeouts 1800000/43200000', 'create']);
    expect(override.size).toBe(1);

    const read = await request(app.getHttpServer()).get('/read').set('Cookie', cookie!).expect(200);
    expect(read.body.a).toBe('through the override');
    expect(override.calls).toEqual(['useTimeouts 1800000/43200000', 'create', 'load']);
    expect(existsSync(sqlitePath)).toBe(false);
    // The test's store: the module never closes it, though the options name no store.
    await app.close();
    app = undefined;
    expect(override.calls.at(-1)).toBe('load');
  });

  it('replaces a store given in the options: the configured one is never called', async () => {
    const configured = new RecordingStore();
    const override = new RecordingStore();
    app = await appOverriding({ store: configured }, override);

    const set = await request(app.getHttpServer()).post('/set').send({ a: 1 }).expect(200);
    await request(app.getHttpServer()).get('/read').set('Cookie', sessionCookie(set)!).expect(200, { a: 1, b: null, c: false, again: 1 });
    expect(override.calls).toEqual(['useTimeouts 1800000/43200000', 'create', 'load']);
    expect(configured.calls).toEqual([]);
  });
});
