import type { Report } from './report.js';

/** How a finished run ended: every shard reported without errors, a shard missing, or errors (that scope removed nothing). */
export type RunOutcome = 'complete' | 'partial' | 'failed';

/** One line of the run index (`index/<runId>.json`): the headline numbers of one finished run. */
export interface IndexEntry {
  run_id: string;
  started_at: string;
  finished_at: string;
  status: RunOutcome;
  dry_run: boolean;
  schemas: string[];
  stored: number;
  orphaned: number;
  orphaned_bytes: number;
  deleted: number;
  bytes_freed: number;
  errors: number;
  orphaned_cost_per_month: number;
  freed_cost_per_month: number;
  request_cost: number;
  /** The run's report.html, relative to the run folder. */
  report: string;
}

/** The last runs the history page shows. */
export const HISTORY_RUNS = 30;

export function outcomeOf(report: Pick<Report, 'complete' | 'errors'>): RunOutcome {
  return !report.complete ? 'partial' : report.errors > 0 ? 'failed' : 'complete';
}

export function indexEntryOf(report: Report, reportPath: string): IndexEntry {
  return {
    run_id: report.run_id,
    started_at: report.started_at,
    finished_at: report.finished_at,
    status: outcomeOf(report),
    dry_run: report.dry_run,
    schemas: report.scope.schemas,
    stored: report.stored,
    orphaned: report.orphaned,
    orphaned_bytes: report.orphaned_bytes,
    deleted: report.deleted,
    bytes_freed: report.bytes_freed,
    errors: report.errors,
    orphaned_cost_per_month: report.cost.orphaned_per_month,
    freed_cost_per_month: report.cost.freed_per_month,
    request_cost: report.cost.requests_total,
    report: reportPath,
  };
}
