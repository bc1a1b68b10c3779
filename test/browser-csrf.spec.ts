import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type Page, type Response } from 'playwright-core';
import { startDemo, type DemoProcess } from './support/demo-process.js';
import { browserSuite, closeBrowserDemo, launchChromium, newContext, newPage } from './support/chromium.js';

/**
 * Login CSRF in a real headless Chromium, against the demo: a page of another site submits the
 * attacker's credentials to the demo's /login. With SameSite=Lax the victim's browser sends no
 * session cookie on that POST, so only a rule that also covers cookie-less requests stops it.
 */

const suite = browserSuite('test/browser-csrf.spec.ts');

const COOKIE = '__Host-sid';
/** Page loads on a loaded 2-core machine: generous, and not an assertion about speed. */
const BROWSER_TEST_TIMEOUT = 90_000;

/** The attacker's page: a form that posts to `action`, with the attacker's own demo credentials. */
function attackerPage(action: string, fields: Record<string, string>): string {
  const inputs = Object.entries(fields).map(([k, v]) => `<input type="hidden" name="${k}" value="${v}">`).join('');
  return `<!doctype html><title>Win a prize</title><form method="POST" action="${action}">${inputs}<button>Claim your prize</button></form>`;
}

suite.each(['express', 'fastify'] as const)('login CSRF in headless Chromium on %s', (platform) => {
  let dir: string;
  let demo: DemoProcess;
  let browser: Browser;
  let attacker: Server;
  let attackerPort: number;
  /** Where the attacker's server sends each path: the form it serves. */
  const pages = new Map<string, string>();
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'demo-csrf-'));
    // The login limit is raised: these tests log in more often than a person would, and the refused
    // cross-site attempts count too (the throttler runs before the session is used).
    demo = await startDemo({ sqlitePath: join(dir, 'sessions.sqlite'), platform, loginAttempts: { limit: 1000, ttl: 60_000 } });
    attacker = createServer((req, res) => {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(pages.get(req.url ?? '/') ?? 'not found');
    });
    // Every interface: the same server plays a page of another site (127.0.0.1, evil.test) and of
    // a sibling origin on the demo's own site (localhost on another port).
    await new Promise<void>((r) => attacker.listen(0, () => r()));
    attackerPort = (attacker.address() as AddressInfo).port;
    // Two plain-http hosts that are not localhost: Chromium sends them no Sec-Fetch-Site, only Origin.
    browser = await launchChromium(['--host-resolver-rules=MAP app.test 127.0.0.1, MAP evil.test 127.0.0.1']);
  }, 180_000);

  afterAll(async () => {
    await new Promise((r) => attacker?.close(r));
    await closeBrowserDemo({ contexts, browser, demo, dir });
  });

  const victim = async (): Promise<Page> => newPage(await newContext(browser, contexts));

  /** The victim opens the attacker's page and clicks; resolves the demo's answer to the form POST. */
  async function clickThrough(page: Page, pageUrl: string, action: string, fields: Record<string, string>): Promise<{ response: Response; headers: Record<string, string> }> {
    pages.set(new URL(pageUrl).pathname, attackerPage(action, fields));
    await page.goto(pageUrl);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url() === action && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Claim your prize' }).click(),
    ]);
    return { response, headers: await response.request().allHeaders() };
  }

  const sessionCookies = async (page: Page) => (await page.context().cookies()).filter((c) => c.name === COOKIE);

  it('a form on another site (127.0.0.1) cannot log the victim in as the attacker: 403, no cookie', async () => {
    const page = await victim();
    const { response, headers } = await clickThrough(page, `http://127.0.0.1:${attackerPort}/cross-site`, `${demo.url}/login`, { username: 'bob', password: 'bob-demo-password' });
    // What the browser sent: no cookie (SameSite=Lax; there is none yet anyway) and Fetch Metadata.
    expect(headers['sec-fetch-site']).toBe('cross-site');
    expect(headers.origin).toBe(`http://127.0.0.1:${attackerPort}`);
    expect(headers.cookie).toBeUndefined();
    expect(response.status()).toBe(403);
    expect(await response.headerValue('set-cookie')).toBeNull();
    expect(await sessionCookies(page)).toEqual([]);
    // The victim is not signed in as anybody.
    await page.goto(`${demo.url}/profile`);
    expect(new URL(page.url()).pathname).toBe('/login');
  }, BROWSER_TEST_TIMEOUT);

  it('a sibling origin of the same site (localhost on another port) is refused too: Sec-Fetch-Site same-site', async () => {
    const page = await victim();
    const { response, headers } = await clickThrough(page, `http://localhost:${attackerPort}/same-site`, `${demo.url}/login`, { username: 'bob', password: 'bob-demo-password' });
    expect(headers['sec-fetch-site']).toBe('same-site');
    expect(response.status()).toBe(403);
    expect(await response.headerValue('set-cookie')).toBeNull();
    expect(await sessionCookies(page)).toEqual([]);
  }, BROWSER_TEST_TIMEOUT);

  it('the cart route plants no session from another site', async () => {
    const page = await victim();
    const { response } = await clickThrough(page, `http://127.0.0.1:${attackerPort}/cart`, `${demo.url}/cart`, { item: 'planted' });
    expect(response.status()).toBe(403);
    expect(await response.headerValue('set-cookie')).toBeNull();
    expect(await sessionCookies(page)).toEqual([]);
  }, BROWSER_TEST_TIMEOUT);

  it('the demo\'s own login form works, and a signed-in victim is not logged out or switched by the attacker', async () => {
    const page = await victim();
    await page.goto(`${demo.url}/login`);
    await page.getByLabel('User name').fill('alice');
    await page.getByLabel('Password').fill('alice-demo-password');
    const [own] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${demo.url}/login` && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Log in' }).click(),
    ]);
    expect((await own.request().allHeaders())['sec-fetch-site']).toBe('same-origin');
    expect(own.status()).toBe(303);
    await page.waitForURL('**/profile');
    expect(await page.getByTestId('user-id').textContent()).toBe('alice');
    const [cookie] = await sessionCookies(page);

    const { response } = await clickThrough(page, `http://127.0.0.1:${attackerPort}/switch`, `${demo.url}/login`, { username: 'bob', password: 'bob-demo-password' });
    expect(response.status()).toBe(403);
    expect(await sessionCookies(page)).toEqual([cookie]);
    await page.goto(`${demo.url}/profile`);
    expect(await page.getByTestId('user-id').textContent()).toBe('alice');
  }, BROWSER_TEST_TIMEOUT);

  it('on a plain-http host that gets no Fetch Metadata, the Origin decides: another site 403, the app\'s own form 303', async () => {
    const app = `http://app.test:${demo.port}`;
    const page = await victim();
    const { response, headers } = await clickThrough(page, `http://evil.test:${attackerPort}/origin-only`, `${app}/login`, { username: 'bob', password: 'bob-demo-password' });
    expect(headers['sec-fetch-site']).toBeUndefined();
    expect(headers.origin).toBe(`http://evil.test:${attackerPort}`);
    expect(response.status()).toBe(403);
    expect(await response.headerValue('set-cookie')).toBeNull();

    // The app's own form on that host. (The demo's cookie is Secure, which Chromium will not keep
    // over plain http here; what matters is that the server accepted the login.)
    await page.goto(`${app}/login`);
    await page.getByLabel('User name').fill('alice');
    await page.getByLabel('Password').fill('alice-demo-password');
    const [own] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${app}/login` && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Log in' }).click(),
    ]);
    const ownHeaders = await own.request().allHeaders();
    expect(ownHeaders['sec-fetch-site']).toBeUndefined();
    expect(ownHeaders.origin).toBe(app);
    expect(own.status()).toBe(303);
    expect(await own.headerValue('set-cookie')).toContain(`${COOKIE}=`);
  }, BROWSER_TEST_TIMEOUT);
});
