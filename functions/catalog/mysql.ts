import mysql from 'mysql2';
import mysqlPromise from 'mysql2/promise';
import type { Catalog, Readability, Reference, StorageColumn, TransactionSnapshot, WriteHorizon } from '../engine/types.js';
import { parseStorageComment } from './comment.js';
import { accountName, grantProblems, summarizeGrants } from './mysql-grants.js';
import {
  TRANSACTIONS_REFRESH_MS,
  TRANSACTIONS_SQL,
  invisible,
  isProcessDenied,
  transactionId,
  type TransactionRow,
} from './mysql-transactions.js';
import { toReferences } from './reference.js';
import { rowsUntilFailure } from './stream-rows.js';

export interface MysqlCatalogOptions {
  /** Rows buffered while streaming a column (the driver pauses the socket beyond that). */
  batchSize?: number;
  /** Connections kept for discovery and re-checks (streams use their own). */
  poolSize?: number;
}

const DEFAULT_BATCH_SIZE = 1000;
const IN_FLIGHT_POOL_SIZE = 2;
const DEFAULT_POOL_SIZE = 2;
/** Paths per re-check query (each is one placeholder; a prepared statement takes at most 65 535). Each query reads the whole table, so fewer, larger ones. */
const PATHS_PER_QUERY = 20_000;
/**
 * Seconds the server waits on a stream whose consumer is busy before dropping it (the
 * server default, 60, is short for a consumer writing what it reads elsewhere).
 */
const STREAM_WRITE_TIMEOUT_SECONDS = 3600;

const DISCOVER_SQL = `
SELECT c.TABLE_SCHEMA AS \`schema\`, c.TABLE_NAME AS \`table\`, c.COLUMN_NAME AS \`column\`,
       c.COLUMN_COMMENT AS \`comment\`
FROM information_schema.COLUMNS c
JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
WHERE c.TABLE_SCHEMA NOT IN ('mysql', 'sys', 'information_schema', 'performance_schema')
  AND t.TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')
  AND LEFT(c.TABLE_NAME, 1) <> '~'
  AND c.COLUMN_COMMENT LIKE ':%'
ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION`;

