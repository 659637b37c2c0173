/**
 * Screenshots of djgc's HTML pages in a headless Chromium (Debian's `chromium` package), driven by
 * playwright-core: each page is opened from its file, its visible text and the size of its charts
 * are read, and a full-page PNG is written.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

/** Where Chromium is: CHROMIUM_PATH, else Debian's. */
export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = [env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => Boolean(p));
  return candidates.find((p) => existsSync(p));
}

/** A private, quiet browser: no sandbox (containers), no GPU, nothing fetched from the network on its own. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface PageShot {
  name: string;
  png: string;
  title: string;
  /** The text a person sees (document.body.innerText). */
  text: string;
  /** Width and height of each inline SVG chart as laid out. */
  charts: { width: number; height: number }[];
  /** Size of the whole page as laid out. */
  page: { width: number; height: number };
  /** Requests the page made for anything but its own file (should be none: the pages are self-contained). */
  outsideRequests: string[];
}

/** Run in the page (as text: this project compiles without the DOM's types). */
const MEASURE = `({
  title: document.title,
  text: document.body.innerText,
  charts: [...document.querySelectorAll('svg')].map((svg) => {
    const box = svg.getBoundingClientRect();
    return { width: box.width, height: box.height };
  }),
  page: { width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight },
})`;

export async function shootPages(pages: { name: string; file: string }[], outDir: string, executablePath: string): Promise<PageShot[]> {
  const profile = await mkdtemp(join(tmpdir(), 'djgc-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1100, height: 800 },
  });
  try {
    const shots: PageShot[] = [];
    for (const { name, file } of pages) {
      const page = await context.newPage();
      const url = pathToFileURL(file).href;
      const outsideRequests: string[] = [];
      page.on('request', (request) => {
        if (request.url() !== url) outsideRequests.push(request.url());
      });
      await page.goto(url, { waitUntil: 'load' });
      const png = join(outDir, `${name}.png`);
      await page.screenshot({ path: png, fullPage: true });
      const measured = (await page.evaluate(MEASURE)) as Omit<PageShot, 'name' | 'png' | 'outsideRequests'>;
      shots.push({ name, png, ...measured, outsideRequests });
      await page.close();
    }
    return shots;
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
}
