import { randomBytes } from 'node:crypto';
import pg from 'pg';
import mysql from 'mysql2/promise';
import type { DatabaseConnection } from '../functions/catalog/index.js';
import { connectionFromUrl } from '../test/support/engine.js';
import { createTestDatabase, type TestDatabase } from '../test/support/postgres.js';
import { mysqlUrl, postgresUrl } from '../test/support/env.js';
import { uniqueName } from '../test/support/names.js';

export type Backend = 'postgres' | 'mariadb';

/** One transaction on its own connection; `?` placeholders on both backends. */
export interface Transaction {
  /** The rows returned (RETURNING) and the number of rows the statement changed. */
  query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[]; count: number }>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

/** A storage column of a table, as DataJoint declares it. */
export interface ColumnDecl {
  name: string;
  /** e.g. `<blob@main>`; a null `type` is the integer primary key. */
  type: string;
  nullable?: boolean;
}

/**
 * The DataJoint server the writers write to (PostgreSQL schemas in one database, or MariaDB
 * databases), and what the collector needs to connect to it as its own user.
 */
export interface StressDatabase {
  backend: Backend;
  schemas: string[];
  /** How djgc connects (its own user on MariaDB, so that its connections can be found). */
  collector: DatabaseConnection;
  /** datajoint.json's database block for the djgc command. */
  datajointBlock(): Record<string, unknown>;
  createTable(schema: string, table: string, columns: ColumnDecl[]): Promise<void>;
  transaction(): Promise<Transaction>;
  /** `schema.table` quoted for this backend. */
  table(schema: string, table: string): string;
  /** Terminate every connection djgc's catalog holds now; the number terminated. */
  killCollectorConnections(): Promise<number>;
  close(): Promise<void>;
}

const pgQuote = (name: string): string => `"${name.replaceAll('"', '""')}"`;
const myQuote = (name: string): string => `\`${name.replaceAll('`', '``')}\``;
const literal = (text: string): string => `'${text.replaceAll("'", "''")}'`;