export function quoteIdentifier(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

function qualifiedName(column: StorageColumn): string {
  return `${column.schema}.${column.table}.${column.column}`;
}

/** CHAR(92) is a backslash: spelled out so that no SQL mode (NO_BACKSLASH_ESCAPES) can change the SQL. */
const BACKSLASH = 'CHAR(92 USING utf8mb4)';

/**
 * A regular expression (PCRE on MariaDB, ICU on MySQL 8) matching JSON text made only
 * of tokens JavaScript's JSON.parse accepts, with no backslash anywhere (JSON_VALID
 * checks the grammar). MariaDB's JSON_VALID alone accepts numbers such as `1.`, `-`,
 * `1e` and escapes such as `\x` that JSON.parse rejects.
 */
const STRICT_TOKENS = `(CONCAT('^(?:"[^"', ${BACKSLASH}, ${BACKSLASH}, '[:cntrl:]]*+"|[ \t\n\r:,', ${BACKSLASH}, '[', ${BACKSLASH}, ']', ${BACKSLASH}, '{', ${BACKSLASH}, '}]|-?(?:0|[1-9][0-9]*+)(?:[.][0-9]++)?(?:[eE][-+]?[0-9]++)?|true|false|null)*+$') COLLATE utf8mb4_bin)`;

/** `needle` occurs more than once in the text. */
function repeated(text: string, needle: string): string {
  return `LOCATE('${needle}', ${text}, LOCATE('${needle}', ${text}) + 1) > 0`;
}

/** One path segment other than empty, `.` or `..`, inside a JSON string without escapes. */
const SEGMENT = '(?:[^"/.][^"/]*|[.][^"/.][^"/]*|[.][.][^"/]+)';

/**
 * JSON text (strict tokens, so no escapes and exactly one `"path"`) whose `"path"` key
 * holds a canonical path and whose only `/` characters are in that path.
 */
const ONLY_CANONICAL_PATH = `('^[^/]*"path"[ \t\n\r]*:[ \t\n\r]*"${SEGMENT}(?:/${SEGMENT})*"[^/]*$' COLLATE utf8mb4_bin)`;

/**
 * SQL expressions over one column. `ok` is 1 exactly when `toReferences` would read the
 * value as the one reference the server extracts: strict tokens and no escapes (so
 * unquoting is trivial and the text holds every string verbatim), an object with one
 * `"path"` key holding a canonical string (no empty, `.` or `..` segment) and at most one
 * `"store"` key holding a string or null, and no `/` in the text outside the path (so no
 * other string could name a path). Anything else goes to `toReferences` as raw text. CASE
 * keeps the evaluation order, so no JSON function sees invalid JSON (MySQL 8 raises an
 * error there).
 */
function expressions(column: StorageColumn) {
  const c = quoteIdentifier(column.column);
  const text = `CAST(${c} AS CHAR CHARACTER SET utf8mb4) COLLATE utf8mb4_bin`;
  const path = `JSON_EXTRACT(${c}, '$.path')`;
  const store = `JSON_EXTRACT(${c}, '$.store')`;
  const ok = `(CASE
    WHEN NOT JSON_VALID(${c}) THEN 0
    WHEN NOT (${text} REGEXP ${STRICT_TOKENS}) THEN 0
    WHEN JSON_TYPE(${c}) <> 'OBJECT' THEN 0
    WHEN ${repeated(text, '"path"')} THEN 0
    WHEN COALESCE(JSON_TYPE(${path}), '') <> 'STRING' THEN 0
    WHEN NOT (${text} REGEXP ${ONLY_CANONICAL_PATH}) THEN 0
    WHEN ${repeated(text, '"store"')} THEN 0
    WHEN ${store} IS NOT NULL AND JSON_TYPE(${store}) NOT IN ('STRING', 'NULL') THEN 0
    ELSE 1 END)`;
  return {
    value: c,
    source: `${quoteIdentifier(column.schema)}.${quoteIdentifier(column.table)}`,
    ok,
    path: `(CASE WHEN NOT JSON_VALID(${c}) THEN NULL WHEN JSON_TYPE(${path}) = 'STRING' THEN JSON_UNQUOTE(${path}) END)`,
    store: `(CASE WHEN NOT JSON_VALID(${c}) THEN NULL WHEN JSON_TYPE(${store}) = 'STRING' THEN JSON_UNQUOTE(${store}) END)`,
  };
}

export function referenceSelect(column: StorageColumn): string {
  const e = expressions(column);
  return `SELECT ${e.path} AS path, ${e.store} AS store, CASE WHEN ${e.ok} = 1 THEN NULL ELSE ${e.value} END AS raw
FROM ${e.source} WHERE ${e.value} IS NOT NULL`;
}

/**
 * The raw values of a column, for reading all of it: `toReferences` decides each one. The server's
 * extraction (`referenceSelect`) yields the same references, but its checks of every value (two
 * regular expressions over the text, several JSON functions) cost the server about four times a
 * plain read, more than parsing the values here; it is kept for the targeted re-check.
 */
export function rawSelect(column: StorageColumn): string {
  const e = expressions(column);
  return `SELECT NULL AS path, NULL AS store, ${e.value} AS raw FROM ${e.source} WHERE ${e.value} IS NOT NULL`;
}

/** Rows whose path may be one of `pathCount` placeholders, plus every row the server cannot read exactly. */
function recheckSelect(column: StorageColumn, pathCount: number): string {
  const e = expressions(column);
  const placeholders = Array.from({ length: pathCount }, () => '?').join(', ');
  const wanted = pathCount > 0 ? `WHEN JSON_UNQUOTE(JSON_EXTRACT(${e.value}, '$.path')) IN (${placeholders}) THEN 1` : '';
  return `${referenceSelect(column)} AND (CASE WHEN NOT JSON_VALID(${e.value}) THEN 1 ${wanted} WHEN ${e.ok} = 0 THEN 1 ELSE 0 END) = 1`;
}

interface ReferenceRow {
  path: string | null;
  store: string | null;
  raw: unknown;
}

/** The references in one row: `toReferences` over the raw value, or the server's extraction. */
function rowToReference(row: ReferenceRow, where: string): Reference[] {
  if (row.raw !== null) return toReferences(row.raw, where);
  if (row.path === null) throw new Error(`${where}: the server returned neither a path nor the raw value`);
  return [{ store: row.store === null || row.store === '' ? null : row.store, path: row.path }];
}

/** The catalog of one MySQL 8 or MariaDB server: every database on it except the system ones. */
export class MysqlCatalog implements Catalog {
  readonly backend = 'mysql' as const;
  private readonly config: mysql.ConnectionOptions;
  private readonly pool: mysqlPromise.Pool;
  private readonly batchSize: number;
  /** Open stream connections, each with the function that fails its iterator. */
  private readonly streams = new Map<mysql.Connection, (error: Error) => void>();
  /** Server thread ids of this catalog's connections: never among the transactions it reports. */
  private readonly ownThreads = new Set<number>();
  private closed = false;
  /** Connections reading at READ UNCOMMITTED: the re-check's look at rows of transactions still open. */
  private inFlightPool: mysqlPromise.Pool | undefined;

  constructor(connection: string | mysql.ConnectionOptions, options: MysqlCatalogOptions = {}) {
    const base = typeof connection === 'string' ? { uri: connection } : connection;
    // JSON always as text: what the driver would parse depends on the server and its version.
    this.config = { ...base, jsonStrings: true };
    this.batchSize = positive(options.batchSize ?? DEFAULT_BATCH_SIZE, 'batchSize');
    this.pool = mysqlPromise.createPool({
      ...this.config,
      connectionLimit: positive(options.poolSize ?? DEFAULT_POOL_SIZE, 'poolSize'),
    });
    // The pool watches each connection's first error only; a later one (or one while idle) has no caller.
    // The promise pool hands over the driver's own connection (its typings say otherwise).
    this.watchConnections(this.pool);
  }

  /** The pool watches each connection's first error only; a later one (or one while idle) has no caller. */
  private watchConnections(pool: mysqlPromise.Pool, setup?: string): void {
    // The promise pool hands over the driver's own connection (its typings say otherwise).
    pool.on('connection', (pooled: unknown) => {
      const connection = pooled as mysql.Connection;
      connection.on('error', ignore);
      if (connection.threadId !== null) this.ownThreads.add(connection.threadId);
      // Queued ahead of any query the pool later sends on this connection.
      if (setup) connection.query(setup, () => undefined);
    });
  }

  private inFlight(): mysqlPromise.Pool {
    if (!this.inFlightPool) {
      this.inFlightPool = mysqlPromise.createPool({ ...this.config, connectionLimit: IN_FLIGHT_POOL_SIZE });
      this.watchConnections(this.inFlightPool, 'SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED');
    }
    return this.inFlightPool;
  }

  /** Connects once and runs a trivial query; throws the driver's error if the server cannot be reached. */
  async verify(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async discover(): Promise<StorageColumn[]> {
    this.assertOpen();
    const [rows] = await this.pool.query<mysqlPromise.RowDataPacket[]>(DISCOVER_SQL);
    const columns: StorageColumn[] = [];
    for (const row of rows) {
      const declared = parseStorageComment(text(row.comment));
      if (declared) columns.push({ schema: text(row.schema), table: text(row.table), column: text(row.column), ...declared });
    }
    return columns;
  }

  async *references(column: StorageColumn): AsyncGenerator<Reference> {
    this.assertOpen();
    const where = qualifiedName(column);
    const connection = mysql.createConnection(this.config);
    // Errors reach the consumer through `rowsUntilFailure`; this only keeps a dying socket from crashing the process.
    connection.on('error', ignore);
    connection.once('connect', () => {
      if (connection.threadId !== null) this.ownThreads.add(connection.threadId);
    });
    this.streams.set(connection, () => undefined);
    let finished = false;
    try {
      // If this fails the server keeps its default timeout; a stream it then drops still fails loudly.
      connection.query(`SET SESSION net_write_timeout = ${STREAM_WRITE_TIMEOUT_SECONDS}`, () => undefined);
      const stream = connection.query(rawSelect(column)).stream({ highWaterMark: this.batchSize });
      // A connection lost mid-result reaches only the connection's 'error', never the query stream.
      const rows = rowsUntilFailure(stream as AsyncIterable<ReferenceRow>, (fail) => {
        const ended = (): void => fail(new Error('the MySQL connection ended while streaming rows'));
        connection.on('error', fail);
        connection.on('end', ended);
        this.streams.set(connection, fail);
        return () => {
          connection.off('error', fail);
          connection.off('end', ended);
        };
      });
      // A plain loop: `yield*` over an array costs an extra await per reference in an async generator.
      for await (const row of rows) {
        for (const reference of rowToReference(row, where)) yield reference;
      }
      finished = true;
    } finally {
      this.streams.delete(connection);
      if (connection.threadId !== null) this.ownThreads.delete(connection.threadId);
      // Ending cleanly would first read the rest of the result; an unfinished stream drops the connection.
      if (finished) await endConnection(connection);
      else dropConnection(connection);
    }
  }

  /**
   * With `inFlight`, the column is read twice: as committed, and at READ UNCOMMITTED, which also
   * shows rows that transactions still open have written (an UPDATE or DELETE in flight hides
   * the committed value from that second read, which the first one still sees).
   */
  async findReferences(column: StorageColumn, paths: readonly string[], options: { inFlight?: boolean } = {}): Promise<Reference[]> {
    this.assertOpen();
    if (!options.inFlight) return this.findIn(this.pool, column, paths);
    const [committed, uncommitted] = await Promise.all([this.findIn(this.pool, column, paths), this.findIn(this.inFlight(), column, paths)]);
    return [...committed, ...uncommitted];
  }

  private async findIn(pool: mysqlPromise.Pool, column: StorageColumn, paths: readonly string[]): Promise<Reference[]> {
    const where = qualifiedName(column);
    const wanted = [...new Set(paths)];
    const found: Reference[] = [];
    const wantedSet = new Set(wanted);
    let offset = 0;
    do {
      const chunk = wanted.slice(offset, offset + PATHS_PER_QUERY);
      const [rows] = await pool.execute<mysqlPromise.RowDataPacket[]>(recheckSelect(column, chunk.length), chunk);
      for (const row of rows) {
        // Rows of values read raw come back in every chunk; keep them once.
        if (row.raw !== null && offset > 0) continue;
        for (const reference of rowToReference(row as ReferenceRow, where)) {
          if (wantedSet.has(reference.path)) found.push(reference);
        }
      }
      offset += PATHS_PER_QUERY;
    } while (offset < wanted.length);
    return found;
  }

  /** Needs the PROCESS privilege (without it MariaDB and MySQL refuse INNODB_TRX with error 1227). */
  async openWriteTransactions(): Promise<TransactionSnapshot> {
    this.assertOpen();
    await new Promise((resolve) => setTimeout(resolve, TRANSACTIONS_REFRESH_MS));
    let rows: TransactionRow[];
    try {
      rows = await this.transactions();
    } catch (error) {
      if (!isProcessDenied(error)) throw error;
      return invisible(await this.account(), error);
    }
    const ids = rows.filter((row) => Number(row.writes) === 1).map(transactionId);
    return { visible: true, ids: [...new Set(ids)] };
  }

  /** None: the last re-check reads rows in flight instead (`findReferences` with `inFlight`). */
  async writeHorizon(): Promise<WriteHorizon | null> {
    return null;
  }

  async stillOpen(snapshot: TransactionSnapshot): Promise<string[]> {
    this.assertOpen();
    if (!snapshot.visible || snapshot.ids.length === 0) return [];
    const open = new Set((await this.transactions()).map(transactionId));
    return snapshot.ids.filter((id) => open.has(id));
  }

  /**
   * Problems keeping this account from reading every database: see `grantProblems`. Grants
   * are those of SHOW GRANTS, which on MariaDB includes the active (default) role and the roles
   * it holds; on MySQL 8 the active roles' grants are asked for with USING.
   */
  async checkReadable(options: { ignoredSchemas: string[] }): Promise<Readability> {
    this.assertOpen();
    const [[who]] = await this.pool.query<mysqlPromise.RowDataPacket[]>(
      'SELECT CURRENT_USER() AS user, CURRENT_ROLE() AS role, VERSION() AS version',
    );
    const role = who?.role === null || who?.role === undefined ? null : text(who.role);
    const roleActive = role !== null && role !== 'NONE';
    const mysql8Roles = roleActive && !/mariadb/i.test(text(who?.version));
    const [grantRows] = await this.pool.query<mysqlPromise.RowDataPacket[]>(
      mysql8Roles ? `SHOW GRANTS FOR CURRENT_USER() USING ${role}` : 'SHOW GRANTS',
    );
    const lines = grantRows.map((row) => text(Object.values(row)[0]));
    const [schemata] = await this.pool.query<mysqlPromise.RowDataPacket[]>(
      'SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME',
    );
    const problems = grantProblems(summarizeGrants(lines), {
      account: accountName(text(who?.user)),
      databases: schemata.map((row) => text(row.name)),
      ignored: new Set(options.ignoredSchemas),
      quote: quoteIdentifier,
      roleActive,
    });
    return { problems };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [connection, abort] of this.streams) {
      abort(new Error('the MySQL catalog was closed while streaming rows'));
      dropConnection(connection);
    }
    this.streams.clear();
    await Promise.all([this.pool.end(), this.inFlightPool?.end()]);
  }

  private async transactions(): Promise<TransactionRow[]> {
    const [rows] = await this.pool.query<mysqlPromise.RowDataPacket[]>(TRANSACTIONS_SQL);
    return (rows as TransactionRow[]).filter((row) => !this.ownThreads.has(Number(row.thread)));
  }

  private async account(): Promise<string> {
    const [[row]] = await this.pool.query<mysqlPromise.RowDataPacket[]>('SELECT CURRENT_USER() AS user');
    return accountName(text(row?.user));
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('this MySQL catalog is closed');
  }
}

function ignore(): void {}

function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (value === null || value === undefined) return '';
  return String(value);
}

function endConnection(connection: mysql.Connection): Promise<void> {
  return new Promise((resolve) => {
    connection.end(() => resolve());
  });
}

/**
 * Closes the socket at once. The driver's destroy() only half-closes it, and with a
 * result still unread the server then sits blocked on writing rows until its timeout.
 */
function dropConnection(connection: mysql.Connection): void {
  connection.destroy();
  (connection as unknown as { stream?: { destroy?: () => void } }).stream?.destroy?.();
}

function positive(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${value}`);
  return value;
}
