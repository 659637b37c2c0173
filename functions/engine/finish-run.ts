import { buildReport, formatReport, type Report } from './report.js';
import { renderReportHtml } from './report-html.js';
import { shardResultPath, orphansPath } from './sweep.js';
import { runPath, type RunFolder } from './run-folder.js';
import type { RunPlan } from './start-run.js';
import type { ShardResult } from './tally.js';

export const reportPath = (runId: string): string => runPath(runId, 'report.json');
const failedShardPath = (runId: string, shardId: string): string => runPath(runId, 'failed', `${shardId}.json`);

/** A shard that will never produce a result (its message went to the dead-letter queue). */
export async function recordShardFailure(folder: RunFolder, runId: string, shardId: string, reason: string): Promise<void> {
  await folder.writeText(failedShardPath(runId, shardId), JSON.stringify({ shardId, reason, at: new Date().toISOString() }));
}

export interface RunStatus {
  results: ShardResult[];
  failed: { shardId: string; reason: string }[];
  pending: string[];
}

export async function runStatus(folder: RunFolder, plan: RunPlan): Promise<RunStatus> {
  const status: RunStatus = { results: [], failed: [], pending: [] };
  for (const shard of plan.shards) {
    const result = await folder.readText(shardResultPath(plan.runId, shard.id));
    if (result !== null) {
      status.results.push(JSON.parse(result) as ShardResult);
      continue;
    }
    const failure = await folder.readText(failedShardPath(plan.runId, shard.id));
    if (failure !== null) status.failed.push(JSON.parse(failure) as { shardId: string; reason: string });
    else status.pending.push(shard.id);
  }
  return status;
}

export async function readReport(folder: RunFolder, runId: string): Promise<Report | null> {
  const text = await folder.readText(reportPath(runId));
  return text === null ? null : (JSON.parse(text) as Report);
}

/**
 * The reporter's part: once every shard has a result or has failed, write the report and point
 * `latest.json` at it. With `timedOut`, shards still pending count as failed (a partial report).
 * Returns null while shards are pending; an existing report is returned as it is.
 */
export async function finishRun(
  folder: RunFolder,
  plan: RunPlan,
  options: { timedOut?: string } = {},
): Promise<Report | null> {
  const existing = await readReport(folder, plan.runId);
  if (existing) return existing;
  const status = await runStatus(folder, plan);
  if (status.pending.length > 0 && !options.timedOut) return null;
  const failed = [...status.failed, ...status.pending.map((shardId) => ({ shardId, reason: options.timedOut! }))];
  const started = performance.now();
  const report = buildReport({
    runId: plan.runId,
    startedAt: new Date(plan.createdAt),
    finishedAt: new Date(),
    dryRun: !plan.options.deleteObjects,
    schemas: plan.schemas,
    roots: plan.roots,
    graceMs: plan.options.graceMs,
    legacyRootLayout: plan.options.legacyRootLayout,
    columns: plan.catalog.columns,
    referencesOutsideScope: plan.catalog.referencesOutsideScope,
    planErrors: plan.catalog.errors,
    shards: plan.shards,
    results: status.results,
    failedShards: failed,
    timings: {
      ...plan.timings,
      sweep: Math.max(0, ...status.results.map((r) => r.timings.listMs + r.timings.deleteMs)),
    },
    orphanLists: status.results.filter((r) => r.listingComplete).map((r) => orphansPath(plan.runId, r.shardId)),
    ...(plan.approvedRun ? { approvedRun: plan.approvedRun } : {}),
  });
  report.timings_ms.report = performance.now() - started;
  await folder.writeText(reportPath(plan.runId), JSON.stringify(report, null, 2));
  await folder.writeText(runPath(plan.runId, 'report.txt'), formatReport(report));
  await folder.writeText(runPath(plan.runId, 'report.html'), renderReportHtml(report));
  await folder.writeText('latest.json', JSON.stringify({ run_id: report.run_id, finished_at: report.finished_at, report: reportPath(report.run_id) }, null, 2));
  return report;
}
