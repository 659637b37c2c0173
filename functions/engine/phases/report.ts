import { addTally, emptyTally, type ShardResult, type Tally } from '../model/results.js';
import type { ColumnSummary, Declarations, RootPlan, ShardPlan } from '../model/plan.js';
import { addRequests, noRequests, type StoreRequests } from '../model/requests.js';
import type { StoreVersioning } from '../model/results.js';
import { costOf, formatUsd, type CostSummary, type PriceSettings, type StoreBytes } from './cost.js';

export interface SchemaBreakdown extends Tally {
  tables: Record<string, Tally>;
}

export interface ShardSummary extends Tally {
  id: string;
  /** 'purge': what earlier runs quarantined; 'sweep': a section. */
  kind: 'sweep' | 'purge';
  store: string;
  section: string;
  schemas: string[];
  listing_complete: boolean;
  errors: string[];
}

/** At most this many paths in each of `orphaned_hash_paths` and `orphaned_schema_paths`; the counts are always whole. */
export const MAX_LISTED_PATHS = 10_000;

/**
 * `report.json`: the keys of DataJoint 2.0's documented `dj.gc` API first, then those of
 * DataJoint 2.3.2's `collect()`, then what a reviewer needs. `errors` is a count, as in 2.3.2;
 * the messages are in `scan_errors`.
 */
export interface Report {
  hash_referenced: number;
  hash_stored: number;
  hash_orphaned: number;
  hash_orphaned_bytes: number;
  schema_paths_referenced: number;
  schema_paths_stored: number;
  schema_paths_orphaned: number;
  schema_paths_orphaned_bytes: number;
  /** Distinct reference paths read for the sections in scope (DataJoint's meaning: a folder reference is one). */
  referenced: number;
  /** Stored objects covered by a reference (a referenced folder of three files and a manifest is four). */
  referenced_objects: number;
  stored: number;
  orphaned: number;
  orphaned_bytes: number;
  deleted: number;
  /** Bytes no longer stored: deleted objects' sizes, except on a versioned bucket (see `noncurrent_version_bytes`). */
  bytes_freed: number;
  /** How many problems the run had (DataJoint's count); each is described in `scan_errors`. */
  errors: number;
  dry_run: boolean;

  /** DataJoint 2.3.2: distinct reference paths read for the hash sections in scope. */
  hash_paths_referenced: number;
  hash_paths_stored: number;
  hash_paths_orphaned: number;
  hash_paths_orphaned_bytes: number;
  /** Sorted; at most MAX_LISTED_PATHS (the full lists are the orphan lists of the run folder). */
  orphaned_hash_paths: string[];
  orphaned_schema_paths: string[];
  hash_paths_deleted: number;
  schema_paths_deleted: number;
  /** Every problem, in words: any of them means the scope it names removed nothing. */
  scan_errors: string[];
  /** Set when a list of orphaned paths was cut at MAX_LISTED_PATHS. */
  orphaned_paths_truncated?: boolean;

  /** Moved into the quarantine area this run (purged by a later collect after the retention). */
  quarantined: number;
  quarantined_bytes: number;
  /** Quarantined by earlier runs, referenced again, and put back. */
  restored: number;
  /** Quarantined by earlier runs and deleted for good now (included in `deleted` and `bytes_freed`). */
  purged: number;
  /** Kept for the next run: write transactions open at their re-check did not end within the wait. */
  deferred: number;
  /** Whether the database showed djgc its open write transactions; when not, only quarantine and retention cover them. */
  transactions_visible: boolean | null;
  removal: 'quarantine' | 'delete';
  retention_hours: number;
  /** Sizes of every object deleted for good, versioned buckets included. */
  bytes_deleted: number;
  /** Of `bytes_deleted`, what was deleted on a versioned bucket: still stored (and billed) as noncurrent versions until a lifecycle rule expires them. */
  noncurrent_version_bytes: number;
  /** Store name → versioning state of its bucket when the run worked on it (`unversioned` for a directory). */
  store_versioning: Record<string, StoreVersioning>;
  /** Monthly storage price of the orphaned and freed bytes, and the price of this run's store requests. */
  cost: CostSummary;

