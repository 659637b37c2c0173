import mysql from 'mysql2/promise';
import { mysqlUrl } from './env.js';
import { ProgramNotFoundError, runProgram } from './process.js';

const LOCK_NAME = 'djgc-test-server';
const LOCK_TIMEOUT_SECONDS = 600;

const quoteIdent = (name: string): string => `\`${name.replaceAll('`', '``')}\``;

/**
 * A connection whose dying (a test killing threads) fails its pending and next queries
 * instead of crashing the test run.
 */
export async function testConnection(url: string, options: mysql.ConnectionOptions = {}): Promise<mysql.Connection> {
  const connection = await mysql.createConnection({ uri: url, multipleStatements: false, ...options });
  connection.on('error', () => undefined);
  return connection;
}

const connect = (url: string): Promise<mysql.Connection> => testConnection(url);

/**
 * Run `fn` while holding the server-wide test lock. The collector reads references from
 * every schema on a MySQL/MariaDB server, so tests using that server must not overlap;
 * the lock lives on the server and so excludes other test workers too. Not reentrant.
 */
export async function withMysqlServer<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const url = mysqlUrl();
  const lock = await connect(url);
  try {
    const [rows] = await lock.query<mysql.RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS got', [LOCK_NAME, LOCK_TIMEOUT_SECONDS]);
    if (rows[0]?.got !== 1) {
      throw new Error(
        `could not take the MySQL test lock '${LOCK_NAME}' within ${LOCK_TIMEOUT_SECONDS} s: another test holds the server`,
      );
    }
    try {
      return await fn(url);
    } finally {
      await lock.query('SELECT RELEASE_LOCK(?)', [LOCK_NAME]);
    }
  } finally {
    await lock.end();
  }
}

/** Create `database` if needed and load a mysqldump file into it with the mariadb (or mysql) client. */
export async function loadMysqlFixture(url: string, database: string, sqlFile: string): Promise<void> {
  const admin = await connect(url);
  try {
    await admin.query(`CREATE DATABASE IF NOT EXISTS ${quoteIdent(database)}`);
  } finally {
    await admin.end();
  }
  const target = new URL(url);
  const args = [
    '--no-defaults',
    '--protocol=TCP',
    `--host=${target.hostname.replace(/^\[(.*)\]$/, '$1')}`,
    `--port=${target.port || '3306'}`,
    `--user=${decodeURIComponent(target.username)}`,
    '--default-character-set=utf8mb4',
    database,
  ];
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (target.password) env.MYSQL_PWD = decodeURIComponent(target.password);
  const describe = `loading ${sqlFile} into MySQL database ${database}`;
  try {
    await runProgram('mariadb', args, { describe, env, stdinFile: sqlFile, installHint: 'install mariadb-client' });
  } catch (error) {
    if (!(error instanceof ProgramNotFoundError)) throw error;
    await runProgram('mysql', args, {
      describe,
      env,
      stdinFile: sqlFile,
      installHint: 'install the Debian package mariadb-client (scripts/services.sh start does)',
    });
  }
}

/** Drop the given databases (schemas) if they exist. */
export async function dropMysqlDatabases(url: string, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  const admin = await connect(url);
  try {
    for (const name of names) await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
  } finally {
    await admin.end();
  }
}
