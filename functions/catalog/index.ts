import type { Catalog } from '../engine/types.js';
import { MysqlCatalog } from './mysql.js';
import { PostgresCatalog } from './postgres.js';

export { parseStorageComment, type StorageDeclaration } from './comment.js';
export { toReference } from './reference.js';
export { MysqlCatalog, type MysqlCatalogOptions } from './mysql.js';
export { ALL_OTHER_DATABASES, PostgresCatalog, type PostgresCatalogOptions } from './postgres.js';

export interface DatabaseConnection {
  backend: 'postgresql' | 'mysql';
  host: string;
  port: number;
  user: string;
  password?: string;
  /** PostgreSQL database holding the DataJoint schemas, default 'postgres'. Ignored for MySQL. */
  database?: string;
  /**
   * Absent: DataJoint's default (`use_tls` null) — TLS when the server offers it, else a plain
   * connection. false: no TLS. true: TLS required, the server's certificate not checked (as
   * DataJoint's `use_tls: true`, libpq's sslmode=require). An object: TLS required, the
   * certificate checked against Node's CAs (plus NODE_EXTRA_CA_CERTS) or `ca` (PEM) when
   * `rejectUnauthorized` is true.
   */
  tls?: boolean | { rejectUnauthorized: boolean; ca?: string };
}

export interface OpenCatalogOptions {
  /** Rows per round trip while streaming a column. */
  batchSize?: number;
  /** Milliseconds to wait for a connection before giving up. */
  connectTimeoutMs?: number;
  /** PostgreSQL: other databases on the server never to read. Ignored for MySQL. */
  ignoredDatabases?: string[];
}

const DEFAULT_POSTGRES_DATABASE = 'postgres';
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

function hostPort(c: DatabaseConnection): string {
  return `${c.host.includes(':') ? `[${c.host}]` : c.host}:${c.port}`;
}

/** The connection in words, without the password, e.g. `PostgreSQL at db:5432 (database "postgres", user "dj")`. */
export function describeConnection(c: DatabaseConnection): string {
  if (c.backend === 'postgresql') {
    return `PostgreSQL at ${hostPort(c)} (database "${c.database ?? DEFAULT_POSTGRES_DATABASE}", user "${c.user}")`;
  }
  return `MySQL at ${hostPort(c)} (user "${c.user}")`;
}

function validate(c: DatabaseConnection): void {
  const problems: string[] = [];
  if (c.backend !== 'postgresql' && c.backend !== 'mysql') {
    problems.push(`backend must be "postgresql" or "mysql" (DJ_BACKEND), got ${JSON.stringify(c.backend)}`);
  }
  if (typeof c.host !== 'string' || c.host.trim() === '') problems.push('host is empty (DJ_HOST)');
  if (!Number.isInteger(c.port) || c.port < 1 || c.port > 65535) {
    problems.push(`port must be an integer from 1 to 65535 (DJ_PORT), got ${JSON.stringify(c.port)}`);
  }
  if (typeof c.user !== 'string' || c.user === '') problems.push('user is empty (DJ_USER)');
  if (c.database !== undefined && (typeof c.database !== 'string' || c.database === '')) {
    problems.push('database name is empty (DJ_DATABASE_NAME)');
  }
  if (problems.length > 0) throw new Error(`invalid database connection: ${problems.join('; ')}`);
}

type TlsOptions = false | { rejectUnauthorized: boolean; ca?: string };

/** What the drivers' `ssl` option gets for a connection's `tls` setting; undefined first tries TLS. */
function tlsOptions(tls: DatabaseConnection['tls']): TlsOptions {
  if (tls === false) return false;
  if (tls === true || tls === undefined) return { rejectUnauthorized: false };
  return { rejectUnauthorized: tls.rejectUnauthorized, ...(tls.ca !== undefined ? { ca: tls.ca } : {}) };
}