function toDollar(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

class PostgresDatabase implements StressDatabase {
  readonly backend = 'postgres' as const;
  readonly collector: DatabaseConnection;
  private constructor(
    private readonly db: TestDatabase,
    private readonly pool: pg.Pool,
    readonly schemas: string[],
  ) {
    this.collector = connectionFromUrl(db.url);
  }

  static async create(tag: string, schemaCount: number): Promise<PostgresDatabase> {
    const db = await createTestDatabase(`djgc_stress_${tag}`);
    const pool = new pg.Pool({ connectionString: db.url, max: 24, application_name: 'djgc-stress-writer' });
    pool.on('error', () => undefined);
    const schemas = Array.from({ length: schemaCount }, (_, i) => `lab_${String.fromCharCode(97 + i)}`);
    for (const schema of schemas) await pool.query(`CREATE SCHEMA ${pgQuote(schema)}`);
    return new PostgresDatabase(db, pool, schemas);
  }

  datajointBlock(): Record<string, unknown> {
    const c = this.collector;
    return { backend: 'postgresql', host: c.host, port: c.port, user: c.user, ...(c.password ? { password: c.password } : {}), name: c.database };
  }

  table(schema: string, table: string): string {
    return `${pgQuote(schema)}.${pgQuote(table)}`;
  }

  async createTable(schema: string, table: string, columns: ColumnDecl[]): Promise<void> {
    const name = this.table(schema, table);
    const defs = columns.map((c) =>
      c.type === 'int' ? `${pgQuote(c.name)} integer NOT NULL PRIMARY KEY` : `${pgQuote(c.name)} jsonb${c.nullable ? '' : ' NOT NULL'}`,
    );
    const comments = columns.map(
      (c) => `COMMENT ON COLUMN ${name}.${pgQuote(c.name)} IS ${literal(c.type === 'int' ? ':int32:' : `:${c.type}:stress`)}`,
    );
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`CREATE TABLE ${name} (${defs.join(', ')})`);
      for (const comment of comments) await client.query(comment);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async transaction(): Promise<Transaction> {
    const client = await this.pool.connect();
    let released = false;
    const release = (error?: Error): void => {
      if (!released) client.release(error);
      released = true;
    };
    try {
      await client.query('BEGIN');
    } catch (error) {
      release(error as Error);
      throw error;
    }
    return {
      query: async (sql, params = []) => {
        if (released) throw new Error('the transaction has ended');
        const result = await client.query(toDollar(sql), params);
        return { rows: result.rows as Record<string, unknown>[], count: result.rowCount ?? 0 };
      },
      commit: async () => {
        if (released) throw new Error('the transaction has ended');
        try {
          await client.query('COMMIT');
          release();
        } catch (error) {
          release(error as Error);
          throw error;
        }
      },
      rollback: async () => {
        if (released) return;
        try {
          await client.query('ROLLBACK');
          release();
        } catch (error) {
          release(error as Error);
          throw error;
        }
      },
    };
  }

  async killCollectorConnections(): Promise<number> {
    const result = await this.pool.query(
      `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
       WHERE datname = $1 AND application_name LIKE 'djgc-catalog%' AND pid <> pg_backend_pid()`,
      [this.db.name],
    );
    return result.rows.filter((r: { killed: boolean }) => r.killed).length;
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
    await this.db.drop().catch(() => undefined);
  }
}

class MariadbDatabase implements StressDatabase {
  readonly backend = 'mariadb' as const;
  private constructor(
    private readonly pool: mysql.Pool,
    readonly schemas: string[],
    readonly collector: DatabaseConnection,
    private readonly account: string,
  ) {}

  static async create(tag: string, schemaCount: number): Promise<MariadbDatabase> {
    const url = mysqlUrl();
    const pool = mysql.createPool({ uri: url, connectionLimit: 24, multipleStatements: false });
    pool.on('connection', (c) => (c as unknown as { on: (e: string, f: () => void) => void }).on('error', () => undefined));
    const base = uniqueName(`st_${tag}`).slice(0, 40);
    const schemas = Array.from({ length: schemaCount }, (_, i) => `${base}_${String.fromCharCode(97 + i)}`);
    for (const schema of schemas) await pool.query(`CREATE DATABASE ${myQuote(schema)}`);
    // The collector's own account: its connections are the ones the faults kill.
    const user = `djgc_${randomBytes(5).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    await pool.query(`CREATE USER ${literal(user)}@'%' IDENTIFIED BY ${literal(password)}`);
    await pool.query(`GRANT SELECT, PROCESS ON *.* TO ${literal(user)}@'%'`);
    const admin = connectionFromUrl(url);
    return new MariadbDatabase(pool, schemas, { backend: 'mysql', host: admin.host, port: admin.port, user, password }, user);
  }

  datajointBlock(): Record<string, unknown> {
    const c = this.collector;
    return { backend: 'mysql', host: c.host, port: c.port, user: c.user, password: c.password };
  }

  table(schema: string, table: string): string {
    return `${myQuote(schema)}.${myQuote(table)}`;
  }

  async createTable(schema: string, table: string, columns: ColumnDecl[]): Promise<void> {
    const defs = columns.map((c) =>
      c.type === 'int'
        ? `${myQuote(c.name)} int(11) NOT NULL COMMENT ':int32:'`
        : `${myQuote(c.name)} longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin ${c.nullable ? 'DEFAULT NULL' : 'NOT NULL'} ` +
          `COMMENT ${literal(`:${c.type}:stress`)} CHECK (json_valid(${myQuote(c.name)}))`,
    );
    const key = columns.find((c) => c.type === 'int')!.name;
    await this.pool.query(
      `CREATE TABLE ${this.table(schema, table)} (${defs.join(', ')}, PRIMARY KEY (${myQuote(key)})) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    );
  }

  async transaction(): Promise<Transaction> {
    const connection = await this.pool.getConnection();
    let released = false;
    const release = (broken: boolean): void => {
      if (released) return;
      released = true;
      if (broken) connection.destroy();
      else connection.release();
    };
    try {
      await connection.query('START TRANSACTION');
    } catch (error) {
      release(true);
      throw error;
    }
    const end = async (sql: string): Promise<void> => {
      if (released) {
        if (sql === 'COMMIT') throw new Error('the transaction has ended');
        return;
      }
      try {
        await connection.query(sql);
        release(false);
      } catch (error) {
        release(true);
        throw error;
      }
    };
    return {
      query: async (sql, params = []) => {
        if (released) throw new Error('the transaction has ended');
        const [result] = await connection.query(sql, params);
        if (Array.isArray(result)) return { rows: result as Record<string, unknown>[], count: result.length };
        return { rows: [], count: (result as mysql.ResultSetHeader).affectedRows };
      },
      commit: () => end('COMMIT'),
      rollback: () => end('ROLLBACK'),
    };
  }

  async killCollectorConnections(): Promise<number> {
    const [rows] = await this.pool.query<mysql.RowDataPacket[]>('SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ?', [this.account]);
    let killed = 0;
    for (const row of rows) {
      try {
        await this.pool.query(`KILL ${Number(row.id)}`);
        killed++;
      } catch {
        // Gone already.
      }
    }
    return killed;
  }

  async close(): Promise<void> {
    for (const schema of this.schemas) await this.pool.query(`DROP DATABASE IF EXISTS ${myQuote(schema)}`).catch(() => undefined);
    await this.pool.query(`DROP USER IF EXISTS ${literal(this.account)}@'%'`).catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }
}

export function openStressDatabase(backend: Backend, tag: string, schemaCount: number): Promise<StressDatabase> {
  // Fail early with the helpers' message when the services are not up.
  if (backend === 'postgres') {
    postgresUrl();
    return PostgresDatabase.create(tag, schemaCount);
  }
  return MariadbDatabase.create(tag, schemaCount);
}
