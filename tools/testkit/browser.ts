import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

/** A fresh browser with a fresh profile (no cookies, no cache), closed and deleted by close(). */
export async function launchBrowser(suite: string): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'xaa-chromium-'));
  const dir = join(ARTIFACTS_DIR, suite);
  mkdirSync(dir, { recursive: true });
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: ARGS,
      viewport: { width: 1024, height: 768 },
      locale: 'en-US',
      // Hang guards: a loaded machine (a second test run beside this one) can be slow to start Chromium and render.
      timeout: 120_000,
    });
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
  context.setDefaultTimeout(60_000);
  return {
    context,
    newPage: () => context.newPage(),
    async screenshot(page, name) {
      const path = join(dir, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
