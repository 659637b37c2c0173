import type { TransactionSnapshot, WriteHorizon } from '../types.js';
import type { Recheck } from './recheck.js';

/** The database's write transactions, as the last re-check must see them. */
export interface TransactionWatch {
  open(): Promise<TransactionSnapshot>;
  stillOpen(snapshot: TransactionSnapshot): Promise<string[]>;
  /** Where the re-check cannot read rows in flight (PostgreSQL): see `Catalog.writeHorizon`. */
  horizon(): Promise<WriteHorizon | null>;
  /** Resolves after about `ms` (a clock the tests can drive). */
  pause(ms: number): Promise<void>;
}

export type LastRecheck =
  | { cleared: true; present: Set<string> }
  /** `open`: the transactions still open when the wait ended, if any. */
  | { cleared: false; open: string[]; why: string };

const POLL_MS = [200, 500, 1000, 2000, 5000];
/** Bounds the rounds as well as the time, should the clock not move (each round waits at least one poll). */
const MAX_ROUNDS = 1000;

/**
 * Wait until no transaction of `snapshot` is open any more. Returns false when some still are
 * after `waitSeconds`. A snapshot the server would not show (no privilege) has nothing to wait for.
 */
export async function waitForTransactions(watch: TransactionWatch, snapshot: TransactionSnapshot, waitSeconds: number, now: () => Date): Promise<boolean> {
  if (!snapshot.visible || snapshot.ids.length === 0) return true;
  const deadline = now().getTime() + waitSeconds * 1000;
  let open = snapshot;
  for (let i = 0; i < MAX_ROUNDS; i++) {
    const ids = await watch.stillOpen(open);
    if (ids.length === 0) return true;
    if (now().getTime() >= deadline) return false;
    open = { ...open, ids };
    await watch.pause(POLL_MS[Math.min(i, POLL_MS.length - 1)]!);
  }
  return false;
}

/**
 * The re-check right before objects are taken away, made so that it misses no row written
 * before it by a transaction not yet committed. Where the server shows rows in flight (MySQL and
 * MariaDB), the write transactions open now are waited for (bounded by `waitSeconds`) and the
 * re-check reads committed and in-flight rows. Where it cannot (PostgreSQL), the re-check is
 * repeated from a fresh horizon until one ran that nothing could have hidden from: no transaction
 * still writing a storage table once it was done, none committed since it began; writers found
 * are waited for first. Not cleared within `waitSeconds`: the caller keeps the objects.
 */
export async function lastRecheck(watch: TransactionWatch, recheck: Recheck, paths: string[], waitSeconds: number, now: () => Date): Promise<LastRecheck> {
  const deadline = now().getTime() + waitSeconds * 1000;
  let horizon = await watch.horizon();
  if (!horizon) {
    const snapshot = await watch.open();
    if (!(await waitForTransactions(watch, snapshot, waitSeconds, now))) {
      return { cleared: false, open: await watch.stillOpen(snapshot), why: 'write transactions open at their re-check had not ended' };
    }
    return { cleared: true, present: await recheck(paths, { inFlight: true }) };
  }
  const why = 'every re-check ran while a write transaction that could have written a row it did not see was open or committed';
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const present = await recheck(paths, { inFlight: true });
    const since = await horizon.since();
    if (since.writing.length === 0 && !since.committed) return { cleared: true, present };
    const left = (deadline - now().getTime()) / 1000;
    if (left <= 0) return { cleared: false, open: since.writing, why };
    const writers: TransactionSnapshot = { visible: true, ids: since.writing };
    if (!(await waitForTransactions(watch, writers, left, now))) return { cleared: false, open: await watch.stillOpen(writers), why };
    if (since.writing.length === 0) await watch.pause(POLL_MS[0]!);
    const next = await watch.horizon();
    if (!next) return { cleared: false, open: [], why: 'the server stopped showing its transactions' };
    horizon = next;
  }
  return { cleared: false, open: [], why };
}

/** The sentence a deferral adds to the report. */
export function deferral(count: number, what: string, outcome: Extract<LastRecheck, { cleared: false }>, waitSeconds: number): string {
  const open = outcome.open.length === 0 ? '' : ` (still open: ${outcome.open.slice(0, 5).join(', ')}${outcome.open.length > 5 ? ', …' : ''})`;
  return `${count} ${what}: ${outcome.why} within ${waitSeconds} s${open}`;
}
