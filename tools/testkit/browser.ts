import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from './env.js';

/**
 * Headless Chromium for tests that do what a person does in a browser. It is Debian's `chromium`
 * package (apt-get install chromium; `.ci/run` installs it), driven by playwright-core, which
 * downloads no browser of its own. Screenshots go to test-artifacts/<suite>/<name>.png at the repo
 * root (gitignored), so a failing run leaves the pages to look at.
 */

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const ARTIFACTS_DIR = join(ROOT, 'test-artifacts');

const ARGS = [
  '--no-sandbox',
  '--headless',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** `required`: under CI the browser tests must run, so a missing browser is a failure, not a skip. */
export type BrowserAvailability = { run: true } | { run: false; reason: string; required: boolean };

/**
 * Whether browser tests can run here. Without chromium they are skipped on a developer machine,
 * but under CI=true a missing browser must fail the run rather than pass it silently.
 */
export function browserAvailability(): BrowserAvailability {
  if (existsSync(CHROMIUM_PATH)) return { run: true };
  const required = !!process.env.CI && process.env.CI !== 'false';
  return { run: false, required, reason: `${CHROMIUM_PATH} is missing: install Debian's chromium (apt-get install -y chromium) to run the browser tests` };
}

export interface TestBrowser {
  context: BrowserContext;
  newPage(): Promise<Page>;
  /** Full-page PNG at test-artifacts/<suite>/<name>.png; returns its path. */
  screenshot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

/** One Chromium process; each `context(suite)` is a fresh incognito profile in it (no cookies, no cache, no storage). */
export interface Chromium {
  context(suite: string): Promise<TestBrowser>;
  /** Closes every context and ends the process. */
  close(): Promise<void>;
}

/**
 * Starts Chromium once for a test file whose suites each need a fresh profile: a new context is
 * isolated like a new profile, and starting the process costs about 1.5 s of CPU each time.
 */
export async function launchChromium(): Promise<Chromium> {
  // Hang guard: a loaded machine (a second test run beside this one) can be slow to start Chromium.
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: ARGS, timeout: 120_000 });
  return {
    async context(suite) {
      const dir = join(ARTIFACTS_DIR, suite);
      mkdirSync(dir, { recursive: true });
      const context = await browser.newContext({ viewport: { width: 1024, height: 768 }, locale: 'en-US' });
      // Hang guard for rendering on a loaded machine.
      context.setDefaultTimeout(60_000);
      return {
        context,
        newPage: () => context.newPage(),
        async screenshot(page, name) {
          const path = join(dir, `${name}.png`);
          await page.screenshot({ path, fullPage: true });
          return path;
        },
        close: () => context.close().catch(() => {}),
      };
    },
    close: () => browser.close().catch(() => {}),
  };
}

/** A Chromium process of its own with a fresh profile, ended by close(). */
export async function launchBrowser(suite: string): Promise<TestBrowser> {
  const chromiumProcess = await launchChromium();
  try {
    const browser = await chromiumProcess.context(suite);
    return {
      ...browser,
      async close() {
        await browser.close();
        await chromiumProcess.close();
      },
    };
  } catch (e) {
    await chromiumProcess.close();
    throw e;
  }
}
