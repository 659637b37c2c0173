import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { DEFAULT_OPTIONS, type RunOptions } from '../engine/plan.js';
import { newRunId, readPlan, startApprovalRun, startRun, type RunPlan } from '../engine/start-run.js';
import { engineDependencies, type PipelineContext } from './context.js';
import { acquireRunLock, releaseRunLock } from './run-lock.js';
import { completeRun } from './report-job.js';
import type { ScanRequest, WorkMessage } from './messages.js';

export type ScanOutcome =
  | { status: 'started'; runId: string; shards: number; dryRun: boolean; approvedRun?: string }
  | { status: 'refused'; reason: string };

/** The scanner: take the scope, plan and mark the run, and queue one message per shard. */
export async function startScan(ctx: PipelineContext, request: ScanRequest): Promise<ScanOutcome> {
  const defaults = ctx.settings.defaults;
  const now = ctx.now();
  const runId = newRunId(now);
  const approved = request.approveRun ? await readPlan(ctx.folder, request.approveRun) : undefined;
  const schemas = approved?.options.schemas ?? request.schemas ?? defaults.schemas;
  const store = approved ? approved.options.store : (request.store ?? defaults.store);
  const refusal = await acquireRunLock(
    ctx.folder,
    { runId, schemas, ...(store !== undefined ? { store } : {}), startedAt: now.toISOString() },
    now,
    { timeoutMinutes: ctx.settings.runTimeoutMinutes, cooldownMinutes: ctx.settings.cooldownMinutes },
  );
  if (refusal) return { status: 'refused', reason: `not started: ${refusal}` };

  try {
    const deps = await engineDependencies(ctx);
    const graceMs = (request.graceHours ?? defaults.graceHours) * 3600_000;
    let plan: RunPlan;
    if (request.approveRun) {
      plan = await startApprovalRun(deps, request.approveRun, request.graceHours !== undefined ? { graceMs } : {}, runId);
    } else {
      const options: RunOptions = {
        ...DEFAULT_OPTIONS,
        schemas,
        ...(store !== undefined ? { store } : {}),
        graceMs,
        deleteObjects: (request.mode ?? defaults.mode) === 'collect',
      };
      plan = await startRun(deps, options, runId);
    }
    await queueShards(ctx, plan);
    if (plan.shards.length === 0) await completeRun(ctx, plan.runId);
    return {
      status: 'started',
      runId,
      shards: plan.shards.length,
      dryRun: !plan.options.deleteObjects,
      ...(plan.approvedRun ? { approvedRun: plan.approvedRun } : {}),
    };
  } catch (error) {
    await releaseRunLock(ctx.folder, runId, ctx.now());
    throw error;
  }
}

async function queueShards(ctx: PipelineContext, plan: RunPlan): Promise<void> {
  for (let i = 0; i < plan.shards.length; i += 10) {
    const entries = plan.shards.slice(i, i + 10).map((shard, j) => {
      const message: WorkMessage = { runId: plan.runId, shardId: shard.id };
      return { Id: String(i + j), MessageBody: JSON.stringify(message) };
    });
    const response = await ctx.clients.sqs.send(new SendMessageBatchCommand({ QueueUrl: ctx.settings.workQueueUrl, Entries: entries }));
    if (response.Failed && response.Failed.length > 0) {
      throw new Error(`could not queue ${response.Failed.length} shard messages: ${response.Failed.map((f) => `${f.Code} ${f.Message ?? ''}`).join('; ')}`);
    }
  }
}
