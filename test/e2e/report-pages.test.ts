/**
 * The report and history pages as a person sees them: rendered by a headless Chromium (Debian's
 * `chromium`, driven by playwright-core) from a real run folder that the engine wrote (PGlite, a
 * file store with a configured price). Skipped, saying why, when no Chromium is installed.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLocally } from '../../functions/engine/run/local.js';
import { formatUsd } from '../../functions/engine/phases/cost.js';
import type { Report } from '../../functions/engine/phases/report.js';
import { chromiumPath, shootPages, type PageShot } from '../../scripts/page-shots.js';
import { EngineHarness } from '../support/engine-harness.js';

const browser = chromiumPath();
if (!browser) process.stdout.write('report-pages: skipped, no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)\n');

let h: EngineHarness;
let out: string;
let dry: Report;
let collect: Report;
let shots: Record<string, PageShot>;

beforeAll(async () => {
  if (!browser) return;
  h = await EngineHarness.create();
  await h.reset();
  out = await mkdtemp(join(tmpdir(), 'djgc-pages-'));
  const prices = { storage: { main: 4096 } };
  dry = await runLocally({ ...h.local(), prices }, { options: h.options({ mode: 'dry-run' }) });
  h.clock.advanceMinutes(60);
  collect = await runLocally({ ...h.local(), prices }, { options: h.options({ mode: 'collect' }) });
  const pages = [
    { name: 'report', file: join(h.folderRoot, h.folder.reportPath(collect.run_id, 'html')) },
    { name: 'history', file: join(h.folderRoot, h.folder.historyPath()) },
  ];
  shots = Object.fromEntries((await shootPages(pages, out, browser)).map((s) => [s.name, s]));
}, 240_000);

afterAll(async () => {
  await h?.close();
  if (out) await rm(out, { recursive: true, force: true });
});

describe.skipIf(!browser)('the pages in headless Chromium', () => {
  it('report.html shows the headline numbers, the chart, the cost lines and the link to the history, loading nothing from elsewhere', async () => {
    const page = shots.report!;
    expect(page.title).toBe(`djgc report ${collect.run_id}`);
    expect(page.text).toContain('Run history');
    expect(page.text).toMatch(/Status\s+OK/);
    expect(page.text).toMatch(new RegExp(`Deleted\\s+${collect.deleted} \\(`));
    expect(page.text).toContain('Reclaimable bytes by schema and table');
    expect(page.text).toMatch(new RegExp(`Freed by this run, per month\\s+\\${formatUsd(collect.cost.freed_per_month)}`));
    expect(collect.cost.freed_per_month).toBeGreaterThan(0);
    expect(page.charts).toHaveLength(1);
    expect(page.charts[0]!.width).toBeGreaterThan(300);
    expect(page.charts[0]!.height).toBeGreaterThan(20);
    expect(page.outsideRequests).toEqual([]);
    expect((await stat(page.png)).size).toBeGreaterThan(10_000);
  });

  it('history.html shows both runs, newest first, with their status, mode and cost, and a chart of their bytes', async () => {
    const page = shots.history!;
    expect(page.title).toBe('djgc run history');
    expect(page.text).toContain('The last 2 finished run(s)');
    const rows = page.text.split('\n').filter((line) => line.includes(dry.run_id) || line.includes(collect.run_id));
    // The summary line names the latest run, then one table row per run, newest first.
    expect(rows.at(-2)).toMatch(new RegExp(`${collect.run_id}\\s+complete\\s+collect`));
    expect(rows.at(-1)).toMatch(new RegExp(`${dry.run_id}\\s+complete\\s+dry run\\s+${dry.orphaned}\\s`));
    expect(rows.at(-1)).toContain(formatUsd(dry.cost.orphaned_per_month));
    expect(page.text).toMatch(/orphaned bytes\s+freed bytes\s+complete\s+partial\s+failed/);
    expect(page.charts).toHaveLength(1);
    expect(page.charts[0]!.width).toBeGreaterThan(500);
    expect(page.charts[0]!.height).toBeGreaterThan(200);
    expect(page.outsideRequests).toEqual([]);
    expect((await stat(page.png)).size).toBeGreaterThan(10_000);
  });
});
