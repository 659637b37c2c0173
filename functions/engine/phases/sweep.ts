import { createHash, type Hash } from 'node:crypto';
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
  /** False once the invocation's time budget cannot take another page (absent: no limit). */
  keepListing?: () => boolean;
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

/** A listing checkpoints (orphans found so far, and the cursor) at least this often, and whenever it stops for its time budget. */
export const CHECKPOINT_PAGES = 10;

/**
 * List one shard, decide each key's fate, and write the orphan list. A listing error is reported,
 * never thrown. The listing goes page by page from its checkpoint: every `CHECKPOINT_PAGES`
 * pages, and when `ctx.keepListing()` says the time budget is spent, the orphans of the pages
 * since the last checkpoint and the cursor (the last key of the last page decided) are written;
 * null is returned when it stopped, and the next call resumes after the cursor with the counts
 * so far. A listing stopped without a checkpoint (killed) redoes only the pages since the last one.
 */
export async function listShard(ctx: SweepContext, references: ReadonlySet<string>): Promise<ShardResult | null> {
  const { shard } = ctx;
  const checkpoint = await ctx.folder.readListingCheckpoint(ctx.runId, shard.id);
  let result: ShardResult;
  if (checkpoint) result = checkpoint.result;
  else {
    result = newResult(shard);
    // Counted once over all shards: a folder reference also sent to the next shard belongs to the one it sorts in.
    for (const path of references) if (inRange(path, shard)) result.references++;
  }
  let parts = checkpoint?.parts ?? 0;
  const startAfter = checkpoint?.cursor ?? shard.after;
  const rules = {
    section: shard.section,
    layout: ctx.layout,
    schemas: shard.schemas,
    references,
    graceCutoffMs: ctx.now() - hoursToMs(ctx.graceHours),
  };

  // Each (schema, table)'s two tallies (the shard's totals and the table's) are looked up once, not per object.
  const tallies = new Map<string, Map<string, Tally>>();
  const tallyOf = (schema: string, table: string): Tally => {
    let tables = tallies.get(schema);
    if (!tables) tallies.set(schema, (tables = new Map()));
    let tally = tables.get(table);
    if (!tally) tables.set(table, (tally = ((result.breakdown[schema] ??= {})[table] ??= emptyTally())));
    return tally;
  };
  const totals = result.totals;

  let found: string[] = [];
  let pages = 0;
  try {
    listing: for await (const page of ctx.store.list(shard.listPrefix, startAfter !== undefined ? { startAfter } : {})) {
      result.requests.list++;
      for (const entry of page) {
        if (shard.upTo !== undefined && compareBytes(entry.path, shard.upTo) > 0) break listing;
        if (startAfter !== undefined && compareBytes(entry.path, startAfter) <= 0) continue;
        const decided = fateAtListing(entry, rules);
        if (decided.fate === 'not-an-object') {
          result.skipped++;
          continue;
        }
        if (decided.fate === 'outside-scope') {
          result.outsideScope++;
          continue;
        }
        const table = tallyOf(decided.schema, decided.table);
        const size = entry.size;
        totals.stored++;
        table.stored++;
        totals.storedBytes += size;
        table.storedBytes += size;
        if (decided.fate === 'referenced') {
          totals.referenced++;
          table.referenced++;
        } else if (decided.fate === 'protected') {
          totals.protected++;
          table.protected++;
        } else {
          totals.orphaned++;
          table.orphaned++;
          totals.orphanedBytes += size;
          table.orphanedBytes += size;
          const orphan: Orphan = { path: entry.path, size, lastModified: entry.lastModified.toISOString(), schema: decided.schema, table: decided.table };
          found.push(JSON.stringify(orphan));
        }
      }
      ctx.observe({ type: 'listed', shard: shard.id, objects: page.length });
      const last = page[page.length - 1];
      if (!last) continue;
      const stop = ctx.keepListing !== undefined && !ctx.keepListing();
      if (stop || ++pages >= CHECKPOINT_PAGES) {
        await ctx.folder.writeListingPart(ctx.runId, shard.id, parts, found);
        parts++;
        found = [];
        pages = 0;
        await ctx.folder.writeListingCheckpoint(ctx.runId, shard.id, { cursor: last.path, parts, result });
        if (stop) return null;
      }
    }
    const digest = createHash('sha256');
    await ctx.folder.writeOrphans(ctx.runId, shard.id, digested(withParts(ctx, parts, found), digest));
    result.orphanDigest = digest.digest('hex');
    result.listingComplete = true;
  } catch (error) {
    const message = `listing ${ctx.store.description} under '${shard.listPrefix}' failed: ${describeError(error)}; nothing is deleted in shard ${shard.id}`;
    result.errors.push(message);
    ctx.observe({ type: 'error', scope: shard.id, message });
  }
  return result;
}

