import type { RunPlan, ShardFailure } from '../model/plan.js';
import type { ShardResult } from '../model/results.js';
import { buildReport, formatReport, MAX_LISTED_PATHS, type Report, type ReportInput } from '../phases/report.js';
import type { Orphan } from '../model/results.js';
import { compareBytes } from '../model/byte-order.js';
import { renderReportHtml } from '../phases/report-html.js';
import { renderHistoryHtml } from '../phases/history-html.js';
import { HISTORY_RUNS, indexEntryOf } from '../phases/history.js';
import type { EngineDependencies } from './ports.js';
import { isActive, releaseRunLock } from './lock.js';
import { lockLimits } from './scanner.js';
import { ConfigurationError } from '../model/errors.js';

export interface RunStatus {
  results: ShardResult[];
  failed: Pick<ShardFailure, 'shardId' | 'reason'>[];
  pending: string[];
}

/** What the reporter needs: no database and no store (on AWS it runs outside the database's network). */
export type ReporterDependencies = Pick<EngineDependencies, 'folder' | 'notifier' | 'lifecycle' | 'now' | 'holderAlive' | 'prices'>;

export async function runStatus(deps: Pick<EngineDependencies, 'folder'>, plan: RunPlan): Promise<RunStatus> {
  const status: RunStatus = { results: [], failed: [], pending: [] };
  for (const shard of plan.shards) {
    const result = await deps.folder.readShardResult(plan.runId, shard.id);
    if (result) {
      status.results.push(result);
      continue;
    }
    const failure = await deps.folder.readShardFailure(plan.runId, shard.id);
    if (failure) status.failed.push(failure);
    else status.pending.push(shard.id);
  }
  return status;
}

/**
 * The reporter's role: once every shard has a result or has failed (or, with `timedOut`, with
 * the missing shards named), write the report, point `latest.json` at it, notify exactly once
 * and free the run's scope. Returns null while shards are pending; a report already written is
 * returned as it is (and notified, if that had not happened yet).
 */
export async function reportRun(
  deps: ReporterDependencies,
  runId: string,
  options: { timedOut?: string } = {},
  knownPlan?: RunPlan,
): Promise<Report | null> {
  let report = await deps.folder.readReport(runId);
  if (!report) {
    const plan = knownPlan ?? (await deps.folder.readPlan(runId));
    const status = await runStatus(deps, plan);
    if (status.pending.length > 0 && !options.timedOut) return null;
    report = buildRunReport(deps, plan, status, options.timedOut, await orphanPathsOf(deps, plan, status.results));
    await deps.folder.writeReport(report, formatReport(report), renderReportHtml(report, deps.folder.historyFromReport()));
    await deps.folder.writeLatest(report);
  }
  // Also when the report was there already: a reporter stopped right after report.json left no entry.
  await recordInHistory(deps, report);
  if (await deps.folder.claimNotification(runId, deps.now())) await deps.notifier.publish(report);
  await releaseRunLock(deps.folder, runId, deps.now());
  return report;
}

/**
 * The reporter's answer to one "shard done" notice, in a bounded number of reads whatever the
 * number of shards: the notice is counted once (the shard's `settled` marker, written only if
 * absent) into the run's progress count, and only when every shard is counted are the shard
 * results read, each once, to build the report. A notice delivered again, or one whose count a
 * concurrent reporter lost, recounts the markers instead. Returns the report once written, else null.
 */
export async function settleShard(deps: ReporterDependencies, runId: string, shardId: string): Promise<Report | null> {
  if (await deps.folder.readReport(runId)) return reportRun(deps, runId);
  const fresh = await deps.folder.claimSettled(runId, shardId, deps.now());
  const progress = (await deps.folder.readProgress(runId)) ?? { shards: (await deps.folder.readPlan(runId)).shards.length, settled: 0 };
  if (fresh) progress.settled++;
  else progress.settled = Math.max(progress.settled, await deps.folder.countSettled(runId));
  await deps.folder.writeProgress(runId, progress);
  if (progress.settled < progress.shards) return null;
  return reportRun(deps, runId);
}

/**
 * Add the run to the run index (one object per run, written once) and rebuild the history page
 * from the index. Two reporters finishing at once each write their own entry; the page each
 * writes is read back from the index after its own entry, and is rebuilt once more if an entry
 * appeared meanwhile, so the later page holds both runs.
 */
