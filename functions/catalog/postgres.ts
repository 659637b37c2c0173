import type { EventEmitter } from 'node:events';
import pg from 'pg';
import QueryStream from 'pg-query-stream';
import { to as copyTo } from 'pg-copy-streams';
import type { Readable } from 'node:stream';
import type { Catalog, Readability, Reference, StorageColumn, TransactionSnapshot, WriteHorizon } from '../engine/types.js';
import { parseStorageComment } from './comment.js';
import {
  DATABASES_SQL,
  READABLE_SQL,
  SERVICE_DATABASES,
  STORAGE_COLUMNS_FROM,
  isRefused,
  mayBeGone,
  refusedProblem,
  tableProblems,
  type DatabaseRow,
  type ReadableRow,
} from './postgres-readability.js';
import { STORAGE_WRITERS_SQL, stillOpenTransactions, writeTransactions } from './postgres-transactions.js';
import { toReferences } from './reference.js';
import { rowsUntilFailure } from './stream-rows.js';

export interface PostgresCatalogOptions {
  /** Database to read (DataJoint's schemas live inside one database); overrides the one in the connection. */
  database?: string;
  /** Rows fetched per round trip while streaming a column. */
  batchSize?: number;
  /** Connections kept for discovery and re-checks (streams use their own), per database. */
  poolSize?: number;
  /** Other databases on the server never to read (e.g. ones this role may not connect to); `*` stands for all of them. */
  ignoredDatabases?: string[];
}

/** In `ignoredDatabases`: read only the connection's own database. */
export const ALL_OTHER_DATABASES = '*';

// The SQL below is shared with other PostgreSQL-compatible catalogs (the embedded one).

const DEFAULT_BATCH_SIZE = 1000;
const DEFAULT_POOL_SIZE = 2;
const APPLICATION_NAME = 'djgc-catalog';
const STREAM_APPLICATION_NAME = 'djgc-catalog-stream';
/** Idle connections to other databases close soon: they would keep those databases from being dropped. */
const OTHER_DATABASE_IDLE_MS = 1000;