  run_id: string;
  started_at: string;
  finished_at: string;
  /** Every planned shard has a result. */
  complete: boolean;
  failed_shards: string[];
  scope: {
    schemas: string[];
    stores: { store: string; root: string; aliases: string[] }[];
    grace_hours: number;
    legacy_root_layout: boolean;
  };
  protected: number;
  saved_by_recheck: number;
  delete_failed: number;
  skipped_non_objects: number;
  outside_scope: number;
  references_read: number;
  references_outside_scope: number;
  /** References to stores declared foreign: read and counted, never resolved to the stores collected. */
  references_to_foreign_stores: number;
  /** Foreign stores, ignored schemas and databases, with the reasons given. */
  declared: { foreign_stores: Record<string, string>; ignored_schemas: Record<string, string>; ignored_databases: Record<string, string> };
  /** Findings that blocked nothing. */
  warnings: string[];
  by_schema: Record<string, SchemaBreakdown>;
  columns: ColumnSummary[];
  shards: ShardSummary[];
  timings_ms: Record<string, number>;
  /** list, delete: listing pages and purge delete calls; recheck: database re-checks; column_reads: columns streamed; store: every store request by billing class. */
  requests: { list: number; delete: number; recheck: number; column_reads: number; store: StoreRequests };
  orphan_lists: string[];
  /** Set when this run deleted an earlier dry run's reviewed orphans. */
  approved_run?: string;
}

export interface ReportInput {
  runId: string;
  startedAt: Date;
  finishedAt: Date;
  dryRun: boolean;
  schemas: string[];
  roots: Pick<RootPlan, 'root' | 'store' | 'aliases'>[];
  graceHours: number;
  legacyRootLayout: boolean;
  columns: ColumnSummary[];
  referencesOutsideScope: number;
  referencesToForeignStores: number;
  declared: Declarations;
  planErrors: string[];
  planWarnings: string[];
  shards: ShardPlan[];
  results: ShardResult[];
  /** Shards that never produced a result, with the reason. */
  failedShards?: { shardId: string; reason: string }[];
  timings: Record<string, number>;
  orphanLists: string[];
  orphanPaths: { hash: string[]; schema: string[]; truncated: boolean };
  removal: 'quarantine' | 'delete';
  retentionHours: number;
  approvedRun?: string;
  /** Storage and request prices; defaults for anything not given. */
  prices?: PriceSettings;
}

const keepsVersions = (state: StoreVersioning | undefined): boolean => state === 'enabled' || state === 'suspended';

