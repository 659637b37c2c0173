import type { ObjectStore, TransactionSnapshot } from '../types.js';
import type { ShardPlan } from '../model/plan.js';
import type { Removal } from '../model/options.js';
import { addPartialTally, emptyTally, type BatchJournal, type Orphan, type QuarantineRecord, type ShardResult, type Tally } from '../model/results.js';
import { describeError } from '../model/errors.js';
import type { RunObserver } from '../model/events.js';
import type { RunFolder } from '../run/run-folder.js';
import { counter } from './sweep.js';
import { fateAtRemoval } from './fate.js';
import { quarantinePath } from './sections.js';
import type { Recheck } from './recheck.js';
import { deferral, lastRecheck, type TransactionWatch } from './last-look.js';

export const REMOVAL_BATCH = 1000;
const MAX_LISTED_ERRORS = 20;

export interface RemovalContext {
  runId: string;
  folder: RunFolder;
  store: ObjectStore;
  shard: ShardPlan;
  removal: Removal;
  /** Folders never pruned when a removal leaves them empty: the section roots. */
  keepFolders: string[];
  /** The reference paths among `candidatePaths` (and their covering folders) that exist in the database right now, columns rediscovered. */
  recheck: Recheck;
  transactions: TransactionWatch;
  transactionWaitSeconds: number;
  /**
   * Why no batch may start any more for this run (it was reported, or it is so close to its
   * timeout that it could be finalized while the batch runs), or undefined. Asked before each batch.
   */
  runClosed: () => Promise<string | undefined>;
  /** False once the invocation's time budget cannot take another batch (absent: no limit). */
  keepRemoving?: () => boolean;
  concurrency: number;
  observe: RunObserver;
  now: () => Date;
}

/** Ends the removal of a shard: what is left of it is not removed, and the message says why. */
class StopRemoval extends Error {}

/** The time budget is spent: the rest of the shard is left for the next invocation (its batches so far are journaled). */
class PauseRemoval extends Error {}

type JournalRow = BatchJournal['rows'][number];

/**
 * Remove the shard's orphans in batches. Each batch is re-checked against the database, then
 * moved to quarantine (or deleted), the last look (`lastRecheck`: rows of write transactions in
 * flight included) taken right before any object leaves its path. Every batch
 * is journaled once done, so a retried shard replays it instead of redoing it. The first failure
 * stops the rest of the shard; batches already running finish.
 */
export async function removeOrphans(context: RemovalContext, result: ShardResult): Promise<'done' | 'paused'> {
  const ctx = countingRequests(context, result.requests);
  const count = counter(result);
  let stop: string | undefined;
  let paused = false;
  let failures = 0;

  const apply = (journal: BatchJournal): void => {
    for (const { schema, table, ...tally } of journal.rows) count(schema, table, (t) => addPartialTally(t, tally));
    failures += journal.failures;
    for (const error of journal.errors) if (result.errors.length < MAX_LISTED_ERRORS) result.errors.push(error);
  };

  const work = async (batch: Orphan[], n: number): Promise<void> => {
    try {
      const journal = await removeBatch(ctx, n, batch, () => stop !== undefined || paused);
      if (journal) apply(journal);
    } catch (error) {
      if (error instanceof PauseRemoval) {
        paused = true;
        return;
      }
      stop ??= error instanceof StopRemoval ? error.message : `removal batch ${n} of shard ${ctx.shard.id} failed: ${describeError(error)}`;
    }
  };

  try {
    await forEachBounded(batchesOf(ctx.folder.readOrphans(ctx.runId, ctx.shard.id)), ctx.concurrency, work, () => stop !== undefined || paused);
  } catch (error) {
    stop ??= `cannot read the orphan list of shard ${ctx.shard.id}: ${describeError(error)}`;
  }
  // Paused: the shard's result is not final; the next invocation replays the journaled batches and goes on.
  if (paused && stop === undefined) return 'paused';
  if (failures > MAX_LISTED_ERRORS) result.errors.push(`… and ${failures - MAX_LISTED_ERRORS} more objects could not be removed`);
  if (stop) {
    result.errors.push(stop);
    ctx.observe({ type: 'error', scope: ctx.shard.id, message: stop });
  }
  return 'done';
}

/**
 * The context with every real call counted in `requests`: each re-check, and each removal call to
 * the store (a delete or a quarantine move of one batch). A batch replayed from its journal calls nothing.
 */
function countingRequests(ctx: RemovalContext, requests: ShardResult['requests']): RemovalContext {
  const { store } = ctx;
  const counted: ObjectStore = {
    description: store.description,
    list: (prefix, options) => store.list(prefix, options),
    deleteBatch: (paths) => {
      requests.delete++;
      return store.deleteBatch(paths);
    },
    moveBatch: (moves, options) => {
      requests.delete++;
      return store.moveBatch(moves, options);
    },
    stat: (path) => store.stat(path),
    pruneEmptyFolders: (paths, keep) => store.pruneEmptyFolders(paths, keep),
    versioning: () => store.versioning(),
  };
  return {
    ...ctx,
    store: counted,
    recheck: (paths, options) => {
      requests.recheck++;
      return ctx.recheck(paths, options);
    },
  };
}

