import type { Catalog, StorageColumn } from '../types.js';
import { columnName, type StoreScope } from './scope.js';
import { coveringCandidates } from './sections.js';

const PATHS_PER_QUERY = 5000;

/**
 * A fresh look at the database for one root, right before a delete batch: which reference paths
 * that could cover the batch's keys exist now. With `rootsByColumn` (what the mark saw), only the
 * columns that can point at the root are asked; without it, every storage column is.
 */
export function makeRecheck(
  catalog: Catalog,
  columns: StorageColumn[],
  scope: StoreScope,
  rootsByColumn: Record<string, string[]> | null,
  root: string,
): (paths: string[]) => Promise<Set<string>> {
  const relevant = columns.filter((column) => {
    if (rootsByColumn === null) return true;
    if (rootsByColumn[columnName(column)]?.includes(root)) return true;
    try {
      return scope.rootsOf(column.store || null, column).includes(root);
    } catch {
      return true;
    }
  });
  return async (paths) => {
    const candidates = [...new Set(paths.flatMap(coveringCandidates))];
    const found = new Set<string>();
    for (const column of relevant) {
      for (let i = 0; i < candidates.length; i += PATHS_PER_QUERY) {
        for (const ref of await catalog.findReferences(column, candidates.slice(i, i + PATHS_PER_QUERY))) {
          if (scope.rootsOf(ref.store, column).includes(root)) found.add(ref.path);
        }
      }
    }
    return found;
  };
}
