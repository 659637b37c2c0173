import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { RunPlan, ShardPlan } from '../model/plan.js';
import { QUARANTINE_PREFIX } from '../phases/sections.js';
import { checkGrace, type Removal, type RunOptions } from '../model/options.js';
import { ConfigurationError } from '../model/errors.js';
import { ignoreEvents } from '../model/events.js';
import { groupsFor, schemasInScope, scopeOf, type StoreScope } from '../phases/scope.js';
import { mark } from '../phases/mark.js';
import { partition } from '../phases/partition.js';
import type { EngineDependencies } from './ports.js';
import { acquireRunLock, releaseRunLock, type LockLimits } from './lock.js';
import { reportRun } from './reporter.js';

/**
 * What starts a run: its options, or the dry run whose findings to remove without listing the
 * store again (its options are reused; the grace period may be changed).
 */
export type RunRequest = { options: RunOptions } | { approveRun: string; graceHours?: number; concurrency?: number; removal?: Removal };

export type ScanOutcome = { status: 'started'; plan: RunPlan } | { status: 'refused'; reason: string };

export function newRunId(now = new Date()): string {
  return `${now.toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`;
}

export function lockLimits(deps: Pick<EngineDependencies, 'lifecycle' | 'holderAlive'>): LockLimits {
  return {
    timeoutMinutes: deps.lifecycle.runTimeoutMinutes,
    cooldownMinutes: deps.lifecycle.cooldownMinutes,
    ...(deps.holderAlive ? { holderAlive: deps.holderAlive } : {}),
  };
}

/**
 * The scanner's role: check the request, take the run's scope (refused while an overlapping run
 * is active or cooling down), plan and mark (or take over a dry run's findings), and hand the
 * shards to the queue. A run with nothing to sweep is reported at once.
 */
export async function startRun(deps: EngineDependencies, request: RunRequest, runId = newRunId(deps.now())): Promise<ScanOutcome> {
  const approved = 'approveRun' in request ? await approvableRun(deps, request.approveRun) : undefined;
  const options: RunOptions =
    'options' in request
      ? request.options
      : {
          ...approved!.options,
          mode: 'collect',
          ...(request.graceHours !== undefined ? { graceHours: request.graceHours } : {}),
          ...(request.concurrency !== undefined ? { concurrency: request.concurrency } : {}),
          ...(request.removal !== undefined ? { removal: request.removal } : {}),
        };
  scopeOf(deps, options);
  checkGrace(options.mode, options.graceHours, deps.lifecycle.graceFloorHours);

  const startedAt = deps.now();
  const refusal = await acquireRunLock(
    deps.folder,
    {
      runId,
      schemas: options.schemas,
      ...(options.store !== undefined ? { store: options.store } : {}),
      startedAt: startedAt.toISOString(),
      ...(deps.holder ? { holder: deps.holder } : {}),
    },
    startedAt,
    lockLimits(deps),
  );
  if (refusal) return { status: 'refused', reason: `not started: ${refusal}` };

  try {
    const plan = approved ? await approvalPlan(deps, approved, options, runId) : await planAndMark(deps, options, runId);
    await deps.folder.writePlan(plan);
    await deps.folder.writeProgress(plan.runId, { shards: plan.shards.length, settled: 0 });
    deps.observe?.({ type: 'shards-planned', shards: plan.shards.length });
    if (plan.shards.length > 0) await deps.queue.sendShards(plan.runId, plan.shards.map((s) => s.id));
    else await reportRun(deps, plan.runId, {}, plan);
    return { status: 'started', plan };
  } catch (error) {
    await releaseRunLock(deps.folder, runId, deps.now());
    throw error;
  }
}

