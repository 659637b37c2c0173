import { approvedOrphansOf, scopeOf, type EngineDependencies, type RunPlan } from './start-run.js';
import { sweepShard } from './sweep.js';
import { makeRecheck } from './recheck.js';
import { ConfigurationError } from './errors.js';
import { ignoreEvents } from './events.js';
import type { ShardResult } from './tally.js';

/** The worker's part: sweep one shard of a planned run and write its result. */
export async function workShard(deps: EngineDependencies, plan: RunPlan, shardId: string): Promise<ShardResult> {
  const shard = plan.shards.find((s) => s.id === shardId);
  if (!shard) throw new ConfigurationError(`run '${plan.runId}' has no shard '${shardId}'`);
  const scope = scopeOf(deps, plan.options);
  const root = scope.rootPlan(shard.root);
  if (!root) {
    throw new ConfigurationError(
      `shard '${shardId}' is on ${shard.root}, which the configured stores no longer include: the store configuration changed since the run was planned.`,
    );
  }
  const approvedOrphans = approvedOrphansOf(plan, shardId);
  return sweepShard({
    runId: plan.runId,
    folder: deps.folder,
    store: deps.openStore(root.spec),
    layout: scope.layout(root),
    shard,
    graceMs: plan.options.graceMs,
    deleteObjects: plan.options.deleteObjects,
    ...(plan.deletionBlocked ? { deletionBlocked: plan.deletionBlocked } : {}),
    ...(approvedOrphans ? { approvedOrphans } : {}),
    recheck: makeRecheck(deps.catalog, plan.columns, scope, plan.approvedRun ? null : plan.rootsByColumn, shard.root),
    deleteConcurrency: 2,
    observe: deps.observe ?? ignoreEvents,
  });
}