export function buildReport(input: ReportInput): Report {
  const hash = emptyTally();
  const schema = emptyTally();
  const purge = emptyTally();
  const referencePaths = { hash: 0, schema: 0 };
  let transactionsVisible: boolean | null = null;
  const bySchema: Record<string, SchemaBreakdown> = {};
  const requests = { list: 0, delete: 0, recheck: 0, column_reads: input.columns.length, store: noRequests() };
  const storeBytes = new Map<string, StoreBytes>();
  const versioning: Record<string, StoreVersioning> = {};
  for (const root of input.roots) storeBytes.set(root.store, { store: root.store, root: root.root, orphanedBytes: 0, freedBytes: 0, noncurrentBytes: 0 });
  const errors = [...input.planErrors];
  let skipped = 0;
  let outside = 0;
  for (const result of input.results) {
    addTally(result.kind === 'purge' ? purge : result.section === 'hash' ? hash : schema, result.totals);
    if (result.kind !== 'purge') referencePaths[result.section] += result.references;
    if (result.transactionsVisible !== undefined) transactionsVisible = (transactionsVisible ?? true) && result.transactionsVisible;
    for (const [name, tables] of Object.entries(result.breakdown)) {
      const entry = (bySchema[name] ??= { ...emptyTally(), tables: {} });
      for (const [table, tally] of Object.entries(tables)) {
        addTally(entry, tally);
        addTally((entry.tables[table] ??= emptyTally()), tally);
      }
    }
    requests.list += result.requests.list;
    requests.delete += result.requests.delete;
    requests.recheck += result.requests.recheck;
    addRequests(requests.store, result.storeRequests);
    const bytes = storeBytes.get(result.store) ?? { store: result.store, root: result.root, orphanedBytes: 0, freedBytes: 0, noncurrentBytes: 0 };
    storeBytes.set(result.store, bytes);
    bytes.orphanedBytes += result.totals.orphanedBytes;
    if (keepsVersions(result.storeVersioning)) bytes.noncurrentBytes += result.totals.bytesFreed;
    else bytes.freedBytes += result.totals.bytesFreed;
    if (result.storeVersioning && versioning[result.store] !== 'enabled') versioning[result.store] = result.storeVersioning;
    skipped += result.skipped;
    outside += result.outsideScope;
    errors.push(...result.errors);
  }
  const reported = new Set(input.results.map((r) => r.shardId));
  const failed = new Map((input.failedShards ?? []).map((f) => [f.shardId, f.reason]));
  for (const shard of input.shards) {
    if (!reported.has(shard.id) && !failed.has(shard.id)) failed.set(shard.id, 'no result');
  }
  for (const [shardId, reason] of failed) errors.push(`shard ${shardId} did not finish: ${reason}`);
  const total = addTally(addTally(addTally(emptyTally(), hash), schema), purge);
  const stores = [...storeBytes.values()];
  const noncurrent = stores.reduce((n, s) => n + s.noncurrentBytes, 0);
  const warnings = [...input.planWarnings, ...versioningWarnings(versioning, input.dryRun)];

  return {
    hash_referenced: referencePaths.hash,
    hash_stored: hash.stored,
    hash_orphaned: hash.orphaned,
    hash_orphaned_bytes: hash.orphanedBytes,
    schema_paths_referenced: referencePaths.schema,
    schema_paths_stored: schema.stored,
    schema_paths_orphaned: schema.orphaned,
    schema_paths_orphaned_bytes: schema.orphanedBytes,
    referenced: referencePaths.hash + referencePaths.schema,
    referenced_objects: total.referenced,
    stored: total.stored,
    orphaned: total.orphaned,
    orphaned_bytes: total.orphanedBytes,
    deleted: total.deleted,
    bytes_freed: total.bytesFreed - noncurrent,
    errors: errors.length,
    dry_run: input.dryRun,
    hash_paths_referenced: referencePaths.hash,
    hash_paths_stored: hash.stored,
    hash_paths_orphaned: hash.orphaned,
    hash_paths_orphaned_bytes: hash.orphanedBytes,
    orphaned_hash_paths: input.orphanPaths.hash,
    orphaned_schema_paths: input.orphanPaths.schema,
    hash_paths_deleted: hash.deleted,
    schema_paths_deleted: schema.deleted,
    scan_errors: errors,
    ...(input.orphanPaths.truncated ? { orphaned_paths_truncated: true } : {}),
    quarantined: total.quarantined,
    quarantined_bytes: total.quarantinedBytes,
    restored: total.restored,
    purged: total.purged,
    deferred: total.deferred,
    transactions_visible: transactionsVisible,
    removal: input.removal,
    retention_hours: input.retentionHours,
    bytes_deleted: total.bytesFreed,
    noncurrent_version_bytes: noncurrent,
    store_versioning: versioning,
    cost: costOf(stores, requests.store, input.prices),
    run_id: input.runId,
    started_at: input.startedAt.toISOString(),
    finished_at: input.finishedAt.toISOString(),
    complete: failed.size === 0,
    failed_shards: [...failed.keys()],
    scope: {
      schemas: input.schemas,
      stores: input.roots.map((r) => ({ store: r.store, root: r.root, aliases: r.aliases })),
      grace_hours: input.graceHours,
      legacy_root_layout: input.legacyRootLayout,
    },
    protected: total.protected,
    saved_by_recheck: total.saved,
    delete_failed: total.failed,
    skipped_non_objects: skipped,
    outside_scope: outside,
    references_read: input.columns.reduce((n, c) => n + c.references, 0),
    references_outside_scope: input.referencesOutsideScope,
    references_to_foreign_stores: input.referencesToForeignStores,
    declared: {
      foreign_stores: input.declared.foreignStores,
      ignored_schemas: input.declared.ignoredSchemas,
      ignored_databases: input.declared.ignoredDatabases,
    },
    warnings,
    by_schema: bySchema,
    columns: input.columns,
    shards: input.results.map((r) => ({
      id: r.shardId,
      kind: r.kind ?? 'sweep',
      store: r.store,
      section: r.section,
      schemas: r.schemas,
      listing_complete: r.listingComplete,
      errors: r.errors,
      ...r.totals,
    })),
    timings_ms: input.timings,
    requests,
    orphan_lists: input.orphanLists,
    ...(input.approvedRun ? { approved_run: input.approvedRun } : {}),
  };
}

