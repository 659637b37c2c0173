import type { Catalog, ObjectStore, StoreSpec } from '../types.js';
import type { Report } from '../phases/report.js';
import type { RunObserver } from '../model/events.js';
import type { Declarations } from '../model/plan.js';
import type { RunFolder } from './run-folder.js';
import type { PriceSettings } from '../phases/cost.js';

/** Hands shards to workers and tells the reporter when a shard is done (SQS on AWS, memory locally). */
export interface WorkQueue {
  sendShards(runId: string, shardIds: string[]): Promise<void>;
  /** A shard stopped at its worker's time budget, its progress saved: deliver it again to go on. */
  resendShard(runId: string, shardId: string): Promise<void>;
  /** A shard has its result, or has failed for good. */
  sendShardDone(runId: string, shardId: string): Promise<void>;
}

/** Tells people that a run finished (SNS on AWS, the terminal locally). Called once per run. */
export interface Notifier {
  publish(report: Report): Promise<void>;
}

export interface ScannerLimits {
  /** Bytes the mark may spill to local disk (references, one line each). */
  spillBytes?: number;
  /** Files the mark may hold open at once (one spill stream per store root, schema and section). */
  openFiles?: number;
}

/** Limits of the run lifecycle, from the stack or the command line. */
export interface LifecycleSettings {
  /** A run not reported after this long is finalized as partial, and its lock lapses. */
  runTimeoutMinutes: number;
  /** Minutes between the end of one run and the start of the next on an overlapping scope. */
  cooldownMinutes: number;
  /** A collect with a shorter grace period is refused. */
  graceFloorHours: number;
}

/** Everything a role needs from its surroundings: the CLI and the Lambda handlers wire these differently. */
export interface EngineDependencies {
  catalog: Catalog;
  stores: Record<string, StoreSpec>;
  defaultStore: string | null;
  openStore: (spec: StoreSpec) => ObjectStore;
  /** The physical identity of a store's root (two names for one place give the same string). */
  rootOf: (spec: StoreSpec) => string;
  folder: RunFolder;
  queue: WorkQueue;
  notifier: Notifier;
  lifecycle: LifecycleSettings;
  /** Foreign stores, ignored schemas and databases, as the user declared them. */
  declared: Declarations;
  now: () => Date;
  /** Set for a local process, so that its lock can be told apart from one a killed process left. */
  holder?: { host: string; pid: number };
  /** Whether the process that holds a lock still runs (locally; absent on AWS, where locks time out). */
  holderAlive?: (holder: { host: string; pid: number }) => boolean;
  observe?: RunObserver;
  /**
   * Milliseconds this invocation has left (on AWS, the Lambda context's remaining time): a worker
   * takes no new listing page or removal batch it could not finish, and re-queues the rest of its
   * shard. Absent (locally): no limit.
   */
  remainingMs?: () => number;
  /**
   * What the scanner's machine holds (on AWS: the function's /tmp and the Lambda file limit): a run
   * whose mark would not fit is refused before marking, or stopped as soon as it outgrows them,
   * with the numbers. Absent: no limit.
   */
  scannerLimits?: ScannerLimits;
  /** Storage and request prices for the report's cost lines; defaults (S3 Standard, us-east-1) for what is not given. */
  prices?: PriceSettings;
}
