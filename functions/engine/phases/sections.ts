import type { StoreSpec } from '../types.js';
import type { Section } from '../model/plan.js';

export interface Layout {
  hashPrefix: string;
  schemaPrefix: string;
  /** Releases ≤ 2.3.0 wrote schema-addressed objects at the store root (`{schema}/{table}/…`). */
  legacyRootLayout: boolean;
}

export function layoutOf(spec: StoreSpec, legacyRootLayout = false): Layout {
  return { hashPrefix: trimSlashes(spec.hashPrefix), schemaPrefix: trimSlashes(spec.schemaPrefix), legacyRootLayout };
}

/** The store's quarantine area, outside both sections: `_djgc/quarantine/<runId>/<original path>`. */
export const QUARANTINE_ROOT = '_djgc';
export const QUARANTINE_PREFIX = `${QUARANTINE_ROOT}/quarantine/`;

export function quarantinePath(runId: string, path: string): string {
  return `${QUARANTINE_PREFIX}${runId}/${path}`;
}

/** The run and original path of a key in the quarantine area; null for anything else. */
export function parseQuarantinePath(key: string): { runId: string; path: string } | null {
  if (!key.startsWith(QUARANTINE_PREFIX)) return null;
  const rest = key.slice(QUARANTINE_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return null;
  return { runId: rest.slice(0, slash), path: rest.slice(slash + 1) };
}

/** A listed key that names no object path djgc could ever reference: empty or `.`/`..` segments. */
export function isCanonicalKey(path: string): boolean {
  let start = 0;
  for (;;) {
    const end = path.indexOf('/', start);
    const length = (end === -1 ? path.length : end) - start;
    // Empty, `.` or `..`.
    if (length === 0 || (length <= 2 && path.charCodeAt(start) === 46 && (length === 1 || path.charCodeAt(start + 1) === 46))) return false;
    if (end === -1) return true;
    start = end + 1;
  }
}

const HASH_NAME = /^[a-z2-7]{26}$/;
const TEMPORARY = /\.(saving|copying)$/;
const MANIFEST = '.manifest.json';

export function isHashName(name: string): boolean {
  return HASH_NAME.test(name);
}

export function isTemporary(path: string): boolean {
  return TEMPORARY.test(path);
}

export interface HashKey {
  schema: string;
  hash: string;
}

/**
 * `{hashPrefix}/{schema}/[fold/…]{hash}` where the fold segments, joined, are a prefix of the hash.
 * Anything else inside the hash section (temporary files, stray names) is not a hash object.
 */
export function parseHashKey(path: string, layout: Layout): HashKey | null {
  const head = `${layout.hashPrefix}/`;
  if (!path.startsWith(head)) return null;
  const segments = path.slice(head.length).split('/');
  if (segments.length < 2) return null;
  const schema = segments[0]!;
  const hash = segments[segments.length - 1]!;
  if (!schema || !isHashName(hash)) return null;
  const folds = segments.slice(1, -1);
  if (folds.some((f) => f.length === 0)) return null;
  if (!hash.startsWith(folds.join(''))) return null;
  return { schema, hash };
}

export interface SchemaKey {
  schema: string;
  table: string;
}

/**
 * The schema and table a schema-addressed path belongs to. Partition segments (`attr=value`) may
 * stand before the schema (`partition_pattern`); a schema name never contains `=`.
 */
export function parseSchemaKey(path: string, layout: Layout): SchemaKey | null {
  let rest: string;
  if (layout.legacyRootLayout) {
    rest = path;
  } else {
    const head = `${layout.schemaPrefix}/`;
    if (!path.startsWith(head)) return null;
    rest = path.slice(head.length);
  }
  const segments = rest.split('/');
  let i = 0;
  while (i < segments.length && segments[i]!.includes('=')) i++;
  const schema = segments[i];
  const table = segments[i + 1];
  // At least schema/table/name: a file directly in a schema folder is nobody's object.
  if (!schema || !table || segments.length < i + 3) return null;
  if (layout.legacyRootLayout && (schema === layout.hashPrefix || schema === layout.schemaPrefix || schema === QUARANTINE_ROOT)) return null;
  return { schema, table };
}

export function sectionOf(path: string, layout: Layout): Section | null {
  if (path.startsWith(`${layout.hashPrefix}/`)) return 'hash';
  if (!layout.legacyRootLayout && path.startsWith(`${layout.schemaPrefix}/`)) return 'schema';
  if (layout.legacyRootLayout && parseSchemaKey(path, layout)) return 'schema';
  return null;
}

/**
 * Every reference path that would cover `path`: the path itself, each of its folders
 * (an `<object@>` folder covers its files), and for a sidecar the folder it describes.
 */
export function coveringCandidates(path: string): string[] {
  const candidates = [path];
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
    candidates.push(path.slice(0, i));
  }
  if (path.endsWith(MANIFEST) && path.length > MANIFEST.length) {
    candidates.push(path.slice(0, -MANIFEST.length));
  }
  return candidates;
}

/** Hash objects are covered only by their exact path; schema objects by the coverage rule of spec §4. */
export function isCovered(path: string, section: Section, references: ReadonlySet<string>): boolean {
  if (section === 'hash' || references.has(path)) return references.has(path);
  // The candidates of `coveringCandidates`, without building their list.
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
    if (references.has(path.slice(0, i))) return true;
  }
  return path.endsWith(MANIFEST) && path.length > MANIFEST.length && references.has(path.slice(0, -MANIFEST.length));
}

export function trimSlashes(value: string): string {
  return value.replace(/^\/+|\/+$/g, '');
}
