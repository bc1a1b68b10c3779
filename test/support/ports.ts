import { createServer, type AddressInfo } from 'node:net';

/**
 * A port free right now on `host`, for a server that must know its port before it listens (a
 * microservice's TCP transport, an app that names its own OAuth callback URL).
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
