import type { Approval, RunLock, RunPlan, ShardFailure } from '../model/plan.js';
import type { BatchJournal, QuarantineRecord, ShardResult } from '../model/results.js';
import type { Report } from '../phases/report.js';
import type { IndexEntry } from '../phases/history.js';
import { ConfigurationError } from '../model/errors.js';

/**
 * Where the files of a run are kept: a directory or a bucket. Paths are relative and
 * `/`-separated; only `RunFolder` below decides what they are.
 */
export interface FolderStorage {
  readonly description: string;
  /** With `ifAbsent`, writes only if nothing is there yet and returns false when something was. */
  writeText(path: string, body: string, options?: { ifAbsent?: boolean }): Promise<boolean>;
  /** null when the file does not exist. */
  readText(path: string): Promise<string | null>;
  writeLines(path: string, lines: AsyncIterable<string> | Iterable<string>): Promise<void>;
  /** Throws `MissingRunFileError` when the file does not exist: a missing list is never read as an empty one. */
  readLines(path: string): AsyncIterable<string>;
  /** Every path that starts with `prefix`. */
  list(prefix: string): Promise<string[]>;
  /** Remove one file; absent already is fine. */
  remove(path: string): Promise<void>;
}

export class MissingRunFileError extends Error {
  override readonly name = 'MissingRunFileError';
  constructor(
    readonly path: string,
    where: string,
  ) {
    super(`${path} is missing from the run folder ${where}`);
  }
}

/** DESIGN.md "Run folder": every path of the layout is built here and nowhere else. */
const layout = {
  run: (runId: string) => `runs/${runId}`,
  plan: (runId: string) => `runs/${runId}/plan.json`,
  refs: (runId: string, shardId: string) => `runs/${runId}/refs/${shardId}.jsonl`,
  approval: (runId: string) => `runs/${runId}/approved.json`,
  listing: (runId: string, shardId: string) => `runs/${runId}/listing/${shardId}.json`,
  listingCheckpoint: (runId: string, shardId: string) => `runs/${runId}/listing/${shardId}/checkpoint.json`,
  listingPart: (runId: string, shardId: string, n: number) => `runs/${runId}/listing/${shardId}/part-${n}.jsonl`,
  orphans: (runId: string, shardId: string) => `runs/${runId}/orphans/${shardId}.jsonl`,
  batch: (runId: string, shardId: string, n: number) => `runs/${runId}/batches/${shardId}/${n}.json`,
  shardResult: (runId: string, shardId: string) => `runs/${runId}/shards/${shardId}.json`,
  quarantined: (runId: string) => `runs/${runId}/quarantined/`,
  quarantineRecord: (runId: string, shardId: string, n: number) => `runs/${runId}/quarantined/${shardId}/${n}.json`,
  shardFailure: (runId: string, shardId: string) => `runs/${runId}/failed/${shardId}.json`,
  settledDir: (runId: string) => `runs/${runId}/settled/`,
  settled: (runId: string, shardId: string) => `runs/${runId}/settled/${shardId}`,
  progress: (runId: string) => `runs/${runId}/progress.json`,
  report: (runId: string, ext: 'json' | 'txt' | 'html') => `runs/${runId}/report.${ext}`,
  notified: (runId: string) => `runs/${runId}/notified`,
  latest: () => 'latest.json',
  index: () => 'index/',
  indexEntry: (runId: string) => `index/${runId}.json`,
  history: () => 'history.html',
  /** From a run's report.html back to the folder's root, where history.html is. */
  fromReportToRoot: () => '../../',
  locks: () => 'locks/',
  lock: (runId: string) => `locks/${runId}.json`,
  lockGuard: () => 'locks/guard',
};

/**
 * The reporter's count of a run's settled shards (result or failure recorded, notice counted).
 * Never more than the markers: each count follows a marker claimed first, and two reporters
 * racing can only lose a count, which a recount of the markers restores.
 */
export interface ListingCheckpoint {
  /** The last key of the last page whose keys are decided: the listing resumes after it. */
  cursor: string;
  /** Orphan parts written so far (`part-0` … `part-<parts-1>`). */
  parts: number;
  /** The shard's counts over the pages decided so far. */
  result: ShardResult;
}

export interface RunProgress {
  shards: number;
  settled: number;
}

/** Typed reads and writes of every artifact of a run. */
export class RunFolder {
  constructor(readonly storage: FolderStorage) {}

  get description(): string {
    return this.storage.description;
  }

  /** Where a run's files are, for people: e.g. `s3://bucket/runs/<id>` or a directory. */
  runLocation(runId: string): string {
    return `${this.description}/${layout.run(runId)}`;
  }

  reportLocation(runId: string, ext: 'json' | 'txt' | 'html' = 'json'): string {
    return `${this.description}/${layout.report(runId, ext)}`;
  }

  async writePlan(plan: RunPlan): Promise<void> {
    await this.storage.writeText(layout.plan(plan.runId), JSON.stringify(plan, null, 2));
  }

