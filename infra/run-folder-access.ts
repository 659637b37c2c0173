/**
 * Who reads and writes what in the report bucket. The run folder layout is owned by
 * the functions (their run-folder module); this is the same layout seen from IAM, one
 * object-key pattern per line. Nothing deletes in the report bucket: lifecycle rules
 * expire `runs/` and `locks/`.
 */

export type RunFolderRole = 'scanner' | 'worker' | 'reporter';

export interface RunFolderAccess {
  readonly reads: readonly string[];
  readonly writes: readonly string[];
  /** Exact keys the role may delete: only the guard one scanner holds while it takes a run lock. */
  readonly deletes?: readonly string[];
}

const REPORTER_WRITES = [
  'runs/*/report.json',
  'runs/*/report.txt',
  'runs/*/report.html',
  'runs/*/notified',
  'runs/*/failed/*',
  // "Shard done" notices counted once each, and the running count.
  'runs/*/settled/*',
  'runs/*/progress.json',
  'latest.json',
  'index/*',
  'history.html',
  'locks/*',
] as const;

export const RUN_FOLDER_ACCESS: Record<RunFolderRole, RunFolderAccess> = {
  scanner: {
    reads: ['runs/*', 'locks/*', 'index/*'],
    // A run with nothing to sweep is reported by the scanner itself.
    writes: unique(['runs/*/plan.json', 'runs/*/refs/*', 'runs/*/approved.json', 'locks/*', ...REPORTER_WRITES]),
    deletes: ['locks/guard'],
  },
  worker: {
    // Its own run, and earlier runs' quarantine records (purge and restore).
    reads: ['runs/*'],
    writes: [
      'runs/*/listing/*',
      'runs/*/orphans/*',
      'runs/*/batches/*',
      'runs/*/quarantined/*',
      'runs/*/restored/*',
      'runs/*/purged/*',
      'runs/*/shards/*',
      'runs/*/failed/*',
    ],
  },
  reporter: {
    // runs/* includes runs/*/report.html, which the reporter presigns a link to.
    reads: ['runs/*', 'locks/*', 'index/*'],
    writes: REPORTER_WRITES,
  },
};

/** Days after which S3 expires a lock. Longer than the longest run (runTimeoutMinutes ≤ 7 days) plus cooldown (≤ 7 days). */
export const LOCK_EXPIRATION_DAYS = 30;

function unique(patterns: readonly string[]): string[] {
  return [...new Set(patterns)];
}
