import type { EventEmitter } from 'node:events';
import pg from 'pg';
import QueryStream from 'pg-query-stream';
import type { Catalog, Reference, StorageColumn } from '../engine/types.js';
import { parseStorageComment } from './comment.js';
import { toReferences } from './reference.js';
import { rowsUntilFailure } from './stream-rows.js';

export interface PostgresCatalogOptions {
  /** Database to read (DataJoint's schemas live inside one database); overrides the one in the connection. */
  database?: string;
  /** Rows fetched per round trip while streaming a column. */
  batchSize?: number;
  /** Connections kept for discovery and re-checks (streams use their own). */
  poolSize?: number;
}

// The SQL below is shared with other PostgreSQL-compatible catalogs (the embedded one).

const DEFAULT_BATCH_SIZE = 1000;
const DEFAULT_POOL_SIZE = 2;
const APPLICATION_NAME = 'djgc-catalog';
const STREAM_APPLICATION_NAME = 'djgc-catalog-stream';

export const DISCOVER_SQL = `
SELECT n.nspname AS schema, c.relname AS table, a.attname AS column,
       col_description(c.oid, a.attnum) AS comment
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
  AND col_description(c.oid, a.attnum) LIKE ':%'
ORDER BY n.nspname, c.relname, a.attnum`;

export const COLUMN_TYPE_SQL = `
SELECT a.atttypid::regtype::text AS type
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped`;

export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function qualifiedName(column: StorageColumn): string {
  return `${column.schema}.${column.table}.${column.column}`;
}

export interface ReferenceRow {
  path: string | null;
  store: string | null;
  raw: unknown;
}

/**
 * True exactly when `toReferences` would read the jsonb value `v` as the one reference
 * `{store: v->>'store', path: v->>'path'}`: an object whose `path` is a canonical string
 * (no empty, `.` or `..` segment) and whose `store` is a string or null, with no `/` and no
 * `"path"` anywhere else in its text (jsonb's text never escapes `/`, in keys or values),
 * so no nested `path` key and no other string that could name a path.
 */
function serverReadable(v: string): string {
  return `coalesce(
      jsonb_typeof(${v}) = 'object'
      AND jsonb_typeof(${v} -> 'path') = 'string'
      AND coalesce(jsonb_typeof(${v} -> 'store'), 'null') IN ('string', 'null')
      AND NOT ('/' || (${v} ->> 'path') || '/' LIKE ANY (ARRAY['%//%', '%/./%', '%/../%']))
      AND NOT (CASE WHEN jsonb_typeof(${v}) = 'object' THEN (${v} - 'path')::text END LIKE ANY (ARRAY['%/%', '%"path"%'])),
      false)`;
}

/**
 * SELECT producing one row per non-null value: `path`/`store` when the server could
 * extract them exactly as `toReferences` would, otherwise `raw` (the value as the driver
 * returns it) for `toReferences` to decide or reject. `filter` narrows the rows by `k.c`
 * (the value) and `k.ok` (extracted on the server).
 */
export function referenceSelect(column: StorageColumn, type: string, filter?: (ok: string, path: string) => string): string {
  const source = `${quoteIdentifier(column.schema)}.${quoteIdentifier(column.table)}`;
  const value = quoteIdentifier(column.column);
  if (type !== 'jsonb') {
    const where = filter ? ` AND (${filter('false', 'NULL::text')})` : '';
    return `SELECT NULL::text AS path, NULL::text AS store, s.c AS raw FROM (SELECT ${value} AS c FROM ${source}) s WHERE s.c IS NOT NULL${where}`;
  }
  const where = filter ? ` WHERE ${filter('k.ok', "(k.c ->> 'path')")}` : '';
  // OFFSET 0 keeps the planner from copying `ok` into each use: it is computed once per row.
  return `SELECT
    CASE WHEN k.ok THEN k.c ->> 'path' END AS path,
    CASE WHEN k.ok THEN k.c ->> 'store' END AS store,
    CASE WHEN k.ok THEN NULL ELSE k.c END AS raw
  FROM (
    SELECT ${value} AS c, ${serverReadable(value)} AS ok
    FROM ${source}
    WHERE ${value} IS NOT NULL AND jsonb_typeof(${value}) <> 'null'
    OFFSET 0) k${where}`;
}

/** The references in one row: the server's extraction, or `toReferences` over the raw value. */
export function rowToReference(row: ReferenceRow, where: string): Reference[] {
  if (row.path !== null) return [{ store: row.store === null || row.store === '' ? null : row.store, path: row.path }];
  return toReferences(row.raw, where);
}

/** The catalog of one PostgreSQL database: every schema in it. */
export class PostgresCatalog implements Catalog {
  readonly backend = 'postgresql' as const;
  private readonly config: pg.ClientConfig;
  private readonly streamConfig: pg.ClientConfig;
  private readonly pool: pg.Pool;
  private readonly batchSize: number;
  private readonly columnTypes = new Map<string, string>();
  private readonly streams = new Set<pg.Client>();
  private closed = false;

