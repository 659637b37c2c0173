import type { StorageColumn, StoreSpec } from '../types.js';
import type { RunOptions } from './options.js';

/** Where a store's collectable objects live: the two sections (spec §3, §4). */
export type Section = 'hash' | 'schema';

/** What a shard does: sweep a section, or purge (or restore) what earlier runs quarantined on a root. */
export type ShardKind = 'sweep' | 'purge';

/** A physical store root in scope: several store names may point at it. */
export interface RootPlan {
  root: string;
  /** The store name used to open it (the first configured name). */
  store: string;
  aliases: string[];
  spec: StoreSpec;
}

/** One store section (or part of one) that one worker sweeps. Keys in (after, upTo]. */
export interface ShardPlan {
  id: string;
  /** Absent: 'sweep'. */
  kind?: ShardKind;
  root: string;
  store: string;
  section: Section;
  /** Only keys of these schemas are considered; others under listPrefix are left alone. */
  schemas: string[];
  listPrefix: string;
  after?: string;
  upTo?: string;
}

/** The unit references are routed to before sharding: one section of one schema (or of all, when partitioned). */
export interface Group {
  key: string;
  root: string;
  store: string;
  section: Section;
  schemas: string[];
  listPrefix: string;
}

export interface ColumnSummary {
  column: string;
  codec: string;
  store: string;
  references: number;
  error?: string;
}

/** What the user declared is not this installation's to read or collect, each with the stated reason. */
export interface Declarations {
  /** Store name → reason: references to it are counted, never resolved to these stores. */
  foreignStores: Record<string, string>;
  /** Schema name → reason: its columns are not read, and it cannot be collected. */
  ignoredSchemas: Record<string, string>;
  /** PostgreSQL database → reason: not read. */
  ignoredDatabases: Record<string, string>;
}

export const NO_DECLARATIONS: Declarations = { foreignStores: {}, ignoredSchemas: {}, ignoredDatabases: {} };

/** `plan.json`: everything a worker and the reporter need to know about the run. */
export interface RunPlan {
  runId: string;
  createdAt: string;
  options: RunOptions;
  schemas: string[];
  roots: { root: string; store: string; aliases: string[] }[];
  columns: StorageColumn[];
  catalog: {
    columns: ColumnSummary[];
    referencesOutsideScope: number;
    referencesToForeignStores: number;
    /** Each one blocks every removal of the run. */
    errors: string[];
    /** Reported, blocking nothing (e.g. read errors in columns of a foreign store). */
    warnings: string[];
  };
  declared: Declarations;
  /** Set when the run must not remove anything although asked to. */
  deletionBlocked?: string;
  /** An approval run sweeps this earlier dry run's orphan lists instead of listing the store. */
  approvedRun?: string;
  shards: ShardPlan[];
  timings: Record<string, number>;
}

/** `locks/<runId>.json`: which scope a run covers and whether it has finished. */
export interface RunLock {
  runId: string;
  /** Empty: every schema. */
  schemas: string[];
  /** Absent: every store. */
  store?: string;
  startedAt: string;
  finishedAt?: string;
  /** The local process holding the lock, so that a lock left by a killed process can be recognised. */
  holder?: { host: string; pid: number };
}

/** `approved.json` of a dry run: the one approval run that removes its findings. */
export interface Approval {
  runId: string;
  at: string;
}

/** `failed/<shard>.json`: a shard that will never produce a result. */
export interface ShardFailure {
  shardId: string;
  reason: string;
  at: string;
}