  async readPlan(runId: string): Promise<RunPlan> {
    const plan = await this.readJson<RunPlan>(layout.plan(runId));
    if (plan === null) throw new ConfigurationError(`run '${runId}' has no plan in ${this.description}: check the run id.`);
    return plan;
  }

  writeRefs(runId: string, shardId: string, lines: AsyncIterable<string> | Iterable<string>): Promise<void> {
    return this.storage.writeLines(layout.refs(runId, shardId), lines);
  }

  readRefs(runId: string, shardId: string): AsyncIterable<string> {
    return this.storage.readLines(layout.refs(runId, shardId));
  }

  /** Record that `approval.runId` approves `approvedRunId`; returns the earlier approval when there already was one. */
  async claimApproval(approvedRunId: string, approval: Approval): Promise<Approval | null> {
    const written = await this.storage.writeText(layout.approval(approvedRunId), JSON.stringify(approval), { ifAbsent: true });
    if (written) return null;
    return (await this.readJson<Approval>(layout.approval(approvedRunId))) ?? approval;
  }

  readApproval(approvedRunId: string): Promise<Approval | null> {
    return this.readJson<Approval>(layout.approval(approvedRunId));
  }

  readListing(runId: string, shardId: string): Promise<ShardResult | null> {
    return this.readJson<ShardResult>(layout.listing(runId, shardId));
  }

  async writeListing(result: ShardResult, runId: string): Promise<void> {
    await this.storage.writeText(layout.listing(runId, result.shardId), JSON.stringify(result));
  }

  /** Where an interrupted listing stands: the last key of the last page decided, and its counts so far. */
  readListingCheckpoint(runId: string, shardId: string): Promise<ListingCheckpoint | null> {
    return this.readJson<ListingCheckpoint>(layout.listingCheckpoint(runId, shardId));
  }

  async writeListingCheckpoint(runId: string, shardId: string, checkpoint: ListingCheckpoint): Promise<void> {
    await this.storage.writeText(layout.listingCheckpoint(runId, shardId), JSON.stringify(checkpoint));
  }

  /** The orphans found in the pages between two checkpoints of a listing. */
  writeListingPart(runId: string, shardId: string, n: number, lines: Iterable<string>): Promise<void> {
    return this.storage.writeLines(layout.listingPart(runId, shardId, n), lines);
  }

  readListingPart(runId: string, shardId: string, n: number): AsyncIterable<string> {
    return this.storage.readLines(layout.listingPart(runId, shardId, n));
  }

  writeOrphans(runId: string, shardId: string, lines: AsyncIterable<string> | Iterable<string>): Promise<void> {
    return this.storage.writeLines(layout.orphans(runId, shardId), lines);
  }

  readOrphans(runId: string, shardId: string): AsyncIterable<string> {
    return this.storage.readLines(layout.orphans(runId, shardId));
  }

  /** The orphan list's name inside the folder, as the report lists it for review. */
  orphansName(runId: string, shardId: string): string {
    return layout.orphans(runId, shardId);
  }

  readBatch(runId: string, shardId: string, n: number): Promise<BatchJournal | null> {
    return this.readJson<BatchJournal>(layout.batch(runId, shardId, n));
  }

  async writeBatch(runId: string, shardId: string, n: number, journal: BatchJournal): Promise<void> {
    await this.storage.writeText(layout.batch(runId, shardId, n), JSON.stringify(journal));
  }

  async writeQuarantineRecord(runId: string, shardId: string, n: number, record: QuarantineRecord): Promise<void> {
    await this.storage.writeText(layout.quarantineRecord(runId, shardId, n), JSON.stringify(record));
  }

  /** Every quarantine record a run wrote. */
  async readQuarantineRecords(runId: string): Promise<QuarantineRecord[]> {
    const records: QuarantineRecord[] = [];
    for (const path of await this.storage.list(layout.quarantined(runId))) {
      const record = await this.readJson<QuarantineRecord>(path);
      if (record) records.push(record);
    }
    return records;
  }

  readShardResult(runId: string, shardId: string): Promise<ShardResult | null> {
    return this.readJson<ShardResult>(layout.shardResult(runId, shardId));
  }

  async writeShardResult(runId: string, result: ShardResult): Promise<void> {
    await this.storage.writeText(layout.shardResult(runId, result.shardId), JSON.stringify(result, null, 2));
  }

  readShardFailure(runId: string, shardId: string): Promise<ShardFailure | null> {
    return this.readJson<ShardFailure>(layout.shardFailure(runId, shardId));
  }

  async writeShardFailure(runId: string, failure: ShardFailure): Promise<void> {
    await this.storage.writeText(layout.shardFailure(runId, failure.shardId), JSON.stringify(failure));
  }

  /**
   * The reporter counts a shard's "done" notice once: true for the one caller that marks the
   * shard settled (a notice delivered again finds the marker).
   */
  claimSettled(runId: string, shardId: string, at: Date): Promise<boolean> {
    return this.storage.writeText(layout.settled(runId, shardId), at.toISOString(), { ifAbsent: true });
  }

  /** How many shards are marked settled: one listing of the markers (a page per 1000 shards on S3). */
  async countSettled(runId: string): Promise<number> {
    return (await this.storage.list(layout.settledDir(runId))).length;
  }

