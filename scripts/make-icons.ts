/**
 * Renders the app's PNG icons from their SVG sources (web/public/icons/*.svg) with Chromium, the
 * renderer the browser tests already use: `node scripts/make-icons.ts`. The PNGs are committed;
 * run this again only when an SVG changes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../web/public/icons');
const jobs: { svg: string; out: string; size: number; transparent: boolean }[] = [
  { svg: 'icon.svg', out: 'icon-192.png', size: 192, transparent: true },
  { svg: 'icon.svg', out: 'icon-512.png', size: 512, transparent: true },
  { svg: 'icon-maskable.svg', out: 'icon-maskable-512.png', size: 512, transparent: false },
  // iOS puts its own rounded mask on a square, opaque icon.
  { svg: 'icon-maskable.svg', out: 'apple-touch-icon.png', size: 180, transparent: false },
];

const browser = await chromium.launch({ executablePath: process.env.KEEL_CHROMIUM || '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
try {
  for (const j of jobs) {
    const page = await browser.newPage({ viewport: { width: j.size, height: j.size }, deviceScaleFactor: 1 });
    const svg = fs.readFileSync(path.join(dir, j.svg), 'utf8');
    await page.setContent(`<html><body style="margin:0;background:transparent"><img style="display:block;width:${j.size}px;height:${j.size}px" src="data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}"></body></html>`);
    await page.screenshot({ path: path.join(dir, j.out), omitBackground: j.transparent });
    await page.close();
    process.stdout.write(`${j.out} (${j.size}×${j.size})\n`);
  }
} finally {
  await browser.close();
}