/** The journal's rows by schema and table. */
function rowsOf(): { row: (o: Pick<Orphan, 'schema' | 'table'>) => JournalRow & Tally; rows: () => JournalRow[] } {
  const rows = new Map<string, JournalRow & Tally>();
  return {
    row: (o) => {
      const key = `${o.schema}\t${o.table}`;
      let r = rows.get(key);
      if (!r) rows.set(key, (r = { schema: o.schema, table: o.table, ...emptyTally() }));
      return r;
    },
    rows: () => [...rows.values()],
  };
}

/** One batch: replayed from its journal, or re-checked, waited out, re-checked, removed and journaled. null when the shard stopped meanwhile. */
async function removeBatch(ctx: RemovalContext, n: number, batch: Orphan[], stopped: () => boolean): Promise<BatchJournal | null> {
  const journaled = await ctx.folder.readBatch(ctx.runId, ctx.shard.id, n);
  if (journaled) return journaled;
  if (stopped()) return null;
  const closed = await ctx.runClosed();
  if (closed) throw new StopRemoval(closed);
  if (ctx.keepRemoving && !ctx.keepRemoving()) throw new PauseRemoval();
  const { row, rows } = rowsOf();
  const journal: BatchJournal = { rows: [], deleted: [], errors: [], failures: 0 };

  const candidates = await keepUnreferenced(ctx, batch, row);
  let removed: Orphan[] = [];
  if (candidates.length > 0 && !stopped()) {
    if (ctx.removal === 'quarantine') removed = await quarantine(ctx, n, candidates, row, journal);
    else {
      const doomed = await lastLook(ctx, candidates, row, journal);
      if (doomed.length > 0) await deleteAtOnce(ctx, doomed, row, journal);
      removed = doomed;
    }
  }
  if (removed.length > 0) {
    // As DataJoint's own collector does: the primary-key folders a removal leaves empty go too, never a section root.
    await ctx.store.pruneEmptyFolders(removed.map((o) => o.path), ctx.keepFolders).catch((error: unknown) => {
      journal.errors.push(`could not remove folders left empty in shard ${ctx.shard.id}: ${describeError(error)}`);
    });
  }
  journal.rows = rows();
  await ctx.folder.writeBatch(ctx.runId, ctx.shard.id, n, journal);
  return journal;
}

/**
 * The look right before objects are taken away (see `lastRecheck`). Returns the objects still
 * unreferenced; the rest are counted as saved, or all as deferred when writers did not clear.
 */
async function lastLook(ctx: RemovalContext, candidates: Orphan[], row: (o: Orphan) => Tally, journal: BatchJournal): Promise<Orphan[]> {
  const paths = candidates.map((o) => o.path);
  const outcome = await guarded('the last re-check against the database', () => lastRecheck(ctx.transactions, ctx.recheck, paths, ctx.transactionWaitSeconds, ctx.now), ctx.shard.id);
  if (!outcome.cleared) {
    for (const o of candidates) row(o).deferred++;
    journal.errors.push(deferral(candidates.length, `objects of shard ${ctx.shard.id} were kept for the next run`, outcome, ctx.transactionWaitSeconds));
    return [];
  }
  return unreferenced(ctx, candidates, row, outcome.present);
}

/** Re-check the batch (see `unreferenced`). */
async function keepUnreferenced(ctx: RemovalContext, batch: Orphan[], row: (o: Orphan) => Tally): Promise<Orphan[]> {
  const present = await guarded('re-check against the database', () => ctx.recheck(batch.map((o) => o.path)), ctx.shard.id);
  return unreferenced(ctx, batch, row, present);
}

/** The objects of the batch that `present` (reference paths found) does not cover; the others are counted as saved. */
function unreferenced(ctx: RemovalContext, batch: Orphan[], row: (o: Orphan) => Tally, present: Set<string>): Orphan[] {
  const saved = batch.filter((o) => fateAtRemoval(o.path, ctx.shard.section, present) === 'saved');
  for (const o of saved) row(o).saved++;
  if (saved.length > 0) ctx.observe({ type: 'saved', shard: ctx.shard.id, paths: saved.map((o) => o.path) });
  return saved.length === 0 ? batch : batch.filter((o) => !saved.includes(o));
}