export const DISCOVER_SQL = `
SELECT n.nspname AS schema, c.relname AS table, a.attname AS column,
       col_description(c.oid, a.attnum) AS comment${STORAGE_COLUMNS_FROM}
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

/**
 * The catalog of a PostgreSQL server: every schema of the database it connects to, and of
 * every other database on the server it may connect to (a column there has `database` set).
 * Other databases are reached through a small pool each, opened on first use.
 */
export class PostgresCatalog implements Catalog {
  readonly backend = 'postgresql' as const;
  private readonly config: pg.ClientConfig;
  private readonly pool: pg.Pool;
  private readonly poolSize: number;
  private readonly batchSize: number;
  private readonly pools = new Map<string, pg.Pool>();
  private readonly columnTypes = new Map<string, string>();
  private readonly streams = new Set<pg.Client>();
  /** Databases never read: given at construction, and every one a readability check was told to ignore. */
  private readonly ignoredDatabases: Set<string>;
  private closed = false;

  constructor(connection: string | pg.ClientConfig, options: PostgresCatalogOptions = {}) {
    this.config = clientConfig(connection, options.database);
    this.batchSize = positive(options.batchSize ?? DEFAULT_BATCH_SIZE, 'batchSize');
    this.poolSize = positive(options.poolSize ?? DEFAULT_POOL_SIZE, 'poolSize');
    this.ignoredDatabases = new Set(options.ignoredDatabases ?? []);
    this.pool = newPool(this.config, this.poolSize);
  }

  /** Connects once and runs a trivial query; throws the driver's error if the database cannot be reached. */
  async verify(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  /**
   * The storage columns of every database on the server that is not ignored. A database this
   * role may not connect to throws, naming it (it may hold references): grant CONNECT or
   * declare it ignored. One connection per other database, closed once it has been read.
   */
  async discover(): Promise<StorageColumn[]> {
    this.assertOpen();
    const columns = storageColumns((await this.pool.query<DiscoveredRow>(DISCOVER_SQL)).rows, undefined);
    for (const database of await this.otherDatabases()) {
      if (!database.can_connect) {
        if (SERVICE_DATABASES.has(database.name)) continue;
        throw new Error(refusedProblem(database.name, database.role, undefined, quoteIdentifier));
      }
      const rows = await this.readOtherDatabase<DiscoveredRow>(database, DISCOVER_SQL);
      if (rows === 'refused') continue;
      columns.push(...storageColumns(rows, database.name));
    }
    return columns;
  }

  async *references(column: StorageColumn): AsyncGenerator<Reference> {
    // A plain loop: `yield*` over an array costs an extra await per reference in an async generator.
    for await (const page of this.referencePages(column)) for (const reference of page) yield reference;
  }

  /**
   * A jsonb column is read with one `COPY (SELECT …) TO STDOUT`: the rows come as one stream of
   * text, with no round trip per batch and no row objects, and the raw values that the server
   * could not extract are parsed here exactly as the driver parses jsonb (`JSON.parse`). Other
   * column types go through a cursor, their values as the driver returns them.
   */
  async *referencePages(column: StorageColumn): AsyncGenerator<Reference[]> {
    this.assertOpen();
    const where = qualifiedName(column);
    const type = await this.columnType(column);
    const sql = referenceSelect(column, type);
    const client = new pg.Client(streamConfig(this.configFor(column.database)));
    // Errors reach the consumer through `streamRows`; this only keeps a dying socket from crashing the process.
    client.on('error', ignore);
    this.streams.add(client);
    try {
      await client.connect();
      if (type === 'jsonb') {
        const stream = client.query(copyTo(`COPY (${sql}) TO STDOUT`));
        stream.on('error', ignore);
        const rows = new CopyRows(where);
        for await (const chunk of streamUntilFailure<Buffer>(client, stream, stream)) {
          const page: Reference[] = [];
          rows.push(chunk, (row) => {
            for (const reference of rowToReference(row, where)) page.push(reference);
          });
          if (page.length > 0) yield page;
        }
        rows.end();
        return;
      }
      const stream = client.query(new QueryStream(sql, [], { batchSize: this.batchSize }));
      // Likewise for the stream: destroying it on a dead connection may emit the connection's error.
      stream.on('error', ignore);
      let page: Reference[] = [];
      for await (const row of streamUntilFailure<ReferenceRow>(client, stream, stream.cursor as EventEmitter)) {
        for (const reference of rowToReference(row, where)) page.push(reference);
        if (page.length >= this.batchSize) {
          yield page;
          page = [];
        }
      }
      if (page.length > 0) yield page;
    } finally {
      this.streams.delete(client);
      // With a query still open (early stop or failure) pg destroys the socket instead of waiting for it.
      await client.end().catch(ignore);
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
    const result = await this.poolFor(column.database).query<ReferenceRow>(sql, [[...wanted]]);
    return result.rows.flatMap((row) => rowToReference(row, where).filter((reference) => wanted.has(reference.path)));
  }

  async openWriteTransactions(): Promise<TransactionSnapshot> {
    this.assertOpen();
    return writeTransactions((sql) => this.pool.query<{ id: string }>(sql), () => this.role());
  }

  async stillOpen(snapshot: TransactionSnapshot): Promise<string[]> {
    this.assertOpen();
    return stillOpenTransactions((sql) => this.pool.query<{ id: string }>(sql), snapshot);
  }

  /**
   * The transactions writing storage tables now, in every database that is read; asked again
   * after a re-check, which of them are still open and whether one has ended. null when this role
   * may not read the server's locks (`openWriteTransactions` then says so).
   */
  async writeHorizon(): Promise<WriteHorizon | null> {
    this.assertOpen();
    let writers: Set<string>;
    try {
      writers = new Set((await this.pool.query<{ id: string }>(STORAGE_WRITERS_SQL)).rows.map((row) => row.id));
    } catch (error) {
      if ((error as { code?: string }).code === '42501') return null;
      throw error;
    }
    for (const database of await this.otherDatabases()) {
      // One this role may not connect to fails the re-check's discovery, naming it.
      if (!database.can_connect) continue;
      const rows = await this.readOtherDatabase<{ id: string }>(database, STORAGE_WRITERS_SQL, ignore);
      if (rows !== 'refused') for (const row of rows) writers.add(row.id);
    }
    const ids = [...writers];
    return {
      since: async () => {
        const writing = await this.stillOpen({ visible: true, ids });
        return { writing, ended: writing.length < ids.length };
      },
    };
  }

  /**
   * Problems: a storage column (outside `ignoredSchemas`) this role cannot read in full, in any
   * database; a database (outside `ignoredDatabases`) it cannot connect to. The ignored
   * databases are also left out of every later `discover()`.
   */
  async checkReadable(options: { ignoredSchemas: string[]; ignoredDatabases?: string[] }): Promise<Readability> {
    this.assertOpen();
    for (const name of options.ignoredDatabases ?? []) this.ignoredDatabases.add(name);
    const ignoredSchemas = new Set(options.ignoredSchemas);
    const own = await this.pool.query<ReadableRow>(READABLE_SQL);
    const role = await this.role();
    const problems = tableProblems(own.rows, { role, ignoredSchemas, quote: quoteIdentifier });
    for (const database of await this.otherDatabases()) {
      if (!database.can_connect) {
        if (!SERVICE_DATABASES.has(database.name)) problems.push(refusedProblem(database.name, role, undefined, quoteIdentifier));
        continue;
      }
      const rows = await this.readOtherDatabase<ReadableRow>(database, READABLE_SQL, (error) => {
        if (!SERVICE_DATABASES.has(database.name)) problems.push(refusedProblem(database.name, role, error, quoteIdentifier));
      });
      if (rows !== 'refused') problems.push(...tableProblems(rows, { role, database: database.name, ignoredSchemas, quote: quoteIdentifier }));
    }
    return { problems };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.streams].map((client) => client.end().catch(ignore)));
    await Promise.all([this.pool, ...this.pools.values()].map((pool) => pool.end()));
  }

  /** The server's other databases that are to be read. */
  private async otherDatabases(): Promise<DatabaseRow[]> {
    if (this.ignoredDatabases.has(ALL_OTHER_DATABASES)) return [];
    const result = await this.pool.query<DatabaseRow>(DATABASES_SQL);
    return result.rows.filter((row) => !row.current && !this.ignoredDatabases.has(row.name));
  }

  /**
   * Runs `sql` on one connection to `database`, closed afterwards. A database dropped meanwhile
   * reads as empty; a refused connection goes to `refused` (or throws, naming the fix, without one).
   */
  private async readOtherDatabase<T extends pg.QueryResultRow>(
    database: DatabaseRow,
    sql: string,
    refused?: (error: unknown) => void,
  ): Promise<T[] | 'refused'> {
    const client = new pg.Client(this.configFor(database.name));
    client.on('error', ignore);
    try {
      await client.connect();
      return (await client.query<T>(sql)).rows;
    } catch (error) {
      if (isRefused(error)) {
        if (SERVICE_DATABASES.has(database.name)) return 'refused';
        if (!refused) throw new Error(refusedProblem(database.name, database.role, error, quoteIdentifier), { cause: error });
        refused(error);
        return 'refused';
      }
      if (mayBeGone(error) && !(await this.databaseExists(database.name))) return [];
      throw error;
    } finally {
      await client.end().catch(ignore);
    }
  }

  private async databaseExists(name: string): Promise<boolean> {
    const result = await this.pool.query('SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1', [name]);
    return (result.rowCount ?? 0) > 0;
  }

  private async role(): Promise<string> {
    return (await this.pool.query<{ role: string }>('SELECT current_user AS role')).rows[0]!.role;
  }

  private configFor(database: string | undefined): pg.ClientConfig {
    return database === undefined ? this.config : retarget(this.config, database);
  }

  private poolFor(database: string | undefined): pg.Pool {
    if (database === undefined) return this.pool;
    let pool = this.pools.get(database);
    if (!pool) {
      pool = newPool(this.configFor(database), this.poolSize, OTHER_DATABASE_IDLE_MS);
      this.pools.set(database, pool);
    }
    return pool;
  }

  private async columnType(column: StorageColumn): Promise<string> {
    const key = JSON.stringify([column.database ?? null, column.schema, column.table, column.column]);
    const known = this.columnTypes.get(key);
    if (known !== undefined) return known;
    const result = await this.poolFor(column.database).query<{ type: string }>(COLUMN_TYPE_SQL, [
      column.schema,
      column.table,
      column.column,
    ]);
    const type = result.rows[0]?.type;
    if (type === undefined) {
      const where = column.database === undefined ? 'the PostgreSQL database' : `PostgreSQL database "${column.database}"`;
      throw new Error(
        `column ${qualifiedName(column)} does not exist in ${where}: was it dropped or renamed after discovery? Run again to rediscover.`,
      );
    }
    this.columnTypes.set(key, type);
    return type;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('this PostgreSQL catalog is closed');
  }
}

interface DiscoveredRow {
  schema: string;
  table: string;
  column: string;
  comment: string | null;
}

function storageColumns(rows: readonly DiscoveredRow[], database: string | undefined): StorageColumn[] {
  const columns: StorageColumn[] = [];
  for (const row of rows) {
    const declared = parseStorageComment(row.comment);
    if (!declared) continue;
    const place = database === undefined ? {} : { database };
    columns.push({ ...place, schema: row.schema, table: row.table, column: row.column, ...declared });
  }
  return columns;
}

function ignore(): void {}

function newPool(config: pg.ClientConfig, max: number, idleTimeoutMillis?: number): pg.Pool {
  const pool = new pg.Pool({ ...config, max, ...(idleTimeoutMillis === undefined ? {} : { idleTimeoutMillis }) });
  // An idle pooled connection that dies is replaced on next use; its error has no caller to go to.
  // (A busy one's error goes to its query's caller.)
  pool.on('error', ignore);
  return pool;
}

function streamConfig(config: pg.ClientConfig): pg.ClientConfig {
  return config.application_name === APPLICATION_NAME ? { ...config, application_name: STREAM_APPLICATION_NAME } : config;
}

function retarget(config: pg.ClientConfig, database: string): pg.ClientConfig {
  if (config.connectionString) return { ...config, connectionString: withDatabase(config.connectionString, database) };
  return { ...config, database };
}

/**
 * The items of a query stream, failing as soon as its query or connection fails:
 * pg-query-stream alone can hang on a dead connection (its destroy waits for a
 * ReadyForQuery that never comes, and only then emits the error). `errors` is the
 * emitter of the query's own errors (the cursor of a query stream, the COPY stream itself).
 */
async function* streamUntilFailure<T>(client: pg.Client, stream: Readable, errors: EventEmitter): AsyncGenerator<T> {
  try {
    yield* rowsUntilFailure(stream as AsyncIterable<T>, (fail) => {
      const ended = (): void => fail(new Error('the PostgreSQL connection ended while streaming rows'));
      client.on('error', fail);
      client.on('end', ended);
      errors.on('error', fail);
      return () => {
        client.off('error', fail);
        client.off('end', ended);
        errors.off('error', fail);
      };
    });
  } finally {
    if (!stream.destroyed) stream.destroy();
  }
}

/**
 * The rows of `COPY (referenceSelect) TO STDOUT` in text format: `path`, `store` and `raw`
 * separated by tabs, one row a line, `\N` for NULL, and backslash escapes for backslash, tab,
 * newline, carriage return, backspace, form feed and vertical tab (the only ones COPY TO
 * writes). Anything else (another number of fields, another escape, raw text that is not
 * JSON, a last line without its end) throws: the column is not read, so nothing is deleted.
 */
export class CopyRows {
  private rest: Buffer | undefined;

  constructor(private readonly where: string) {}

  push(chunk: Buffer, row: (row: ReferenceRow) => void): void {
    let data = chunk;
    if (this.rest) {
      data = Buffer.concat([this.rest, chunk]);
      this.rest = undefined;
    }
    let start = 0;
    for (let end = data.indexOf(10, start); end !== -1; end = data.indexOf(10, start)) {
      row(this.parse(data.toString('utf8', start, end)));
      start = end + 1;
    }
    if (start < data.length) this.rest = data.subarray(start);
  }

  end(): void {
    if (this.rest && this.rest.length > 0) throw this.unexpected('the output ended in the middle of a row');
  }

  private parse(line: string): ReferenceRow {
    const first = line.indexOf('\t');
    const second = first === -1 ? -1 : line.indexOf('\t', first + 1);
    if (second === -1 || line.indexOf('\t', second + 1) !== -1) throw this.unexpected('a row does not have three fields');
    const path = this.field(line.slice(0, first));
    const store = this.field(line.slice(first + 1, second));
    const raw = this.field(line.slice(second + 1));
    if (raw === null) return { path, store, raw: null };
    try {
      return { path, store, raw: JSON.parse(raw) as unknown };
    } catch {
      throw this.unexpected('a jsonb value is not JSON');
    }
  }

  private field(text: string): string | null {
    if (text === '\\N') return null;
    if (!text.includes('\\')) return text;
    return text.replace(/\\(.?)/gs, (_, c: string) => {
      const decoded = COPY_ESCAPES[c];
      if (decoded === undefined) throw this.unexpected(`unknown escape "\\${c}"`);
      return decoded;
    });
  }

  private unexpected(problem: string): Error {
    return new Error(`${this.where}: the COPY output of the column could not be read (${problem}); the column is not read`);
  }
}

const COPY_ESCAPES: Record<string, string> = { '\\': '\\', t: '\t', n: '\n', r: '\r', b: '\b', f: '\f', v: '\v' };

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
