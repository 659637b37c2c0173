import type { S3RunFolder } from './s3-run-folder.js';

/** `locks/<runId>.json`: which scope a run covers and whether it has finished. */
export interface RunLock {
  runId: string;
  /** Empty: every schema. */
  schemas: string[];
  /** Absent: every store. */
  store?: string;
  startedAt: string;
  finishedAt?: string;
}

const lockPath = (runId: string): string => `locks/${runId}.json`;

function overlaps(a: Pick<RunLock, 'schemas' | 'store'>, b: Pick<RunLock, 'schemas' | 'store'>): boolean {
  const stores = a.store === undefined || b.store === undefined || a.store === b.store;
  const schemas = a.schemas.length === 0 || b.schemas.length === 0 || a.schemas.some((s) => b.schemas.includes(s));
  return stores && schemas;
}

export async function readLocks(folder: S3RunFolder): Promise<RunLock[]> {
  const locks: RunLock[] = [];
  for (const key of await folder.list('locks/')) {
    const text = await folder.readText(key);
    if (text) locks.push(JSON.parse(text) as RunLock);
  }
  return locks;
}

export function isActive(lock: RunLock, now: Date, timeoutMinutes: number): boolean {
  return !lock.finishedAt && Date.parse(lock.startedAt) + timeoutMinutes * 60_000 > now.getTime();
}

/**
 * Take the scope for a new run, or say why not: a run on an overlapping scope is active, or
 * finished less than the cooldown ago. Two scanners racing both write their lock, then the
 * later run id yields.
 */
export async function acquireRunLock(
  folder: S3RunFolder,
  wanted: RunLock,
  now: Date,
  limits: { timeoutMinutes: number; cooldownMinutes: number },
): Promise<string | null> {
  const blocker = (locks: RunLock[], racing: boolean): string | null => {
    for (const lock of locks) {
      if (lock.runId === wanted.runId || !overlaps(lock, wanted)) continue;
      if (isActive(lock, now, limits.timeoutMinutes)) {
        // Once both locks are written, the earlier run id wins.
        if (racing && lock.runId > wanted.runId) continue;
        return `run ${lock.runId} on an overlapping scope is still active (started ${lock.startedAt})`;
      }
      if (limits.cooldownMinutes > 0 && lock.finishedAt && Date.parse(lock.finishedAt) + limits.cooldownMinutes * 60_000 > now.getTime()) {
        return `run ${lock.runId} on an overlapping scope finished at ${lock.finishedAt}, less than the ${limits.cooldownMinutes}-minute cooldown ago`;
      }
    }
    return null;
  };
  const before = blocker(await readLocks(folder), false);
  if (before) return before;
  await folder.writeText(lockPath(wanted.runId), JSON.stringify(wanted));
  const after = blocker(await readLocks(folder), true);
  if (after) {
    await releaseRunLock(folder, wanted.runId, now);
    return after;
  }
  return null;
}

export async function releaseRunLock(folder: S3RunFolder, runId: string, now: Date): Promise<void> {
  const text = await folder.readText(lockPath(runId));
  if (!text) return;
  const lock = JSON.parse(text) as RunLock;
  if (lock.finishedAt) return;
  await folder.writeText(lockPath(runId), JSON.stringify({ ...lock, finishedAt: now.toISOString() }));
}
