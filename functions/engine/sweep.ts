import type { ObjectStore } from './types.js';
import { compareBytes, type ShardPlan } from './plan.js';
import { isCovered, isTemporary, parseHashKey, parseSchemaKey, type Layout } from './sections.js';
import { runPath, type RunFolder } from './run-folder.js';
import { loadShardReferences } from './partition.js';
import { emptyTally, type ShardResult, type Tally } from './tally.js';
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
  /** Reference paths that exist in the database right now among `candidates`. */
  recheck: (candidatePaths: string[]) => Promise<Set<string>>;
  deleteConcurrency: number;
  observe: RunObserver;
  now?: () => number;
}

interface Orphan {
  path: string;
  size: number;
  lastModified: string;
  schema: string;
  table: string;
}

export function orphansPath(runId: string, shardId: string): string {
  return runPath(runId, 'orphans', `${shardId}.jsonl`);
}

/**
 * List one shard, diff it against its references, and (when asked and allowed) delete the orphans
 * in batches, each re-checked against the database right before it goes.
 */
export async function sweepShard(ctx: SweepContext): Promise<ShardResult> {
  const { shard } = ctx;
  const now = ctx.now ?? Date.now;
  const result: ShardResult = {
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
  const tallyOf = (schema: string, table: string): Tally => {
    const tables = (result.breakdown[schema] ??= {});
    return (tables[table] ??= emptyTally());
  };
  const count = (schema: string, table: string, update: (t: Tally) => void): void => {
    update(result.totals);
    update(tallyOf(schema, table));
  };

  const started = now();
  let references: Set<string>;
  try {
    references = await loadShardReferences(ctx.folder, ctx.runId, shard.id);
  } catch (error) {
    result.errors.push(`cannot load the references of shard ${shard.id}: ${describeError(error)}`);
    return result;
  }
  result.references = references.size;
  const cutoff = now() - ctx.graceMs;

  async function* listOrphans(): AsyncIterable<string> {
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

  const ownerOf = (path: string): { schema: string; table: string } | 'skip' | 'outside' => {
    if (isTemporary(path)) return 'skip';
    if (shard.section === 'hash') {
      const key = parseHashKey(path, ctx.layout);
      if (!key) return 'skip';
      return shard.schemas.includes(key.schema) ? { schema: key.schema, table: '(hash)' } : 'outside';
    }
    const key = parseSchemaKey(path, ctx.layout);
    if (!key) return 'skip';
    return shard.schemas.includes(key.schema) ? key : 'outside';
  };

  try {
    await ctx.folder.writeLines(orphansPath(ctx.runId, shard.id), listOrphans());
    result.listingComplete = true;
  } catch (error) {
    const message = `listing ${ctx.store.description} under '${shard.listPrefix}' failed: ${describeError(error)}; nothing is deleted in shard ${shard.id}`;
    result.errors.push(message);
    ctx.observe({ type: 'error', scope: shard.id, message });
  }
  result.timings.listMs = now() - started;
  ctx.observe({ type: 'shard-listed', shard: shard.id, orphans: result.totals.orphaned });

  if (ctx.deleteObjects && result.listingComplete && result.totals.orphaned > 0) {
    if (ctx.deletionBlocked) {
      result.errors.push(`nothing deleted in shard ${shard.id}: ${ctx.deletionBlocked}`);
    } else {
      const deleteStarted = now();
      result.deletionAttempted = true;
      await deleteOrphans(ctx, result, count);
      result.timings.deleteMs = now() - deleteStarted;
    }
  }
  ctx.observe({ type: 'shard-done', shard: shard.id });
  return result;
}

async function deleteOrphans(
  ctx: SweepContext,
  result: ShardResult,
  count: (schema: string, table: string, update: (t: Tally) => void) => void,
): Promise<void> {
  let stop: string | undefined;
  let failures = 0;
  const inFlight = new Set<Promise<void>>();

  const deleteBatch = async (batch: Orphan[]): Promise<void> => {
    if (stop) return;
    let present: Set<string>;
    try {
      result.requests.recheck++;
      present = await ctx.recheck(batch.map((o) => o.path));
    } catch (error) {
      stop ??= `re-check against the database failed: ${describeError(error)}; the rest of shard ${ctx.shard.id} is not deleted`;
      return;
    }
    const saved = batch.filter((o) => isCovered(o.path, ctx.shard.section, present));
    for (const o of saved) count(o.schema, o.table, (t) => t.saved++);
    if (saved.length > 0) ctx.observe({ type: 'saved', shard: ctx.shard.id, paths: saved.map((o) => o.path) });
    const doomed = batch.filter((o) => !isCovered(o.path, ctx.shard.section, present));
    if (doomed.length === 0 || stop) return;
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
      count(o.schema, o.table, (t) => {
        t.deleted++;
        t.bytesFreed += o.size;
      });
    }
    for (const failure of outcome.failed) {
      const o = byPath.get(failure.path);
      if (o) count(o.schema, o.table, (t) => t.failed++);
      if (++failures <= MAX_LISTED_ERRORS) result.errors.push(`could not delete ${failure.path}: ${failure.code} ${failure.message}`);
    }
    ctx.observe({ type: 'deleted', shard: ctx.shard.id, paths: outcome.deleted, bytes });
  };

  const launch = async (batch: Orphan[]): Promise<void> => {
    const task = deleteBatch(batch).finally(() => inFlight.delete(task));
    inFlight.add(task);
    if (inFlight.size >= Math.max(1, ctx.deleteConcurrency)) await Promise.race(inFlight);
  };

  let batch: Orphan[] = [];
  try {
    for await (const line of ctx.folder.readLines(orphansPath(ctx.runId, ctx.shard.id))) {
      if (stop) break;
      batch.push(JSON.parse(line) as Orphan);
      if (batch.length === DELETE_BATCH) {
        await launch(batch);
        batch = [];
      }
    }
    if (batch.length > 0 && !stop) await launch(batch);
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
