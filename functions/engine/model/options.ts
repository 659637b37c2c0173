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

export interface RunOptions {
  /** Schemas to collect; empty means every schema on the server that has storage columns. */
  schemas: string[];
  /** Store to collect; undefined means every configured store. */
  store?: string;
  mode: RunMode;
  /** Objects younger than this are never removed. */
  graceHours: number;
  legacyRootLayout: boolean;
  /** A shard holds at most about this many references in memory. */
  maxRefsPerShard: number;
  /** Columns read and shards swept at the same time. */
  concurrency: number;
}

export const DEFAULT_RUN_OPTIONS: RunOptions = {
  schemas: [],
  mode: 'dry-run',
  graceHours: GRACE_DEFAULT_HOURS,
  legacyRootLayout: false,
  maxRefsPerShard: 100_000,
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
