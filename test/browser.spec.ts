import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startDemo, type DemoProcess } from './support/demo-process.js';
import { browserSuite, closeBrowserDemo, launchChromium, newContext, newPage } from './support/chromium.js';

/**
 * The demo in a real headless Chromium: what only a browser can tell us (Secure cookies on
 * http://localhost, HttpOnly hiding the cookie from scripts, Sec-Fetch-Site on form posts passing
 * the CSRF rule, the back button after logout).
 */

const suite = browserSuite('test/browser.spec.ts');

const COOKIE = '__Host-sid';
const PASSWORDS = { alice: 'alice-demo-password', bob: 'bob-demo-password' } as const;

suite.each(['express', 'fastify'] as const)('demo in headless Chromium on %s', (platform) => {
  let dir: string;
  let demo: DemoProcess;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'demo-browser-'));
    // No host: every interface, so "localhost" works whichever loopback address Chromium picks.
    // Its logins are not the subject here (test/demo.spec.ts checks the real limit).
    demo = await startDemo({ sqlitePath: join(dir, 'sessions.sqlite'), platform, loginAttempts: { limit: 1000, ttl: 60_000 } });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await closeBrowserDemo({ contexts, browser, demo, dir });
  });

  /** A separate browser profile: its own cookie jar, like a second device. */
  const device = async (): Promise<Page> => newPage(await newContext(browser, contexts));

  const path = (page: Page) => new URL(page.url()).pathname;

  async function logIn(page: Page, user: keyof typeof PASSWORDS, remember = false): Promise<void> {
    await page.goto(`${demo.url}/login`);
    await page.getByLabel('User name').fill(user);
    await page.getByLabel('Password').fill(PASSWORDS[user]);
    if (remember) await page.getByLabel(/Remember me/).check();
    await Promise.all([page.waitForURL('**/profile'), page.getByRole('button', { name: 'Log in' }).click()]);
    await expectSignedIn(page, user);
  }

  async function expectSignedIn(page: Page, user: string): Promise<void> {
    expect(path(page)).toBe('/profile');
    expect(await page.getByTestId('user-id').textContent()).toBe(user);
  }

  async function expectLoginPage(page: Page): Promise<void> {
    expect(path(page)).toBe('/login');
    expect(await page.getByRole('button', { name: 'Log in' }).count()).toBe(1);
    expect(await page.getByTestId('user-id').count()).toBe(0);
    expect(await page.content()).not.toContain('Signed in as');
  }

  const sessionCount = async (page: Page) => Number(await page.getByTestId('session-count').textContent());

  it('keeps a visit counter and a cart in the session across reloads', async () => {
    const page = await device();
    await page.goto(demo.url);
    expect(await page.getByTestId('visits').textContent()).toBe('1');
    await page.reload();
    expect(await page.getByTestId('visits').textContent()).toBe('2');
    await page.getByLabel('Item').fill('<b>tea</b>');
    await Promise.all([page.waitForURL(`${demo.url}/`), page.getByRole('button', { name: 'Add to cart' }).click()]);
    // Shown as text, not markup.
    expect(await page.getByTestId('cart').locator('li').allTextContents()).toEqual(['<b>tea</b>']);
    expect(await page.locator('[data-testid="cart"] b').count()).toBe(0);
    await page.getByRole('button', { name: 'Clear cart' }).click();
    await page.getByTestId('cart-empty').waitFor();
  });

  it('a wrong password stays on the login form without a session cookie', async () => {
    const page = await device();
    await page.goto(`${demo.url}/login`);
    await page.getByLabel('User name').fill('alice');
    await page.getByLabel('Password').fill('not-her-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByTestId('login-error').waitFor();
    expect((await page.context().cookies()).filter((c) => c.name === COOKIE)).toEqual([]);
  });

  it('logs in, stays logged in, and keeps the cookie away from scripts', async () => {
    const page = await device();
    await logIn(page, 'alice');

    // Chromium took a Secure, __Host- cookie over plain http://localhost (a potentially trustworthy origin).
    const cookies = (await page.context().cookies()).filter((c) => c.name === COOKIE);
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({ secure: true, httpOnly: true, sameSite: 'Lax', path: '/', domain: 'localhost' });
    // Not "remember me": a browser-session cookie.
    expect(cookies[0].expires).toBe(-1);

    const reloaded = await page.reload();
    expect(reloaded?.headers()['cache-control']).toBe('no-store');
    await expectSignedIn(page, 'alice');

    // A script sees its own cookie but not the session's. (A string, so no DOM typings are needed.)
    const visible = await page.evaluate<string>("document.cookie = 'probe=1; path=/'; document.cookie");
    expect(visible).toContain('probe=1');
    expect(visible).not.toContain(COOKIE);
  });

  it('"remember me" gives a persistent cookie', async () => {
    const page = await device();
    await logIn(page, 'bob', true);
    const [cookie] = (await page.context().cookies()).filter((c) => c.name === COOKIE);
    const hours = (cookie.expires * 1000 - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(11.9);
    expect(hours).toBeLessThanOrEqual(12);
  });

  it('two devices: one ends the other, then logs out everywhere else, then logs out', async () => {
    const first = await device();
    const second = await device();
    await logIn(first, 'alice');
    await logIn(second, 'alice');

    // alice may still have sessions from earlier tests; start from a known state.
    await first.getByRole('button', { name: 'Log out everywhere else' }).click();
    await first.getByText(/Logged out everywhere else/).waitFor();
    await expectLoginPageAfterNavigation(second);

    await logIn(second, 'alice');
    await first.reload();
    expect(await sessionCount(first)).toBe(2);
    expect(await first.locator('[data-current="true"]').textContent()).toContain('this device');

    // End the second device's session from the first.
    const other = first.locator('[data-testid="session-row"]:not([data-current])');
    expect(await other.count()).toBe(1);
    await other.getByRole('button', { name: 'End this session' }).click();
    await first.getByText('That session has been ended.').waitFor();
    expect(await sessionCount(first)).toBe(1);

    // The second device learns on its next click: it lands on the login page.
    await expectLoginPageAfterNavigation(second);

    // Two more devices, then "log out everywhere else" from the first.
    const third = await device();
    await logIn(second, 'alice');
    await logIn(third, 'alice');
    await first.reload();
    expect(await sessionCount(first)).toBe(3);
    await first.getByRole('button', { name: 'Log out everywhere else' }).click();
    await first.getByText('Logged out everywhere else (2 sessions ended).').waitFor();
    expect(await sessionCount(first)).toBe(1);
    await expectLoginPageAfterNavigation(second);
    await second.reload();
    await expectLoginPage(second);
    await third.goto(`${demo.url}/profile`);
    await expectLoginPage(third);

    // The first device is still in.
    await first.reload();
    await expectSignedIn(first, 'alice');

    // Logout returns to the login page, and the back button does not bring the private page back.
    await Promise.all([first.waitForURL('**/login'), first.getByRole('button', { name: 'Log out', exact: true }).click()]);
    await expectLoginPage(first);
    expect((await first.context().cookies()).filter((c) => c.name === COOKIE)).toEqual([]);

    const profileRequests: string[] = [];
    first.on('request', (r) => {
      if (new URL(r.url()).pathname === '/profile') profileRequests.push(r.url());
    });
    await first.goBack();
    await first.waitForURL('**/login');
    // no-store: the profile was asked for again (and refused), not shown from a cache.
    expect(profileRequests.length).toBeGreaterThanOrEqual(1);
    await expectLoginPage(first);
    expect(await first.content()).not.toContain('this device');
  });

  /** Clicks the nav's Profile link, as a person would, and expects the login page. */
  async function expectLoginPageAfterNavigation(page: Page): Promise<void> {
    await Promise.all([page.waitForURL('**/login'), page.getByRole('link', { name: 'Profile' }).click()]);
    await expectLoginPage(page);
  }
});
