/**
 * The run at scale, on in-tree parts: the reporter's reads are bounded per shard, a worker stopped
 * at its time budget hands the rest of its shard on, and nothing is removed for a run once it is
 * finalized.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startRun, type ScanOutcome } from '../../functions/engine/run/scanner.js';
import { workOnShard } from '../../functions/engine/run/worker.js';
import { settleShard } from '../../functions/engine/run/reporter.js';
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
