import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export type CutMode = 'hang' | 'refuse';

/**
 * A TCP proxy on 127.0.0.1 (random port) in front of a database, to simulate an outage:
 * cut() destroys every open connection, and new ones then hang (accepted, never answered) or are
 * refused (closed at once); restore() lets traffic through again. Loopback only.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly open = new Set<Socket>();
  private readonly held = new Set<Socket>();
  private mode: 'up' | CutMode = 'up';
  port = 0;
  /** Connections accepted since start, for tests that want to see reconnects. */
  connections = 0;

  constructor(private readonly targetPort: number, private readonly targetHost = '127.0.0.1') {}

  async start(): Promise<number> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  get isCut(): boolean {
    return this.mode !== 'up';
  }

  private accept(client: Socket): void {
    this.connections++;
    client.on('error', () => {});
    if (this.mode === 'refuse') {
      client.destroy();
      return;
    }
    if (this.mode === 'hang') {
      this.held.add(client);
      client.on('close', () => this.held.delete(client));
      return;
    }
    const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    this.open.add(client);
    this.open.add(upstream);
    client.on('close', () => this.open.delete(client));
    upstream.on('close', () => this.open.delete(upstream));
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Every open connection is destroyed; new ones hang (default) or are refused. */
  cut(mode: CutMode = 'hang'): void {
    this.mode = mode;
    for (const s of this.open) s.destroy();
    this.open.clear();
  }

  /** Traffic flows again; connections held while cut are closed (their clients will reconnect). */
  restore(): void {
    this.mode = 'up';
    for (const s of this.held) s.destroy();
    this.held.clear();
  }

  async close(): Promise<void> {
    this.cut('refuse');
    this.restore();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
