import type { ObjectEntry, ObjectStore } from '../types.js';
import type { ShardPlan } from '../model/plan.js';
import { hoursToMs } from '../model/options.js';
import type { QuarantineRecord, ShardResult } from '../model/results.js';
import { describeError } from '../model/errors.js';
import type { RunObserver } from '../model/events.js';
import type { RunFolder } from '../run/run-folder.js';
import { counter } from './sweep.js';
import { isCovered, parseQuarantinePath, QUARANTINE_PREFIX, sectionOf, type Layout } from './sections.js';
import { REMOVAL_BATCH } from './removal.js';
import { deferral, lastRecheck, type TransactionWatch } from './last-look.js';
import type { Recheck } from './recheck.js';

export interface PurgeContext {
  runId: string;
  folder: RunFolder;
  store: ObjectStore;
  layout: Layout;
  shard: ShardPlan;
  retentionHours: number;
  recheck: Recheck;
  transactions: TransactionWatch;
  transactionWaitSeconds: number;
  observe: RunObserver;
  now: () => Date;
}

type Move = QuarantineRecord['moves'][number];

interface Quarantined {
  key: ObjectEntry;
  move: Move;
  record: QuarantineRecord;
}

/**
 * Purge what earlier runs quarantined on this root, or put it back. A quarantined object is
 * deleted for good only when its retention has passed, every write transaction open at its
 * quarantine has ended, and a re-check (columns rediscovered) finds no reference to its original
 * path; one referenced again is restored to its path. Anything djgc cannot vouch for (no record
 * of its quarantine in this run folder) is kept and reported.
 */
export async function purgeQuarantine(ctx: PurgeContext, result: ShardResult): Promise<void> {
  const records = new Map<string, Map<string, { move: Move; record: QuarantineRecord }> | null>();
  const unrecorded = new Set<string>();
  const cutoff = ctx.now().getTime() - hoursToMs(ctx.retentionHours);
  const due: Quarantined[] = [];
  try {
    for await (const page of ctx.store.list(QUARANTINE_PREFIX)) {
      result.requests.list++;
      for (const key of page) {
        const where = parseQuarantinePath(key.path);
        if (!where || where.runId === ctx.runId) continue;
        if (!records.has(where.runId)) records.set(where.runId, await recordsOf(ctx.folder, where.runId));
        const found = records.get(where.runId)?.get(key.path);
        if (!found) {
          unrecorded.add(where.runId);
          result.skipped++;
          continue;
        }
        if (!ctx.shard.schemas.includes(found.move.schema)) {
          result.outsideScope++;
          continue;
        }
        if (Date.parse(found.record.at) > cutoff) {
          counter(result)(found.move.schema, found.move.table, (t) => t.protected++);
          continue;
        }
        due.push({ key, ...found });
      }
    }
  } catch (error) {
    result.errors.push(`listing the quarantine area of ${ctx.store.description} failed: ${describeError(error)}; nothing is purged there`);
    return;
  }
  for (const runId of unrecorded) {
    result.errors.push(`objects quarantined by run ${runId} have no quarantine record in ${ctx.folder.description}: they are kept (restore them with \`djgc restore ${runId}\`, or purge them from the run folder that quarantined them)`);
  }
  for (let i = 0; i < due.length; i += REMOVAL_BATCH) {
    try {
      await purgeBatch(ctx, due.slice(i, i + REMOVAL_BATCH), result);
    } catch (error) {
      result.errors.push(`purging the quarantine of ${ctx.store.description} stopped: ${describeError(error)}; what is left stays quarantined`);
      return;
    }
  }
  await ctx.store.pruneEmptyFolders(due.map((q) => q.key.path), [QUARANTINE_PREFIX.slice(0, -1)]).catch(() => 0);
}

