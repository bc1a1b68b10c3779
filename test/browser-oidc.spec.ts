import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startDemo, type DemoProcess } from './support/demo-process.js';
import { browserSuite, closeBrowserDemo, launchChromium, newContext, newPage } from './support/chromium.js';

/**
 * The demo's "Sign in with the test provider" in a real headless Chromium: the redirects to the
 * OpenID Connect provider (an oauth2-mock-server inside the demo) and back, the session cookie
 * replaced at the login, a replayed or forged callback refused.
 */

const suite = browserSuite('test/browser-oidc.spec.ts');

const COOKIE = '__Host-sid';

suite.each(['express', 'fastify'] as const)('sign-in with the test provider in headless Chromium on %s', (platform) => {
  let dir: string;
  let demo: DemoProcess;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'demo-oidc-'));
    demo = await startDemo({ sqlitePath: join(dir, 'sessions.sqlite'), platform });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await closeBrowserDemo({ contexts, browser, demo, dir });
  });

  const device = async (): Promise<Page> => newPage(await newContext(browser, contexts));

  const sessionCookie = async (page: Page) => (await page.context().cookies()).find((c) => c.name === COOKIE)?.value;

  /** Clicks the button on the login page and follows the redirects to the provider and back; the callback URL the browser was sent to. */
  async function signIn(page: Page): Promise<string> {
    const callbacks: string[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/auth/oidc/callback') callbacks.push(r.url());
    });
    await page.goto(`${demo.url}/login`);
    await Promise.all([page.waitForURL('**/profile'), page.getByRole('button', { name: 'Sign in with the test provider' }).click()]);
    expect(callbacks).toHaveLength(1);
    return callbacks[0];
  }

  it('signs in through the provider: a new session id, the user on the profile page, the cart kept', async () => {
    const page = await device();
    await page.goto(demo.url);
    await page.getByLabel('Item').fill('tea');
    await Promise.all([page.waitForURL(`${demo.url}/`), page.getByRole('button', { name: 'Add to cart' }).click()]);
    const before = await sessionCookie(page);
    expect(before).toBeDefined();

    const callback = await signIn(page);
    expect(new URL(callback).searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await page.getByTestId('user-id').textContent()).toBe('oidc:test-user');
    const after = await sessionCookie(page);
    expect(after).toBeDefined();
    expect(after).not.toBe(before);

    await page.goto(demo.url);
    expect(await page.getByTestId('cart').locator('li').allTextContents()).toEqual(['tea']);
  });

  it('refuses the same callback a second time, and a forged state, without signing the user out', async () => {
    const page = await device();
    const callback = await signIn(page);

    const replay = await page.goto(callback);
    expect(replay?.status()).toBe(403);
    const forged = new URL(callback);
    forged.searchParams.set('state', 'x'.repeat(43));
    expect((await page.goto(forged.href))?.status()).toBe(403);

    await page.goto(`${demo.url}/profile`);
    expect(await page.getByTestId('user-id').textContent()).toBe('oidc:test-user');
  });

  it("refuses another browser's callback (login CSRF): the victim stays signed out", async () => {
    const attacker = await device();
    // The attacker stops at the callback, before delivering it.
    await attacker.route('**/auth/oidc/callback**', (route) => route.abort());
    await attacker.goto(`${demo.url}/login`);
    const [request] = await Promise.all([
      attacker.waitForRequest((r) => new URL(r.url()).pathname === '/auth/oidc/callback'),
      attacker.getByRole('button', { name: 'Sign in with the test provider' }).click(),
    ]);
    const planted = request.url();

    const victim = await device();
    expect((await victim.goto(planted))?.status()).toBe(403);
    await victim.goto(`${demo.url}/profile`);
    expect(new URL(victim.url()).pathname).toBe('/login');
  });
});
