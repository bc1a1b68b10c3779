import type { INestApplication } from '@nestjs/common';
import { CookieSessionStore, MemorySessionStore } from '../src/index.js';
import { createTestApp, PLATFORMS } from './support/test-app.js';
import { Client, rawRequest } from './support/http.js';

/*
 * The Cookie header as it arrives on the wire: Node hands header bytes to the application as latin1
 * strings, so every byte 0x80-0xFF reaches the parser as one character. Sent over a raw socket,
 * because HTTP clients (supertest) refuse or re-encode such bytes.
 */

const KEY = 'cookie-parsing-key-0123456789abcdefghijklmn';

function get(app: INestApplication, cookie: Buffer): Promise<{ status: number; body: string }> {
  const head = Buffer.concat([Buffer.from('GET /get/a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nCookie: '), cookie, Buffer.from('\r\n\r\n')]);
  return rawRequest(app, head);
}

const latin1 = (s: string) => Buffer.from(s, 'latin1');
const SESSION = '{"value":1,"has":true}';
const NO_SESSION = '{"value":null,"has":false}';

describe.each(PLATFORMS)('Cookie header parsing over raw HTTP on %s', (platform) => {
  for (const kind of ['signed token', 'sealed cookie'] as const) {
    describe(kind, () => {
      let app: INestApplication;
      let value: string;
      beforeAll(async () => {
        app = await createTestApp({ platform, store: kind === 'signed token' ? new MemorySessionStore() : new CookieSessionStore({ keys: [KEY] }) });
        const c = new Client(app);
        await c.post('/set', { a: 1 });
        value = c.cookie!.slice('__Host-sid='.length);
      });
      afterAll(async () => {
        await app.close();
      });

      it('the cookie as issued, with SP or HTAB around the pair or its parts: a session', async () => {
        for (const header of [`__Host-sid=${value}`, ` __Host-sid=${value} `, `x=y;\t__Host-sid=${value}\t; z=w`, `__Host-sid =  ${value}`, `__Host-sid="${value}"`]) {
          const res = await get(app, latin1(header));
          expect([header, res.status, res.body]).toEqual([header, 200, SESSION]);
        }
      });

      it.each([
        ['U+00A0 before the name', `\xa0__Host-sid=%v`],
        ['U+00A0 after the name', `__Host-sid\xa0=%v`],
        ['U+0085 before the name', `\x85__Host-sid=%v`],
        ['U+00A0 after the value', `__Host-sid=%v\xa0`],
        ['U+00A0 before the value', `__Host-sid=\xa0%v`],
        ['U+00FF after the value', `__Host-sid=%v\xff`],
      ])('%s: no session, never a 5xx', async (_, template) => {
        const res = await get(app, latin1(template.replace('%v', value)));
        expect(res.status).toBe(200);
        expect(res.body).toBe(NO_SESSION);
      });

      it.each([
        ['!', latin1('!')],
        ['%', latin1('%')],
        ['.', latin1('.')],
        ['é (UTF-8 bytes)', Buffer.from('é', 'utf8')],
        ['a space', latin1(' ')],
        ['=', latin1('=')],
      ])('%s inserted into the value: no session, never a 5xx', async (_, inserted) => {
        // Past the signed token's '.', and well inside a sealed value.
        const at = kind === 'signed token' ? 60 : 40;
        const res = await get(app, Buffer.concat([latin1(`__Host-sid=${value.slice(0, at)}`), inserted, latin1(value.slice(at))]));
        expect(res.status).toBe(200);
        expect(res.body).toBe(NO_SESSION);
      });
    });
  }
});
