import type { Section } from './plan.js';

/** Counts for one slice of the store (a table, a schema, a shard, the run). */
export interface Tally {
  stored: number;
  storedBytes: number;
  /** Covered by a reference read at mark time. */
  referenced: number;
  /** Unreferenced but younger than the grace period: kept. */
  protected: number;
  /** Unreferenced and older than the grace period. */
  orphaned: number;
  orphanedBytes: number;
  /** Orphaned at mark time, referenced again at the re-check before deletion: kept. */
  saved: number;
  deleted: number;
  bytesFreed: number;
  /** Deletion attempted and refused by the store. */
  failed: number;
}

export function emptyTally(): Tally {
  return {
    stored: 0,
    storedBytes: 0,
    referenced: 0,
    protected: 0,
    orphaned: 0,
    orphanedBytes: 0,
    saved: 0,
    deleted: 0,
    bytesFreed: 0,
    failed: 0,
  };
}

const TALLY_KEYS = Object.keys(emptyTally()) as (keyof Tally)[];

export function addTally<T extends Tally>(into: T, from: Tally): T {
  for (const key of TALLY_KEYS) into[key] += from[key];
  return into;
}

export interface ShardResult {
  shardId: string;
  store: string;
  root: string;
  section: Section;
  schemas: string[];
  totals: Tally;
  /** schema → table → tally; hash objects are under the table `(hash)`. */
  breakdown: Record<string, Record<string, Tally>>;
  /** Distinct reference paths the shard was diffed against. */
  references: number;
  /** Listed keys that are not objects: temporary uploads, stray names in the hash section. Never deleted. */
  skipped: number;
  /** Listed keys of schemas outside the run's scope. Never deleted. */
  outsideScope: number;
  listingComplete: boolean;
  deletionAttempted: boolean;
  errors: string[];
  timings: { listMs: number; deleteMs: number };
  requests: { list: number; delete: number; recheck: number };
}

/** One line of a shard's orphan list (`orphans/<shard>.jsonl`), for review and for the removal. */
export interface Orphan {
  path: string;
  size: number;
  lastModified: string;
  schema: string;
  table: string;
}

/** What one removal batch did; written once the batch is done, so a retried shard does not redo or recount it. */
export interface BatchJournal {
  rows: { schema: string; table: string; saved: number; deleted: number; bytesFreed: number; failed: number }[];
  deleted: string[];
  errors: string[];
  failures: number;
}