  constructor(connection: string | pg.ClientConfig, options: PostgresCatalogOptions = {}) {
    this.config = clientConfig(connection, options.database);
    this.streamConfig =
      this.config.application_name === APPLICATION_NAME
        ? { ...this.config, application_name: STREAM_APPLICATION_NAME }
        : this.config;
    this.batchSize = positive(options.batchSize ?? DEFAULT_BATCH_SIZE, 'batchSize');
    this.pool = new pg.Pool({ ...this.config, max: positive(options.poolSize ?? DEFAULT_POOL_SIZE, 'poolSize') });
    // An idle pooled connection that dies is replaced on next use; its error has no caller to go to.
    this.pool.on('error', () => undefined);
  }

  /** Connects once and runs a trivial query; throws the driver's error if the database cannot be reached. */
  async verify(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async discover(): Promise<StorageColumn[]> {
    this.assertOpen();
    const result = await this.pool.query<{ schema: string; table: string; column: string; comment: string | null }>(
      DISCOVER_SQL,
    );
    const columns: StorageColumn[] = [];
    for (const row of result.rows) {
      const declared = parseStorageComment(row.comment);
      if (declared) columns.push({ schema: row.schema, table: row.table, column: row.column, ...declared });
    }
    return columns;
  }

  async *references(column: StorageColumn): AsyncGenerator<Reference> {
    this.assertOpen();
    const where = qualifiedName(column);
    const sql = referenceSelect(column, await this.columnType(column));
    const client = new pg.Client(this.streamConfig);
    // Errors reach the consumer through `streamRows`; this only keeps a dying socket from crashing the process.
    client.on('error', () => undefined);
    this.streams.add(client);
    try {
      await client.connect();
      const stream = client.query(new QueryStream(sql, [], { batchSize: this.batchSize }));
      // A plain loop: `yield*` over an array costs an extra await per reference in an async generator.
      for await (const row of streamRows<ReferenceRow>(client, stream)) {
        for (const reference of rowToReference(row, where)) yield reference;
      }
    } finally {
      this.streams.delete(client);
      // With a query still open (early stop or failure) pg destroys the socket instead of waiting for it.
      await client.end().catch(() => undefined);
    }
  }

  async findReferences(column: StorageColumn, paths: readonly string[]): Promise<Reference[]> {
    this.assertOpen();
    const where = qualifiedName(column);
    const wanted = new Set(paths);
    const sql = referenceSelect(
      column,
      await this.columnType(column),
      (ok, path) => `NOT ${ok} OR ${path} = ANY($1::text[])`,
    );
    const result = await this.pool.query<ReferenceRow>(sql, [[...wanted]]);
    return result.rows.flatMap((row) => rowToReference(row, where).filter((reference) => wanted.has(reference.path)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.streams].map((client) => client.end().catch(() => undefined)));
    await this.pool.end();
  }

  private async columnType(column: StorageColumn): Promise<string> {
    const key = JSON.stringify([column.schema, column.table, column.column]);
    const known = this.columnTypes.get(key);
    if (known !== undefined) return known;
    const result = await this.pool.query<{ type: string }>(COLUMN_TYPE_SQL, [column.schema, column.table, column.column]);
    const type = result.rows[0]?.type;
    if (type === undefined) {
      throw new Error(
        `column ${qualifiedName(column)} does not exist in the PostgreSQL database: was it dropped or renamed after discovery? Run again to rediscover.`,
      );
    }
    this.columnTypes.set(key, type);
    return type;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('this PostgreSQL catalog is closed');
  }
}

/**
 * The rows of a query stream, failing as soon as its query or connection fails:
 * pg-query-stream alone can hang on a dead connection (its destroy waits for a
 * ReadyForQuery that never comes, and only then emits the error).
 */
async function* streamRows<T>(client: pg.Client, stream: QueryStream): AsyncGenerator<T> {
  const cursor = stream.cursor as EventEmitter;
  try {
    yield* rowsUntilFailure(stream as AsyncIterable<T>, (fail) => {
      const ended = (): void => fail(new Error('the PostgreSQL connection ended while streaming rows'));
      client.on('error', fail);
      client.on('end', ended);
      cursor.on('error', fail);
      return () => {
        client.off('error', fail);
        client.off('end', ended);
        cursor.off('error', fail);
      };
    });
  } finally {
    if (!stream.destroyed) stream.destroy();
  }
}

function positive(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${value}`);
  return value;
}

function clientConfig(connection: string | pg.ClientConfig, database: string | undefined): pg.ClientConfig {
  const base: pg.ClientConfig =
    typeof connection === 'string' ? { connectionString: withDatabase(connection, database) } : { ...connection };
  if (typeof connection !== 'string' && database !== undefined) {
    if (base.connectionString) base.connectionString = withDatabase(base.connectionString, database);
    else base.database = database;
  }
  return { application_name: APPLICATION_NAME, ...base };
}

function withDatabase(url: string, database: string | undefined): string {
  if (database === undefined) return url;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`not a PostgreSQL connection URL: ${redactUrl(url)} (expected postgres://user@host:port/database)`);
  }
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