/** Returns the objects moved. The last look is taken inside the move, right before any source is taken away (on S3, once the copies exist). */
async function quarantine(ctx: RemovalContext, n: number, candidates: Orphan[], row: (o: Orphan) => Tally, journal: BatchJournal): Promise<Orphan[]> {
  const byPath = new Map(candidates.map((o) => [o.path, o]));
  const look = async (moves: { from: string }[]): Promise<ReadonlySet<string>> => {
    const staged = moves.map((m) => byPath.get(m.from)!);
    const doomed = new Set((await lastLook(ctx, staged, row, journal)).map((o) => o.path));
    return new Set(staged.filter((o) => !doomed.has(o.path)).map((o) => o.path));
  };
  const outcome = await guarded(
    'moving objects to quarantine',
    () => ctx.store.moveBatch(candidates.map((o) => ({ from: o.path, to: quarantinePath(ctx.runId, o.path) })), { lastLook: look }),
    ctx.shard.id,
  );
  const back = await putBackReferenced(ctx, outcome.moved, byPath, row);
  const at = ctx.now().toISOString();
  // Taken after the move: a writer that saw the object just before it moved is among these, and the purge waits for it.
  const open = await ctx.transactions.open().catch((): TransactionSnapshot => ({ visible: false, ids: [] }));
  const record: QuarantineRecord = { at, openTransactions: { visible: open.visible, ids: open.ids }, moves: [] };
  let bytes = 0;
  const kept = outcome.moved.filter((m) => !back.has(m.from));
  for (const move of kept) {
    const o = byPath.get(move.from);
    if (!o) continue;
    record.moves.push({ path: o.path, to: move.to, size: o.size, schema: o.schema, table: o.table });
    row(o).quarantined++;
    row(o).quarantinedBytes += o.size;
    bytes += o.size;
  }
  for (const failure of outcome.failed) {
    const o = byPath.get(failure.from);
    if (o) row(o).failed++;
    journal.failures++;
    if (journal.errors.length < MAX_LISTED_ERRORS) journal.errors.push(`could not quarantine ${failure.from}: ${failure.code} ${failure.message}`);
  }
  if (record.moves.length > 0) await ctx.folder.writeQuarantineRecord(ctx.runId, ctx.shard.id, n, record);
  ctx.observe({ type: 'deleted', shard: ctx.shard.id, paths: kept.map((m) => m.from), bytes, how: 'quarantined' });
  return kept.map((m) => byPath.get(m.from)!);
}

/**
 * Right after a move, one more re-check (rows in flight included where the server shows them):
 * a writer that found an object present after the last look, while its batch was being moved,
 * and has written its row since, gets the object back at once instead of at the next purge.
 * Returns the paths put back, counted as saved; anything that fails here stays quarantined, and
 * the purge's own re-check restores it.
 */
async function putBackReferenced(ctx: RemovalContext, moved: { from: string; to: string }[], byPath: Map<string, Orphan>, row: (o: Orphan) => Tally): Promise<Set<string>> {
  if (moved.length === 0) return new Set();
  const present = await ctx.recheck(moved.map((m) => m.from), { inFlight: true }).catch(() => new Set<string>());
  const referenced = moved.filter((m) => fateAtRemoval(m.from, ctx.shard.section, present) === 'saved');
  if (referenced.length === 0) return new Set();
  const outcome = await ctx.store.moveBatch(referenced.map((m) => ({ from: m.to, to: m.from }))).catch(() => ({ moved: [], failed: [] }));
  const back = new Set(outcome.moved.map((m) => m.to));
  for (const path of back) row(byPath.get(path)!).saved++;
  if (back.size > 0) ctx.observe({ type: 'saved', shard: ctx.shard.id, paths: [...back] });
  return back;
}

async function deleteAtOnce(ctx: RemovalContext, doomed: Orphan[], row: (o: Orphan) => Tally, journal: BatchJournal): Promise<void> {
  const outcome = await guarded('deleting', () => ctx.store.deleteBatch(doomed.map((o) => o.path)), ctx.shard.id);
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
  ctx.observe({ type: 'deleted', shard: ctx.shard.id, paths: outcome.deleted, bytes, how: 'deleted' });
}

/** A failure of a whole step stops the shard, naming the step. */
async function guarded<T>(step: string, run: () => Promise<T>, shardId: string): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw new StopRemoval(`${step} failed: ${describeError(error)}; the rest of shard ${shardId} is not removed`);
  }
}

export async function* batchesOf<T = Orphan>(lines: AsyncIterable<string>, size = REMOVAL_BATCH): AsyncIterable<T[]> {
  let batch: T[] = [];
  for await (const line of lines) {
    batch.push(JSON.parse(line) as T);
    if (batch.length === size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** Run `fn` over the items with at most `limit` at once, taking no new item once `stopped()`. `fn` must not reject. */
export async function forEachBounded<T>(items: AsyncIterable<T>, limit: number, fn: (item: T, i: number) => Promise<void>, stopped: () => boolean): Promise<void> {
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