  /** The reporter's running count of settled shards, so that a notice does not read every shard's result. */
  readProgress(runId: string): Promise<RunProgress | null> {
    return this.readJson<RunProgress>(layout.progress(runId));
  }

  async writeProgress(runId: string, progress: RunProgress): Promise<void> {
    await this.storage.writeText(layout.progress(runId), JSON.stringify(progress));
  }

  readReport(runId: string): Promise<Report | null> {
    return this.readJson<Report>(layout.report(runId, 'json'));
  }

  async writeReport(report: Report, text: string, html: string): Promise<void> {
    const runId = report.run_id;
    await this.storage.writeText(layout.report(runId, 'txt'), text);
    await this.storage.writeText(layout.report(runId, 'html'), html);
    // report.json last: its presence says the run is reported.
    await this.storage.writeText(layout.report(runId, 'json'), JSON.stringify(report, null, 2));
  }

  /** True for the one caller that may notify about the run. */
  claimNotification(runId: string, at: Date): Promise<boolean> {
    return this.storage.writeText(layout.notified(runId), at.toISOString(), { ifAbsent: true });
  }

  /** The newest finished report, if any. */
  async readLatest(): Promise<Report | null> {
    const latest = await this.readJson<{ run_id: string }>(layout.latest());
    return latest ? this.readReport(latest.run_id) : null;
  }

  async writeLatest(report: Report): Promise<void> {
    const latest = { run_id: report.run_id, finished_at: report.finished_at, report: layout.report(report.run_id, 'json') };
    await this.storage.writeText(layout.latest(), JSON.stringify(latest, null, 2));
  }

  /** A report as written: `report.json`, `.txt` or `.html`; null when the run has none (not reported, or no such run). */
  readReportFile(runId: string, ext: 'json' | 'txt' | 'html'): Promise<string | null> {
    return this.storage.readText(layout.report(runId, ext));
  }

  /** The run id `latest.json` names, or null before the first report. */
  async latestRunId(): Promise<string | null> {
    return (await this.readJson<{ run_id: string }>(layout.latest()))?.run_id ?? null;
  }

  /** Where a run's report is, relative to the folder's root (links from the history page). */
  reportPath(runId: string, ext: 'json' | 'txt' | 'html' = 'html'): string {
    return layout.report(runId, ext);
  }

  /** Where the history page is, relative to the folder's root. */
  historyPath(): string {
    return layout.history();
  }

  /** Where the run's files are, relative to the folder's root, ending in `/`. */
  runPath(runId: string): string {
    return `${layout.run(runId)}/`;
  }

  /** The history page as seen from a run's report.html. */
  historyFromReport(): string {
    return `${layout.fromReportToRoot()}${layout.history()}`;
  }

  /**
   * One object per finished run, written once (a second writer of the same run changes nothing):
   * O(1) per run, and two reporters of different runs never write the same key. True when this
   * call wrote it.
   */
  writeIndexEntry(entry: IndexEntry): Promise<boolean> {
    return this.storage.writeText(layout.indexEntry(entry.run_id), JSON.stringify(entry), { ifAbsent: true });
  }

  /** The last `limit` finished runs, oldest first (run ids start with their start time, so they sort by it). */
  async readIndex(limit: number): Promise<IndexEntry[]> {
    const paths = (await this.storage.list(layout.index())).filter((p) => p.endsWith('.json')).sort();
    const entries: IndexEntry[] = [];
    for (const path of paths.slice(-limit)) {
      const entry = await this.readJson<IndexEntry>(path);
      if (entry) entries.push(entry);
    }
    return entries;
  }

  async writeHistory(html: string): Promise<void> {
    await this.storage.writeText(layout.history(), html);
  }

  readHistory(): Promise<string | null> {
    return this.storage.readText(layout.history());
  }

  async readLocks(): Promise<RunLock[]> {
    const locks: RunLock[] = [];
    for (const path of await this.storage.list(layout.locks())) {
      if (path === layout.lockGuard()) continue;
      const lock = await this.readJson<RunLock>(path);
      if (lock) locks.push(lock);
    }
    return locks;
  }

  readLock(runId: string): Promise<RunLock | null> {
    return this.readJson<RunLock>(layout.lock(runId));
  }

  /** Taken by one scanner at a time while it checks and writes its lock. */
  claimLockGuard(token: string, at: Date): Promise<boolean> {
    return this.storage.writeText(layout.lockGuard(), JSON.stringify({ token, at: at.toISOString() }), { ifAbsent: true });
  }

  readLockGuard(): Promise<{ token: string; at: string } | null> {
    return this.readJson<{ token: string; at: string }>(layout.lockGuard());
  }

  releaseLockGuard(): Promise<void> {
    return this.storage.remove(layout.lockGuard());
  }

  async writeLock(lock: RunLock): Promise<void> {
    await this.storage.writeText(layout.lock(lock.runId), JSON.stringify(lock));
  }

  private async readJson<T>(path: string): Promise<T | null> {
    const text = await this.storage.readText(path);
    return text === null ? null : (JSON.parse(text) as T);
  }
}
