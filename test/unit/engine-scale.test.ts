/**
 * The run at scale, on in-tree parts: the reporter's reads are bounded per shard, a worker stopped
 * at its time budget hands the rest of its shard on, and nothing is removed for a run once it is
 * finalized.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startRun, type ScanOutcome } from '../../functions/engine/run/scanner.js';
import { workOnShard } from '../../functions/engine/run/worker.js';
import { finalizeOverdue, reportRun, settleShard } from '../../functions/engine/run/reporter.js';
import { openStore } from '../../functions/stores/index.js';
import type { ObjectStore, StoreSpec } from '../../functions/engine/types.js';
import type { RunEvent } from '../../functions/engine/model/events.js';
import { RunFolder, type FolderStorage } from '../../functions/engine/run/run-folder.js';
import type { RunPlan } from '../../functions/engine/model/plan.js';
import { EngineHarness, type Seeded } from '../support/engine-harness.js';

let h: EngineHarness;
let seeded: Seeded;

beforeAll(async () => {
  h = await EngineHarness.create();
}, 120_000);
afterAll(async () => h?.close());
beforeEach(async () => {
  seeded = await h.reset();
});

function started(outcome: ScanOutcome): RunPlan {
  if (outcome.status !== 'started') throw new Error(`expected the run to start, got: ${outcome.reason}`);
  return outcome.plan;
}

/** The run folder's storage with every read counted by path. */
class CountingStorage implements FolderStorage {
  readonly reads = new Map<string, number>();
  lists = 0;
  constructor(private readonly inner: FolderStorage) {}
  get description(): string {
    return this.inner.description;
  }
  writeText(path: string, body: string, options?: { ifAbsent?: boolean }): Promise<boolean> {
    return this.inner.writeText(path, body, options);
  }
  readText(path: string): Promise<string | null> {
    this.reads.set(path, (this.reads.get(path) ?? 0) + 1);
    return this.inner.readText(path);
  }
  writeLines(path: string, lines: AsyncIterable<string> | Iterable<string>): Promise<void> {
    return this.inner.writeLines(path, lines);
  }
  readLines(path: string): AsyncIterable<string> {
    return this.inner.readLines(path);
  }
  list(prefix: string): Promise<string[]> {
    this.lists++;
    return this.inner.list(prefix);
  }
  remove(path: string): Promise<void> {
    return this.inner.remove(path);
  }
  readsOf(part: string): number[] {
    return [...this.reads].filter(([path]) => path.includes(part)).map(([, n]) => n);
  }
}

describe('the reporter reads each shard result a bounded number of times', () => {
  it('Given a collect cut into many shards, When every "shard done" notice reaches the reporter (each twice), Then each shard result is read at most once by it, the run is reported once with the exact result', async () => {
    const deps = h.deps();
    const plan = started(await startRun(deps, { options: h.options({ mode: 'collect', maxRefsPerShard: 1 }) }));
    expect(plan.shards.length).toBeGreaterThanOrEqual(4);
    for (const { shardId } of deps.queue.shards) await workOnShard(deps, plan.runId, shardId);

    const counting = new CountingStorage(h.folder.storage);
    const reporter = { ...deps, folder: new RunFolder(counting) };
    const notices = deps.queue.doneOf(plan.runId);
    expect(notices.length).toBe(plan.shards.length);
    const answers = [];
    for (const shardId of [...notices, ...notices]) answers.push(await settleShard(reporter, plan.runId, shardId));

    // Only the last notice of the first round completes the run; every later one finds the report.
    expect(answers.slice(0, notices.length - 1).every((a) => a === null)).toBe(true);
    const report = answers[notices.length - 1]!;
    expect(report.complete).toBe(true);
    expect(report.deleted).toBe(seeded.orphans.length);
    expect(report.orphaned).toBe(seeded.orphans.length);
    expect(deps.notifier.countFor(plan.runId)).toBe(1);

    const resultReads = counting.readsOf('/shards/');
    expect(resultReads.length).toBe(plan.shards.length);
    expect(Math.max(...resultReads)).toBe(1);
    // The plan is read once, to build the report; the notices before it read only the progress count.
    expect(counting.readsOf('/plan.json')).toEqual([1]);
    // Redelivered notices of the first round recount the markers; nothing else lists the folder per notice.
    expect(counting.lists).toBeLessThanOrEqual(notices.length + 2);
  });
});

