import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { Catalog, StorageColumn } from '../types.js';
import { columnName, groupKey, type StoreScope } from './scope.js';
import type { Layout } from './sections.js';
import type { ColumnSummary, Group } from '../model/plan.js';
import { ConfigurationError, describeError } from '../model/errors.js';
import type { RunObserver } from '../model/events.js';

const SAMPLE_SIZE = 1024;

/** The mark outgrew the local disk it may spill to: the run stops, naming the numbers, before the disk is full. */
export class SpillLimitError extends ConfigurationError {}

export interface GroupRefs {
  group: Group;
  /** References routed to the group (duplicates included). */
  count: number;
  /** Uniform sample of the routed paths, for choosing key ranges. */
  sample: string[];
  /** Local file of JSON-encoded paths, one a line. */
  spill: string;
}

export interface MarkResult {
  groups: GroupRefs[];
  columns: ColumnSummary[];
  /** References that point outside every section in scope (filepath targets, other schemas, other stores). */
  outsideScope: number;
  /** References to a store declared foreign: counted, never resolved. */
  foreign: number;
  errors: string[];
  /** Read errors in columns whose declared store is foreign: reported, they block nothing. */
  foreignErrors: string[];
}

/**
 * Read every storage column once, keep (root, path) of each reference, and route it to the
 * section group it can protect. References from every schema count (spec §2).
 */
export async function mark(
  catalog: Catalog,
  columns: StorageColumn[],
  scope: StoreScope,
  groups: Group[],
  spillDir: string,
  concurrency: number,
  observe: RunObserver,
  spillLimitBytes?: number,
): Promise<MarkResult> {
  let spilled = 0;
  let routed = 0;
  const byKey = new Map<string, GroupRefs>();
  const writers = new Map<string, WriteStream>();
  groups.forEach((group, i) => {
    const spill = join(spillDir, `group-${i}.refs`);
    byKey.set(group.key, { group, count: 0, sample: [], spill });
    writers.set(group.key, createWriteStream(spill));
  });
  const schemaGroupsOfRoot = new Map<string, GroupRefs[]>();
  for (const refs of byKey.values()) {
    if (refs.group.section !== 'schema') continue;
    let list = schemaGroupsOfRoot.get(refs.group.root);
    if (!list) schemaGroupsOfRoot.set(refs.group.root, (list = []));
    list.push(refs);
  }
  const layouts = new Map(scope.roots.map((r) => [r.root, { layout: scope.layout(r), store: r.store }]));

  const result: MarkResult = { groups: [...byKey.values()], columns: [], outsideScope: 0, foreign: 0, errors: [], foreignErrors: [] };

  const route = async (root: string, path: string): Promise<void> => {
    const target = layouts.get(root);
    const targets = target ? groupsForPath(path, target.layout, target.store, byKey, schemaGroupsOfRoot.get(root) ?? []) : [];
    if (targets.length === 0) {
      result.outsideScope++;
      return;
    }
    const line = JSON.stringify(path);
    spilled += (line.length + 1) * targets.length;
    routed += targets.length;
    if (spillLimitBytes !== undefined && spilled > spillLimitBytes) {
      throw new SpillLimitError(
        `the mark outgrew the scanner's local disk: ${routed} references took ${mib(spilled)} MiB of the ${mib(spillLimitBytes)} MiB it may ` +
          'spill (the function\'s ephemeral storage less a reserve), before every column was read. Give the scanner more ephemeral storage ' +
          '(the stack\'s sizing.scanner.ephemeralStorageMiB, up to 10240) or collect fewer schemas per run.',
      );
    }
    for (const refs of targets) {
      refs.count++;
      if (refs.sample.length < SAMPLE_SIZE) refs.sample.push(path);
      else {
        const j = Math.floor(Math.random() * refs.count);
        if (j < SAMPLE_SIZE) refs.sample[j] = path;
      }
      const out = writers.get(refs.group.key)!;
      if (!out.write(`${line}\n`)) await once(out, 'drain');
    }
  };

  const readColumn = async (column: StorageColumn): Promise<void> => {
    const name = columnName(column);
    const summary: ColumnSummary = { column: name, codec: column.codec, store: column.store, references: 0 };
    try {
      for await (const ref of catalog.references(column)) {
        summary.references++;
        const refRoots = scope.rootsOf(ref.store, column);
        if (refRoots.length === 0) result.foreign++;
        for (const root of refRoots) {
          await route(root, ref.path);
        }
      }
      observe({ type: 'column-read', column: name, references: summary.references });
    } catch (error) {
      if (error instanceof SpillLimitError) throw error;
      summary.error = describeError(error);
      // The catalog's and the scope's messages often start with the column's name already.
      const cause = summary.error.startsWith(`${name}: `) ? summary.error.slice(name.length + 2) : summary.error.startsWith(`${name} `) ? summary.error.slice(name.length + 1) : summary.error;
      const message = `cannot read references of ${name}: ${cause}`;
      if (scope.isForeignColumn(column)) result.foreignErrors.push(`${message} (its store '${column.store}' is declared foreign, so this blocks nothing)`);
      else {
        result.errors.push(message);
        observe({ type: 'error', scope: name, message });
      }
    }
    result.columns.push(summary);
  };

  const limit = pLimit(Math.max(1, concurrency));
  try {
    await Promise.all(columns.map((column) => limit(() => readColumn(column))));
  } finally {
    await Promise.all(
      [...writers.values()].map(async (out) => {
        out.end();
        await once(out, 'close');
      }),
    );
  }
  result.columns.sort((a, b) => a.column.localeCompare(b.column));
  return result;
}

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

/** The groups whose objects a reference path can cover. */
function groupsForPath(
  path: string,
  layout: Layout,
  store: string,
  byKey: Map<string, GroupRefs>,
  schemaGroups: GroupRefs[],
): GroupRefs[] {
  const hashHead = `${layout.hashPrefix}/`;
  if (path.startsWith(hashHead)) {
    const schema = path.slice(hashHead.length).split('/')[0];
    const refs = schema ? byKey.get(groupKey(store, 'hash', schema)) : undefined;
    return refs ? [refs] : [];
  }
  let rest: string;
  if (layout.legacyRootLayout) rest = path;
  else if (path.startsWith(`${layout.schemaPrefix}/`)) rest = path.slice(layout.schemaPrefix.length + 1);
  else if (path === layout.schemaPrefix) rest = '';
  else return [];
  const segments = rest.split('/').filter((s) => s.length > 0);
  const schema = segments.find((s) => !s.includes('='));
  // A reference above the schema level (e.g. a partition folder) covers every schema below it.
  if (schema === undefined) return layout.legacyRootLayout ? [] : schemaGroups;
  const own = byKey.get(groupKey(store, 'schema', schema));
  if (own) return [own];
  const partitioned = byKey.get(groupKey(store, 'schema', '*'));
  return partitioned?.group.schemas.includes(schema) ? [partitioned] : [];
}
