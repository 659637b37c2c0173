import type { DeleteOutcome, ObjectStore } from '../types.js';
import type { ShardPlan } from '../model/plan.js';
import { addTally, emptyTally, type BatchJournal, type Orphan, type ShardResult } from '../model/results.js';
import { describeError } from '../model/errors.js';
import type { RunObserver } from '../model/events.js';
import type { RunFolder } from '../run/run-folder.js';
import { counter } from './sweep.js';
import { fateAtRemoval } from './fate.js';

export const REMOVAL_BATCH = 1000;
const MAX_LISTED_ERRORS = 20;

export interface RemovalContext {
  runId: string;
  folder: RunFolder;
  store: ObjectStore;
  shard: ShardPlan;
  /** The reference paths among `candidatePaths` (and their covering folders) that exist in the database right now. */
  recheck: (candidatePaths: string[]) => Promise<Set<string>>;
  /** True once the run has been reported: from then on no batch may remove anything. */
  runReported: () => Promise<boolean>;
  concurrency: number;
  observe: RunObserver;
}

/** Ends the removal of a shard: what is left of it is not removed, and the message says why. */
class StopRemoval extends Error {}

type JournalRow = BatchJournal['rows'][number];

/**
 * Remove the shard's orphans in batches, each re-checked against the database right before it
 * goes. Every batch is journaled once done, so a retried shard replays it instead of redoing it.
 * The first failure stops the rest of the shard; batches already running finish.
 */
export async function removeOrphans(ctx: RemovalContext, result: ShardResult): Promise<void> {
  const count = counter(result);
  let stop: string | undefined;
  let failures = 0;

  const apply = (journal: BatchJournal): void => {
    for (const row of journal.rows) {
      count(row.schema, row.table, (t) =>
        addTally(t, { ...emptyTally(), saved: row.saved, deleted: row.deleted, bytesFreed: row.bytesFreed, failed: row.failed }),
      );
    }
    failures += journal.failures;
    for (const error of journal.errors) if (result.errors.length < MAX_LISTED_ERRORS) result.errors.push(error);
  };

  const work = async (batch: Orphan[], n: number): Promise<void> => {
    try {
      const journal = await removeBatch(ctx, n, batch, () => stop !== undefined);
      if (journal) apply(journal);
    } catch (error) {
      stop ??= error instanceof StopRemoval ? error.message : `removal batch ${n} of shard ${ctx.shard.id} failed: ${describeError(error)}`;
    }
  };

  try {
    await forEachBounded(batchesOf(ctx.folder.readOrphans(ctx.runId, ctx.shard.id)), ctx.concurrency, work, () => stop !== undefined);
  } catch (error) {
    stop ??= `cannot read the orphan list of shard ${ctx.shard.id}: ${describeError(error)}`;
  }
  if (failures > MAX_LISTED_ERRORS) result.errors.push(`… and ${failures - MAX_LISTED_ERRORS} more objects could not be deleted`);
  if (stop) {
    result.errors.push(stop);
    ctx.observe({ type: 'error', scope: ctx.shard.id, message: stop });
  }
}

/** One batch: replayed from its journal, or re-checked, removed and journaled. null when the shard stopped meanwhile. */
async function removeBatch(ctx: RemovalContext, n: number, batch: Orphan[], stopped: () => boolean): Promise<BatchJournal | null> {
  const journaled = await ctx.folder.readBatch(ctx.runId, ctx.shard.id, n);
  if (journaled) return journaled;
  if (stopped()) return null;
  if (await ctx.runReported()) {
    throw new StopRemoval(`run ${ctx.runId} was reported while shard ${ctx.shard.id} was being swept; nothing more is deleted for it`);
  }

  let present: Set<string>;
  try {
    present = await ctx.recheck(batch.map((o) => o.path));
  } catch (error) {
    throw new StopRemoval(`re-check against the database failed: ${describeError(error)}; the rest of shard ${ctx.shard.id} is not deleted`);
  }
  const rows = new Map<string, JournalRow>();
  const row = (o: Orphan): JournalRow => {
    const key = `${o.schema}\t${o.table}`;
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { schema: o.schema, table: o.table, saved: 0, deleted: 0, bytesFreed: 0, failed: 0 }));
    return r;
  };
  const saved = batch.filter((o) => fateAtRemoval(o.path, ctx.shard.section, present) === 'saved');
  const doomed = batch.filter((o) => fateAtRemoval(o.path, ctx.shard.section, present) === 'remove');
  for (const o of saved) row(o).saved++;
  if (saved.length > 0) ctx.observe({ type: 'saved', shard: ctx.shard.id, paths: saved.map((o) => o.path) });

  const journal: BatchJournal = { rows: [], deleted: [], errors: [], failures: 0 };
  if (doomed.length > 0) {
    if (stopped()) return null;
    const outcome = await deleteDoomed(ctx.store, doomed, ctx.shard.id);
    const byPath = new Map(doomed.map((o) => [o.path, o]));
    let bytes = 0;
    for (const path of outcome.deleted) {
      const o = byPath.get(path);
      if (!o) continue;
      bytes += o.size;
      row(o).deleted++;
      row(o).bytesFreed += o.size;
    }
    for (const failure of outcome.failed) {
      const o = byPath.get(failure.path);
      if (o) row(o).failed++;
      journal.failures++;
      if (journal.errors.length < MAX_LISTED_ERRORS) journal.errors.push(`could not delete ${failure.path}: ${failure.code} ${failure.message}`);
    }
    journal.deleted = outcome.deleted;
    ctx.observe({ type: 'deleted', shard: ctx.shard.id, paths: outcome.deleted, bytes });
  }
  journal.rows = [...rows.values()];
  await ctx.folder.writeBatch(ctx.runId, ctx.shard.id, n, journal);
  return journal;
}

async function deleteDoomed(store: ObjectStore, doomed: Orphan[], shardId: string): Promise<DeleteOutcome> {
  try {
    return await store.deleteBatch(doomed.map((o) => o.path));
  } catch (error) {
    throw new StopRemoval(`${describeError(error)}; the rest of shard ${shardId} is not deleted`);
  }
}

async function* batchesOf(lines: AsyncIterable<string>): AsyncIterable<Orphan[]> {
  let batch: Orphan[] = [];
  for await (const line of lines) {
    batch.push(JSON.parse(line) as Orphan);
    if (batch.length === REMOVAL_BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** Run `fn` over the items with at most `limit` at once, taking no new item once `stopped()`. `fn` must not reject. */
async function forEachBounded<T>(items: AsyncIterable<T>, limit: number, fn: (item: T, i: number) => Promise<void>, stopped: () => boolean): Promise<void> {
  const running = new Set<Promise<void>>();
  let i = 0;
  try {
    for await (const item of items) {
      if (stopped()) break;
      const task: Promise<void> = fn(item, i++).finally(() => running.delete(task));
      running.add(task);
      if (running.size >= Math.max(1, limit)) await Promise.race(running);
    }
  } finally {
    await Promise.all(running);
  }
}