/** Plan → mark → partition: the run's shards, with each shard's references in the run folder. */
async function planAndMark(deps: EngineDependencies, options: RunOptions, runId: string): Promise<RunPlan> {
  const observe = deps.observe ?? ignoreEvents;
  const createdAt = deps.now().toISOString();
  const timings: Record<string, number> = {};
  let t = performance.now();

  observe({ type: 'phase', phase: 'plan' });
  const scope = scopeOf(deps, options);
  const ignored = deps.declared.ignoredSchemas;
  const refused = options.schemas.filter((s) => s in ignored);
  if (refused.length > 0) {
    throw new ConfigurationError(
      `schema ${refused.map((s) => `'${s}'`).join(', ')} is declared ignored (${refused.map((s) => ignored[s]).join('; ')}), so its references are not read ` +
        'and it cannot be collected: remove it from "ignored_schemas" in djgc.json to collect it.',
    );
  }
  const columns = (await deps.catalog.discover()).filter((c) => !(c.schema in ignored));
  const readability = await deps.catalog.checkReadable({ ignoredSchemas: Object.keys(ignored), ignoredDatabases: Object.keys(deps.declared.ignoredDatabases) });
  const schemas = schemasInScope(columns, options.schemas);
  const groups = groupsFor(scope, schemas);
  await checkFits(deps, groups.length);
  timings.plan = performance.now() - t;

  t = performance.now();
  observe({ type: 'phase', phase: 'mark', detail: `${columns.length} storage columns`, columns: columns.length });
  const spillDir = await mkdtemp(join(tmpdir(), 'djgc-mark-'));
  try {
    const marked = await mark(deps.catalog, columns, scope, groups, spillDir, options.concurrency, observe, deps.scannerLimits?.spillBytes);
    const shards = await partition(marked, options.maxRefsPerShard, deps.folder, runId);
    if (options.mode === 'collect') shards.push(...purgeShards(scope, schemas));
    timings.mark = performance.now() - t;
    const errors = [...readability.problems.map((p) => `not every reference is readable: ${p}`), ...marked.errors];
    const drop = await referenceDrop(deps, options, marked.columns.reduce((n, c) => n + c.references, 0));
    if (drop) errors.push(drop);
    return {
      runId,
      createdAt,
      options,
      schemas,
      roots: scope.roots.map(({ root, store, aliases }) => ({ root, store, aliases })),
      columns,
      catalog: {
        columns: marked.columns,
        referencesOutsideScope: marked.outsideScope,
        referencesToForeignStores: marked.foreign,
        errors,
        warnings: marked.foreignErrors,
      },
      declared: deps.declared,
      ...(errors.length > 0
        ? { deletionBlocked: 'references could not all be read, and any unread reference may protect any object' }
        : {}),
      shards,
      timings,
    };
  } finally {
    await rm(spillDir, { recursive: true, force: true });
  }
}

/** Bytes of a reference line in the mark's spill, for the estimate before marking (a path of about 90 characters, quoted). */
export const SPILL_BYTES_PER_REFERENCE = 100;

/**
 * Refuse, before any column is read, a run whose mark cannot fit the scanner: more spill files than
 * it may hold open, or, by the previous finished run's count of references, more spill than its disk.
 */
async function checkFits(deps: EngineDependencies, groups: number): Promise<void> {
  const limits = deps.scannerLimits;
  if (!limits) return;
  if (limits.openFiles !== undefined && groups > limits.openFiles) {
    throw new ConfigurationError(
      `not started: the mark would hold ${groups} spill files open (one per store root, schema and section), more than the ` +
        `${limits.openFiles} the scanner may: collect fewer schemas per run (the payload's "schemas") or fewer stores ("store").`,
    );
  }
  if (limits.spillBytes === undefined) return;
  const previous = await deps.folder.readLatest();
  if (!previous) return;
  const estimate = previous.references_read * SPILL_BYTES_PER_REFERENCE;
  if (estimate > limits.spillBytes) {
    const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);
    throw new ConfigurationError(
      `not started: run ${previous.run_id} read ${previous.references_read} references; at about ${SPILL_BYTES_PER_REFERENCE} bytes each ` +
        `the mark would spill about ${mib(estimate)} MiB, more than the ${mib(limits.spillBytes)} MiB of the scanner's local disk it may use. ` +
        `Give the scanner at least ${Math.ceil((estimate * 1.25) / 2 ** 20 / 64) * 64 + 64} MiB of ephemeral storage (the stack's sizing.scanner.ephemeralStorageMiB, up to 10240).`,
    );
  }
}

