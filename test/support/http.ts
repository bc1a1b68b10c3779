import request from 'supertest';
import type { INestApplication } from '@nestjs/common';
import { sessionCookie } from './test-app.js';

/** A tiny client that keeps the session cookie like a browser would. */
export class Client {
  cookie: string | undefined;
  constructor(private readonly app: INestApplication, private readonly name = '__Host-sid') {}

  private keep(res: request.Response): request.Response {
    const lines = (res.headers['set-cookie'] as unknown as string[] | undefined) ?? [];
    for (const line of lines) {
      if (!line.startsWith(`${this.name}=`)) continue;
      this.cookie = /Max-Age=0/i.test(line) ? undefined : sessionCookie(res, this.name);
    }
    return res;
  }

  async get(path: string): Promise<request.Response> {
    const r = request(this.app.getHttpServer()).get(path);
    if (this.cookie) r.set('Cookie', this.cookie);
    return this.keep(await r);
  }

  async post(path: string, body?: object): Promise<request.Response> {
    const r = request(this.app.getHttpServer()).post(path);
    if (this.cookie) r.set('Cookie', this.cookie);
    return this.keep(await (body ? r.send(body) : r));
  }

  async delete(path: string): Promise<request.Response> {
    const r = request(this.app.getHttpServer()).delete(path);
    if (this.cookie) r.set('Cookie', this.cookie);
    return this.keep(await r);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends a request with raw header bytes (what supertest refuses to send); resolves status and body. */
export async function rawRequest(app: { getHttpServer(): import('node:http').Server }, head: Buffer): Promise<{ status: number; body: string }> {
  const { createConnection } = await import('node:net');
  const server = app.getHttpServer();
  if (!server.listening) await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as import('node:net').AddressInfo;
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
    socket.write(head);
  });
}
