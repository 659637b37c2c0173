import type { ObjectStore } from './types.js';
import { compareBytes, type ShardPlan } from './plan.js';
import { isCovered, isTemporary, parseHashKey, parseSchemaKey, type Layout } from './sections.js';
import { MissingRunFileError, runPath, type RunFolder } from './run-folder.js';
import { loadShardReferences } from './partition.js';
import { addTally, emptyTally, type ShardResult, type Tally } from './tally.js';
import { describeError } from './errors.js';
import type { RunObserver } from './events.js';

export const DELETE_BATCH = 1000;
const MAX_LISTED_ERRORS = 20;

export interface SweepContext {
  runId: string;
  folder: RunFolder;
  store: ObjectStore;
  layout: Layout;
  shard: ShardPlan;
  graceMs: number;
  /** Delete the orphans found (collect confirmed). */
  deleteObjects: boolean;
  /** Why deleting is forbidden in this run although asked for (e.g. references could not all be read). */
  deletionBlocked?: string;
  /** Sweep this orphan list (an approved dry run's) instead of listing the store. */
  approvedOrphans?: string;
  /** Reference paths that exist in the database right now among `candidatePaths`. */
  recheck: (candidatePaths: string[]) => Promise<Set<string>>;
  deleteConcurrency: number;
  observe: RunObserver;
  now?: () => number;
}

export interface Orphan {
  path: string;
  size: number;
  lastModified: string;
  schema: string;
  table: string;
}

/** What one delete batch did; written once the batch is done, so a retried shard does not redo or recount it. */
interface BatchJournal {
  rows: { schema: string; table: string; saved: number; deleted: number; bytesFreed: number; failed: number }[];
  deleted: string[];
  errors: string[];
  failures: number;
}

export const orphansPath = (runId: string, shardId: string): string => runPath(runId, 'orphans', `${shardId}.jsonl`);
export const shardResultPath = (runId: string, shardId: string): string => runPath(runId, 'shards', `${shardId}.json`);
const listingPath = (runId: string, shardId: string): string => runPath(runId, 'listing', `${shardId}.json`);
const batchPath = (runId: string, shardId: string, n: number): string => runPath(runId, 'batches', shardId, `${n}.json`);

function newResult(shard: ShardPlan): ShardResult {
  return {
    shardId: shard.id,
    store: shard.store,
    root: shard.root,
    section: shard.section,
    schemas: shard.schemas,
    totals: emptyTally(),
    breakdown: {},
    references: 0,
    skipped: 0,
    outsideScope: 0,
    listingComplete: false,
    deletionAttempted: false,
    errors: [],
    timings: { listMs: 0, deleteMs: 0 },
    requests: { list: 0, delete: 0, recheck: 0 },
  };
}

function counter(result: ShardResult): (schema: string, table: string, update: (t: Tally) => void) => void {
  return (schema, table, update) => {
    update(result.totals);
    const tables = (result.breakdown[schema] ??= {});
    update((tables[table] ??= emptyTally()));
  };
}

/**
 * Sweep one shard: list it and diff it against its references (or take an approved orphan list),
 * then, when asked and allowed, delete the orphans in batches, each re-checked against the
 * database right before it goes. Idempotent: a finished shard is not swept again; a shard
 * interrupted after its listing resumes with the batches it has not finished.
 */
export async function sweepShard(ctx: SweepContext): Promise<ShardResult> {
  const done = await ctx.folder.readText(shardResultPath(ctx.runId, ctx.shard.id));
  if (done !== null) return JSON.parse(done) as ShardResult;

  const now = ctx.now ?? Date.now;
  const started = now();
  const checkpoint = await ctx.folder.readText(listingPath(ctx.runId, ctx.shard.id));
  let result: ShardResult;
  if (checkpoint !== null) {
    result = JSON.parse(checkpoint) as ShardResult;
  } else {
    result = ctx.approvedOrphans ? await readApproved(ctx) : await listShard(ctx);
    result.timings.listMs = now() - started;
    if (result.listingComplete) await ctx.folder.writeText(listingPath(ctx.runId, ctx.shard.id), JSON.stringify(result));
  }
  ctx.observe({ type: 'shard-listed', shard: ctx.shard.id, orphans: result.totals.orphaned });

  if (ctx.deleteObjects && result.listingComplete && result.totals.orphaned > 0) {
    if (ctx.deletionBlocked) {
      result.errors.push(`nothing deleted in shard ${ctx.shard.id}: ${ctx.deletionBlocked}`);
    } else {
      const deleteStarted = now();
      result.deletionAttempted = true;
      await deleteOrphans(ctx, result);
      result.timings.deleteMs = now() - deleteStarted;
    }
  }
  await ctx.folder.writeText(shardResultPath(ctx.runId, ctx.shard.id), JSON.stringify(result, null, 2));
  ctx.observe({ type: 'shard-done', shard: ctx.shard.id });
  return result;
}

