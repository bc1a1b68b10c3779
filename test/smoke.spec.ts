import request from 'supertest';
import { MemorySessionStore } from '../src/index.js';
import { createTestApp, sessionCookie } from './support/test-app.js';

it('smoke', async () => {
  const app = await createTestApp({ store: new MemorySessionStore() });
  const server = app.getHttpServer();
  const r1 = await request(server).post('/set').send({ a: 1 });
  console.log(r1.status, r1.headers, r1.body);
  const c = sessionCookie(r1)!;
  const r2 = await request(server).get('/read').set('Cookie', c);
  console.log(r2.status, r2.headers, r2.body);
  const r3 = await request(server).get('/value').set('Cookie', c);
  console.log(r3.body);
  const r4 = await request(server).get('/public').set('Cookie', c);
  console.log(r4.headers);
  await app.close();
});
