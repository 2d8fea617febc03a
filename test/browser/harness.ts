/**
 * Browser-test kit: Debian's Chromium through playwright-core, a real Keel on 127.0.0.1:0 in a
 * temporary data directory, pages opened with the access token, bounded waits that say what they
 * waited for, and screenshots under test-results/.
 *
 * Chromium is required: when it is missing these tests fail with instructions, they never skip.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { createKeel, type Keel, type KeelDeps } from '../../src/app.ts';
import { loadOptions } from '../../src/config/load.ts';
import type { KeelOptions } from '../../src/config/options.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const RESULTS_DIR = path.join(ROOT, 'test-results');
export const CHROMIUM_PATH = process.env.KEEL_CHROMIUM || '/usr/bin/chromium';

export const DESKTOP = { width: 1280, height: 800 } as const;
export const PHONE = { width: 390, height: 844 } as const;
/** A phone: touch, coarse pointer, the page's viewport meta honoured. */
export const PHONE_CONTEXT: BrowserContextOptions = { viewport: PHONE, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

/** Default bound for a condition to become true. Generous: these are not timing assertions. */
export const WAIT_MS = 20_000;

let built = false;
/** Builds web/dist if its sources are newer (what `npm test` does first), once per process. */
export function ensureWebBuilt(): void {
  if (built) return;
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'ensure-web.js')], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`Building the web UI failed (node scripts/ensure-web.js, exit ${r.status}):\n${r.stderr}${r.stdout}`);
  built = true;
}

export async function launchBrowser(extraArgs: string[] = []): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}. The browser tests need it and do not skip: install Debian's package ` +
        '(`apt-get install -y chromium`) or set KEEL_CHROMIUM to a Chromium binary. Never `npx playwright install`.',
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    timeout: 60_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage', ...extraArgs],
  });
}

export interface BrowserKeel {
  keel: Keel;
  /** Base URL without the token. */
  url: string;
  /** The URL a user opens: base + `/?token=…`. */
  startUrl: string;
  dataDir: string;
  close(): Promise<void>;
}

let home: string | undefined;
/**
 * Shells in these tests start in a home of their own with a one-line .bashrc: the machine user's rc
 * files (pyenv, conda, fancy prompts) must not decide what the screen shows or how fast it appears.
 */
export function testHome(): string {
  if (home) return home;
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-browser-home-'));
  fs.writeFileSync(path.join(home, '.bashrc'), "PS1='\\$ '\nunset PROMPT_COMMAND\n");
  process.env.HOME = home;
  process.on('exit', () => fs.rmSync(home!, { recursive: true, force: true }));
  return home;
}

export function tmpDataDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'keel-browser-'));
}

/**
 * Starts Keel in-process on port 0. A given `dataDir` is left in place at close (restart tests);
 * otherwise a temporary one is made and removed.
 */
export async function startKeel(overrides: Partial<KeelOptions> = {}, deps: KeelDeps = {}): Promise<BrowserKeel> {
  ensureWebBuilt();
  const own = overrides.dataDir === undefined;
  const dataDir = overrides.dataDir ?? tmpDataDir();
  testHome();
  const shell = fs.existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';
  const keel = await createKeel(loadOptions({ overrides: { port: 0, host: '127.0.0.1', logLevel: 'silent', terminalShell: shell, ...overrides, dataDir } }), deps);
  const url = await keel.listen();
  let closing: Promise<void> | undefined;
  return {
    keel,
    url,
    startUrl: keel.startUrl,
    dataDir,
    close() {
      closing ??= keel.close('test done').finally(() => {
        if (own) fs.rmSync(dataDir, { recursive: true, force: true });
      });
      return closing;
    },
  };
}

export interface OpenedPage {
  context: BrowserContext;
  page: Page;
  /** Uncaught page errors and console errors, for asserting a clean run. */
  errors: string[];
}

/** A fresh browser context (own cookie jar) with a page at `url`. */
export async function openPage(browser: Browser, url: string, options: BrowserContextOptions = { viewport: DESKTOP }): Promise<OpenedPage> {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => (window as unknown as { __keel?: unknown }).__keel !== undefined, null, { timeout: WAIT_MS });
  return { context, page, errors };
}

/** Polls `fn` until it returns a truthy value; fails saying what it waited for and the last value seen. */
export async function waitFor<T>(fn: () => Promise<T> | T, what: string, timeoutMs = WAIT_MS): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      last = await fn();
      if (last) return last as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}; last value: ${last instanceof Error ? last.message : JSON.stringify(last)?.slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// --- reading the page ----------------------------------------------------------------------------

interface KeelHook {
  tabs(): { id: string; name: string; state: string; role?: string; active: boolean }[];
  activeId(): string | undefined;
  screen(id?: string): string;
  health(): { mode: string; samples: number; report?: { memory?: { rss_mb: number } } };
  dropConnection(id?: string): void;
}

export function tabs(page: Page) {
  return page.evaluate(() => (window as unknown as { __keel: KeelHook }).__keel.tabs());
}

export function screen(page: Page, id?: string): Promise<string> {
  return page.evaluate((i) => (window as unknown as { __keel: KeelHook }).__keel.screen(i), id);
}

/** The text of the rows xterm has rendered into the DOM (what a user sees), one entry per row. */
export function renderedRows(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const view = [...document.querySelectorAll<HTMLElement>('.term-view')].find((v) => !v.hidden);
    return [...(view?.querySelectorAll('.xterm-rows > div') ?? [])].map((r) => (r.textContent ?? '').replace(/\u00a0/g, ' ').trimEnd());
  });
}

/** Waits until the active terminal's screen has a line equal to `line` (output, not the typed command). */
export async function waitForLine(page: Page, line: string, timeoutMs = WAIT_MS): Promise<string> {
  return waitFor(async () => {
    const text = await screen(page);
    return text.split('\n').some((l) => l.trim() === line) ? text : undefined;
  }, `a line "${line}" on the terminal screen`, timeoutMs);
}

export async function waitForState(page: Page, state: string, timeoutMs = WAIT_MS): Promise<void> {
  await waitFor(async () => (await tabs(page)).find((t) => t.active)?.state === state, `the active tab to be "${state}"`, timeoutMs);
}

/** Types into the active terminal (focusing it first), as a user would. */
export async function typeInTerminal(page: Page, text: string): Promise<void> {
  await page.locator('.term-view:not([hidden]) .term-box').click({ position: { x: 30, y: 30 } });
  await page.keyboard.type(text);
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Whether the page scrolls sideways (it must not, on a phone). */
export function hasHorizontalScroll(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth + 1 || document.body.scrollWidth > document.body.clientWidth + 1);
}

/** Opens a new terminal tab (the empty page's button or the + button), waits for its shell prompt; resolves to its id. */
export async function newTerminal(page: Page): Promise<string> {
  const empty = page.locator('.empty .btn-primary');
  // The page lists the server's terminals after it loads: count only once it has (the empty state or
  // a tab shows), or tabs a slow page adds later make the count miss (seen under load in CI).
  await waitFor(async () => (await empty.isVisible()) || (await tabs(page)).length > 0, 'the terminal list to load');
  const before = (await tabs(page)).length;
  if (await empty.isVisible()) await empty.click();
  else await page.locator('[data-testid="new-terminal"]').click();
  await waitFor(async () => (await tabs(page)).length === before + 1, 'a new tab');
  await waitForState(page, 'live');
  // The shell is ready once it has printed its prompt.
  await waitFor(async () => (await screen(page)).includes('$ ') || (await screen(page)).includes('# '), 'the shell prompt');
  return (await tabs(page)).find((t) => t.active)!.id;
}
