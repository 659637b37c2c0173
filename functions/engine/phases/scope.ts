import { compareBytes } from '../model/byte-order.js';
import { layoutOf, type Layout } from './sections.js';
import type { StorageColumn, StoreSpec } from '../types.js';
import type { Group, RootPlan, Section, ShardPlan } from '../model/plan.js';
import { ConfigurationError } from '../model/errors.js';

export class StoreScope {
  readonly roots: RootPlan[];
  private readonly rootByName = new Map<string, RootPlan>();
  private readonly rootOfName = new Map<string, string>();

  constructor(
    readonly stores: Record<string, StoreSpec>,
    readonly defaultStore: string | null,
    only: string | undefined,
    readonly legacyRootLayout: boolean,
    rootOf: (spec: StoreSpec) => string,
    private readonly foreignStores: ReadonlySet<string> = new Set(),
  ) {
    if (only !== undefined && !stores[only]) {
      throw new ConfigurationError(
        `store '${only}' is not configured. Configured stores: ${Object.keys(stores).join(', ') || 'none'}. ` +
          'Add it to the "stores" block of datajoint.json (or DJ_STORES), or pick one of those.',
      );
    }
    const byRoot = new Map<string, RootPlan>();
    for (const [name, spec] of Object.entries(stores)) {
      const root = rootOf(spec);
      this.rootOfName.set(name, root);
      const existing = byRoot.get(root);
      if (existing) existing.aliases.push(name);
      else byRoot.set(root, { root, store: name, aliases: [name], spec });
    }
    const wanted = only === undefined ? undefined : this.rootOfName.get(only);
    this.roots = [...byRoot.values()].filter((r) => wanted === undefined || r.root === wanted);
    for (const plan of this.roots) for (const alias of plan.aliases) this.rootByName.set(alias, plan);
  }

  layout(root: RootPlan): Layout {
    return layoutOf(root.spec, this.legacyRootLayout);
  }

  /**
   * Physical roots a stored reference may point at. `store` null or "" means the default store
   * (spec §2); the column's declared store is added too, since either reading protects.
   * Throws for a store name that is not configured: its root is unknown, so it might be ours.
   */
  rootsOf(store: string | null, column: StorageColumn): string[] {
    if (store && this.foreignStores.has(store)) return [];
    const names = new Set<string>();
    if (store) names.add(store);
    else {
      if (this.defaultStore) names.add(this.defaultStore);
      if (column.store) names.add(column.store);
    }
    if (names.size === 0) {
      throw new ConfigurationError(
        `${columnName(column)} holds a reference to the default store, but no default store is configured. ` +
          'Set "stores.default" in datajoint.json (or DJ_STORES).',
      );
    }
    const roots: string[] = [];
    for (const name of names) {
      if (this.foreignStores.has(name)) continue;
      const root = this.rootOfName.get(name);
      if (!root) {
        throw new ConfigurationError(
          `${columnName(column)} references store '${name}', which is not configured, so djgc cannot tell ` +
            `whether it is the same storage as the stores it collects. Add store '${name}' to datajoint.json (or DJ_STORES), ` +
            `or, if it is another installation's storage, declare it in djgc.json's "foreign_stores" with the reason.`,
        );
      }
      roots.push(root);
    }
    return roots;
  }

  rootPlan(root: string): RootPlan | undefined {
    return this.roots.find((r) => r.root === root);
  }

  inScope(root: string): boolean {
    return this.roots.some((r) => r.root === root);
  }

  /** The column's declared store is another installation's: its read errors do not block deleting elsewhere. */
  isForeignColumn(column: StorageColumn): boolean {
    return column.store !== '' && this.foreignStores.has(column.store);
  }
}

export function columnName(column: StorageColumn): string {
  return `${column.database ? `${column.database}:` : ''}${column.schema}.${column.table}.${column.column}`;
}

/** The name of a section group: one schema's section, or `*` for a partitioned store's whole schema section. */
export function groupKey(store: string, section: Section, schema: string): string {
  return `${store}~${section}~${schema}`;
}