async function listShard(ctx: SweepContext): Promise<ShardResult> {
  const { shard } = ctx;
  const result = newResult(shard);
  const count = counter(result);
  // Thrown, not reported: without its references a shard cannot be swept, and a retry may succeed.
  const references = await loadShardReferences(ctx.folder, ctx.runId, shard.id);
  result.references = references.size;
  const cutoff = (ctx.now ?? Date.now)() - ctx.graceMs;

  const ownerOf = (path: string): { schema: string; table: string } | 'skip' | 'outside' => {
    if (isTemporary(path)) return 'skip';
    const key = shard.section === 'hash' ? parseHashKey(path, ctx.layout) : parseSchemaKey(path, ctx.layout);
    if (!key) return 'skip';
    const table = 'table' in key ? key.table : '(hash)';
    return shard.schemas.includes(key.schema) ? { schema: key.schema, table } : 'outside';
  };

  async function* orphans(): AsyncIterable<string> {
    for await (const page of ctx.store.list(shard.listPrefix, shard.after !== undefined ? { startAfter: shard.after } : {})) {
      result.requests.list++;
      for (const entry of page) {
        if (shard.upTo !== undefined && compareBytes(entry.path, shard.upTo) > 0) return;
        if (shard.after !== undefined && compareBytes(entry.path, shard.after) <= 0) continue;
        const owner = ownerOf(entry.path);
        if (owner === 'skip') {
          result.skipped++;
          continue;
        }
        if (owner === 'outside') {
          result.outsideScope++;
          continue;
        }
        const { schema, table } = owner;
        count(schema, table, (t) => {
          t.stored++;
          t.storedBytes += entry.size;
        });
        if (isCovered(entry.path, shard.section, references)) {
          count(schema, table, (t) => t.referenced++);
        } else if (entry.lastModified.getTime() > cutoff) {
          count(schema, table, (t) => t.protected++);
        } else {
          count(schema, table, (t) => {
            t.orphaned++;
            t.orphanedBytes += entry.size;
          });
          const orphan: Orphan = { path: entry.path, size: entry.size, lastModified: entry.lastModified.toISOString(), schema, table };
          yield JSON.stringify(orphan);
        }
      }
      ctx.observe({ type: 'listed', shard: shard.id, objects: page.length });
    }
  }

  try {
    await ctx.folder.writeLines(orphansPath(ctx.runId, shard.id), orphans());
    result.listingComplete = true;
  } catch (error) {
    const message = `listing ${ctx.store.description} under '${shard.listPrefix}' failed: ${describeError(error)}; nothing is deleted in shard ${shard.id}`;
    result.errors.push(message);
    ctx.observe({ type: 'error', scope: shard.id, message });
  }
  return result;
}

/** An approved dry run's orphan list stands in for the listing; the grace period still applies. */
async function readApproved(ctx: SweepContext): Promise<ShardResult> {
  const result = newResult(ctx.shard);
  const count = counter(result);
  const cutoff = (ctx.now ?? Date.now)() - ctx.graceMs;
  async function* eligible(): AsyncIterable<string> {
    for await (const line of ctx.folder.readLines(ctx.approvedOrphans!)) {
      const orphan = JSON.parse(line) as Orphan;
      count(orphan.schema, orphan.table, (t) => {
        t.stored++;
        t.storedBytes += orphan.size;
      });
      if (Date.parse(orphan.lastModified) > cutoff) {
        count(orphan.schema, orphan.table, (t) => t.protected++);
        continue;
      }
      count(orphan.schema, orphan.table, (t) => {
        t.orphaned++;
        t.orphanedBytes += orphan.size;
      });
      yield line;
    }
  }
  try {
    await ctx.folder.writeLines(orphansPath(ctx.runId, ctx.shard.id), eligible());
    result.listingComplete = true;
  } catch (error) {
    if (!(error instanceof MissingRunFileError)) throw error;
    result.errors.push(`the approved run has no orphan list for shard ${ctx.shard.id} (its listing failed); nothing is deleted in this shard`);
  }
  return result;
}

