import type { Catalog, StorageColumn } from '../types.js';
import type { StoreScope } from './scope.js';
import { coveringCandidates } from './sections.js';

const PATHS_PER_QUERY = 5000;

/** The reference paths among the candidates that exist now; `inFlight` counts rows of open transactions too, where the server shows them. */
export type Recheck = (paths: string[], options?: { inFlight?: boolean }) => Promise<Set<string>>;

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
): Recheck {
  return async (paths, options = {}) => {
    const candidates = [...new Set(paths.flatMap(coveringCandidates))];
    const columns = (await catalog.discover()).filter((column: StorageColumn) => !ignoredSchemas.has(column.schema));
    const found = new Set<string>();
    for (const column of columns) {
      try {
        for (let i = 0; i < candidates.length; i += PATHS_PER_QUERY) {
          for (const ref of await catalog.findReferences(column, candidates.slice(i, i + PATHS_PER_QUERY), options)) {
            if (scope.rootsOf(ref.store, column).includes(root)) found.add(ref.path);
          }
        }
      } catch (error) {
        // As at marking: a read error in a column whose declared store is foreign blocks nothing.
        if (!scope.isForeignColumn(column)) throw error;
      }
    }
    return found;
  };
}
