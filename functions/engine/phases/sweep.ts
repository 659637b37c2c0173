import type { ObjectStore } from '../types.js';
import { compareBytes } from '../model/byte-order.js';
import type { ShardPlan } from '../model/plan.js';
import { emptyTally, type Orphan, type ShardResult, type Tally } from '../model/results.js';
import { describeError } from '../model/errors.js';
import type { RunObserver } from '../model/events.js';
import { hoursToMs } from '../model/options.js';
import { MissingRunFileError, type RunFolder } from '../run/run-folder.js';
import type { Layout } from './sections.js';
import { fateAtListing } from './fate.js';

export interface SweepContext {
  runId: string;
  folder: RunFolder;
  store: ObjectStore;
  layout: Layout;
  shard: ShardPlan;
  graceHours: number;
  observe: RunObserver;
  now: () => number;
}

export function newResult(shard: ShardPlan): ShardResult {
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

/** Adds to the shard's totals and to its schema → table breakdown at once. */
export function counter(result: ShardResult): (schema: string, table: string, update: (t: Tally) => void) => void {
  return (schema, table, update) => {
    update(result.totals);
    const tables = (result.breakdown[schema] ??= {});
    update((tables[table] ??= emptyTally()));
  };
}

/** List one shard, decide each key's fate, and write the orphan list. A listing error is reported, never thrown. */
export async function listShard(ctx: SweepContext, references: ReadonlySet<string>): Promise<ShardResult> {
  const { shard } = ctx;
  const result = newResult(shard);
  result.references = references.size;
  const count = counter(result);
  const rules = {
    section: shard.section,
    layout: ctx.layout,
    schemas: shard.schemas,
    references,
    graceCutoffMs: ctx.now() - hoursToMs(ctx.graceHours),
  };

  async function* orphans(): AsyncIterable<string> {
    for await (const page of ctx.store.list(shard.listPrefix, shard.after !== undefined ? { startAfter: shard.after } : {})) {
      result.requests.list++;
      for (const entry of page) {
        if (shard.upTo !== undefined && compareBytes(entry.path, shard.upTo) > 0) return;
        if (shard.after !== undefined && compareBytes(entry.path, shard.after) <= 0) continue;
        const decided = fateAtListing(entry, rules);
        if (decided.fate === 'not-an-object') {
          result.skipped++;
          continue;
        }
        if (decided.fate === 'outside-scope') {
          result.outsideScope++;
          continue;
        }
        const { schema, table } = decided;
        count(schema, table, (t) => {
          t.stored++;
          t.storedBytes += entry.size;
          if (decided.fate === 'referenced') t.referenced++;
          else if (decided.fate === 'protected') t.protected++;
          else {
            t.orphaned++;
            t.orphanedBytes += entry.size;
          }
        });
        if (decided.fate === 'orphaned') {
          const orphan: Orphan = { path: entry.path, size: entry.size, lastModified: entry.lastModified.toISOString(), schema, table };
          yield JSON.stringify(orphan);
        }
      }
      ctx.observe({ type: 'listed', shard: shard.id, objects: page.length });
    }
  }

  try {
    await ctx.folder.writeOrphans(ctx.runId, shard.id, orphans());
    result.listingComplete = true;
  } catch (error) {
    const message = `listing ${ctx.store.description} under '${shard.listPrefix}' failed: ${describeError(error)}; nothing is deleted in shard ${shard.id}`;
    result.errors.push(message);
    ctx.observe({ type: 'error', scope: shard.id, message });
  }
  return result;
}

/** An approved dry run's orphan list stands in for the listing; the grace period still applies. */
export async function readApprovedList(ctx: SweepContext, approvedRunId: string): Promise<ShardResult> {
  const result = newResult(ctx.shard);
  const count = counter(result);
  const cutoff = ctx.now() - hoursToMs(ctx.graceHours);
  async function* eligible(): AsyncIterable<string> {
    for await (const line of ctx.folder.readOrphans(approvedRunId, ctx.shard.id)) {
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
    await ctx.folder.writeOrphans(ctx.runId, ctx.shard.id, eligible());
    result.listingComplete = true;
  } catch (error) {
    if (!(error instanceof MissingRunFileError)) throw error;
    result.errors.push(`the approved run has no orphan list for shard ${ctx.shard.id} (its listing failed); nothing is deleted in this shard`);
  }
  return result;
}
