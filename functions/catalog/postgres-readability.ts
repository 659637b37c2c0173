import { parseStorageComment } from './comment.js';

/** `quote` names a PostgreSQL identifier the way the catalog quotes it in SQL. */
type Quote = (name: string) => string;

/** The databases of the server a catalog may read, with whether this role may connect to each. */
export const DATABASES_SQL = `
SELECT d.datname AS name, d.datname = current_database() AS current,
       has_database_privilege(d.oid, 'CONNECT') AS can_connect, current_user AS role
FROM pg_catalog.pg_database d
WHERE d.datallowconn AND NOT d.datistemplate
ORDER BY d.datname`;

export interface DatabaseRow {
  name: string;
  current: boolean;
  can_connect: boolean;
  role: string;
}

/**
 * Databases run by a managed service for itself (AWS RDS, Azure, Cloud SQL): they never hold
 * DataJoint schemas and ordinary roles may not connect to them, so one that refuses is skipped.
 */
export const SERVICE_DATABASES: ReadonlySet<string> = new Set(['rdsadmin', 'azure_maintenance', 'azure_sys', 'cloudsqladmin']);

/** SQLSTATEs of a connection the server refuses for this role: no CONNECT privilege, pg_hba, password. */
const REFUSED = new Set(['42501', '28000', '28P01']);
/** SQLSTATEs of a database that went away (dropped) while being read. */
const GONE = new Set(['3D000', '57P01']);

export function isRefused(error: unknown): boolean {
  return REFUSED.has((error as { code?: string }).code ?? '');
}

export function mayBeGone(error: unknown): boolean {
  return GONE.has((error as { code?: string }).code ?? '');
}

export function refusedProblem(database: string, role: string, cause: unknown, quote: Quote): string {
  const reason = cause instanceof Error ? cause.message : String(cause);
  const fix = (cause as { code?: string } | undefined)?.code === '42501' || cause === undefined
    ? `GRANT CONNECT ON DATABASE ${quote(database)} TO ${quote(role)}`
    : `allow role ${quote(role)} to connect to it in pg_hba.conf`;
  return `database ${quote(database)} cannot be read by role ${quote(role)}${cause === undefined ? ' (it has no CONNECT privilege)' : ` (${reason})`}: ${fix}, or declare the database ignored.`;
}

/** The columns of ordinary tables whose comment may declare a codec (`~` tables excluded), as `n`, `c`, `a`. */
export const STORAGE_COLUMNS_FROM = `
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND NOT c.relispartition
  AND a.attnum > 0
  AND NOT a.attisdropped
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
  AND left(c.relname, 1) <> '~'
  AND col_description(c.oid, a.attnum) LIKE ':%'`;

/** Every storage column of the current database with what keeps this role from reading it. */
export const READABLE_SQL = `
SELECT n.nspname AS schema, c.relname AS table, a.attname AS column,
       col_description(c.oid, a.attnum) AS comment,
       has_schema_privilege(n.oid, 'USAGE') AS schema_usage,
       has_column_privilege(c.oid, a.attnum, 'SELECT') AS can_select,
       c.relrowsecurity AND NOT (
         (SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
         OR (pg_has_role(c.relowner, 'USAGE') AND NOT c.relforcerowsecurity)) AS rows_filtered${STORAGE_COLUMNS_FROM}
ORDER BY n.nspname, c.relname, a.attnum`;

export interface ReadableRow {
  schema: string;
  table: string;
  column: string;
  comment: string | null;
  schema_usage: boolean;
  can_select: boolean;
  rows_filtered: boolean;
}

/** One sentence per table (outside ignored schemas) whose storage columns this role cannot read in full. */
export function tableProblems(
  rows: readonly ReadableRow[],
  context: { role: string; database?: string; ignoredSchemas: ReadonlySet<string>; quote: Quote },
): string[] {
  const { role, database, ignoredSchemas, quote } = context;
  const byTable = new Map<string, { schema: string; table: string; unreadable: string[]; usage: boolean; filtered: boolean }>();
  for (const row of rows) {
    if (ignoredSchemas.has(row.schema) || !parseStorageComment(row.comment)) continue;
    if (row.schema_usage && row.can_select && !row.rows_filtered) continue;
    const key = JSON.stringify([row.schema, row.table]);
    const entry = byTable.get(key) ?? { schema: row.schema, table: row.table, unreadable: [], usage: true, filtered: false };
    if (!row.can_select) entry.unreadable.push(row.column);
    entry.usage &&= row.schema_usage;
    entry.filtered ||= row.rows_filtered;
    byTable.set(key, entry);
  }
  const where = database === undefined ? '' : ` in database ${quote(database)}`;
  const r = quote(role);
  return [...byTable.values()].map(({ schema, table, unreadable, usage, filtered }) => {
    const name = `${quote(schema)}.${quote(table)}`;
    const fixes: string[] = [];
    const why: string[] = [];
    if (!usage) {
      why.push(`no USAGE on schema ${quote(schema)}`);
      fixes.push(`GRANT USAGE ON SCHEMA ${quote(schema)} TO ${r}`);
    }
    if (unreadable.length > 0) {
      why.push(`no SELECT on storage column${unreadable.length > 1 ? 's' : ''} ${unreadable.map(quote).join(', ')}`);
      fixes.push(`GRANT SELECT ON ${name} TO ${r}`);
    }
    if (filtered) {
      why.push('row-level security that may hide rows from it');
      fixes.push(`ALTER ROLE ${r} BYPASSRLS`);
    }
    return `table ${name}${where} cannot be read in full by role ${r} (${why.join('; ')}): ${fixes.join('; ')}, or declare schema ${quote(schema)} ignored.`;
  });
}
