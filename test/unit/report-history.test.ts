/**
 * What a person reads after a run, on in-tree parts (PGlite, a file store, a local run folder):
 * the run index and history page the reporter keeps, the cost lines, and what a versioned bucket
 * does to the bytes a run reports as freed.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runLocally } from '../../functions/engine/run/local.js';
import { reportRun } from '../../functions/engine/run/reporter.js';
import { costOf, DEFAULT_S3_STORAGE_PRICE, formatUsd } from '../../functions/engine/phases/cost.js';
import { formatReport } from '../../functions/engine/phases/report.js';
import { openStore } from '../../functions/stores/index.js';
import type { ObjectStore, StoreSpec } from '../../functions/engine/types.js';
import type { IndexEntry } from '../../functions/engine/phases/history.js';
import { EngineHarness, type Seeded } from '../support/engine-harness.js';

let h: EngineHarness;
let seeded: Seeded;

beforeAll(async () => {
  h = await EngineHarness.create();
}, 120_000);
afterAll(async () => h?.close());
beforeEach(async () => {
  seeded = await h.reset();
});

const GB = 2 ** 30;
const readRunFile = (path: string): Promise<string> => readFile(join(h.folderRoot, path), 'utf8');

describe('the run index and the history page', () => {
  it('Given three runs (dry run, collect, dry run), When each is reported, Then the index has one entry per run and history.html shows them with status, bytes and a link to each report, and report.html links back', async () => {
    const dry = await runLocally(h.local(), { options: h.options({ mode: 'dry-run' }) });
    h.clock.advanceMinutes(60);
    const collect = await runLocally(h.local(), { options: h.options({ mode: 'collect' }) });
    h.clock.advanceMinutes(60);
    const after = await runLocally(h.local(), { options: h.options({ mode: 'dry-run' }) });

    const index = await h.folder.readIndex(30);
    expect(index.map((e) => e.run_id)).toEqual([dry.run_id, collect.run_id, after.run_id]);
    expect(index[0]).toMatchObject<Partial<IndexEntry>>({ status: 'complete', dry_run: true, orphaned: seeded.orphans.length, deleted: 0, report: `runs/${dry.run_id}/report.html` });
    expect(index[1]).toMatchObject<Partial<IndexEntry>>({ dry_run: false, deleted: seeded.orphans.length, bytes_freed: collect.bytes_freed });
    expect(collect.bytes_freed).toBeGreaterThan(0);
    expect(index[2]).toMatchObject<Partial<IndexEntry>>({ orphaned: 0 });

    const history = await readRunFile('history.html');
    expect(history).toContain('djgc run history');
    expect(history).toContain('The last 3 finished run(s)');
    for (const run of [dry, collect, after]) expect(history).toContain(`<a href="runs/${run.run_id}/report.html"><code>${run.run_id}</code></a>`);
    // Newest first in the table; one pair of bars per run in the chart.
    expect(history.indexOf(after.run_id)).toBeLessThan(history.indexOf(dry.run_id));
    expect(history.match(/<rect [^>]*fill="#c0392b"><title>/g)).toHaveLength(3);
    expect(history).not.toMatch(/<script|https?:\/\//);

    const page = await readRunFile(`runs/${collect.run_id}/report.html`);
    expect(page).toContain('<a href="../../history.html">Run history</a>');
    expect(page).not.toMatch(/<script|https?:\/\//);
  });

  it('Given a run already reported, When the reporter is called again, Then the index keeps one entry and the page is not rebuilt', async () => {
    const deps = h.deps();
    const dry = await runLocally(h.local(), { options: h.options({ mode: 'dry-run' }) });
    const before = await readRunFile('history.html');
    await h.folder.writeHistory('changed by hand');
    expect(await reportRun(deps, dry.run_id)).toMatchObject({ run_id: dry.run_id });
    expect((await h.folder.readIndex(30)).map((e) => e.run_id)).toEqual([dry.run_id]);
    expect(await readRunFile('history.html')).toBe('changed by hand');
    expect(before).toContain(dry.run_id);
  });

  it('Given more runs than the page shows, When it is rebuilt, Then it shows the last ones only', async () => {
    for (let i = 0; i < 4; i++) {
      await h.folder.writeIndexEntry({ ...(await sampleEntry()), run_id: `2026-01-0${i + 1}T03-00-00-000Z-aaaaa${i}` });
    }
    const last = await h.folder.readIndex(2);
    expect(last.map((e) => e.run_id)).toEqual(['2026-01-03T03-00-00-000Z-aaaaa2', '2026-01-04T03-00-00-000Z-aaaaa3']);
    // Written once: a second write of the same run changes nothing.
    expect(await h.folder.writeIndexEntry({ ...(await sampleEntry()), run_id: '2026-01-04T03-00-00-000Z-aaaaa3', orphaned: 999 })).toBe(false);
    expect((await h.folder.readIndex(1))[0]!.orphaned).toBe(1);
  });
});

async function sampleEntry(): Promise<IndexEntry> {
  return {
    run_id: 'x',
    started_at: '2026-01-01T03:00:00.000Z',
    finished_at: '2026-01-01T03:01:00.000Z',
    status: 'complete',
    dry_run: true,
    schemas: ['lab'],
    stored: 10,
    orphaned: 1,
    orphaned_bytes: 100,
    deleted: 0,
    bytes_freed: 0,
    errors: 0,
    orphaned_cost_per_month: 0,
    freed_cost_per_month: 0,
    request_cost: 0,
    report: 'runs/x/report.html',
  };
}

describe('cost lines', () => {
  it('Given a file store with a configured price, When a collect runs, Then report.json, the text and the page state the monthly cost of orphaned and freed bytes at that price', async () => {
    const price = 1024; // USD per GB-month: large enough that a few bytes cost a visible amount
    const collect = await runLocally({ ...h.local(), prices: { storage: { main: price } } }, { options: h.options({ mode: 'collect' }) });
    expect(collect.orphaned_bytes).toBeGreaterThan(0);
    expect(collect.cost.by_store).toEqual([
      expect.objectContaining({ store: 'main', price_per_gb_month: price, orphaned_bytes: collect.orphaned_bytes, freed_bytes: collect.bytes_freed }),
    ]);
    expect(collect.cost.orphaned_per_month).toBeCloseTo((collect.orphaned_bytes / GB) * price, 12);
    expect(collect.cost.freed_per_month).toBeCloseTo((collect.bytes_freed / GB) * price, 12);
    // A directory sends no store requests.
    expect(collect.cost.requests_total).toBe(0);

    const text = formatReport(collect);
    expect(text).toContain(`Orphaned bytes:  ${formatUsd(collect.cost.orphaned_per_month)}/month`);
    expect(text).toContain(`Freed this run:  ${formatUsd(collect.cost.freed_per_month)}/month`);
    expect(text).toMatch(/This run's store requests: \$0\.00 \(0 LIST/);
    const page = await readRunFile(`runs/${collect.run_id}/report.html`);
    expect(page).toContain(`<tr><th>Orphaned bytes, per month</th><td>${formatUsd(collect.cost.orphaned_per_month)}</td></tr>`);
  });

  it('Given no configured price, When costs are computed, Then an S3 store costs the S3 Standard price, a file store nothing, and requests are priced by class', () => {
    const cost = costOf(
      [
        { store: 's3store', root: 's3://s3.amazonaws.com/b/dj', orphanedBytes: 10 * GB, freedBytes: 2 * GB, noncurrentBytes: 0 },
        { store: 'disk', root: 'file:///data', orphanedBytes: 5 * GB, freedBytes: 0, noncurrentBytes: 0 },
      ],
      { list: 2000, put: 0, copy: 1000, get: 10_000, head: 5000, delete: 7 },
    );
    expect(cost.orphaned_per_month).toBeCloseTo(10 * DEFAULT_S3_STORAGE_PRICE, 12);
    expect(cost.freed_per_month).toBeCloseTo(2 * DEFAULT_S3_STORAGE_PRICE, 12);
    expect(cost.by_store.map((s) => s.price_per_gb_month)).toEqual([0.023, 0]);
    // 2000 LIST × 0.005 + 1000 COPY × 0.005 + 15 000 GET/HEAD × 0.0004 (per 1000); DELETE free.
    expect(cost.requests_total).toBeCloseTo(0.01 + 0.005 + 0.006, 12);
    expect(formatUsd(cost.requests_total)).toBe('$0.02');
    expect(formatUsd(0.0034)).toBe('$0.0034');
    expect(formatUsd(1234.5)).toBe('$1,234.50');
    expect(formatUsd(0.0000123)).toBe('$0.000012');
  });
});

/** The file store, answering as a bucket with versioning enabled would. */
function versionedStore(spec: StoreSpec): ObjectStore {
  const real = openStore(spec);
  return Object.assign(Object.create(Object.getPrototypeOf(real) as object) as ObjectStore, real, { versioning: async () => 'enabled' as const });
}

