import type { RunPlan } from '../model/plan.js';
import type { ShardResult } from '../model/results.js';
import { ConfigurationError } from '../model/errors.js';
import { ignoreEvents } from '../model/events.js';
import { scopeOf } from '../phases/scope.js';
import { loadShardReferences } from '../phases/partition.js';
import { listShard, readApprovedList, type SweepContext } from '../phases/sweep.js';
import { removeOrphans } from '../phases/removal.js';
import { makeRecheck } from '../phases/recheck.js';
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

  const started = now();
  let result = await deps.folder.readListing(plan.runId, shardId);
  if (!result) {
    // A missing refs file is thrown, not reported: without its references a shard cannot be swept, and a retry may succeed.
    result = plan.approvedRun
      ? await readApprovedList(ctx, plan.approvedRun)
      : await listShard(ctx, await loadShardReferences(deps.folder, plan.runId, shardId));
    result.timings.listMs = now() - started;
    if (result.listingComplete) await deps.folder.writeListing(result, plan.runId);
  }
  observe({ type: 'shard-listed', shard: shardId, orphans: result.totals.orphaned });

  if (plan.options.mode === 'collect' && result.listingComplete && result.totals.orphaned > 0) {
    if (plan.deletionBlocked) {
      result.errors.push(`nothing deleted in shard ${shardId}: ${plan.deletionBlocked}`);
    } else {
      const removalStarted = now();
      result.deletionAttempted = true;
      await removeOrphans(
        {
          runId: plan.runId,
          folder: deps.folder,
          store: ctx.store,
          shard,
          recheck: makeRecheck(deps.catalog, plan.columns, scope, plan.approvedRun ? null : plan.rootsByColumn, shard.root),
          runReported: async () => (await deps.folder.readReport(plan.runId)) !== null,
          concurrency: REMOVAL_CONCURRENCY,
          observe,
        },
        result,
      );
      result.timings.deleteMs = now() - removalStarted;
    }
  }
  await deps.folder.writeShardResult(plan.runId, result);
  observe({ type: 'shard-done', shard: shardId });
  return result;
}
