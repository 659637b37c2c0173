import type { Section } from './plan.js';
import type { StoreRequests } from './requests.js';

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
  /** Moved to the store's quarantine area (not deleted yet). */
  quarantined: number;
  quarantinedBytes: number;
  /** Candidates kept because write transactions open at their re-check had not ended within the wait. */
  deferred: number;
  /** Quarantined objects referenced again and put back. */
  restored: number;
  /** Quarantined objects deleted for good (also counted in deleted and bytesFreed). */
  purged: number;
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
    quarantined: 0,
    quarantinedBytes: 0,
    deferred: 0,
    restored: 0,
    purged: 0,
  };
}

const TALLY_KEYS = Object.keys(emptyTally()) as (keyof Tally)[];

export function addPartialTally<T extends Tally>(into: T, from: Partial<Tally>): T {
  for (const key of TALLY_KEYS) into[key] += from[key] ?? 0;
  return into;
}

export function addTally<T extends Tally>(into: T, from: Tally): T {
  for (const key of TALLY_KEYS) into[key] += from[key];
  return into;
}

export interface ShardResult {
  shardId: string;
  /** Absent: a sweep. */
  kind?: 'purge';
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
  /** SHA-256 of the orphan list as written, so that an approval can tell a changed list. */
  orphanDigest?: string;
  /** Whether the database showed its open write transactions (false: only quarantine and retention protect). */
  transactionsVisible?: boolean;
  /** Requests the shard's store client made, by billing class (absent: not counted). A shard resumed after a crash counts its last attempt. */
  storeRequests?: StoreRequests;
  /** The store's versioning state when the shard finished: on a versioned bucket a delete leaves a noncurrent version, still billed. */
  storeVersioning?: StoreVersioning;
}

/** `unknown`: the state could not be read (the shard's result says why in its warnings). */
export type StoreVersioning = 'unversioned' | 'enabled' | 'suspended' | 'unknown';

/** One line of a quarantine record (`quarantined/<shard>/<n>.json`): what was moved where, and what was open then. */
export interface QuarantineRecord {
  at: string;
  /** Write transactions open right after the move: the purge waits until all of them have ended. */
  openTransactions: { visible: boolean; ids: string[] };
  moves: { path: string; to: string; size: number; schema: string; table: string }[];
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
  rows: ({ schema: string; table: string } & Partial<Tally>)[];
  deleted: string[];
  errors: string[];
  failures: number;
}
