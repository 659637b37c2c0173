import pg from 'pg';
import { postgresUrl } from './env.js';
import { uniqueName } from './names.js';
import { runProgram } from './process.js';

export interface TestDatabase {
  url: string;
  name: string;
  /** Drop the database, disconnecting whoever is still connected. */
  drop(): Promise<void>;
}

const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/**
 * A client whose connection dying (a test terminating backends, a database dropped WITH
 * (FORCE)) fails its pending and next queries instead of crashing the test run.
 */
export function testClient(url: string): pg.Client {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  return client;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = testClient(postgresUrl());
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A fresh, uniquely named database on the test PostgreSQL server. */
export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const name = uniqueName(prefix);
  await withAdmin((client) => client.query(`CREATE DATABASE ${quoteIdent(name)}`));
  const url = new URL(postgresUrl());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: async () => {
      await withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
    },
  };
}

/** Load a pg_dump file with psql (the dumps use psql meta-commands such as `\restrict`). */
export async function loadPostgresFixture(url: string, sqlFile: string): Promise<void> {
  await runProgram('psql', ['--no-psqlrc', '--quiet', '-v', 'ON_ERROR_STOP=1', '-d', url, '-f', sqlFile], {
    describe: `loading ${sqlFile} into PostgreSQL`,
    installHint: 'install the Debian package postgresql-client (scripts/services.sh start does)',
    env: { ...process.env, PGOPTIONS: '--client-min-messages=warning' },
  });
}