/** The store with every listing page cut to one object, so that a small fixture has many pages. */
function onePerPage(spec: StoreSpec): ObjectStore {
  const store = openStore(spec);
  return Object.assign(Object.create(store) as ObjectStore, {
    async *list(prefix: string, options?: { startAfter?: string }) {
      for await (const page of store.list(prefix, options)) for (const entry of page) yield [entry];
    },
  });
}

describe('a count lost by two reporters racing', () => {
  it('Given every shard settled but a progress count one short (two reporters wrote it at once), When the schedule calls finalize-overdue before the timeout, Then the run is reported complete, not left to time out', async () => {
    const deps = h.deps();
    const plan = started(await startRun(deps, { options: h.options({ mode: 'dry-run' }) }));
    for (const { shardId } of deps.queue.shards) await workOnShard(deps, plan.runId, shardId);
    for (const shardId of deps.queue.doneOf(plan.runId)) await h.folder.claimSettled(plan.runId, shardId, h.clock.now());
    await h.folder.writeProgress(plan.runId, { shards: plan.shards.length, settled: plan.shards.length - 1 });
    expect(await h.folder.readReport(plan.runId)).toBeNull();

    const [report] = await finalizeOverdue(deps);
    expect(report?.run_id).toBe(plan.runId);
    expect(report?.complete).toBe(true);
    expect(report?.orphaned).toBe(seeded.orphans.length);
    expect(deps.notifier.countFor(plan.runId)).toBe(1);
  });
});

describe('a worker stopped at its time budget', () => {
  it('Given a worker whose invocation has time for two listing pages, When its shards are re-queued until done, Then the listing resumes from its checkpoint and the totals and removals are those of an uninterrupted run', async () => {
    const deps = h.deps();
    const dry = started(await startRun(deps, { options: h.options({ mode: 'dry-run' }) }));
    for (const { shardId } of deps.queue.shards) await workOnShard(deps, dry.runId, shardId);
    const baseline = (await reportRun(deps, dry.runId))!;
    expect(baseline.orphaned).toBe(seeded.orphans.length);

    let pagesLeft = 0;
    const budgeted = h.deps({
      openStore: onePerPage,
      remainingMs: () => (pagesLeft > 0 ? 15 * 60_000 : 1_000),
      observe: (e: RunEvent) => {
        if (e.type === 'listed') pagesLeft--;
      },
    });
    const before = await h.storeKeys();
    const plan = started(await startRun(budgeted, { options: h.options({ mode: 'collect' }) }));
    const messages = budgeted.queue.shardsOf(plan.runId);
    let invocations = 0;
    while (messages.length > 0) {
      const shardId = messages.shift()!;
      pagesLeft = 2;
      invocations++;
      const resent = budgeted.queue.resent.length;
      await workOnShard(budgeted, plan.runId, shardId);
      messages.push(...budgeted.queue.resent.slice(resent).map((m) => m.shardId));
      expect(invocations).toBeLessThan(200);
    }
    expect(budgeted.queue.resent.length).toBeGreaterThan(plan.shards.length);
    let report = null;
    for (const shardId of budgeted.queue.doneOf(plan.runId)) report = await settleShard(budgeted, plan.runId, shardId);

    expect(report?.complete).toBe(true);
    expect(report?.scan_errors).toEqual([]);
    for (const key of ['stored', 'referenced', 'orphaned', 'orphaned_bytes', 'protected', 'hash_stored', 'schema_paths_stored'] as const) {
      expect(report?.[key], key).toEqual(baseline[key]);
    }
    expect(await h.orphansListed({ ...report!, shards: report!.shards.filter((s) => !s.id.endsWith('~purge')) })).toEqual(seeded.orphans);
    expect(report?.deleted).toBe(seeded.orphans.length);
    expect(await h.storeKeys()).toEqual(before.filter((k) => !seeded.orphans.includes(k)));
  });
});

