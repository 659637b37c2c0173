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
import { makeRecheck } from '../phases/recheck.js';
import { recordStoreFacts } from '../phases/store-facts.js';
import type { EngineDependencies } from './ports.js';

const REMOVAL_CONCURRENCY = 2;

/**
 * The worker's role: sweep one shard of a run and tell the reporter. Nothing is done for a run
 * that is already reported. A message delivered again after its shard finished only repeats the
 * notice; a shard interrupted midway resumes where its journal ends.
 */
export async function workOnShard(deps: EngineDependencies, runId: string, shardId: string, knownPlan?: RunPlan): Promise<ShardResult | null> {
  const plan = knownPlan ?? (await deps.folder.readPlan(runId));
  if (await deps.folder.readReport(runId)) return null;
  const result = await sweepShard(deps, plan, shardId);
  await deps.queue.sendShardDone(runId, shardId);
  return result;
}

/** A shard that will never produce a result (every delivery failed): the run is reported as partial. */
export async function recordShardFailure(deps: EngineDependencies, runId: string, shardId: string, reason: string): Promise<void> {
  await deps.folder.writeShardFailure(runId, { shardId, reason, at: deps.now().toISOString() });
  await deps.queue.sendShardDone(runId, shardId);
}

/** List and diff one shard (or take the approved dry run's list), then remove its orphans when the run is a collect. */
export async function sweepShard(deps: EngineDependencies, plan: RunPlan, shardId: string): Promise<ShardResult> {
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
  const ctx: SweepContext = {
    runId: plan.runId,
    folder: deps.folder,
    store: deps.openStore(root.spec),
    layout: scope.layout(root),
    shard,
    graceHours: plan.options.graceHours,
    observe,
    now,
  };

  const recheck = makeRecheck(deps.catalog, scope, shard.root, new Set(Object.keys(plan.declared.ignoredSchemas)));
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
    result = plan.approvedRun
      ? await readApprovedList(ctx, plan.approvedRun, (await deps.folder.readShardResult(plan.approvedRun, shardId))?.orphanDigest)
      : await listShard(ctx, await loadShardReferences(deps.folder, plan.runId, shardId));
    result.timings.listMs = now() - started;
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
      await removeOrphans(
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
          runReported: async () => (await deps.folder.readReport(plan.runId)) !== null,
          concurrency: REMOVAL_CONCURRENCY,
          observe,
          now: deps.now,
        },
        result,
      );
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