describe('a store bucket with versioning', () => {
  it('Given a store that reports versioning enabled, When a collect deletes orphans, Then bytes_freed is 0, the bytes are counted as noncurrent versions, and the report warns naming the lifecycle rule', async () => {
    const collect = await runLocally({ ...h.local(), openStore: versionedStore, prices: { storage: { main: 1 } } }, { options: h.options({ mode: 'collect' }) });
    expect(collect.deleted).toBe(seeded.orphans.length);
    expect(collect.bytes_deleted).toBeGreaterThan(0);
    expect(collect.bytes_freed).toBe(0);
    expect(collect.noncurrent_version_bytes).toBe(collect.bytes_deleted);
    expect(collect.store_versioning).toEqual({ main: 'enabled' });
    expect(collect.cost.freed_per_month).toBe(0);
    expect(collect.cost.noncurrent_per_month).toBeCloseTo(collect.bytes_deleted / GB, 12);
    expect(collect.warnings).toEqual([expect.stringMatching(/store 'main' is a bucket with versioning enabled: .*NoncurrentVersionExpiration/)]);
    expect(collect.errors).toBe(0);
    expect(formatReport(collect)).toMatch(/Still stored as noncurrent versions \(versioned bucket\): /);
  });

  it('Given a store whose versioning state cannot be read, When a collect runs, Then it still removes, and the report warns that bytes_freed may overstate', async () => {
    const unreadable = (spec: StoreSpec): ObjectStore => {
      const real = openStore(spec);
      return Object.assign(Object.create(Object.getPrototypeOf(real) as object) as ObjectStore, real, {
        versioning: async () => {
          throw new Error('AccessDenied');
        },
      });
    };
    const collect = await runLocally({ ...h.local(), openStore: unreadable }, { options: h.options({ mode: 'collect' }) });
    expect(collect.deleted).toBe(seeded.orphans.length);
    expect(collect.bytes_freed).toBe(collect.bytes_deleted);
    expect(collect.store_versioning).toEqual({ main: 'unknown' });
    expect(collect.warnings).toEqual([expect.stringMatching(/versioning state of store 'main' could not be read/)]);
  });
});