async function recordsOf(folder: RunFolder, runId: string): Promise<Map<string, { move: Move; record: QuarantineRecord }> | null> {
  const byKey = new Map<string, { move: Move; record: QuarantineRecord }>();
  for (const record of await folder.readQuarantineRecords(runId)) for (const move of record.moves) byKey.set(move.to, { move, record });
  return byKey;
}

async function purgeBatch(ctx: PurgeContext, batch: Quarantined[], result: ShardResult): Promise<void> {
  const count = counter(result);
  const settled: Quarantined[] = [];
  const stillOpen = new Map<QuarantineRecord, boolean>();
  for (const q of batch) {
    if (!stillOpen.has(q.record)) {
      const open = q.record.openTransactions;
      stillOpen.set(q.record, open.visible && open.ids.length > 0 && (await ctx.transactions.stillOpen({ visible: true, ids: open.ids })).length > 0);
    }
    if (stillOpen.get(q.record)) count(q.move.schema, q.move.table, (t) => t.deferred++);
    else settled.push(q);
  }
  if (settled.length === 0) return;
  // Deleting for good: the same last look as a removal's.
  const recheck: PurgeContext['recheck'] = (paths, options) => {
    result.requests.recheck++;
    return ctx.recheck(paths, options);
  };
  const look = await lastRecheck(ctx.transactions, recheck, settled.map((q) => q.move.path), ctx.transactionWaitSeconds, ctx.now);
  if (!look.cleared) {
    for (const q of settled) count(q.move.schema, q.move.table, (t) => t.deferred++);
    result.errors.push(deferral(settled.length, 'quarantined objects were kept for the next purge', look, ctx.transactionWaitSeconds));
    return;
  }
  const present = look.present;
  const referenced = settled.filter((q) => isCovered(q.move.path, sectionOf(q.move.path, ctx.layout) ?? 'schema', present));
  const unreferenced = settled.filter((q) => !referenced.includes(q));

  if (referenced.length > 0) {
    const outcome = await ctx.store.moveBatch(referenced.map((q) => ({ from: q.key.path, to: q.move.path })));
    const byKey = new Map(referenced.map((q) => [q.key.path, q]));
    for (const move of outcome.moved) {
      const q = byKey.get(move.from)!;
      count(q.move.schema, q.move.table, (t) => t.restored++);
    }
    const duplicates: Quarantined[] = [];
    for (const failure of outcome.failed) {
      const q = byKey.get(failure.from)!;
      // A hash object's name is its content: the one back at the path holds the same bytes.
      if (failure.code === 'Exists' && sectionOf(q.move.path, ctx.layout) === 'hash') duplicates.push(q);
      else result.errors.push(`could not restore ${q.move.path} from ${q.key.path}: ${failure.code} ${failure.message}; it stays quarantined`);
    }
    if (duplicates.length > 0) {
      const removed = await ctx.store.deleteBatch(duplicates.map((q) => q.key.path));
      for (const path of removed.deleted) {
        const q = byKey.get(path)!;
        count(q.move.schema, q.move.table, (t) => t.restored++);
      }
    }
    ctx.observe({ type: 'saved', shard: ctx.shard.id, paths: outcome.moved.map((m) => m.to) });
  }
  if (unreferenced.length > 0) {
    result.requests.delete++;
    const outcome = await ctx.store.deleteBatch(unreferenced.map((q) => q.key.path));
    const byKey = new Map(unreferenced.map((q) => [q.key.path, q]));
    let bytes = 0;
    for (const path of outcome.deleted) {
      const q = byKey.get(path)!;
      bytes += q.key.size;
      count(q.move.schema, q.move.table, (t) => {
        t.purged++;
        t.deleted++;
        t.bytesFreed += q.key.size;
      });
    }
    for (const failure of outcome.failed) result.errors.push(`could not purge ${failure.path}: ${failure.code} ${failure.message}`);
    ctx.observe({ type: 'deleted', shard: ctx.shard.id, paths: outcome.deleted, bytes, how: 'purged' });
  }
}