/** The orphans of the checkpointed parts, in listing order, then those found since. */
async function* withParts(ctx: SweepContext, parts: number, found: string[]): AsyncIterable<string> {
  for (let n = 0; n < parts; n++) yield* ctx.folder.readListingPart(ctx.runId, ctx.shard.id, n);
  yield* found;
}

/**
 * An approved dry run's orphan list stands in for the listing, read as untrusted input: the list
 * must have the digest its run recorded, and each entry must be a key of this shard that is an
 * object of its section, of a schema in scope, and still older than the grace period by the
 * store's own metadata now (the listed size and time are not believed).
 */
export async function readApprovedList(ctx: SweepContext, approvedRunId: string, expectedDigest: string | undefined): Promise<ShardResult> {
  const { shard } = ctx;
  const result = newResult(shard);
  const count = counter(result);
  const rules = { section: shard.section, layout: ctx.layout, schemas: shard.schemas, references: new Set<string>(), graceCutoffMs: ctx.now() - hoursToMs(ctx.graceHours) };
  const digest = createHash('sha256');
  let refused = 0;
  let firstRefusal = '';
  async function* eligible(): AsyncIterable<string> {
    for await (const line of ctx.folder.readOrphans(approvedRunId, shard.id)) {
      digest.update(`${line}\n`);
      const listed = parseOrphan(line);
      const inRange =
        listed !== null &&
        listed.path.startsWith(shard.listPrefix) &&
        (shard.after === undefined || compareBytes(listed.path, shard.after) > 0) &&
        (shard.upTo === undefined || compareBytes(listed.path, shard.upTo) <= 0);
      const now = inRange ? await ctx.store.stat(listed.path) : null;
      const decided = now ? fateAtListing(now, rules) : null;
      if (!listed || !inRange || (decided && (decided.fate === 'not-an-object' || decided.fate === 'outside-scope'))) {
        refused++;
        firstRefusal ||= listed ? listed.path : line.slice(0, 80);
        continue;
      }
      // Gone since the review: nothing to remove.
      if (!now || !decided || decided.fate === 'referenced') continue;
      const { schema, table } = decided;
      count(schema, table, (t) => {
        t.stored++;
        t.storedBytes += now.size;
      });
      if (decided.fate === 'protected' || now.size !== listed.size) {
        count(schema, table, (t) => t.protected++);
        continue;
      }
      count(schema, table, (t) => {
        t.orphaned++;
        t.orphanedBytes += now.size;
      });
      const orphan: Orphan = { path: now.path, size: now.size, lastModified: now.lastModified.toISOString(), schema, table };
      yield JSON.stringify(orphan);
    }
  }
  try {
    await ctx.folder.writeOrphans(ctx.runId, shard.id, eligible());
  } catch (error) {
    if (!(error instanceof MissingRunFileError)) throw error;
    result.errors.push(`the approved run has no orphan list for shard ${shard.id} (its listing failed); nothing is deleted in this shard`);
    return result;
  }
  const problems: string[] = [];
  if (expectedDigest === undefined || digest.digest('hex') !== expectedDigest) {
    problems.push(`the orphan list of shard ${shard.id} is not the one run ${approvedRunId} wrote (its digest differs)`);
  }
  if (refused > 0) problems.push(`${refused} entries of the orphan list of shard ${shard.id} are not objects of its section and scope (first: ${firstRefusal})`);
  if (problems.length > 0) {
    result.errors.push(`${problems.join('; ')}: the approval is refused for this shard and nothing is deleted in it`);
    return result;
  }
  result.listingComplete = true;
  return result;
}

function inRange(path: string, shard: Pick<ShardPlan, 'after' | 'upTo'>): boolean {
  return (shard.after === undefined || compareBytes(path, shard.after) > 0) && (shard.upTo === undefined || compareBytes(path, shard.upTo) <= 0);
}

function parseOrphan(line: string): Orphan | null {
  try {
    const value = JSON.parse(line) as Partial<Orphan>;
    return typeof value.path === 'string' && typeof value.size === 'number' ? (value as Orphan) : null;
  } catch {
    return null;
  }
}

async function* digested(lines: AsyncIterable<string> | Iterable<string>, digest: Hash): AsyncIterable<string> {
  for await (const line of lines) {
    digest.update(`${line}\n`);
    yield line;
  }
}
