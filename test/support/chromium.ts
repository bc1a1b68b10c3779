import { existsSync, rmSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { stopDemos, type DemoProcess } from './demo-process.js';

/** Debian's Chromium, driven through playwright-core; CHROMIUM_PATH points elsewhere. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const REQUIRED = process.env.REQUIRE_BROWSER === '1';
const available = existsSync(CHROMIUM);

/**
 * describe() for a browser suite: skipped loudly without Chromium, or, under REQUIRE_BROWSER=1 (CI),
 * run so that its beforeAll fails with the reason (requireChromium).
 */
export function browserSuite(file: string): jest.Describe {
  if (!available && !REQUIRED) {
    console.warn(
      `\n!!! ${file} SKIPPED: no Chromium at ${CHROMIUM} (install the 'chromium' package or set CHROMIUM_PATH).` +
        `\n!!! Set REQUIRE_BROWSER=1 to make this a failure.\n`,
    );
  }
  return available || REQUIRED ? describe : describe.skip;
}

/** Headless, without the background traffic that would make a test's network log noisy. */
export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  if (!available) throw new Error(`REQUIRE_BROWSER=1 but there is no Chromium at ${CHROMIUM}`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...extraArgs],
  });
}

/**
 * A separate browser profile (its own cookie jar, like a second device), recorded in `contexts` so
 * that closeBrowserDemo closes it; with `page`, its first page, with the suites' 10 s timeout.
 */
export async function newContext(browser: Browser, contexts: BrowserContext[]): Promise<BrowserContext> {
  const context = await browser.newContext();
  contexts.push(context);
  return context;
}

export async function newPage(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  return page;
}

/** What a browser suite over the demo opened, closed in the order that leaves nothing behind. */
export async function closeBrowserDemo(parts: { contexts: BrowserContext[]; browser?: Browser; demo?: DemoProcess; dir?: string }): Promise<void> {
  for (const c of parts.contexts) await c.close().catch(() => undefined);
  await parts.browser?.close();
  await parts.demo?.close();
  await stopDemos();
  if (parts.dir) rmSync(parts.dir, { recursive: true, force: true });
}
