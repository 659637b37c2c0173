import type { RunLock } from '../model/plan.js';
import type { RunFolder } from './run-folder.js';

function overlaps(a: Pick<RunLock, 'schemas' | 'store'>, b: Pick<RunLock, 'schemas' | 'store'>): boolean {
  const stores = a.store === undefined || b.store === undefined || a.store === b.store;
  const schemas = a.schemas.length === 0 || b.schemas.length === 0 || a.schemas.some((s) => b.schemas.includes(s));
  return stores && schemas;
}

export interface LockLimits {
  timeoutMinutes: number;
  cooldownMinutes: number;
  /** Whether the local process recorded in a lock is still running (locks without a holder are taken to be). */
  holderAlive?: (holder: NonNullable<RunLock['holder']>) => boolean;
}

export function isActive(lock: RunLock, now: Date, limits: LockLimits): boolean {
  if (lock.finishedAt) return false;
  if (lock.holder && limits.holderAlive && !limits.holderAlive(lock.holder)) return false;
  return Date.parse(lock.startedAt) + limits.timeoutMinutes * 60_000 > now.getTime();
}

/** A guard older than this was left by a scanner that died while holding it. */
const STALE_GUARD_MS = 120_000;
const GUARD_ATTEMPTS = 200;

/**
 * Take the scope for a new run, or say why not: a run on an overlapping scope is active, or
 * finished less than the cooldown ago. One scanner at a time checks and writes its lock (a
 * guard written only if absent); should two still race, the later run id yields.
 */
export async function acquireRunLock(folder: RunFolder, wanted: RunLock, now: Date, limits: LockLimits): Promise<string | null> {
  const token = `${wanted.runId}-${Math.random().toString(36).slice(2)}`;
  for (let attempt = 0; ; attempt++) {
    if (await folder.claimLockGuard(token, new Date())) break;
    const guard = await folder.readLockGuard();
    if (guard && Date.now() - Date.parse(guard.at) > STALE_GUARD_MS) await folder.releaseLockGuard();
    if (attempt >= GUARD_ATTEMPTS) return 'another run is being started on this run folder right now; try again in a minute';
    await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100));
  }
  try {
    return await checkAndWrite(folder, wanted, now, limits);
  } finally {
    if ((await folder.readLockGuard())?.token === token) await folder.releaseLockGuard();
  }
}

async function checkAndWrite(folder: RunFolder, wanted: RunLock, now: Date, limits: LockLimits): Promise<string | null> {
  const blocker = (locks: RunLock[], racing: boolean): string | null => {
    for (const lock of locks) {
      if (lock.runId === wanted.runId || !overlaps(lock, wanted)) continue;
      // Once both locks are written, the earlier run id wins; the later one yields, and its lock is no cooldown.
      if (racing && lock.runId > wanted.runId) continue;
      if (isActive(lock, now, limits)) {
        return `run ${lock.runId} on an overlapping scope is still active (started ${lock.startedAt})`;
      }
      if (limits.cooldownMinutes > 0 && lock.finishedAt && Date.parse(lock.finishedAt) + limits.cooldownMinutes * 60_000 > now.getTime()) {
        return `run ${lock.runId} on an overlapping scope finished at ${lock.finishedAt}, less than the ${limits.cooldownMinutes}-minute cooldown ago`;
      }
    }
    return null;
  };
  const before = blocker(await folder.readLocks(), false);
  if (before) return before;
  await folder.writeLock(wanted);
  const after = blocker(await folder.readLocks(), true);
  if (after) {
    await releaseRunLock(folder, wanted.runId, now);
    return after;
  }
  return null;
}

export async function releaseRunLock(folder: RunFolder, runId: string, now: Date): Promise<void> {
  const lock = await folder.readLock(runId);
  if (!lock || lock.finishedAt) return;
  await folder.writeLock({ ...lock, finishedAt: now.toISOString() });
}
