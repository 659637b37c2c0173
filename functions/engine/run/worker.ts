import type { RunPlan } from '../model/plan.js';
import type { ShardResult } from '../model/results.js';
import { ConfigurationError } from '../model/errors.js';
import { ignoreEvents } from '../model/events.js';
import { scopeOf } from '../phases/scope.js';
import { loadShardReferences } from '../phases/partition.js';
import { listShard, newResult, readApprovedList, type SweepContext } from '../phases/sweep.js';
import { removeOrphans } from '../phases/removal.js';
import type { TransactionWatch } from '../phases/last-look.js';
import { purgeQuarantine } from '../phases/purge.js';
import { makeRecheck, sharedRecheck } from '../phases/recheck.js';
import { recordStoreFacts } from '../phases/store-facts.js';
import type { EngineDependencies } from './ports.js';

/** Removal batches of a shard in flight at once; their re-checks share rounds (`sharedRecheck`). */
const REMOVAL_CONCURRENCY = 4;
/** What a listing keeps in hand when it takes another page: time to write its checkpoint and re-queue the shard. */
export const LISTING_RESERVE_MS = 60_000;
/** What a removal batch needs besides its wait for open write transactions: two re-checks, the move or delete, the journal. */
export const BATCH_RESERVE_MS = 120_000;

/**
 * The invocation's time budget, from the time it has left (on AWS, the Lambda context's): a new
 * page or batch is taken only while what it may need is still there. Absent: no limit.
 */
function budgetOf(deps: EngineDependencies, plan: RunPlan): { keepListing?: () => boolean; keepRemoving?: () => boolean } {
  const left = deps.remainingMs;
  if (!left) return {};
  return {
    keepListing: () => left() > LISTING_RESERVE_MS,
    keepRemoving: () => left() > BATCH_RESERVE_MS + plan.options.transactionWaitSeconds * 1000,
  };
}

/**
 * Why a removal batch may not start: the run is reported (finalized), or it would still run when
 * the run's lock lapses and the run may be finalized as partial without it.
 */
function runClosedCheck(deps: EngineDependencies, plan: RunPlan): () => Promise<string | undefined> {
  let startedAt: number | undefined;
  return async () => {
    if (await deps.folder.readReport(plan.runId)) return `run ${plan.runId} was reported while this shard was being swept; nothing more is removed for it`;
    startedAt ??= Date.parse((await deps.folder.readLock(plan.runId))?.startedAt ?? plan.createdAt);
    const timeoutMs = deps.lifecycle.runTimeoutMinutes * 60_000;
    const needs = BATCH_RESERVE_MS + plan.options.transactionWaitSeconds * 1000;
    if (deps.now().getTime() + needs >= startedAt + timeoutMs) {
      return (
        `run ${plan.runId} is too close to its timeout of ${deps.lifecycle.runTimeoutMinutes} minutes for another removal batch ` +
        '(it may be finalized as partial while the batch runs); nothing more is removed for it'
      );
    }
    return undefined;
  };
}

/**
 * The worker's role: sweep one shard of a run and tell the reporter. Nothing is done for a run
 * that is already reported. A message delivered again after its shard finished only repeats the
 * notice; a shard interrupted midway resumes where its journal ends.
 */
export async function workOnShard(deps: EngineDependencies, runId: string, shardId: string, knownPlan?: RunPlan): Promise<ShardResult | null> {
  const plan = knownPlan ?? (await deps.folder.readPlan(runId));
  if (await deps.folder.readReport(runId)) return null;
  const result = await sweepShard(deps, plan, shardId);
  if (result === null) {
    // Stopped at its time budget, its progress checkpointed: the rest of the shard goes back on the queue.
    await deps.queue.resendShard(runId, shardId);
    return null;
  }
  await deps.queue.sendShardDone(runId, shardId);
  return result;
}

/** A shard that will never produce a result (every delivery failed): the run is reported as partial. */
export async function recordShardFailure(deps: EngineDependencies, runId: string, shardId: string, reason: string): Promise<void> {
  await deps.folder.writeShardFailure(runId, { shardId, reason, at: deps.now().toISOString() });
  await deps.queue.sendShardDone(runId, shardId);
}

/**
 * List and diff one shard (or take the approved dry run's list), then remove its orphans when the
 * run is a collect. null when the invocation's time budget ran out first: what was done is
 * checkpointed (listing) or journaled (removal), and the next call goes on from there.
 */
