import type { ObjectStore } from '../functions/engine/types.js';

/** A call that takes objects away from their paths: when it began and ended, and which paths it named. */
export interface RemovalCall {
  kind: string;
  startedAt: number;
  endedAt: number;
  paths: string[];
}

function removedPaths(args: unknown[]): string[] | null {
  const first = args[0];
  if (!Array.isArray(first)) return null;
  return first.flatMap((item: unknown) => {
    if (typeof item === 'string') return [item];
    const from = (item as { from?: unknown } | null)?.from;
    return typeof from === 'string' ? [from] : [];
  });
}

/**
 * The store as the engine gets it, with every delete and move call timed (the engine's own events
 * come only after a batch returns). Every other member is the store's own, so methods the engine
 * may gain pass through untouched.
 */
export function instrumentStore(store: ObjectStore, record: (call: RemovalCall) => void): ObjectStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      const name = String(property);
      if (!/^(delete|move|remove|purge|quarantine)/i.test(name)) return value.bind(target);
      return async (...args: unknown[]) => {
        const startedAt = Date.now();
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } finally {
          const paths = removedPaths(args);
          if (paths && paths.length > 0) record({ kind: name, startedAt, endedAt: Date.now(), paths });
        }
      };
    },
  });
}

/** One re-check query of the engine: which column it asked, when, and about which paths. */
export interface RecheckCall {
  column: string;
  startedAt: number;
  endedAt: number;
  paths: ReadonlySet<string>;
}

/** The catalog as the engine gets it, with every re-check (`findReferences`) timed and remembered. */
export function instrumentCatalog<C extends object>(catalog: C, record: (call: RecheckCall) => void): C {
  return new Proxy(catalog, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (property !== 'findReferences') return value.bind(target);
      return async (column: { schema: string; table: string; column: string }, paths: readonly string[], ...rest: unknown[]) => {
        const startedAt = Date.now();
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).call(target, column, paths, ...rest);
        } finally {
          record({ column: `${column.schema}.${column.table}.${column.column}`, startedAt, endedAt: Date.now(), paths: new Set(paths) });
        }
      };
    },
  });
}