describe('nothing is removed for a run that is finalized, or about to be', () => {
  it('Given a shard stopped at its budget after listing, When the run is finalized as partial before its message comes back, Then the late delivery removes nothing and the report stands', async () => {
    let budget = 15 * 60_000;
    const deps = h.deps({ remainingMs: () => budget, observe: (e: RunEvent) => void (e.type === 'shard-listed' && (budget = 1_000)) });
    const before = await h.storeKeys();
    const plan = started(await startRun(deps, { options: h.options({ mode: 'collect' }) }));
    for (const shardId of deps.queue.shardsOf(plan.runId)) {
      budget = 15 * 60_000;
      await workOnShard(deps, plan.runId, shardId);
    }
    expect(deps.queue.resent.length).toBeGreaterThan(0);
    h.clock.advanceMinutes(h.lifecycle.runTimeoutMinutes + 1);
    const [partial] = await finalizeOverdue(deps);
    expect(partial?.run_id).toBe(plan.runId);
    expect(partial?.complete).toBe(false);

    budget = 15 * 60_000;
    for (const { shardId } of deps.queue.resent) expect(await workOnShard(deps, plan.runId, shardId)).toBeNull();
    expect(await h.storeKeys()).toEqual(before);
    expect((await h.folder.readReport(plan.runId))?.deleted).toBe(0);
  });

  it('Given a worker whose listing ends a minute before the run times out, When it would start removing, Then no batch starts (it could outlast the lock), nothing is removed, and the report says why', async () => {
    const deps = h.deps({
      observe: (e: RunEvent) => {
        if (e.type === 'shard-listed') h.clock.advanceMinutes(h.lifecycle.runTimeoutMinutes - 1);
      },
    });
    const before = await h.storeKeys();
    const plan = started(await startRun(deps, { options: h.options({ mode: 'collect' }) }));
    for (const shardId of deps.queue.shardsOf(plan.runId).filter((id) => !id.endsWith('~purge'))) await workOnShard(deps, plan.runId, shardId);
    expect(await h.storeKeys()).toEqual(before);
    h.clock.advanceMinutes(2);
    const [report] = await finalizeOverdue(deps);
    expect(report?.deleted).toBe(0);
    expect(report?.scan_errors.join(' ')).toMatch(/too close to its timeout/);
  });
});

describe('the scanner refuses early, with the numbers, a run it cannot hold', () => {
  it('Given a scanner that may hold one spill file open, When a run needs two (hash and schema section), Then it is refused before marking, naming both numbers, and its scope is free', async () => {
    const deps = h.deps({ scannerLimits: { openFiles: 1 } });
    await expect(startRun(deps, { options: h.options({ mode: 'collect' }) })).rejects.toThrow(/hold 2 spill files open .* more than the 1 the scanner may/);
    expect(deps.queue.shards).toEqual([]);
    started(await startRun(h.deps(), { options: h.options({ mode: 'dry-run' }) }));
  });

  it('Given a previous run that read more references than the spill space holds, When the next run starts, Then it is refused before reading a column, naming the count, the estimate and the size to give', async () => {
    const first = h.deps();
    const plan = started(await startRun(first, { options: h.options({ mode: 'dry-run' }) }));
    for (const { shardId } of first.queue.shards) await workOnShard(first, plan.runId, shardId);
    const previous = (await reportRun(first, plan.runId))!;
    expect(previous.references_read).toBeGreaterThan(1);

    const deps = h.deps({ scannerLimits: { spillBytes: 100 * (previous.references_read - 1) } });
    await expect(startRun(deps, { options: h.options({ mode: 'dry-run' }) })).rejects.toThrow(
      new RegExp(`read ${previous.references_read} references; .* more than the 0 MiB .* at least \\d+ MiB of ephemeral storage`),
    );
    expect(deps.queue.shards).toEqual([]);
  });

  it('Given a spill space smaller than the references, When the mark outgrows it, Then the run stops at once, naming how far it got, removes nothing and frees its scope', async () => {
    const before = await h.storeKeys();
    const deps = h.deps({ scannerLimits: { spillBytes: 200 } });
    await expect(startRun(deps, { options: h.options({ mode: 'collect' }) })).rejects.toThrow(/the mark outgrew the scanner's local disk: \d+ references took .* of the 0\.0 MiB/);
    expect(deps.queue.shards).toEqual([]);
    expect(await h.storeKeys()).toEqual(before);
    started(await startRun(h.deps(), { options: h.options({ mode: 'dry-run' }) }));
  });
});
