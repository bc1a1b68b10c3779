import type { INestApplication } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { io as ioClient, type Socket } from 'socket.io-client';

/** Which WebSocket platform a gateway runs on, and the real client that talks to it. */
export type Transport = 'socket.io' | 'ws';
export const TRANSPORTS: Transport[] = ['socket.io', 'ws'];

/** What a message got back: the handler's result, or the exception Nest sent. */
export type Answer = { ok: unknown } | { error: string };

/** One client socket, from either library, with one way to send a message and read its answer. */
export interface ClientSocket {
  send(event: string, data?: unknown): Promise<Answer>;
  close(): void;
}

export interface ConnectOptions {
  cookie?: string;
  origin?: string;
  /** What a TLS-terminating proxy in front of the app would add. */
  forwardedProto?: string;
  /** socket.io only: start on HTTP long-polling, as a browser does by default. */
  polling?: boolean;
}

export function baseUrl(app: INestApplication): string {
  return `127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
}

/** Opens a socket to the app's gateway; rejects when the handshake is refused. */
export async function connect(transport: Transport, app: INestApplication, options: ConnectOptions = {}): Promise<ClientSocket> {
  const headers: Record<string, string> = {};
  if (options.cookie) headers.cookie = options.cookie;
  if (options.origin) headers.origin = options.origin;
  if (options.forwardedProto) headers['x-forwarded-proto'] = options.forwardedProto;
  return transport === 'ws' ? connectWs(`ws://${baseUrl(app)}`, headers) : connectIo(`http://${baseUrl(app)}`, headers, options.polling === true);
}

const NO_ANSWER = 5000;

async function connectWs(url: string, headers: Record<string, string>): Promise<ClientSocket> {
  const ws = new WebSocket(url, { headers });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  // ws answers in order of completion, not of sending: one message at a time per socket here.
  return {
    send: (event, data) =>
      new Promise<Answer>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer to ${event}`)), NO_ANSWER);
        ws.once('message', (raw: unknown) => {
          clearTimeout(timer);
          const reply = JSON.parse(String(raw)) as { event?: string; data?: { message?: string } };
          resolve(reply?.event === 'exception' ? { error: String(reply.data?.message) } : { ok: reply });
        });
        ws.send(JSON.stringify({ event, data }));
      }),
    close: () => ws.close(),
  };
}

async function connectIo(url: string, headers: Record<string, string>, polling: boolean): Promise<ClientSocket> {
  const socket: Socket = ioClient(url, { transports: polling ? ['polling'] : ['websocket'], extraHeaders: headers, reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
  return {
    send: (event, data) =>
      new Promise<Answer>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer to ${event}`)), NO_ANSWER);
        const onException = (e: { message?: string }) => {
          clearTimeout(timer);
          resolve({ error: String(e?.message) });
        };
        socket.once('exception', onException);
        socket.emit(event, data, (reply: unknown) => {
          clearTimeout(timer);
          socket.off('exception', onException);
          resolve({ ok: reply });
        });
      }),
    close: () => socket.close(),
  };
}
