// An HTTP-only application of the built library (LIB: its root entry), in plain JavaScript so that
// it runs outside Jest: a session route and a guarded one, used once each. It prints what it saw.
import 'reflect-metadata';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

const { SessionModule, MemorySessionStore, Session, Authenticated } = await import(process.env.LIB);

class Visits {
  async visit(session) {
    const n = ((await session.get('n')) ?? 0) + 1;
    await session.set('n', n);
    return { n };
  }
  secret() {
    return 'secret';
  }
}
const method = (name) => [Visits.prototype, name, Object.getOwnPropertyDescriptor(Visits.prototype, name)];
Controller()(Visits);
Get('visit')(...method('visit'));
Session()(Visits.prototype, 'visit', 0);
Get('secret')(...method('secret'));
Authenticated()(...method('secret'));

class App {}
Module({
  imports: [SessionModule.forRoot({ secret: 'packaging-secret-0123456789-abcdefghijklmnop', store: new MemorySessionStore(), pruneInterval: 0 })],
  controllers: [Visits],
})(App);

const app = await NestFactory.create(App, { logger: false });
await app.listen(0, '127.0.0.1');
const base = `http://127.0.0.1:${app.getHttpServer().address().port}`;
const first = await fetch(`${base}/visit`);
const cookie = first.headers.get('set-cookie').split(';')[0];
const second = await (await fetch(`${base}/visit`, { headers: { cookie } })).json();
const guarded = (await fetch(`${base}/secret`)).status;
await app.close();
console.log(JSON.stringify({ second, guarded }));
