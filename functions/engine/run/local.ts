import { hostname } from 'node:os';
import pLimit from 'p-limit';
import type { Report } from '../phases/report.js';
import { ConfigurationError, describeError } from '../model/errors.js';
import type { EngineDependencies, Notifier, WorkQueue } from './ports.js';
import { startRun, type RunRequest } from './scanner.js';
import { recordShardFailure, workOnShard } from './worker.js';
import { reportRun } from './reporter.js';

export type LocalDependencies = Omit<EngineDependencies, 'queue' | 'notifier' | 'holder' | 'holderAlive'> & { notifier?: Notifier };

/** Shards wait in memory; the reporter is asked once all of them are done. */
class MemoryQueue implements WorkQueue {
  readonly shards: string[] = [];

  async sendShards(_runId: string, shardIds: string[]): Promise<void> {
    this.shards.push(...shardIds);
  }

  async resendShard(_runId: string, shardId: string): Promise<void> {
    this.shards.push(shardId);
  }

  async sendShardDone(): Promise<void> {}
}

const silent: Notifier = { publish: async () => undefined };

/** The process holding a lock is alive when it runs on another host (it cannot be checked) or answers signal 0. */
export function processAlive(holder: { host: string; pid: number }): boolean {
  if (holder.host !== hostname()) return true;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * scanner → workers → reporter in one process (DESIGN.md): the same roles as on AWS, with the
 * shards queued in memory. A second run on an overlapping scope of the same run folder is refused
 * while this one holds the lock.
 */
export async function runLocally(local: LocalDependencies, request: RunRequest): Promise<Report> {
  const queue = new MemoryQueue();
  const deps: EngineDependencies = {
    ...local,
    queue,
    notifier: local.notifier ?? silent,
    holder: { host: hostname(), pid: process.pid },
    holderAlive: processAlive,
  };
  const outcome = await startRun(deps, request);
  if (outcome.status === 'refused') {
    throw new ConfigurationError(`${outcome.reason} in ${deps.folder.description}: wait for it to finish, then run again.`);
  }
  const { plan } = outcome;
  if (queue.shards.length > 0) {
    deps.observe?.({ type: 'phase', phase: 'sweep', detail: `${queue.shards.length} shards` });
    const limit = pLimit(Math.max(1, plan.options.concurrency));
    // Until the queue is empty: a shard that stopped at a time budget (none is set locally) comes back.
    for (let round = queue.shards.splice(0); round.length > 0; round = queue.shards.splice(0)) {
      await Promise.all(
        round.map((shardId) =>
          limit(async () => {
            try {
              await workOnShard(deps, plan.runId, shardId, plan);
            } catch (error) {
              await recordShardFailure(deps, plan.runId, shardId, describeError(error));
            }
          }),
        ),
      );
    }
  }
  deps.observe?.({ type: 'phase', phase: 'report' });
  const report = await reportRun(deps, plan.runId, {}, plan);
  if (!report) throw new Error(`run ${plan.runId} finished with shards still pending`);
  return report;
}