export async function sweepShard(deps: EngineDependencies, plan: RunPlan, shardId: string): Promise<ShardResult | null> {
  const done = await deps.folder.readShardResult(plan.runId, shardId);
  if (done) return done;
  const shard = plan.shards.find((s) => s.id === shardId);
  if (!shard) throw new ConfigurationError(`run '${plan.runId}' has no shard '${shardId}'`);
  const scope = scopeOf(deps, plan.options);
  const root = scope.rootPlan(shard.root);
  if (!root) {
    throw new ConfigurationError(
      `shard '${shardId}' is on ${shard.root}, which the configured stores no longer include: the store configuration changed since the run was planned.`,
    );
  }
  const observe = deps.observe ?? ignoreEvents;
  const now = (): number => deps.now().getTime();
  const budget = budgetOf(deps, plan);
  const ctx: SweepContext = {
    runId: plan.runId,
    folder: deps.folder,
    store: deps.openStore(root.spec),
    layout: scope.layout(root),
    shard,
    graceHours: plan.options.graceHours,
    observe,
    now,
    ...(budget.keepListing ? { keepListing: budget.keepListing } : {}),
  };

  const recheck = sharedRecheck(makeRecheck(deps.catalog, scope, shard.root, new Set(Object.keys(plan.declared.ignoredSchemas))));
  const transactions: TransactionWatch = {
    open: () => deps.catalog.openWriteTransactions(),
    stillOpen: (snapshot) => deps.catalog.stillOpen(snapshot),
    horizon: () => deps.catalog.writeHorizon(),
    pause: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
  if (shard.kind === 'purge') {
    const result = { ...newResult(shard), kind: 'purge' as const, listingComplete: true };
    if (plan.deletionBlocked) result.errors.push(`nothing purged on ${shard.store}: ${plan.deletionBlocked}`);
    else {
      await purgeQuarantine(
        { runId: plan.runId, folder: deps.folder, store: ctx.store, layout: ctx.layout, shard, retentionHours: plan.options.retentionHours, recheck, transactions, transactionWaitSeconds: plan.options.transactionWaitSeconds, observe, now: deps.now },
        result,
      );
    }
    await recordStoreFacts(ctx.store, result);
    await deps.folder.writeShardResult(plan.runId, result);
    observe({ type: 'shard-listed', shard: shardId, orphans: 0 });
    observe({ type: 'shard-done', shard: shardId });
    return result;
  }

  const started = now();
  let result = await deps.folder.readListing(plan.runId, shardId);
  if (!result) {
    // A missing refs file is thrown, not reported: without its references a shard cannot be swept, and a retry may succeed.
    const listed = plan.approvedRun
      ? await readApprovedList(ctx, plan.approvedRun, (await deps.folder.readShardResult(plan.approvedRun, shardId))?.orphanDigest)
      : await listShard(ctx, await loadShardReferences(deps.folder, plan.runId, shardId));
    if (listed === null) return null;
    result = listed;
    result.timings.listMs += now() - started;
    if (result.listingComplete) await deps.folder.writeListing(result, plan.runId);
  }
  observe({ type: 'shard-listed', shard: shardId, orphans: result.totals.orphaned });

  if (plan.options.mode === 'collect' && result.listingComplete && result.totals.orphaned > 0) {
    // An approval's list was reviewed by a person; its shard holds only the listed orphans.
    const blocked = plan.deletionBlocked ?? (plan.approvedRun ? undefined : orphanFractionBlock(result, plan.options.maxOrphanFraction));
    if (blocked) {
      result.errors.push(`nothing removed in shard ${shardId}: ${blocked}`);
    } else {
      const removalStarted = now();
      result.deletionAttempted = true;
      const visible = await deps.catalog.openWriteTransactions().then((s) => s.visible, () => false);
      result.transactionsVisible = visible;
      const removal = await removeOrphans(
        {
          runId: plan.runId,
          folder: deps.folder,
          store: ctx.store,
          shard,
          removal: plan.options.removal,
          keepFolders: [ctx.layout.hashPrefix, ctx.layout.schemaPrefix, shard.listPrefix.replace(/\/$/, '')],
          recheck,
          transactions,
          transactionWaitSeconds: plan.options.transactionWaitSeconds,
          runClosed: runClosedCheck(deps, plan),
          ...(budget.keepRemoving ? { keepRemoving: budget.keepRemoving } : {}),
          concurrency: REMOVAL_CONCURRENCY,
          observe,
          now: deps.now,
        },
        result,
      );
      if (removal === 'paused') return null;
      result.timings.deleteMs = now() - removalStarted;
    }
  }
  await recordStoreFacts(ctx.store, result);
  await deps.folder.writeShardResult(plan.runId, result);
  observe({ type: 'shard-done', shard: shardId });
  return result;
}

/** A shard whose orphans are most of what it stores is more likely a broken reference read than a clean-up. */
function orphanFractionBlock(result: ShardResult, maxOrphanFraction: number): string | undefined {
  const { orphaned, stored } = result.totals;
  if (maxOrphanFraction >= 1 || stored === 0 || orphaned / stored <= maxOrphanFraction) return undefined;
  return (
    `${orphaned} of its ${stored} objects (${Math.round((orphaned / stored) * 100)} %) are orphaned, more than the limit of ` +
    `${Math.round(maxOrphanFraction * 100)} %, which suggests references were not all read. Check the report's columns; if the ` +
    'orphans are real, raise the limit for this run (djgc --max-orphan-fraction, or the payload\'s maxOrphanFraction).'
  );
}
