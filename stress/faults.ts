import type { RunEvent } from '../functions/engine/model/events.js';
import type { StressDatabase } from './database.js';
import type { S3RequestKind, StressStore } from './store.js';
import { chance, pick, randomInt, sleep } from './random.js';

export const FAULT_KINDS = ['db-kill-mark', 'db-kill-recheck', 'db-kill-purge', 's3-list', 's3-copy', 's3-delete', 'cli-kill'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultTally {
  /** Cycles the fault was armed for. */
  armed: number;
  /** Cycles it really hit something (a connection killed, a request failed, a process killed). */
  injected: number;
  /** Of those, runs whose report named an error (or that failed outright). */
  reported: number;
  /** Of those, runs that came through without an error: the driver or SDK retried. */
  absorbed: number;
  /** Connections killed, requests failed. */
  hits: number;
}

export const emptyFaults = (): Record<FaultKind, FaultTally> =>
  Object.fromEntries(FAULT_KINDS.map((k) => [k, { armed: 0, injected: 0, reported: 0, absorbed: 0, hits: 0 }])) as Record<FaultKind, FaultTally>;

/** The fault of one in-process cycle: armed before the run, fired by its events, undone after. */
export interface ArmedFault {
  kind: FaultKind;
  observe(event: RunEvent): void;
  /** Waits for a kill in flight; the number of hits. */
  settle(): Promise<number>;
}

function triggers(kind: FaultKind, event: RunEvent): boolean {
  const phase = event.type === 'phase' ? String(event.phase) : '';
  const text = `${event.type} ${phase}`;
  switch (kind) {
    case 'db-kill-mark':
      return event.type === 'phase' && phase === 'mark';
    case 'db-kill-recheck':
      return (event.type === 'shard-listed' && event.orphans > 0) || /recheck|re-check|wait/.test(text);
    case 'db-kill-purge':
      return /purg/.test(text);
    default:
      return false;
  }
}

export function chooseFault(store: StressStore, rate: number, purgeSeen: boolean): FaultKind | null {
  if (!chance(rate)) return null;
  const kinds: FaultKind[] = ['db-kill-mark', 'db-kill-recheck'];
  if (purgeSeen) kinds.push('db-kill-purge');
  if (store.kind === 's3') kinds.push('s3-list', 's3-delete', 's3-copy');
  return pick(kinds);
}

export function armFault(kind: FaultKind, db: StressDatabase, store: StressStore, s3Rate: number): ArmedFault {
  if (kind.startsWith('s3-')) {
    const faults = store.faults!;
    const requestKind = kind.slice(3) as S3RequestKind;
    const before = faults.injected[requestKind];
    // One in three S3 faults is a burst no retry can get through: the run must say so.
    const burst = chance(1 / 3);
    faults.kind = requestKind;
    faults.rate = burst ? 1 : s3Rate;
    faults.budget = burst ? 10 : 6;
    return {
      kind,
      observe: () => undefined,
      settle: async () => {
        faults.kind = null;
        faults.rate = 0;
        faults.budget = 0;
        return faults.injected[requestKind] - before;
      },
    };
  }
  // From the event that opens the phase until the next phase begins, djgc's connections are killed
  // every few milliseconds, so that a stream or query in flight is hit and not only idle ones.
  let state: 'waiting' | 'killing' | 'done' = 'waiting';
  let hits = 0;
  let loop: Promise<void> = Promise.resolve();
  const ends = (event: RunEvent): boolean =>
    event.type === 'phase' || event.type === 'shards-planned' || event.type === 'shard-done' || event.type === 'deleted';
  return {
    kind,
    observe: (event) => {
      if (state === 'killing' && ends(event) && !triggers(kind, event)) state = 'done';
      if (state !== 'waiting' || !triggers(kind, event)) return;
      state = 'killing';
      loop = (async () => {
        const until = Date.now() + 5000;
        while (state === 'killing' && Date.now() < until) {
          hits += await db.killCollectorConnections().catch(() => 0);
          await sleep(randomInt(3, 12));
        }
        state = 'done';
      })();
    },
    settle: async () => {
      state = 'done';
      await loop;
      return hits;
    },
  };
}
