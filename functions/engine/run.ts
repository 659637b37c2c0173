import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pLimit from 'p-limit';
import type { Catalog, ObjectStore, StoreSpec } from './types.js';
import { groupsFor, schemasInScope, StoreScope, type RunOptions, type ShardPlan } from './plan.js';
import { mark } from './mark.js';
import { partition } from './partition.js';
import { orphansPath, sweepShard } from './sweep.js';
import { makeRecheck } from './recheck.js';
import { buildReport, formatReport, type Report } from './report.js';
import { runPath, type RunFolder } from './run-folder.js';
import { ConfigurationError, describeError } from './errors.js';
import { ignoreEvents, type RunObserver } from './events.js';
import type { ShardResult } from './tally.js';

export interface RunDependencies {
  catalog: Catalog;
  stores: Record<string, StoreSpec>;
  defaultStore: string | null;
  openStore: (spec: StoreSpec) => ObjectStore;
  folder: RunFolder;
  observe?: RunObserver;
}

export function newRunId(now = new Date()): string {
  return `${now.toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`;
}

/** plan → mark → sweep → report, in one process (DESIGN.md). */
export async function runCollection(deps: RunDependencies, options: RunOptions): Promise<Report> {
  const observe = deps.observe ?? ignoreEvents;
  const startedAt = new Date();
  const runId = newRunId(startedAt);
  const timings: Record<string, number> = {};
  const clock = (): number => performance.now();
  let t = clock();

  observe({ type: 'phase', phase: 'plan' });
  const scope = new StoreScope(deps.stores, deps.defaultStore, options.store, options.legacyRootLayout);
  if (scope.roots.length === 0) {
    throw new ConfigurationError('no stores are configured: add a "stores" block to datajoint.json (or set DJ_STORES).');
  }
  const columns = await deps.catalog.discover();
  const schemas = schemasInScope(columns, options.schemas);
  const groups = groupsFor(scope, schemas);
  timings.plan = clock() - t;

  t = clock();
  observe({ type: 'phase', phase: 'mark', detail: `${columns.length} storage columns` });
  const spillDir = await mkdtemp(join(tmpdir(), 'djgc-mark-'));
  let shards: ShardPlan[];
  let marked;
  try {
    marked = await mark(deps.catalog, columns, scope, groups, spillDir, options.concurrency, observe);
    shards = await partition(marked, options.maxRefsPerShard, deps.folder, runId);
  } finally {
    await rm(spillDir, { recursive: true, force: true });
  }
  timings.mark = clock() - t;
  observe({ type: 'shards-planned', shards: shards.length });

  await deps.folder.writeText(
    runPath(runId, 'plan.json'),
    JSON.stringify(
      {
        runId,
        createdAt: startedAt.toISOString(),
        options,
        schemas,
        roots: scope.roots.map(({ root, store, aliases }) => ({ root, store, aliases })),
        catalog: { columns: marked.columns, referencesOutsideScope: marked.outsideScope, errors: marked.errors },
        shards,
      },
      null,
      2,
    ),
  );

  t = clock();
  observe({ type: 'phase', phase: 'sweep', detail: `${shards.length} shards` });
  const deletionBlocked =
    marked.errors.length > 0
      ? 'references could not all be read, and any unread reference may protect any object'
      : undefined;
  const stores = new Map(scope.roots.map((r) => [r.root, { store: deps.openStore(r.spec), layout: scope.layout(r) }]));
  const rechecks = new Map(scope.roots.map((r) => [r.root, makeRecheck(deps.catalog, columns, scope, marked.rootsByColumn, r.root)]));
  const limit = pLimit(Math.max(1, options.concurrency));
  const failedShards: { shardId: string; reason: string }[] = [];
  const results = (
    await Promise.all(
      shards.map((shard) =>
        limit(async (): Promise<ShardResult | null> => {
          const target = stores.get(shard.root)!;
          try {
            const result = await sweepShard({
              runId,
              folder: deps.folder,
              store: target.store,
              layout: target.layout,
              shard,
              graceMs: options.graceMs,
              deleteObjects: options.deleteObjects,
              ...(deletionBlocked ? { deletionBlocked } : {}),
              recheck: rechecks.get(shard.root)!,
              deleteConcurrency: 2,
              observe,
            });
            await deps.folder.writeText(runPath(runId, 'shards', `${shard.id}.json`), JSON.stringify(result, null, 2));
            return result;
          } catch (error) {
            failedShards.push({ shardId: shard.id, reason: describeError(error) });
            return null;
          }
        }),
      ),
    )
  ).filter((r): r is ShardResult => r !== null);
  timings.sweep = clock() - t;

  t = clock();
  observe({ type: 'phase', phase: 'report' });
  const report = buildReport({
    runId,
    startedAt,
    finishedAt: new Date(),
    dryRun: !options.deleteObjects,
    schemas,
    roots: scope.roots,
    graceMs: options.graceMs,
    legacyRootLayout: options.legacyRootLayout,
    columns: marked.columns,
    referencesOutsideScope: marked.outsideScope,
    planErrors: marked.errors,
    shards,
    results,
    failedShards,
    timings,
    orphanLists: shards.map((s) => orphansPath(runId, s.id)),
  });
  timings.report = clock() - t;
  await writeReport(deps.folder, report);
  return report;
}

export async function writeReport(folder: RunFolder, report: Report): Promise<void> {
  await folder.writeText(runPath(report.run_id, 'report.json'), JSON.stringify(report, null, 2));
  await folder.writeText(runPath(report.run_id, 'report.txt'), formatReport(report));
  await folder.writeText(
    'latest.json',
    JSON.stringify({ run_id: report.run_id, finished_at: report.finished_at, report: runPath(report.run_id, 'report.json') }, null, 2),
  );
}
