import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Catalog, ObjectStore, StorageColumn, StoreSpec } from './types.js';
import { groupsFor, schemasInScope, StoreScope, type RunOptions, type ShardPlan } from './plan.js';
import { mark, type ColumnSummary } from './mark.js';
import { partition } from './partition.js';
import { orphansPath } from './sweep.js';
import { runPath, type RunFolder } from './run-folder.js';
import { ConfigurationError } from './errors.js';
import { ignoreEvents, type RunObserver } from './events.js';

/** What every role of a run needs from its surroundings. */
export interface EngineDependencies {
  catalog: Catalog;
  stores: Record<string, StoreSpec>;
  defaultStore: string | null;
  openStore: (spec: StoreSpec) => ObjectStore;
  folder: RunFolder;
  observe?: RunObserver;
}

/** `plan.json`: everything a worker and the reporter need to know about the run. */
export interface RunPlan {
  runId: string;
  createdAt: string;
  options: RunOptions;
  schemas: string[];
  roots: { root: string; store: string; aliases: string[] }[];
  columns: StorageColumn[];
  /** Roots each column referenced at mark time (targets the re-checks). Empty for an approval run. */
  rootsByColumn: Record<string, string[]>;
  catalog: { columns: ColumnSummary[]; referencesOutsideScope: number; errors: string[] };
  /** Set when the run must not delete although asked to. */
  deletionBlocked?: string;
  /** An approval run sweeps this earlier dry run's orphan lists instead of listing the store. */
  approvedRun?: string;
  shards: ShardPlan[];
  timings: Record<string, number>;
}

export const planPath = (runId: string): string => runPath(runId, 'plan.json');

export function newRunId(now = new Date()): string {
  return `${now.toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`;
}

export async function readPlan(folder: RunFolder, runId: string): Promise<RunPlan> {
  const text = await folder.readText(planPath(runId));
  if (text === null) throw new ConfigurationError(`run '${runId}' has no plan in ${folder.description}: check the run id.`);
  return JSON.parse(text) as RunPlan;
}

export function scopeOf(deps: Pick<EngineDependencies, 'stores' | 'defaultStore'>, options: RunOptions): StoreScope {
  const scope = new StoreScope(deps.stores, deps.defaultStore, options.store, options.legacyRootLayout);
  if (scope.roots.length === 0) {
    throw new ConfigurationError('no stores are configured: add a "stores" block to datajoint.json (or set DJ_STORES).');
  }
  return scope;
}

/** The scanner's part: plan → mark → partition, written to `runs/<runId>/plan.json` and `refs/`. */
export async function startRun(deps: EngineDependencies, options: RunOptions, runId = newRunId()): Promise<RunPlan> {
  const observe = deps.observe ?? ignoreEvents;
  const createdAt = new Date().toISOString();
  const timings: Record<string, number> = {};
  let t = performance.now();

  observe({ type: 'phase', phase: 'plan' });
  const scope = scopeOf(deps, options);
  const columns = await deps.catalog.discover();
  const schemas = schemasInScope(columns, options.schemas);
  const groups = groupsFor(scope, schemas);
  timings.plan = performance.now() - t;

  t = performance.now();
  observe({ type: 'phase', phase: 'mark', detail: `${columns.length} storage columns` });
  const spillDir = await mkdtemp(join(tmpdir(), 'djgc-mark-'));
  let plan: RunPlan;
  try {
    const marked = await mark(deps.catalog, columns, scope, groups, spillDir, options.concurrency, observe);
    const shards = await partition(marked, options.maxRefsPerShard, deps.folder, runId);
    timings.mark = performance.now() - t;
    plan = {
      runId,
      createdAt,
      options,
      schemas,
      roots: scope.roots.map(({ root, store, aliases }) => ({ root, store, aliases })),
      columns,
      rootsByColumn: Object.fromEntries([...marked.rootsByColumn].map(([column, roots]) => [column, [...roots]])),
      catalog: { columns: marked.columns, referencesOutsideScope: marked.outsideScope, errors: marked.errors },
      ...(marked.errors.length > 0
        ? { deletionBlocked: 'references could not all be read, and any unread reference may protect any object' }
        : {}),
      shards,
      timings,
    };
  } finally {
    await rm(spillDir, { recursive: true, force: true });
  }
  await deps.folder.writeText(planPath(runId), JSON.stringify(plan, null, 2));
  observe({ type: 'shards-planned', shards: plan.shards.length });
  return plan;
}

/**
 * Approve an earlier dry run: a new run that deletes that run's reviewed orphans (each still
 * re-checked against the database, and the grace period applied again) without listing the store.
 */
export async function startApprovalRun(deps: EngineDependencies, approvedRunId: string, overrides: Partial<RunOptions>, runId = newRunId()): Promise<RunPlan> {
  const earlier = await readPlan(deps.folder, approvedRunId);
  if (earlier.approvedRun) throw new ConfigurationError(`run '${approvedRunId}' is itself an approval run; approve the dry run it came from.`);
  if (!(await deps.folder.readText(runPath(approvedRunId, 'report.json')))) {
    throw new ConfigurationError(`run '${approvedRunId}' has no report yet: approve it once it has finished and been reviewed.`);
  }
  if (earlier.options.deleteObjects) throw new ConfigurationError(`run '${approvedRunId}' was not a dry run: only a dry run's findings can be approved.`);
  if (earlier.deletionBlocked || earlier.catalog.errors.length > 0) {
    throw new ConfigurationError(`run '${approvedRunId}' could not read every reference, so its orphan list cannot be trusted: start a new run.`);
  }
  // Once approved, a listed object may be gone and uploaded again since; its listed age would be stale.
  const approval = await deps.folder.readText(approvalPath(approvedRunId));
  if (approval !== null) {
    throw new ConfigurationError(`run '${approvedRunId}' was already approved by run ${JSON.parse(approval).runId}: start a new dry run to review again.`);
  }
  const options: RunOptions = { ...earlier.options, ...overrides, deleteObjects: true };
  scopeOf(deps, options);
  const columns = await deps.catalog.discover();
  const plan: RunPlan = {
    ...earlier,
    runId,
    createdAt: new Date().toISOString(),
    options,
    columns,
    rootsByColumn: {},
    approvedRun: approvedRunId,
    shards: earlier.shards,
    timings: {},
  };
  delete plan.deletionBlocked;
  await deps.folder.writeText(approvalPath(approvedRunId), JSON.stringify({ runId, at: plan.createdAt }));
  await deps.folder.writeText(planPath(runId), JSON.stringify(plan, null, 2));
  return plan;
}

const approvalPath = (runId: string): string => runPath(runId, 'approved.json');

export function approvedOrphansOf(plan: RunPlan, shardId: string): string | undefined {
  return plan.approvedRun ? orphansPath(plan.approvedRun, shardId) : undefined;
}
