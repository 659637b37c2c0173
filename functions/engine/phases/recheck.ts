import pLimit from 'p-limit';
import type { Catalog, StorageColumn } from '../types.js';
import type { StoreScope } from './scope.js';
import { coveringCandidates } from './sections.js';

/** Paths per query: every query reads the column's whole table, so the fewer the better. */
const PATHS_PER_QUERY = 20_000;
/** Columns asked at once in one re-check. */
export const COLUMNS_AT_ONCE = 4;

/** The reference paths among the candidates that exist now; `inFlight` counts rows of open transactions too, where the server shows them. */
export type Recheck = (paths: string[], options?: { inFlight?: boolean }) => Promise<Set<string>>;

/** What the re-checks of a shard cost the database. */
export interface RecheckCost {
  /** Re-check rounds that went to the database (each asks every storage column). */
  rounds: number;
  /** Queries sent: one per column and chunk of paths, in every round. */
  queries: number;
}

/**
 * A fresh look at the database for one root, right before a removal: which reference paths that
 * could cover the given keys exist now. The storage columns are discovered again at every call,
 * so a table declared (or a column added) since the plan is asked too; every column is asked,
 * whatever store it declares, since a value may name any store. A column whose declared store is
 * foreign and cannot be read (a malformed value) is passed over, as the mark passes over it.
 */
export function makeRecheck(
  catalog: Catalog,
  scope: StoreScope,
  root: string,
  ignoredSchemas: ReadonlySet<string>,
  cost?: RecheckCost,
): Recheck {
  return async (paths, options = {}) => {
    const candidates = [...new Set(paths.flatMap(coveringCandidates))];
    const columns = (await catalog.discover()).filter((column: StorageColumn) => !ignoredSchemas.has(column.schema));
    if (cost) cost.rounds++;
    const found = new Set<string>();
    const limit = pLimit(COLUMNS_AT_ONCE);
    await Promise.all(
      columns.map((column) =>
        limit(async () => {
          try {
            for (let i = 0; i < candidates.length; i += PATHS_PER_QUERY) {
              if (cost) cost.queries++;
              for (const ref of await catalog.findReferences(column, candidates.slice(i, i + PATHS_PER_QUERY), options)) {
                if (scope.rootsOf(ref.store, column).includes(root)) found.add(ref.path);
              }
            }
          } catch (error) {
            // As at marking: a read error in a column whose declared store is foreign blocks nothing.
            if (!scope.isForeignColumn(column)) throw error;
          }
        }),
      ),
    );
    return found;
  };
}

interface Waiting {
  paths: string[];
  resolve: (found: Set<string>) => void;
  reject: (error: unknown) => void;
}

/**
 * Re-checks asked for while another is running are answered together by one round that starts
 * once that one ends: the removal batches in flight share rounds (a round reads every storage
 * column's table once, whatever the number of paths), so the queries no longer grow as batches ×
 * columns but as rounds × columns. Safety is that of a re-check of one's own: every request is
 * answered by a round that began after it was made (columns discovered again at the round's
 * start), never by one already under way — so after any write horizon the caller took before
 * asking (`lastRecheck`); the answer may hold reference paths of other batches,
 * which can only keep more objects. Requests with and without `inFlight` go to separate rounds.
 */
export function sharedRecheck(recheck: Recheck): Recheck {
  const lanes = new Map<boolean, { waiting: Waiting[]; running: boolean }>();
  const run = (inFlight: boolean): void => {
    const lane = lanes.get(inFlight)!;
    if (lane.running || lane.waiting.length === 0) return;
    const round = lane.waiting.splice(0);
    lane.running = true;
    recheck(
      round.flatMap((w) => w.paths),
      inFlight ? { inFlight: true } : {},
    ).then(
      (found) => round.forEach((w) => w.resolve(found)),
      (error: unknown) => round.forEach((w) => w.reject(error)),
    ).finally(() => {
      lane.running = false;
      run(inFlight);
    });
  };
  return (paths, options = {}) =>
    new Promise<Set<string>>((resolve, reject) => {
      const inFlight = options.inFlight === true;
      let lane = lanes.get(inFlight);
      if (!lane) lanes.set(inFlight, (lane = { waiting: [], running: false }));
      lane.waiting.push({ paths, resolve, reject });
      // On the next turn, so that requests made together start one round.
      queueMicrotask(() => run(inFlight));
    });
}