/** What a versioned (or unreadable) bucket means for the bytes a run frees. */
function versioningWarnings(versioning: Record<string, StoreVersioning>, dryRun: boolean): string[] {
  const warnings: string[] = [];
  for (const [store, state] of Object.entries(versioning).sort(([a], [b]) => a.localeCompare(b))) {
    if (state === 'enabled' || state === 'suspended') {
      warnings.push(
        `store '${store}' is a bucket with versioning ${state}: ${dryRun ? 'deleting' : 'what this run deleted or moved'} leaves noncurrent versions that are ` +
          'still stored and billed until a lifecycle rule expires them (NoncurrentVersionExpiration, see docs/deploy.md); they are counted in ' +
          'noncurrent_version_bytes, not bytes_freed',
      );
    } else if (state === 'unknown') {
      warnings.push(`the versioning state of store '${store}' could not be read: if its bucket keeps versions, bytes_freed overstates what was freed`);
    }
  }
  return warnings;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** The cost lines of the text report (and of the notification). */
export function formatCost(report: Report): string[] {
  const { cost } = report;
  const r = cost.requests;
  const lines = ['Cost (USD; storage per month at the configured prices):'];
  lines.push(`  Orphaned bytes:  ${formatUsd(cost.orphaned_per_month)}/month${report.dry_run ? ' (saved by collecting them)' : ''}`);
  lines.push(`  Freed this run:  ${formatUsd(cost.freed_per_month)}/month`);
  if (cost.noncurrent_per_month > 0) lines.push(`  Still billed as noncurrent versions: ${formatUsd(cost.noncurrent_per_month)}/month`);
  for (const s of cost.by_store) {
    lines.push(`    ${s.store}: ${formatBytes(s.orphaned_bytes)} orphaned, ${formatBytes(s.freed_bytes)} freed at ${formatUsd(s.price_per_gb_month)}/GB-month`);
  }
  lines.push(
    `  This run's store requests: ${formatUsd(cost.requests_total)} (${r.list} LIST, ${r.put} PUT, ${r.copy} COPY, ${r.get} GET, ${r.head} HEAD, ${r.delete} DELETE)`,
  );
  return lines;
}

/** A plain-text rendering in the spirit of DataJoint's `format_stats`. */
export function formatReport(report: Report): string {
  const n = (value: number): string => value.toLocaleString('en-US');
  const lines: string[] = [];
  const mode = report.dry_run ? 'dry run: nothing deleted' : 'collect';
  lines.push(`Object storage garbage collection (${mode})`);
  lines.push(`run ${report.run_id}   ${report.started_at} → ${report.finished_at}`);
  lines.push(
    `scope: ${report.scope.schemas.length} schema(s) [${report.scope.schemas.join(', ')}] on ${report.scope.stores
      .map((s) => `${s.aliases.join('=')} (${s.root})`)
      .join(', ')}; grace period ${report.scope.grace_hours} h`,
  );
  lines.push('');
  lines.push('Hash-addressed storage:');
  lines.push(`  Referenced: ${n(report.hash_referenced)}`);
  lines.push(`  Stored:     ${n(report.hash_stored)}`);
  lines.push(`  Orphaned:   ${n(report.hash_orphaned)} (${formatBytes(report.hash_orphaned_bytes)})`);
  lines.push('');
  lines.push('Schema-addressed storage:');
  lines.push(`  Referenced: ${n(report.schema_paths_referenced)}`);
  lines.push(`  Stored:     ${n(report.schema_paths_stored)}`);
  lines.push(`  Orphaned:   ${n(report.schema_paths_orphaned)} (${formatBytes(report.schema_paths_orphaned_bytes)})`);
  lines.push('');
  lines.push('Totals:');
  lines.push(`  Referenced: ${n(report.referenced)}`);
  lines.push(`  Stored:     ${n(report.stored)}`);
  lines.push(`  Orphaned:   ${n(report.orphaned)} (${formatBytes(report.orphaned_bytes)})`);
  lines.push(`  Protected (younger than the grace period): ${n(report.protected)}`);
  if (!report.dry_run) {
    lines.push(`  Saved by the re-check before deletion:    ${n(report.saved_by_recheck)}`);
    if (report.deferred > 0) lines.push(`  Kept for the next run (transactions still open): ${n(report.deferred)}`);
    if (report.removal === 'quarantine') {
      lines.push(`  Quarantined: ${n(report.quarantined)} (${formatBytes(report.quarantined_bytes)}; purged after ${report.retention_hours} h)`);
    }
    if (report.restored > 0) lines.push(`  Restored from quarantine (referenced again): ${n(report.restored)}`);
    lines.push(`  Deleted: ${n(report.deleted)} (${formatBytes(report.bytes_freed)} freed${report.purged > 0 ? `; ${n(report.purged)} purged from quarantine` : ''})`);
    if (report.transactions_visible === false) {
      lines.push('  Open transactions: not visible to this database user; quarantine and retention alone cover rows still being written');
    }
    if (report.delete_failed > 0) lines.push(`  Could not delete: ${n(report.delete_failed)}`);
  }
  if (report.skipped_non_objects > 0) lines.push(`  Left alone (temporary uploads, stray names): ${n(report.skipped_non_objects)}`);
  if (report.noncurrent_version_bytes > 0) {
    lines.push(`  Still stored as noncurrent versions (versioned bucket): ${formatBytes(report.noncurrent_version_bytes)}`);
  }
  lines.push('');
  lines.push(...formatCost(report));

  const schemas = Object.entries(report.by_schema).sort(([a], [b]) => a.localeCompare(b));
  if (schemas.length > 0) {
    lines.push('');
    lines.push('By schema and table:');
    const rows: string[][] = [['schema', 'table', 'stored', 'referenced', 'protected', 'orphaned', 'reclaimable', ...(report.dry_run ? [] : ['deleted'])]];
    for (const [schema, entry] of schemas) {
      for (const [table, t] of Object.entries(entry.tables).sort(([a], [b]) => a.localeCompare(b))) {
        rows.push([schema, table, n(t.stored), n(t.referenced), n(t.protected), n(t.orphaned), formatBytes(t.orphanedBytes), ...(report.dry_run ? [] : [n(t.deleted)])]);
      }
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const row of rows) lines.push(`  ${row.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')}`);
  }

  lines.push('');
  const declared = [
    ...Object.entries(report.declared.foreign_stores).map(([name, why]) => `store '${name}' is foreign: ${why}`),
    ...Object.entries(report.declared.ignored_schemas).map(([name, why]) => `schema '${name}' is not read: ${why}`),
    ...Object.entries(report.declared.ignored_databases).map(([name, why]) => `database '${name}' is not read: ${why}`),
  ];
  if (declared.length > 0) {
    lines.push('Declared (not collected, as configured):');
    for (const line of declared) lines.push(`  - ${line}`);
    lines.push('');
  }
  for (const warning of report.warnings) lines.push(`Warning: ${warning}`);
  if (report.errors === 0) lines.push('Errors: none');
  else {
    lines.push(`Errors (${report.errors}):`);
    for (const error of report.scan_errors) lines.push(`  - ${error}`);
  }
  if (!report.complete) lines.push(`PARTIAL RUN: shards without a result: ${report.failed_shards.join(', ')}`);
  return `${lines.join('\n')}\n`;
}