function newCatalog(connection: DatabaseConnection, ssl: TlsOptions, timeout: number, options: OpenCatalogOptions): PostgresCatalog | MysqlCatalog {
  const { host, port, user, password } = connection;
  if (connection.backend === 'postgresql') {
    return new PostgresCatalog(
      { host, port, user, password, database: connection.database ?? DEFAULT_POSTGRES_DATABASE, connectionTimeoutMillis: timeout, keepAlive: true, ssl },
      { batchSize: options.batchSize, ignoredDatabases: options.ignoredDatabases },
    );
  }
  return new MysqlCatalog(
    { host, port, user, password, connectTimeout: timeout, enableKeepAlive: true, ...(ssl ? { ssl } : {}) },
    { batchSize: options.batchSize },
  );
}

async function connected(catalog: PostgresCatalog | MysqlCatalog): Promise<Catalog> {
  try {
    await catalog.verify();
    return catalog;
  } catch (error) {
    await catalog.close().catch(() => undefined);
    throw error;
  }
}

/** Failures where the server was never reached: trying again without TLS would only wait twice. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

function errorCode(error: unknown): string | undefined {
  return (error as { code?: string } | null)?.code;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message || errorCode(error) || error.name : String(error);
}

const TLS_FAILURE = /ssl|tls|certificate|cert_|self[- ]signed|secure connection|HANDSHAKE_NO_SSL|EPROTO/i;
const TLS_REQUIRED = /no encryption|insecure transport|require_secure_transport|SSL off/i;

/** What to change when the failure is about TLS: turn it off, turn it on, or supply a CA. */
function tlsHint(connection: DatabaseConnection, error: unknown): string {
  const text = `${errorText(error)} ${errorCode(error) ?? ''}`;
  if (connection.tls === false) {
    return TLS_REQUIRED.test(text)
      ? ' The server requires TLS and TLS is off: set DJ_USE_TLS=true (or "use_tls": true in datajoint.json; DJGC_DB_TLS=true for the stack).'
      : '';
  }
  if (!TLS_FAILURE.test(text)) return '';
  const verified = typeof connection.tls === 'object' && connection.tls.rejectUnauthorized;
  return (
    ' The TLS connection failed: if the server does not offer TLS, turn TLS off with DJ_USE_TLS=false (or "use_tls": false in datajoint.json; DJGC_DB_TLS=false for the stack)' +
    (verified ? '; if its certificate is not trusted, supply the CA bundle (PEM) with NODE_EXTRA_CA_CERTS=<file>, e.g. the RDS bundle.' : '.')
  );
}

/**
 * A catalog connected to the database server, checked with one query. A server that
 * cannot be reached or refuses the login gives an error naming it and what to check.
 * With `tls` absent, TLS is tried first and a plain connection made if that fails, as DataJoint does.
 */
export async function openCatalog(connection: DatabaseConnection, options: OpenCatalogOptions = {}): Promise<Catalog> {
  validate(connection);
  const timeout = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  let failure: unknown;
  let hint = '';
  try {
    return await connected(newCatalog(connection, tlsOptions(connection.tls), timeout, options));
  } catch (error) {
    failure = error;
    hint = tlsHint(connection, error);
  }
  if (connection.tls === undefined && !UNREACHABLE.has(errorCode(failure) ?? '')) {
    try {
      return await connected(newCatalog(connection, false, timeout, options));
    } catch (error) {
      hint = ` (A TLS connection was tried first and failed: ${errorText(failure)}.)${tlsHint({ ...connection, tls: false }, error)}`;
      failure = error;
    }
  }
  const database = connection.backend === 'postgresql' ? ' and the database name (DJ_DATABASE_NAME)' : '';
  throw new Error(
    `cannot connect to ${describeConnection(connection)}: ${errorText(failure)}. Check that the server is running and reachable ` +
      `from here, the backend (DJ_BACKEND), host (DJ_HOST), port (DJ_PORT), user (DJ_USER), password (DJ_PASS)${database}.${hint}`,
    { cause: failure },
  );
}
