import type { Catalog } from '../engine/types.js';
import { MysqlCatalog } from './mysql.js';
import { PostgresCatalog } from './postgres.js';

export { parseStorageComment, type StorageDeclaration } from './comment.js';
export { toReference } from './reference.js';
export { MysqlCatalog, type MysqlCatalogOptions } from './mysql.js';
export { PostgresCatalog, type PostgresCatalogOptions } from './postgres.js';

export interface DatabaseConnection {
  backend: 'postgresql' | 'mysql';
  host: string;
  port: number;
  user: string;
  password?: string;
  /** PostgreSQL database holding the DataJoint schemas, default 'postgres'. Ignored for MySQL. */
  database?: string;
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

/**
 * A catalog connected to the database server, checked with one query. A server that
 * cannot be reached or refuses the login gives an error naming it and what to check.
 */
export async function openCatalog(connection: DatabaseConnection, options: OpenCatalogOptions = {}): Promise<Catalog> {
  validate(connection);
  const timeout = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const { host, port, user, password } = connection;
  const catalog =
    connection.backend === 'postgresql'
      ? new PostgresCatalog(
          {
            host,
            port,
            user,
            password,
            database: connection.database ?? DEFAULT_POSTGRES_DATABASE,
            connectionTimeoutMillis: timeout,
            keepAlive: true,
          },
          { batchSize: options.batchSize, ignoredDatabases: options.ignoredDatabases },
        )
      : new MysqlCatalog(
          { host, port, user, password, connectTimeout: timeout, enableKeepAlive: true },
          { batchSize: options.batchSize },
        );
  try {
    await catalog.verify();
  } catch (error) {
    await catalog.close().catch(() => undefined);
    const reason = error instanceof Error ? error.message || (error as { code?: string }).code : String(error);
    const database = connection.backend === 'postgresql' ? ' and the database name (DJ_DATABASE_NAME)' : '';
    throw new Error(
      `cannot connect to ${describeConnection(connection)}: ${reason}. Check that the server is running and reachable ` +
        `from here, the backend (DJ_BACKEND), host (DJ_HOST), port (DJ_PORT), user (DJ_USER), password (DJ_PASS)${database}.`,
      { cause: error },
    );
  }
  return catalog;
}
