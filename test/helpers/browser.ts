// Test helper: Debian's Chromium through playwright-core, and a page that records every script error and console error.
import { chromium, type Browser, type Page } from 'playwright-core';

const CHROMIUM = process.env.TOLLGATE_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Generous: the machines running the suite are shared. */
export const WAIT = { timeout: 15_000 };

/**
 * No `skip` when the browser is missing: a CI without Chromium must fail, and fast (a missing binary at once, one that
 * never answers after 20 s; a start takes under 1 s here even at a load average of 12). `npm test`'s pre-test step
 * (scripts/pretest.js) finds or installs Chromium before the suite starts.
 */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 20_000 });
}

export interface WatchedPage {
  readonly page: Page;
  /** Uncaught exceptions and console errors, in order ("401 (Unauthorized)" resource errors left out when asked). */
  readonly errors: string[];
}

export async function watchedPage(browser: Browser, options: { ignoreUnauthorized?: boolean; width?: number } = {}): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: options.width ?? 1400, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT.timeout);
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    if (options.ignoreUnauthorized && /401 \(Unauthorized\)/.test(message.text())) return;
    errors.push(`console: ${message.text()}`);
  });
  return { page, errors };
}

/**
 * Polls `check` (run in the page) from the test side until it returns true. Unlike page.waitForFunction this keeps
 * working while the page's clock is paused (page.clock), since nothing in the page has to schedule the next try.
 */
export async function pollPage(page: Page, check: string, what: string, timeoutMs = WAIT.timeout): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate(check))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