/** Every section group to sweep, for the schemas in scope, on every root in scope. */
export function groupsFor(scope: StoreScope, schemas: string[]): Group[] {
  const groups: Group[] = [];
  for (const root of scope.roots) {
    const layout = scope.layout(root);
    if (layout.legacyRootLayout && root.spec.partitionPattern) {
      throw new ConfigurationError(
        `store '${root.store}' has a partition_pattern, which releases with the root-level layout did not write; ` +
          'drop --legacy-root-layout for this store.',
      );
    }
    const group = (section: Section, name: string, members: string[], listPrefix: string): Group => ({
      key: groupKey(root.store, section, name),
      root: root.root,
      store: root.store,
      section,
      schemas: members,
      listPrefix,
    });
    for (const schema of schemas) groups.push(group('hash', schema, [schema], `${layout.hashPrefix}/${schema}/`));
    if (root.spec.partitionPattern) {
      groups.push(group('schema', '*', [...schemas], `${layout.schemaPrefix}/`));
    } else {
      for (const schema of schemas) {
        groups.push(group('schema', schema, [schema], layout.legacyRootLayout ? `${schema}/` : `${layout.schemaPrefix}/${schema}/`));
      }
    }
  }
  return groups;
}

/** Schemas to collect: those asked for (each must exist on the server with storage columns), else all of them. */
export function schemasInScope(columns: StorageColumn[], requested: string[]): string[] {
  const onServer = [...new Set(columns.map((c) => c.schema))].sort();
  if (requested.length === 0) return onServer;
  const missing = requested.filter((s) => !onServer.includes(s));
  if (missing.length > 0) {
    throw new ConfigurationError(
      `schema ${missing.map((s) => `'${s}'`).join(', ')} has no storage columns on this database server ` +
        `(schemas with storage columns: ${onServer.join(', ') || 'none'}). djgc only collects schemas whose ` +
        'references it can read; check the name and the database connection.',
    );
  }
  return [...new Set(requested)].sort();
}

/**
 * Split a group into key ranges so that no shard holds more than about `maxRefs` references.
 * `sample` is a uniform sample of the group's reference paths.
 */
export function shardsOf(group: Group, refCount: number, sample: string[], maxRefs: number): ShardPlan[] {
  const base = { root: group.root, store: group.store, section: group.section, schemas: group.schemas, listPrefix: group.listPrefix };
  const parts = Math.min(Math.ceil(refCount / Math.max(1, maxRefs)), sample.length);
  if (parts <= 1) return [{ id: `${group.key}~0`, ...base }];
  const sorted = [...sample].sort(compareBytes);
  const bounds: string[] = [];
  for (let i = 1; i < parts; i++) {
    const bound = sorted[Math.floor((i * sorted.length) / parts)]!;
    if (bound !== bounds[bounds.length - 1]) bounds.push(bound);
  }
  return [...bounds, undefined].map((upTo, i) => ({
    id: `${group.key}~${i}`,
    ...base,
    ...(i > 0 ? { after: bounds[i - 1] } : {}),
    ...(upTo !== undefined ? { upTo } : {}),
  }));
}

/** A reference covers keys that start with its path, so it belongs to every shard whose range meets [path, path…]. */
export function referenceInShard(path: string, shard: Pick<ShardPlan, 'after' | 'upTo'>): boolean {
  if (shard.upTo !== undefined && compareBytes(path, shard.upTo) > 0) return false;
  if (shard.after !== undefined && compareBytes(path, shard.after) <= 0 && !shard.after.startsWith(path)) return false;
  return true;
}


/** The stores a run covers, from the configuration and the run's options. */
export function scopeOf(
  config: { stores: Record<string, StoreSpec>; defaultStore: string | null; rootOf: (spec: StoreSpec) => string; declared?: { foreignStores: Record<string, string> } },
  options: { store?: string; legacyRootLayout: boolean },
): StoreScope {
  const foreign = new Set(Object.keys(config.declared?.foreignStores ?? {}));
  const scope = new StoreScope(config.stores, config.defaultStore, options.store, options.legacyRootLayout, config.rootOf, foreign);
  if (scope.roots.length === 0) {
    throw new ConfigurationError('no stores are configured: add a "stores" block to datajoint.json (or set DJ_STORES).');
  }
  return scope;
}