/** The earlier run, if it is a finished dry run that read every reference and has not been approved yet. */
async function approvableRun(deps: EngineDependencies, approvedRunId: string): Promise<RunPlan> {
  const earlier = await deps.folder.readPlan(approvedRunId);
  if (earlier.approvedRun) throw new ConfigurationError(`run '${approvedRunId}' is itself an approval run; approve the dry run it came from.`);
  if (!(await deps.folder.readReport(approvedRunId))) {
    throw new ConfigurationError(`run '${approvedRunId}' has no report yet: approve it once it has finished and been reviewed.`);
  }
  if (earlier.options.mode !== 'dry-run') throw new ConfigurationError(`run '${approvedRunId}' was not a dry run: only a dry run's findings can be approved.`);
  if (earlier.deletionBlocked || earlier.catalog.errors.length > 0) {
    throw new ConfigurationError(`run '${approvedRunId}' could not read every reference, so its orphan list cannot be trusted: start a new run.`);
  }
  const approval = await deps.folder.readApproval(approvedRunId);
  if (approval) throw alreadyApproved(approvedRunId, approval.runId);
  return earlier;
}

/**
 * A run that removes an earlier dry run's reviewed orphans (each still re-checked against the
 * database, and the grace period applied again) without listing the store. Only once: once
 * approved, a listed object may be gone and uploaded again since, so its listed age would be stale.
 */
async function approvalPlan(deps: EngineDependencies, earlier: RunPlan, options: RunOptions, runId: string): Promise<RunPlan> {
  const createdAt = deps.now().toISOString();
  const taken = await deps.folder.claimApproval(earlier.runId, { runId, at: createdAt });
  if (taken) throw alreadyApproved(earlier.runId, taken.runId);
  const columns = await deps.catalog.discover();
  const plan: RunPlan = { ...earlier, runId, createdAt, options, columns, approvedRun: earlier.runId, timings: {} };
  delete plan.deletionBlocked;
  return plan;
}

function alreadyApproved(approvedRunId: string, by: string): ConfigurationError {
  return new ConfigurationError(`run '${approvedRunId}' was already approved by run ${by}: start a new dry run to review again.`);
}

/** One purge shard per root: what earlier runs quarantined there is purged or restored. */
function purgeShards(scope: StoreScope, schemas: string[]): ShardPlan[] {
  return scope.roots.map((root) => ({
    id: `${root.store}~purge`,
    kind: 'purge' as const,
    root: root.root,
    store: root.store,
    section: 'hash' as const,
    schemas,
    listPrefix: QUARANTINE_PREFIX,
  }));
}

/**
 * A run that reads far fewer references than the previous finished run of the same scope is more
 * likely missing some (a dropped grant, a database not reached) than cleaning up: it removes nothing.
 */
async function referenceDrop(deps: EngineDependencies, options: RunOptions, read: number): Promise<string | undefined> {
  if (options.minReferenceRatio <= 0) return undefined;
  const previous = await deps.folder.readLatest();
  if (!previous || previous.errors > 0 || previous.references_read === 0) return undefined;
  const sameScope = previous.scope.schemas.join() === options.schemas.join() && (previous.scope.stores.length === 0 || options.store === undefined || previous.scope.stores.some((s) => s.store === options.store));
  if (!sameScope || read >= previous.references_read * options.minReferenceRatio) return undefined;
  return (
    `this run read ${read} references, fewer than ${Math.round(options.minReferenceRatio * 100)} % of the ${previous.references_read} ` +
    `that run ${previous.run_id} read: some may be unreadable now. If rows were really deleted, allow it for this run ` +
    '(djgc --min-reference-ratio 0, or the payload\'s minReferenceRatio)'
  );
}
