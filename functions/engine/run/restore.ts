import { scopeOf } from '../phases/scope.js';
import { parseQuarantinePath, QUARANTINE_PREFIX, quarantinePath, sectionOf } from '../phases/sections.js';
import { REMOVAL_BATCH } from '../phases/removal.js';
import type { EngineDependencies } from './ports.js';

export interface RestoreOutcome {
  restored: string[];
  /** Original path → why it stays in quarantine. */
  kept: Record<string, string>;
}

/**
 * Put back what a run quarantined (all of it, or one original path), on every store in scope.
 * Restoring never loses data: a path taken again by the same hash object keeps that one and drops
 * the quarantined copy (same name, same bytes); any other taken path keeps both and says so.
 */
export async function restoreQuarantined(
  deps: Pick<EngineDependencies, 'stores' | 'defaultStore' | 'rootOf' | 'openStore'>,
  runId: string,
  options: { path?: string; store?: string } = {},
): Promise<RestoreOutcome> {
  const scope = scopeOf(deps, { ...(options.store !== undefined ? { store: options.store } : {}), legacyRootLayout: false });
  const outcome: RestoreOutcome = { restored: [], kept: {} };
  for (const root of scope.roots) {
    const store = deps.openStore(root.spec);
    const layout = scope.layout(root);
    const prefix = options.path !== undefined ? quarantinePath(runId, options.path) : `${QUARANTINE_PREFIX}${runId}/`;
    const keys: string[] = [];
    for await (const page of store.list(prefix)) for (const entry of page) if (options.path === undefined || entry.path === prefix) keys.push(entry.path);
    for (let i = 0; i < keys.length; i += REMOVAL_BATCH) {
      const moves = keys.slice(i, i + REMOVAL_BATCH).map((from) => ({ from, to: parseQuarantinePath(from)!.path }));
      const moved = await store.moveBatch(moves);
      outcome.restored.push(...moved.moved.map((m) => m.to));
      const duplicates: string[] = [];
      for (const failure of moved.failed) {
        if (failure.code === 'Exists' && sectionOf(failure.to, layout) === 'hash') duplicates.push(failure.from);
        else outcome.kept[failure.to] = `${failure.code}: ${failure.message}`;
      }
      if (duplicates.length > 0) {
        const removed = await store.deleteBatch(duplicates);
        outcome.restored.push(...removed.deleted.map((key) => parseQuarantinePath(key)!.path));
        for (const failure of removed.failed) outcome.kept[parseQuarantinePath(failure.path)!.path] = `${failure.code}: ${failure.message}`;
      }
    }
    await store.pruneEmptyFolders(keys, [QUARANTINE_PREFIX.slice(0, -1)]).catch(() => 0);
  }
  return outcome;
}
