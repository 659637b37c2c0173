import { ConfigurationError } from './errors.js';

/** A dry run only reports; a collect removes the orphans it finds. */
export type RunMode = 'dry-run' | 'collect';

/** The grace period, in hours everywhere: the CLI, the scanner payload, the stack and the report. */
export const GRACE_DEFAULT_HOURS = 24;
/**
 * A collect with a shorter grace period is refused unless the floor is lowered on purpose
 * (as Delta's retention check does): younger objects may belong to rows not yet committed.
 */
export const GRACE_FLOOR_HOURS = 24;

/** How a collect takes an orphan out of its path: kept aside in the store's quarantine area, or deleted at once. */
export type Removal = 'quarantine' | 'delete';

export const RETENTION_DEFAULT_HOURS = 7 * 24;

export interface RunOptions {
  /** Schemas to collect; empty means every schema on the server that has storage columns. */
  schemas: string[];
  /** Store to collect; undefined means every configured store. */
  store?: string;
  mode: RunMode;
  /** Objects younger than this are never removed. */
  graceHours: number;
  removal: Removal;
  /** A quarantined object is purged for good only after this long (and once every transaction open at its quarantine has ended). */
  retentionHours: number;
  /** How long a removal batch waits for the write transactions open at its re-check to end; what it cannot clear is deferred. */
  transactionWaitSeconds: number;
  /** A shard whose orphans exceed this fraction of its stored objects removes nothing (a sign of a broken reference read). 1: no limit. */
  maxOrphanFraction: number;
  /** A run that reads fewer references than this fraction of the previous run of the same scope removes nothing. 0: no limit. */
  minReferenceRatio: number;
  legacyRootLayout: boolean;
  /**
   * A shard holds at most about this many references in memory; at most `concurrency` shards are
   * swept at once, so a run's memory stays the same however large the store (about 5 MiB per 50 000).
   */
  maxRefsPerShard: number;
  /** Columns read and shards swept at the same time. */
  concurrency: number;
}

export const DEFAULT_RUN_OPTIONS: RunOptions = {
  schemas: [],
  mode: 'dry-run',
  graceHours: GRACE_DEFAULT_HOURS,
  removal: 'quarantine',
  retentionHours: RETENTION_DEFAULT_HOURS,
  transactionWaitSeconds: 300,
  maxOrphanFraction: 0.9,
  minReferenceRatio: 0.5,
  legacyRootLayout: false,
  maxRefsPerShard: 50_000,
  concurrency: 4,
};

export const hoursToMs = (hours: number): number => hours * 3_600_000;

/** Refuse a grace period that is not a non-negative number, or that is below the floor for a collect. */
export function checkGrace(mode: RunMode, graceHours: number, floorHours: number): void {
  if (!Number.isFinite(graceHours) || graceHours < 0) {
    throw new ConfigurationError(`the grace period must be a non-negative number of hours, got ${graceHours}.`);
  }
  if (mode === 'collect' && graceHours < floorHours) {
    throw new ConfigurationError(
      `a grace period of ${graceHours} h is below the floor of ${floorHours} h: objects uploaded for rows that are not ` +
        `committed yet could be removed. Use a grace period of at least ${floorHours} h, or lower the floor on purpose ` +
        '(djgc --grace-floor, or the stack\'s graceFloorHours).',
    );
  }
}
