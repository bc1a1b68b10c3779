import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startDemo, type DemoProcess } from './support/demo-process.js';
import { browserSuite, closeBrowserDemo, launchChromium, newContext, newPage } from './support/chromium.js';

/**
 * The demo's WebSocket in a real headless Chromium: the browser gives the socket's handshake the
 * HttpOnly session cookie it got over HTTP, with its own Origin and Sec-Fetch-Site, and the page
 * learns over the socket who it is, and that its session was ended from another device.
 */

const suite = browserSuite('test/browser-ws.spec.ts');

const PASSWORDS = { alice: 'alice-demo-password', bob: 'bob-demo-password' } as const;

/** The page's globals the tests use (the test's TypeScript has no DOM library). */
interface PageSocket {
  send(data: string): void;
  close(): void;
  addEventListener(type: 'open' | 'error' | 'close' | 'message', listener: (e: { data?: unknown }) => void, options?: { once?: boolean }): void;
}
interface PageGlobals {
  location: { host: string };
  probe: PageSocket;
  WebSocket: new (url: string) => PageSocket;
}

/** In the page: opens a WebSocket to the demo's gateway (the page's own origin), keeping it on window. */
async function openSocket(page: Page): Promise<void> {
  await page.evaluate(
    () =>
      new Promise<void>((resolve, reject) => {
        const page = globalThis as unknown as PageGlobals;
        const socket = new page.WebSocket(`ws://${page.location.host}/ws`);
        page.probe = socket;
        socket.addEventListener('open', () => resolve());
        socket.addEventListener('error', () => reject(new Error('the WebSocket did not open')));
      }),
  );
}

/** In the page: whether a WebSocket to `url` opens (true) or its handshake is refused (false). */
function opens(page: Page, url: string): Promise<boolean> {
  return page.evaluate(
    (u) =>
      new Promise<boolean>((resolve) => {
        const socket = new (globalThis as unknown as PageGlobals).WebSocket(u);
        socket.addEventListener('open', () => (socket.close(), resolve(true)));
        socket.addEventListener('error', () => resolve(false));
      }),
    url,
  );
}

/** In the page: one message on that socket, and the message that answers it. */
function ask(page: Page, event: string): Promise<{ event: string; data: { user?: string; message?: string } }> {
  return page.evaluate(
    (ev) =>
      new Promise((resolve, reject) => {
        const socket = (globalThis as unknown as PageGlobals).probe;
        socket.addEventListener('message', (e) => resolve(JSON.parse(String(e.data)) as never), { once: true });
        socket.addEventListener('close', () => reject(new Error('the WebSocket closed')), { once: true });
        socket.send(JSON.stringify({ event: ev }));
      }),
    event,
  );
}

suite.each(['express', 'fastify'] as const)('the demo WebSocket in headless Chromium on %s', (platform) => {
  let dir: string;
  let demo: DemoProcess;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'demo-browser-ws-'));
    demo = await startDemo({ sqlitePath: join(dir, 'sessions.sqlite'), platform, loginAttempts: { limit: 1000, ttl: 60_000 } });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await closeBrowserDemo({ contexts, browser, demo, dir });
  });

  const device = (): Promise<BrowserContext> => newContext(browser, contexts);
  const page = newPage;

  async function logIn(p: Page, user: keyof typeof PASSWORDS): Promise<void> {
    await p.goto(`${demo.url}/login`);
    await p.getByLabel('User name').fill(user);
    await p.getByLabel('Password').fill(PASSWORDS[user]);
    await Promise.all([p.waitForURL('**/profile'), p.getByRole('button', { name: 'Log in' }).click()]);
  }

  it('logs in over HTTP, then the page learns its user over a WebSocket that carried the session cookie', async () => {
    const laptop = await page(await device());
    await logIn(laptop, 'alice');
    // The profile page's own socket (demo/ws.gateway.ts) says who this is.
    await laptop.getByTestId('live-user').getByText('alice').waitFor();
    // And a socket the test opens from the page: the cookie is HttpOnly, yet the handshake carries it.
    await openSocket(laptop);
    expect(await ask(laptop, 'whoami')).toEqual({ event: 'user', data: { user: 'alice' } });
  });

  it('a socket without a session is refused with "Unauthorized", and stays open', async () => {
    const stranger = await page(await device());
    await stranger.goto(`${demo.url}/login`);
    await openSocket(stranger);
    expect(await ask(stranger, 'whoami')).toMatchObject({ event: 'exception', data: { message: 'Unauthorized' } });
    expect(await ask(stranger, 'whoami')).toMatchObject({ event: 'exception', data: { message: 'Unauthorized' } });
  });

  it('ended from a second browser: the first page is sent to the login form, and its next message is refused', async () => {
    const laptop = await device();
    const profile = await page(laptop);
    await logIn(profile, 'bob');
    await profile.getByTestId('live-user').getByText('bob').waitFor();
    // A second tab of the same browser, holding a socket of the same session.
    const tab = await page(laptop);
    await tab.goto(`${demo.url}/`);
    await openSocket(tab);
    expect(await ask(tab, 'whoami')).toEqual({ event: 'user', data: { user: 'bob' } });

    const phone = await page(await device());
    await logIn(phone, 'bob');
    await Promise.all([phone.waitForURL('**/profile'), phone.getByRole('button', { name: 'Log out everywhere else' }).click()]);
    expect(await phone.getByRole('status').textContent()).toContain('1 session ended');

    // Told over its socket, the profile page went to the login form.
    await profile.waitForURL('**/login?ended=1');
    expect(await profile.getByRole('button', { name: 'Log in' }).count()).toBe(1);
    // The other tab's socket is still open, but its next message is refused.
    expect(await ask(tab, 'whoami')).toMatchObject({ event: 'exception', data: { message: 'Unauthorized' } });
    // The phone's own session is untouched.
    await phone.getByTestId('live-user').getByText('bob').waitFor();
  });

  it('Cross-Site WebSocket Hijacking: a page of another origin cannot open a socket that carries the session cookie', async () => {
    // Another origin on the same site (localhost, another port): SameSite=Lax lets the browser send
    // the cookie on its WebSocket handshake, so only the server's rule keeps the page out.
    const other: Server = createServer((_req, res) => res.end('<!doctype html><title>another site</title>'));
    await new Promise<void>((resolve) => other.listen(0, () => resolve()));
    try {
      const target = `ws://localhost:${demo.port}/ws`;
      const victim = await device();
      await logIn(await page(victim), 'alice');
      const foreign = await page(victim);
      await foreign.goto(`http://localhost:${(other.address() as AddressInfo).port}/`);
      expect(await opens(foreign, target)).toBe(false);
      // The same browser from the demo's own pages opens it; and a stranger without the cookie may too.
      const own = await page(victim);
      await own.goto(`${demo.url}/`);
      expect(await opens(own, target)).toBe(true);
      const stranger = await page(await device());
      await stranger.goto(`http://localhost:${(other.address() as AddressInfo).port}/`);
      expect(await opens(stranger, target)).toBe(true);
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });
});
