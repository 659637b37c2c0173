/** The harness's knobs, from STRESS_* environment variables. */
export interface StressConfig {
  /** Collect/purge cycles per combination. */
  cycles: number;
  /**
   * Wall-clock limit of the whole run, in ms. Each batch of combinations gets what is left of it
   * divided by the batches still to run; a combination stops its cycles at its share.
   */
  totalLimitMs: number;
  /** Combinations run at the same time. */
  parallel: number;
  /** Grace period of every collect, in ms. */
  graceMs: number;
  /** Retention of quarantined objects, in ms (used when the engine quarantines). */
  retentionMs: number;
  /** Writer loops of each kind. */
  writersPerKind: number;
  /** Committed rows the delete writers keep the tables near. */
  targetRows: number;
  /** Longest time a writer holds its transaction open, in ms. */
  maxHoldMs: number;
  /** How long a removal batch waits for write transactions to clear before keeping its objects (the collect's `transactionWaitSeconds`), in ms. */
  transactionWaitMs: number;
  /** Every n-th cycle runs the djgc command in a child process (0: never). */
  cliEvery: number;
  /** Fraction of cycles that get a fault injected. */
  faultRate: number;
  /** Fraction of S3 requests of the faulted kind answered with an error while an S3 fault is on. */
  s3ErrorRate: number;
  /** Which combinations to run, e.g. `postgres-file,mariadb-s3`; empty: all four. */
  only: string[];
  /** Seed-free randomness is fine; this only makes the verbose log on. */
  verbose: boolean;
}

function number(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text.trim() === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got ${JSON.stringify(text)}`);
  return value;
}

export function loadConfig(): StressConfig {
  return {
    cycles: Math.max(1, Math.floor(number('STRESS_CYCLES', 50))),
    totalLimitMs: number('STRESS_MINUTES', 9.5) * 60_000,
    parallel: Math.max(1, Math.floor(number('STRESS_PARALLEL', 2))),
    graceMs: number('STRESS_GRACE_SECONDS', 2) * 1000,
    retentionMs: number('STRESS_RETENTION_SECONDS', 4) * 1000,
    writersPerKind: Math.max(1, Math.floor(number('STRESS_WRITERS', 2))),
    targetRows: Math.max(10, Math.floor(number('STRESS_ROWS', 120))),
    maxHoldMs: number('STRESS_MAX_HOLD_SECONDS', 3) * 1000,
    transactionWaitMs: number('STRESS_TRANSACTION_WAIT_SECONDS', 10) * 1000,
    cliEvery: Math.floor(number('STRESS_CLI_EVERY', 5)),
    faultRate: Math.min(1, number('STRESS_FAULT_RATE', 0.5)),
    s3ErrorRate: Math.min(1, number('STRESS_S3_ERROR_RATE', 0.5)),
    only: (process.env.STRESS_ONLY ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''),
    verbose: process.env.STRESS_VERBOSE === '1',
  };
}
