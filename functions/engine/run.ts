import pLimit from 'p-limit';
import type { RunOptions } from './plan.js';
import { startApprovalRun, startRun, type EngineDependencies } from './start-run.js';
import { workShard } from './work-shard.js';
import { finishRun, recordShardFailure } from './finish-run.js';
import type { Report } from './report.js';
import { describeError } from './errors.js';

export type RunDependencies = EngineDependencies;

/**
 * scanner → workers → reporter in one process (DESIGN.md): the same roles as on AWS, with an
 * in-process queue of shards instead of SQS.
 */
export async function runCollection(deps: RunDependencies, options: RunOptions & { approveRun?: string }): Promise<Report> {
  const plan = options.approveRun
    ? await startApprovalRun(deps, options.approveRun, { graceMs: options.graceMs, concurrency: options.concurrency })
    : await startRun(deps, options);
  deps.observe?.({ type: 'phase', phase: 'sweep', detail: `${plan.shards.length} shards` });
  const limit = pLimit(Math.max(1, plan.options.concurrency));
  await Promise.all(
    plan.shards.map((shard) =>
      limit(async () => {
        try {
          await workShard(deps, plan, shard.id);
        } catch (error) {
          await recordShardFailure(deps.folder, plan.runId, shard.id, describeError(error));
        }
      }),
    ),
  );
  deps.observe?.({ type: 'phase', phase: 'report' });
  const report = await finishRun(deps.folder, plan);
  if (!report) throw new Error(`run ${plan.runId} finished with shards still pending`);
  return report;
}
