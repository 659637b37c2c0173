import type { ReportLike } from './collector.js';

/** Report keys of the engine's removal, counted when present. */
export const REMOVAL_KEYS = ['deleted', 'quarantined', 'restored', 'purged', 'deferred'] as const;
export type RemovalKey = (typeof REMOVAL_KEYS)[number];

const COUNT_KEYS = [
  'hash_referenced', 'hash_stored', 'hash_orphaned', 'schema_paths_referenced', 'schema_paths_stored', 'schema_paths_orphaned',
  'referenced', 'stored', 'orphaned', 'protected', 'saved_by_recheck', 'delete_failed', ...REMOVAL_KEYS,
];

const num = (report: ReportLike, key: string): number => (typeof report[key] === 'number' ? (report[key] as number) : 0);

/**
 * What is wrong with a report's totals: a count that is negative or not whole, totals that do not
 * add up, or removals counted differently from the paths the run said it removed (or one path twice).
 */
export function reportProblems(report: ReportLike, removedByKind: Record<string, string[]>): string[] {
  const problems: string[] = [];
  for (const key of COUNT_KEYS) {
    const value = report[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) problems.push(`${key} is ${JSON.stringify(value)}`);
  }
  for (const part of ['referenced', 'stored', 'orphaned']) {
    const total = num(report, part);
    const parts = num(report, `hash_${part}`) + num(report, `schema_paths_${part}`);
    if (total !== parts) problems.push(`${part} ${total} ≠ hash + schema ${parts}`);
  }
  const quarantines = 'quarantined' in report;
  // `referenced` counts reference paths; the objects found referenced are `referenced_objects`. A
  // purge counts quarantined objects still within their retention as protected, not as stored.
  const referencedObjects = 'referenced_objects' in report ? num(report, 'referenced_objects') : num(report, 'referenced');
  const classified = referencedObjects + num(report, 'protected') + num(report, 'orphaned');
  if (quarantines ? num(report, 'stored') > classified : num(report, 'stored') !== classified) {
    problems.push(`stored ${num(report, 'stored')} ${quarantines ? '>' : '≠'} referenced + protected + orphaned ${classified}`);
  }
  const fromListing = num(report, 'saved_by_recheck') + num(report, 'delete_failed') + (quarantines ? num(report, 'quarantined') : num(report, 'deleted'));
  if (fromListing > num(report, 'orphaned')) {
    problems.push(`saved + failed + ${quarantines ? 'quarantined' : 'deleted'} ${fromListing} > orphaned ${num(report, 'orphaned')}`);
  }
  for (const [kind, paths] of Object.entries(removedByKind)) {
    const distinct = new Set(paths).size;
    if (distinct !== paths.length) problems.push(`${paths.length - distinct} path(s) ${kind} twice in one run`);
    // The report's `deleted` counts purged objects too.
    const reported = kind === 'deleted' && typeof report.purged === 'number' ? num(report, 'deleted') - num(report, 'purged') : report[kind];
    if (typeof reported === 'number' && reported !== paths.length) {
      problems.push(`report says ${kind} ${String(reported)}, the run named ${paths.length} path(s)`);
    }
  }
  return problems;
}