async function recordInHistory(deps: Pick<ReporterDependencies, 'folder'>, report: Report): Promise<void> {
  if (!(await deps.folder.writeIndexEntry(indexEntryOf(report, deps.folder.reportPath(report.run_id))))) return;
  let entries = await deps.folder.readIndex(HISTORY_RUNS);
  for (let attempt = 0; attempt < 3; attempt++) {
    await deps.folder.writeHistory(renderHistoryHtml(entries, deps.folder.description));
    const again = await deps.folder.readIndex(HISTORY_RUNS);
    if (again.map((e) => e.run_id).join() === entries.map((e) => e.run_id).join()) return;
    entries = again;
  }
}

/** The orphaned paths of the run's complete listings, sorted, each list cut at MAX_LISTED_PATHS. */
async function orphanPathsOf(deps: Pick<EngineDependencies, 'folder'>, plan: RunPlan, results: ShardResult[]): Promise<ReportInput['orphanPaths']> {
  const paths = { hash: [] as string[], schema: [] as string[], truncated: false };
  for (const result of results) {
    if (result.kind === 'purge' || !result.listingComplete || result.totals.orphaned === 0) continue;
    const into = paths[result.section];
    for await (const line of deps.folder.readOrphans(plan.runId, result.shardId)) {
      if (into.length >= MAX_LISTED_PATHS) {
        paths.truncated = true;
        break;
      }
      into.push((JSON.parse(line) as Orphan).path);
    }
  }
  paths.hash.sort(compareBytes);
  paths.schema.sort(compareBytes);
  return paths;
}

function buildRunReport(deps: ReporterDependencies, plan: RunPlan, status: RunStatus, timedOut: string | undefined, orphanPaths: ReportInput['orphanPaths']): Report {
  const started = performance.now();
  const failed = [...status.failed, ...status.pending.map((shardId) => ({ shardId, reason: timedOut! }))];
  const report = buildReport({
    runId: plan.runId,
    startedAt: new Date(plan.createdAt),
    finishedAt: deps.now(),
    dryRun: plan.options.mode === 'dry-run',
    schemas: plan.schemas,
    roots: plan.roots,
    graceHours: plan.options.graceHours,
    legacyRootLayout: plan.options.legacyRootLayout,
    columns: plan.catalog.columns,
    referencesOutsideScope: plan.catalog.referencesOutsideScope,
    referencesToForeignStores: plan.catalog.referencesToForeignStores,
    declared: plan.declared,
    planErrors: plan.catalog.errors,
    planWarnings: plan.catalog.warnings,
    shards: plan.shards,
    results: status.results,
    failedShards: failed,
    timings: { ...plan.timings, sweep: Math.max(0, ...status.results.map((r) => r.timings.listMs + r.timings.deleteMs)) },
    orphanLists: status.results.filter((r) => r.listingComplete && r.kind !== 'purge').map((r) => deps.folder.orphansName(plan.runId, r.shardId)),
    orphanPaths,
    removal: plan.options.removal,
    retentionHours: plan.options.retentionHours,
    ...(deps.prices ? { prices: deps.prices } : {}),
    ...(plan.approvedRun ? { approvedRun: plan.approvedRun } : {}),
  });
  report.timings_ms.report = performance.now() - started;
  return report;
}

async function reportIfSettled(deps: ReporterDependencies, runId: string): Promise<Report | null> {
  const progress = await deps.folder.readProgress(runId);
  if (!progress || (progress.settled < progress.shards && (await deps.folder.countSettled(runId)) < progress.shards)) return null;
  return reportRun(deps, runId);
}

/**
 * Report, as partial, every run that is past its timeout; free the scope of one whose scanner died
 * before planning; and report an active run whose shards have all settled although its count says otherwise.
 */
export async function finalizeOverdue(deps: ReporterDependencies): Promise<Report[]> {
  const now = deps.now();
  const reports: Report[] = [];
  for (const lock of await deps.folder.readLocks()) {
    if (lock.finishedAt) continue;
    if (isActive(lock, now, lockLimits(deps))) {
      // Every shard settled, but two reporters racing lost a count: report it now, not at its timeout.
      const report = await reportIfSettled(deps, lock.runId);
      if (report) reports.push(report);
      continue;
    }
    let report: Report | null = null;
    try {
      report = await reportRun(deps, lock.runId, { timedOut: `the run did not finish within ${deps.lifecycle.runTimeoutMinutes} minutes` });
    } catch (error) {
      // A scanner that died before writing its plan leaves only its lock.
      if (!(error instanceof ConfigurationError)) throw error;
    } finally {
      if (!report) await releaseRunLock(deps.folder, lock.runId, now);
    }
    if (report) reports.push(report);
  }
  return reports;
}
