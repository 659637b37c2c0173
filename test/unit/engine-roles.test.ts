/**
 * The engine's roles (scanner, worker, reporter, local runner) end to end, without services: an
 * embedded PostgreSQL holding a DataJoint schema, a file store and a run folder in temporary
 * directories. The queue and the notifier record what they are given; time moves only when a
 * test moves the clock.
 */
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runLocally } from '../../functions/engine/run/local.js';
import { startRun, type ScanOutcome } from '../../functions/engine/run/scanner.js';
import { recordShardFailure, workOnShard } from '../../functions/engine/run/worker.js';
import { finalizeOverdue, reportRun } from '../../functions/engine/run/reporter.js';
import { ConfigurationError } from '../../functions/engine/model/errors.js';
import type { RunPlan } from '../../functions/engine/model/plan.js';
import type { Report } from '../../functions/engine/phases/report.js';
import { EngineHarness, RecordingNotifier, SCHEMA, type Seeded } from '../support/engine-harness.js';

let h: EngineHarness;
let seeded: Seeded;

beforeAll(async () => {
  h = await EngineHarness.create();
}, 120_000);
afterAll(async () => h?.close());
beforeEach(async () => {
  seeded = await h.reset();
});

const without = (all: string[], gone: string[]): string[] => all.filter((p) => !gone.includes(p)).sort();

function started(outcome: ScanOutcome): RunPlan {
  if (outcome.status !== 'started') throw new Error(`expected the run to start, got: ${outcome.reason}`);
  return outcome.plan;
}

