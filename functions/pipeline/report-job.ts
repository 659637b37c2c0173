import { readPlan } from '../engine/start-run.js';
import { finishRun, readReport, recordShardFailure } from '../engine/finish-run.js';
import { runPath } from '../engine/run-folder.js';
import type { Report } from '../engine/report.js';
import type { PipelineContext } from './context.js';
import { isActive, readLocks, releaseRunLock } from './run-lock.js';
import { publishReport } from './notify.js';
import type { WorkMessage } from './messages.js';

/**
 * Write the report once every shard has a result (or, with `timedOut`, with the missing shards
 * named), then notify once and free the scope. Returns the report when this call wrote it.
 */
export async function completeRun(ctx: PipelineContext, runId: string, timedOut?: string): Promise<Report | null> {
  if (await readReport(ctx.folder, runId)) return null;
  const plan = await readPlan(ctx.folder, runId);
  const report = await finishRun(ctx.folder, plan, timedOut ? { timedOut } : {});
  if (!report) return null;
  try {
    // Conditional: of two reporters finishing the same run, one notifies.
    await ctx.folder.writeText(runPath(runId, 'notified'), ctx.now().toISOString(), { ifAbsent: true });
  } catch (error) {
    if ((error as { name?: string }).name === 'PreconditionFailed') return null;
    throw error;
  }
  await publishReport(ctx.clients.sns, ctx.settings.topicArn, report, ctx.settings.reportBucket);
  await releaseRunLock(ctx.folder, runId, ctx.now());
  return report;
}

export async function onShardDone(ctx: PipelineContext, message: WorkMessage): Promise<Report | null> {
  return completeRun(ctx, message.runId);
}

/** A work message in the dead-letter queue: its shard failed on every delivery. */
export async function onDeadLetter(ctx: PipelineContext, message: WorkMessage): Promise<Report | null> {
  if (await readReport(ctx.folder, message.runId)) return null;
  await recordShardFailure(ctx.folder, message.runId, message.shardId, 'the shard failed on every delivery and is in the dead-letter queue');
  return completeRun(ctx, message.runId);
}

/** Report, as partial, every run that is past its timeout. */
export async function finalizeOverdue(ctx: PipelineContext): Promise<Report[]> {
  const now = ctx.now();
  const reports: Report[] = [];
  for (const lock of await readLocks(ctx.folder)) {
    if (lock.finishedAt || isActive(lock, now, ctx.settings.runTimeoutMinutes)) continue;
    let report: Report | null = null;
    try {
      report = await completeRun(ctx, lock.runId, `the run did not finish within ${ctx.settings.runTimeoutMinutes} minutes`);
    } finally {
      // Also frees the scope of a run whose scanner died before writing its plan.
      if (!report) await releaseRunLock(ctx.folder, lock.runId, now);
    }
    if (report) reports.push(report);
  }
  return reports;
}