async function deleteOrphans(ctx: SweepContext, result: ShardResult): Promise<void> {
  const count = counter(result);
  let stop: string | undefined;
  let failures = 0;
  const inFlight = new Set<Promise<void>>();

  const apply = (journal: BatchJournal): void => {
    for (const row of journal.rows) {
      count(row.schema, row.table, (t) =>
        addTally(t, { ...emptyTally(), saved: row.saved, deleted: row.deleted, bytesFreed: row.bytesFreed, failed: row.failed }),
      );
    }
    failures += journal.failures;
    for (const error of journal.errors) if (result.errors.length < MAX_LISTED_ERRORS) result.errors.push(error);
  };

  const runBatch = async (n: number, batch: Orphan[]): Promise<void> => {
    const journaled = await ctx.folder.readText(batchPath(ctx.runId, ctx.shard.id, n));
    if (journaled !== null) {
      apply(JSON.parse(journaled) as BatchJournal);
      return;
    }
    if (stop) return;
    let present: Set<string>;
    try {
      result.requests.recheck++;
      present = await ctx.recheck(batch.map((o) => o.path));
    } catch (error) {
      stop ??= `re-check against the database failed: ${describeError(error)}; the rest of shard ${ctx.shard.id} is not deleted`;
      return;
    }
    const rows = new Map<string, BatchJournal['rows'][number]>();
    const row = (o: Orphan): BatchJournal['rows'][number] => {
      const key = `${o.schema}\t${o.table}`;
      let r = rows.get(key);
      if (!r) rows.set(key, (r = { schema: o.schema, table: o.table, saved: 0, deleted: 0, bytesFreed: 0, failed: 0 }));
      return r;
    };
    const saved: Orphan[] = [];
    const doomed: Orphan[] = [];
    for (const o of batch) (isCovered(o.path, ctx.shard.section, present) ? saved : doomed).push(o);
    for (const o of saved) row(o).saved++;
    if (saved.length > 0) ctx.observe({ type: 'saved', shard: ctx.shard.id, paths: saved.map((o) => o.path) });
    const journal: BatchJournal = { rows: [], deleted: [], errors: [], failures: 0 };
    if (doomed.length > 0) {
      if (stop) return;
      let outcome;
      try {
        result.requests.delete++;
        outcome = await ctx.store.deleteBatch(doomed.map((o) => o.path));
      } catch (error) {
        stop ??= `${describeError(error)}; the rest of shard ${ctx.shard.id} is not deleted`;
        return;
      }
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
    await ctx.folder.writeText(batchPath(ctx.runId, ctx.shard.id, n), JSON.stringify(journal));
    apply(journal);
  };

  const launch = async (n: number, batch: Orphan[]): Promise<void> => {
    const task = runBatch(n, batch)
      .catch((error: unknown) => {
        stop ??= `delete batch ${n} of shard ${ctx.shard.id} failed: ${describeError(error)}`;
      })
      .finally(() => inFlight.delete(task));
    inFlight.add(task);
    if (inFlight.size >= Math.max(1, ctx.deleteConcurrency)) await Promise.race(inFlight);
  };

  let batch: Orphan[] = [];
  let n = 0;
  try {
    for await (const line of ctx.folder.readLines(orphansPath(ctx.runId, ctx.shard.id))) {
      if (stop) break;
      batch.push(JSON.parse(line) as Orphan);
      if (batch.length === DELETE_BATCH) {
        await launch(n++, batch);
        batch = [];
      }
    }
    if (batch.length > 0 && !stop) await launch(n++, batch);
  } catch (error) {
    stop ??= `cannot read the orphan list of shard ${ctx.shard.id}: ${describeError(error)}`;
  }
  await Promise.all(inFlight);
  if (failures > MAX_LISTED_ERRORS) result.errors.push(`… and ${failures - MAX_LISTED_ERRORS} more objects could not be deleted`);
  if (stop) {
    result.errors.push(stop);
    ctx.observe({ type: 'error', scope: ctx.shard.id, message: stop });
  }
}