/** A pid that no process has any more: a child that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  if (child.pid === undefined) throw new Error('could not start a child process');
  return child.pid;
}

describe('local runner: scanner, workers and reporter in one process', () => {
  it('Given a store with five orphans, When a dry run and then a collect run, Then the dry run lists exactly them and deletes nothing, the collect deletes exactly them, and each run notifies once', async () => {
    const notifier = new RecordingNotifier();
    const before = await h.storeKeys();
    expect(before).toEqual(h.allSeeded());

    const dry = await runLocally(h.local(notifier), { options: h.options({ mode: 'dry-run' }) });
    expect(dry.dry_run).toBe(true);
    expect(dry.complete).toBe(true);
    expect(dry.scan_errors).toEqual([]);
    expect(dry.orphaned).toBe(seeded.orphans.length);
    expect(dry.protected).toBe(seeded.young.length);
    expect(dry.deleted).toBe(0);
    expect(await h.orphansListed(dry)).toEqual(seeded.orphans);
    expect(await h.storeKeys()).toEqual(before);

    const collect = await runLocally(h.local(notifier), { options: h.options({ mode: 'collect' }) });
    expect(collect.dry_run).toBe(false);
    expect(collect.scan_errors).toEqual([]);
    expect(collect.orphaned).toBe(seeded.orphans.length);
    expect(collect.deleted).toBe(seeded.orphans.length);
    expect(collect.saved_by_recheck).toBe(0);
    expect(await h.storeKeys()).toEqual(without(before, seeded.orphans));

    expect(notifier.published.map((r) => r.run_id)).toEqual([dry.run_id, collect.run_id]);
  });

  it('Given two collects started at once on the same store and run folder, When both run, Then exactly one runs, the other is refused naming it, and nothing is deleted or counted twice', async () => {
    const notifier = new RecordingNotifier();
    const before = await h.storeKeys();
    const collect = () => runLocally(h.local(notifier), { options: h.options({ mode: 'collect' }) });

    // "At once" whatever the machine's speed: a run that gets as far as notifying (its lock still
    // held) waits there until the other collect has either been refused or got as far too.
    let reachedOrSettled = 0;
    let bothThere: () => void = () => undefined;
    const together = new Promise<void>((resolve) => (bothThere = resolve));
    const arrive = () => {
      if (++reachedOrSettled >= 2) bothThere();
    };
    const gated = {
      publish: async (report: Report) => {
        arrive();
        await together;
        await notifier.publish(report);
      },
    };
    const racer = () => runLocally(h.local(gated), { options: h.options({ mode: 'collect' }) }).catch((error: unknown) => {
      arrive();
      throw error;
    });

    const outcomes = await Promise.allSettled([racer(), racer()]);
    const reports = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    const refusals = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
    expect(reports).toHaveLength(1);
    expect(refusals).toHaveLength(1);
    const winner = reports[0]!;
    expect(refusals[0]).toBeInstanceOf(ConfigurationError);
    expect((refusals[0] as Error).message).toContain(`run ${winner.run_id} on an overlapping scope is still active`);

    // Once the winner has finished, the scope is free again: a third collect finds nothing left.
    const after = await collect();
    expect(after.orphaned).toBe(0);
    expect(after.deleted).toBe(0);

    expect(await h.storeKeys()).toEqual(without(before, seeded.orphans));
    expect([winner, after].reduce((n, r) => n + r.deleted, 0)).toBe(seeded.orphans.length);
    expect(notifier.published.map((r) => r.run_id)).toEqual([winner.run_id, after.run_id]);
  });

  it('Given a lock left by a local process that no longer exists, When a collect starts on the same scope, Then it is not blocked; while a lock of a live process is', async () => {
    const startedAt = h.clock.now().toISOString();
    await h.folder.writeLock({ runId: 'left-by-a-killed-process', schemas: [], startedAt, holder: { host: hostname(), pid: deadPid() } });

    const report = await runLocally(h.local(), { options: h.options({ mode: 'collect' }) });
    expect(report.deleted).toBe(seeded.orphans.length);

    await h.folder.writeLock({ runId: 'held-by-a-live-process', schemas: [SCHEMA], startedAt, holder: { host: hostname(), pid: process.pid } });
    await expect(runLocally(h.local(), { options: h.options({ mode: 'dry-run' }) })).rejects.toThrow(
      /run held-by-a-live-process on an overlapping scope is still active/,
    );
  });
});

describe('roles driven one by one, as the Lambda functions drive them', () => {
  it('Given a started collect, When its shards are worked one by one, Then the reporter waits for all of them, a shard delivered twice counts once, and a second report call notifies no one again', async () => {
    const deps = h.deps();
    const before = await h.storeKeys();
    const plan = started(await startRun(deps, { options: h.options({ mode: 'collect' }) }));
    const shards = deps.queue.shardsOf(plan.runId);
    expect(shards).toEqual(plan.shards.map((s) => s.id));
    expect(shards.length).toBeGreaterThanOrEqual(2);

    expect(await reportRun(deps, plan.runId)).toBeNull();
    const [first, ...rest] = shards;
    await workOnShard(deps, plan.runId, first!);
    const again = await workOnShard(deps, plan.runId, first!);
    expect(again?.shardId).toBe(first);
    expect(await reportRun(deps, plan.runId)).toBeNull();

    for (const shardId of rest) await workOnShard(deps, plan.runId, shardId);
    expect(deps.queue.doneOf(plan.runId).sort()).toEqual([first!, ...shards].sort());

    const report = await reportRun(deps, plan.runId);
    expect(report).not.toBeNull();
    expect(report!.complete).toBe(true);
    expect(report!.scan_errors).toEqual([]);
    expect(report!.deleted).toBe(seeded.orphans.length);
    expect(report!.orphaned).toBe(seeded.orphans.length);
    expect(await h.storeKeys()).toEqual(without(before, seeded.orphans));

    const second = await reportRun(deps, plan.runId);
    expect(second?.run_id).toBe(plan.runId);
    expect(second?.deleted).toBe(seeded.orphans.length);
    expect(deps.notifier.countFor(plan.runId)).toBe(1);
  });

  it('Given a server with no storage columns, When a run starts, Then it is reported at once without queueing a shard, and notified once', async () => {
    await h.db.exec(`DROP SCHEMA ${SCHEMA} CASCADE`);
    const deps = h.deps();
    const plan = started(await startRun(deps, { options: h.options({ mode: 'dry-run', schemas: [] }) }));
    expect(plan.shards).toEqual([]);
    expect(deps.queue.shards).toEqual([]);
    const report = await h.folder.readReport(plan.runId);
    expect(report?.complete).toBe(true);
    expect(report?.stored).toBe(0);
    expect(deps.notifier.countFor(plan.runId)).toBe(1);
    // Its scope is free at once.
    started(await startRun(h.deps(), { options: h.options({ mode: 'dry-run', schemas: [] }) }));
  });
});

describe('approval: a reviewed dry run removed once, without listing the store', () => {
  it('Given a reviewed dry run, When it is approved, Then exactly its listed orphans are deleted without listing the store, and an orphan that appeared since survives', async () => {
    const dry = await runLocally(h.local(), { options: h.options({ mode: 'dry-run' }) });
    expect(dry.requests.list).toBeGreaterThan(0);
    const appearedSince = await h.addOrphan('uploaded and dropped after the review');
    const before = await h.storeKeys();

    const notifier = new RecordingNotifier();
    const approval = await runLocally(h.local(notifier), { approveRun: dry.run_id });
    expect(approval.approved_run).toBe(dry.run_id);
    expect(approval.dry_run).toBe(false);
    expect(approval.scan_errors).toEqual([]);
    expect(approval.requests.list).toBe(0);
    expect(approval.deleted).toBe(seeded.orphans.length);
    expect(await h.storeKeys()).toEqual(without(before, seeded.orphans));
    expect(await h.storeKeys()).toContain(appearedSince);
    expect(notifier.countFor(approval.run_id)).toBe(1);

    await expect(runLocally(h.local(), { approveRun: dry.run_id })).rejects.toThrow(
      `run '${dry.run_id}' was already approved by run ${approval.run_id}`,
    );
    await expect(runLocally(h.local(), { approveRun: approval.run_id })).rejects.toThrow(/is itself an approval run/);
  });

  it('Given a collect run and a run id that does not exist, When either is approved, Then the approval is refused saying why, and nothing is deleted', async () => {
    const collect = await runLocally(h.local(), { options: h.options({ mode: 'collect' }) });
    const before = await h.storeKeys();
    await expect(runLocally(h.local(), { approveRun: collect.run_id })).rejects.toThrow(
      `run '${collect.run_id}' was not a dry run: only a dry run's findings can be approved`,
    );
    await expect(runLocally(h.local(), { approveRun: 'no-such-run' })).rejects.toThrow(/run 'no-such-run' has no plan in .*check the run id/);
    expect(await h.storeKeys()).toEqual(before);
  });
});

describe('partial and overdue runs', () => {
  it('Given a shard that failed for good, When the other shards finish, Then the report is partial and names the failed shard and its reason', async () => {
    const deps = h.deps();
    const plan = started(await startRun(deps, { options: h.options({ mode: 'dry-run' }) }));
    const [failed, ...rest] = deps.queue.shardsOf(plan.runId);
    await recordShardFailure(deps, plan.runId, failed!, 'failed on every one of 3 deliveries: boom');
    for (const shardId of rest) await workOnShard(deps, plan.runId, shardId);

    const report = await reportRun(deps, plan.runId);
    expect(report?.complete).toBe(false);
    expect(report?.failed_shards).toEqual([failed]);
    expect(report?.scan_errors).toContain(`shard ${failed} did not finish: failed on every one of 3 deliveries: boom`);
    expect(deps.notifier.countFor(plan.runId)).toBe(1);
  });

  it('Given a collect whose shards never finish, When the clock passes the run timeout, Then finalizeOverdue reports it partial, frees its scope, and a late shard does nothing', async () => {
    const deps = h.deps();
    const before = await h.storeKeys();
    const plan = started(await startRun(deps, { options: h.options({ mode: 'collect' }) }));
    const shards = deps.queue.shardsOf(plan.runId);

    h.clock.advanceMinutes(h.lifecycle.runTimeoutMinutes - 1);
    expect(await finalizeOverdue(deps)).toEqual([]);
    const refused = await startRun(h.deps(), { options: h.options({ mode: 'dry-run' }) });
    expect(refused).toEqual({ status: 'refused', reason: expect.stringContaining(`run ${plan.runId} on an overlapping scope is still active`) });

    h.clock.advanceMinutes(2);
    const reports = await finalizeOverdue(deps);
    expect(reports.map((r) => r.run_id)).toEqual([plan.runId]);
    const report = reports[0]!;
    expect(report.complete).toBe(false);
    expect(report.failed_shards.sort()).toEqual([...shards].sort());
    expect(report.scan_errors).toContain(`shard ${shards[0]} did not finish: the run did not finish within ${h.lifecycle.runTimeoutMinutes} minutes`);
    expect(report.deleted).toBe(0);
    expect(deps.notifier.countFor(plan.runId)).toBe(1);
    expect(await finalizeOverdue(deps)).toEqual([]);

    // The scope is free for the next run.
    started(await startRun(h.deps(), { options: h.options({ mode: 'dry-run' }) }));

    // The late delivery of a shard of the reported run removes nothing and tells no one.
    const doneBefore = deps.queue.done.length;
    expect(await workOnShard(deps, plan.runId, shards[0]!)).toBeNull();
    expect(deps.queue.done.length).toBe(doneBefore);
    expect(await h.storeKeys()).toEqual(before);
    expect(deps.notifier.countFor(plan.runId)).toBe(1);
  });
});

describe('the grace floor', () => {
  it('Given a floor of 24 h, When a collect asks for 1 h, Then it is refused naming the floor, takes no lock and deletes nothing; a dry run with 1 h runs', async () => {
    const before = await h.storeKeys();
    const attempt = startRun(h.deps(), { options: h.options({ mode: 'collect', graceHours: 1 }) });
    await expect(attempt).rejects.toBeInstanceOf(ConfigurationError);
    await expect(startRun(h.deps(), { options: h.options({ mode: 'collect', graceHours: 1 }) })).rejects.toThrow(
      'a grace period of 1 h is below the floor of 24 h',
    );
    await expect(runLocally(h.local(), { options: h.options({ mode: 'collect', graceHours: 1 }) })).rejects.toThrow(/below the floor of 24 h/);
    expect(await h.folder.readLocks()).toEqual([]);
    expect(await h.storeKeys()).toEqual(before);

    const dry = await runLocally(h.local(), { options: h.options({ mode: 'dry-run', graceHours: 1 }) });
    expect(dry.scope.grace_hours).toBe(1);
    expect(dry.scan_errors).toEqual([]);
    // Ten minutes old is still younger than one hour.
    expect(dry.protected).toBe(seeded.young.length);
    expect(dry.orphaned).toBe(seeded.orphans.length);
    expect(await h.storeKeys()).toEqual(before);
  });

  it('Given an approval that lowers the grace period below the floor, When it starts, Then it is refused and the dry run can still be approved', async () => {
    const dry = await runLocally(h.local(), { options: h.options({ mode: 'dry-run' }) });
    await expect(runLocally(h.local(), { approveRun: dry.run_id, graceHours: 2 })).rejects.toThrow(/below the floor of 24 h/);
    const approval = await runLocally(h.local(), { approveRun: dry.run_id });
    expect(approval.deleted).toBe(seeded.orphans.length);
  });
});
