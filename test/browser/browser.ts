/**
 * Debian's Chromium driven by playwright-core (it downloads no browser), with
 * a fresh profile, plus helpers to watch a page for errors and dialogs.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from '../helpers/paths.js';

/** Where the dashboard screenshots go (gitignored; docs/dashboards.md names them). */
export const SCREENSHOT_DIR = resolve(REPO_ROOT, 'test-output/screenshots');

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

/** A browser with a fresh user-data-dir; `close()` removes it. */
export interface TestBrowser {
  readonly context: BrowserContext;
  /** A new page whose console errors, page errors and dialogs are collected. */
  page(): Promise<WatchedPage>;
  close(): Promise<void>;
}

/** A page and what went wrong on it. */
export interface WatchedPage {
  readonly page: Page;
  /** Console errors and uncaught exceptions. */
  readonly errors: string[];
  /** alert/confirm/prompt texts: an injected script would show up here. */
  readonly dialogs: string[];
}

/** Launches Chromium; the test CA is not installed, so certificate errors are ignored for 127.0.0.1. */
export async function launchBrowser(): Promise<TestBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'fleethub-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ARGS,
    ignoreHTTPSErrors: true,
    viewport: { width: 1440, height: 900 },
    deviceScaleFactor: 1,
  });
  return {
    context,
    async page() {
      const page = await context.newPage();
      const errors: string[] = [];
      const dialogs: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (err) => errors.push(err.message));
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      return { page, errors, dialogs };
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a screenshot as `test-output/screenshots/<name>.png`. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`) });
}
