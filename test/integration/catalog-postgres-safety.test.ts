import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresCatalog } from '../../functions/catalog/postgres.js';
import type { Reference, StorageColumn } from '../../functions/engine/types.js';
import { postgresUrl } from '../support/env.js';
import { uniqueName } from '../support/names.js';
import { createTestDatabase, testClient, type TestDatabase } from '../support/postgres.js';

// Other tests share this server and create databases of their own: assertions look only at
// this file's databases, schemas and connections.

const S = 'lab';
const BIG_ROWS = 2000;
const q = (name: string): string => `"${name.replaceAll('"', '""')}"`;

let main: TestDatabase;
let second: TestDatabase;
let closed: TestDatabase;
let admin: pg.Client;
let catalog: PostgresCatalog;
const role = uniqueName('djgc_reader');
const cleanups: Array<() => Promise<unknown>> = [];

function urlFor(database: string, user?: string): string {
  const url = new URL(postgresUrl());
  url.pathname = `/${database}`;
  if (user !== undefined) url.username = user;
  return url.toString();
}

async function connected(url: string): Promise<pg.Client> {
  const client = testClient(url);
  await client.connect();
  cleanups.push(() => client.end().catch(() => undefined));
  return client;
}

async function backendPid(client: pg.Client): Promise<number> {
  return (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
}

const ofBackend = (ids: readonly string[], pid: number): string[] => ids.filter((id) => id.startsWith(`${pid}:`));

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function createLab(url: string, prefix: string, rows: number): Promise<void> {
  const client = await connected(url);
  await client.query(`
    CREATE SCHEMA ${q(S)};
    CREATE TABLE ${q(S)}.session (id integer PRIMARY KEY, data jsonb);
    COMMENT ON COLUMN ${q(S)}.session.data IS ':<blob@main>:recording';
    INSERT INTO ${q(S)}.session
      SELECT i, jsonb_build_object('path', '_hash/${prefix}/' || i, 'store', 'main') FROM generate_series(1, ${rows}) i;
  `);
}

beforeAll(async () => {
  main = await createTestDatabase('djgc_safe');
  second = await createTestDatabase('djgc_safe_two');
  closed = await createTestDatabase('djgc_safe_closed');
  await createLab(main.url, 'main', BIG_ROWS);
  await createLab(second.url, 'second', 3);
  admin = await connected(main.url);
  await admin.query(`CREATE ROLE ${q(role)} LOGIN`);
  await admin.query(`REVOKE CONNECT ON DATABASE ${q(closed.name)} FROM PUBLIC`);
  catalog = new PostgresCatalog(postgresUrl(), { database: main.name, batchSize: 50 });
});

afterAll(async () => {
  await catalog?.close();
  for (const cleanup of cleanups.reverse()) await cleanup();
  for (const database of [main, second, closed]) await database?.drop();
  const server = testClient(postgresUrl());
  await server.connect();
  await server.query(`DROP ROLE IF EXISTS ${q(role)}`);
  await server.end();
});

describe('PostgresCatalog.openWriteTransactions and stillOpen', () => {
  for (const end of ['COMMIT', 'ROLLBACK']) {
    it(`Given another connection inserted a row in an open transaction, When a snapshot is taken, Then it holds that transaction until ${end}`, async () => {
      const writer = await connected(main.url);
      const pid = await backendPid(writer);
      await writer.query('BEGIN');
      await writer.query(`INSERT INTO ${q(S)}.session VALUES ($1, '{"path": "new"}')`, [end === 'COMMIT' ? -10 : -11]);
      const snapshot = await catalog.openWriteTransactions();
      expect(snapshot.visible).toBe(true);
      const mine = ofBackend(snapshot.ids, pid);
      expect(mine).toHaveLength(1);
      expect(await catalog.stillOpen(snapshot)).toContain(mine[0]);
      await writer.query(end);
      expect(await catalog.stillOpen(snapshot)).not.toContain(mine[0]);
    });
  }

  it('Given a transaction that has only read, When a snapshot is taken, Then it is not in it', async () => {
    const reader = await connected(main.url);
    const pid = await backendPid(reader);
    await reader.query('BEGIN');
    await reader.query(`SELECT count(*) FROM ${q(S)}.session`);
    try {
      expect(ofBackend((await catalog.openWriteTransactions()).ids, pid)).toEqual([]);
    } finally {
      await reader.query('ROLLBACK');
    }
  });

  it('Given a transaction that locked a table for writing but wrote no row yet, When a snapshot is taken, Then it is in it', async () => {
    const writer = await connected(main.url);
    const pid = await backendPid(writer);
    await writer.query('BEGIN');
    // RowExclusiveLock without a transaction id: an INSERT that has not written its first row.
    await writer.query(`INSERT INTO ${q(S)}.session SELECT -2, NULL WHERE false`);
    expect((await writer.query<{ xid: string | null }>('SELECT txid_current_if_assigned()::text AS xid')).rows[0]!.xid).toBeNull();
    try {
      expect(ofBackend((await catalog.openWriteTransactions()).ids, pid)).toHaveLength(1);
    } finally {
      await writer.query('ROLLBACK');
    }
  });

  it("Given the catalog is streaming a column, When a snapshot is taken, Then the catalog's own connections are not in it", async () => {
    const column: StorageColumn = { schema: S, table: 'session', column: 'data', codec: 'blob', store: 'main' };
    const rows = catalog.references(column)[Symbol.asyncIterator]();
    try {
      expect((await rows.next()).done).toBe(false);
      const streams = await admin.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'djgc-catalog%'`,
        [main.name],
      );
      expect(streams.rows.length).toBeGreaterThan(0);
      const { ids } = await catalog.openWriteTransactions();
      for (const { pid } of streams.rows) expect(ofBackend(ids, pid)).toEqual([]);
    } finally {
      await rows.return?.(undefined);
    }
  });

  it("Given a role without any privilege, When it takes a snapshot, Then it still sees another user's writing transaction", async () => {
    const writer = await connected(main.url);
    const pid = await backendPid(writer);
    const reader = new PostgresCatalog(urlFor(main.name, role));
    try {
      await writer.query('BEGIN');
      await writer.query(`INSERT INTO ${q(S)}.session VALUES (-3, NULL)`);
      const snapshot = await reader.openWriteTransactions();
      expect(snapshot.visible).toBe(true);
      expect(ofBackend(snapshot.ids, pid)).toHaveLength(1);
    } finally {
      await writer.query('ROLLBACK');
      await reader.close();
    }
  });
});

describe('PostgresCatalog across the databases of the server', () => {
  const column: StorageColumn = { schema: S, table: 'session', column: 'data', codec: 'blob', store: 'main' };

  it('Given a second database with a DataJoint table, When discovering, Then its columns are found with their database set', async () => {
    const found = await catalog.discover();
    expect(found.filter((c) => c.database === undefined && c.schema === S)).toEqual([column]);
    expect(found.filter((c) => c.database === second.name)).toEqual([{ database: second.name, ...column }]);
    expect(found.filter((c) => c.database === main.name)).toEqual([]);
  });

  it("Given a column of the second database, When reading it, Then its references are streamed and found from that database", async () => {
    const there: StorageColumn = { database: second.name, ...column };
    const paths = (await collect(catalog.references(there))).map((r: Reference) => r.path).sort();
    expect(paths).toEqual(['_hash/second/1', '_hash/second/2', '_hash/second/3']);
    expect(await catalog.findReferences(there, ['_hash/second/2', '_hash/main/2'])).toEqual([{ store: 'main', path: '_hash/second/2' }]);
    expect(await catalog.findReferences(column, ['_hash/second/2', '_hash/main/2'])).toEqual([{ store: 'main', path: '_hash/main/2' }]);
  });

  it('Given a database the role may not connect to, When discovering as that role, Then it fails naming the database unless it is ignored', async () => {
    const reader = new PostgresCatalog(urlFor(main.name, role));
    try {
      await expect(reader.discover()).rejects.toThrow(new RegExp(`database "${closed.name}".*GRANT CONNECT ON DATABASE "${closed.name}"`));
      const ignoring = new PostgresCatalog(urlFor(main.name, role), { ignoredDatabases: [closed.name] });
      try {
        const found = await ignoring.discover();
        expect(found.filter((c) => c.database === second.name)).toHaveLength(1);
      } finally {
        await ignoring.close();
      }
    } finally {
      await reader.close();
    }
  });
});

describe('PostgresCatalog.checkReadable', () => {
  const ours = (problems: string[]): string[] =>
    problems.filter((p) => [main.name, second.name, closed.name].some((name) => p.includes(`"${name}"`)) || p.includes(`"${S}"."session" cannot`) && !p.includes(' in database '));

  it('Given a superuser, When checking, Then nothing of this test is unreadable', async () => {
    expect(ours((await catalog.checkReadable({ ignoredSchemas: [] })).problems)).toEqual([]);
  });

  it('Given a role without SELECT on a storage table, When checking, Then each such table is a problem naming it and the GRANT', async () => {
    const reader = new PostgresCatalog(urlFor(main.name, role));
    try {
      const problems = ours((await reader.checkReadable({ ignoredSchemas: [] })).problems);
      const own = problems.filter((p) => p.startsWith(`table "${S}"."session" cannot`));
      expect(own).toHaveLength(1);
      expect(own[0]).toContain(`GRANT SELECT ON "${S}"."session" TO "${role}"`);
      expect(own[0]).toContain(`GRANT USAGE ON SCHEMA "${S}" TO "${role}"`);
      const there = problems.filter((p) => p.includes(`table "${S}"."session" in database "${second.name}"`));
      expect(there).toHaveLength(1);

      await admin.query(`GRANT USAGE ON SCHEMA ${q(S)} TO ${q(role)}; GRANT SELECT (data) ON ${q(S)}.session TO ${q(role)}`);
      const after = ours((await reader.checkReadable({ ignoredSchemas: [] })).problems);
      expect(after.filter((p) => p.startsWith(`table "${S}"."session" cannot`))).toEqual([]);
      expect(after.filter((p) => p.includes(`in database "${second.name}"`))).toHaveLength(1);

      const ignoring = ours((await reader.checkReadable({ ignoredSchemas: [S] })).problems);
      expect(ignoring.filter((p) => p.startsWith('table '))).toEqual([]);
    } finally {
      await admin.query(`REVOKE ALL ON ${q(S)}.session FROM ${q(role)}; REVOKE USAGE ON SCHEMA ${q(S)} FROM ${q(role)}`);
      await reader.close();
    }
  });

  it('Given a table with row-level security, When a role that does not bypass it checks, Then the table is a problem', async () => {
    const reader = new PostgresCatalog(urlFor(main.name, role));
    try {
      await admin.query(`GRANT USAGE ON SCHEMA ${q(S)} TO ${q(role)}; GRANT SELECT ON ${q(S)}.session TO ${q(role)}`);
      await admin.query(`ALTER TABLE ${q(S)}.session ENABLE ROW LEVEL SECURITY`);
      const problems = ours((await reader.checkReadable({ ignoredSchemas: [] })).problems);
      const own = problems.filter((p) => p.startsWith(`table "${S}"."session" cannot`));
      expect(own).toHaveLength(1);
      expect(own[0]).toMatch(/row-level security.*ALTER ROLE .* BYPASSRLS/);
    } finally {
      await admin.query(`ALTER TABLE ${q(S)}.session DISABLE ROW LEVEL SECURITY`);
      await admin.query(`REVOKE ALL ON ${q(S)}.session FROM ${q(role)}; REVOKE USAGE ON SCHEMA ${q(S)} FROM ${q(role)}`);
      await reader.close();
    }
  });

  it('Given a database the role may not connect to, When checking, Then it is a problem naming it, and none once it is ignored', async () => {
    const reader = new PostgresCatalog(urlFor(main.name, role));
    try {
      const problems = (await reader.checkReadable({ ignoredSchemas: [] })).problems.filter((p) => p.includes(`"${closed.name}"`));
      expect(problems).toEqual([
        `database "${closed.name}" cannot be read by role "${role}" (it has no CONNECT privilege): GRANT CONNECT ON DATABASE "${closed.name}" TO "${role}", or declare the database ignored.`,
      ]);
      const ignored = await reader.checkReadable({ ignoredSchemas: [], ignoredDatabases: [closed.name] });
      expect(ignored.problems.filter((p) => p.includes(`"${closed.name}"`))).toEqual([]);
      // Once ignored, discovery leaves it out instead of failing.
      expect((await reader.discover()).filter((c) => c.database === closed.name)).toEqual([]);
    } finally {
      await reader.close();
    }
  });
});

describe('dropped connections', () => {
  // Vitest fails the run on an error no one handles: each case below once escaped, or could.
  const column: StorageColumn = { schema: S, table: 'session', column: 'data', codec: 'blob', store: 'main' };

  async function terminate(database: string, where: string): Promise<number> {
    const result = await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND ${where}`,
      [database],
    );
    return result.rowCount ?? 0;
  }

  async function waitingOnLock(database: string): Promise<void> {
    for (let i = 0; i < 200; i += 1) {
      const result = await admin.query(
        `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock' AND application_name LIKE 'djgc-catalog%'`,
        [database],
      );
      if ((result.rowCount ?? 0) > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error('timed out waiting for the catalog to wait on the lock');
  }

  /** Runs `work` while another connection holds an exclusive lock on the table in `url`, and terminates the catalog's backend. */
  async function terminatedWhileBlocked(url: string, database: string, work: () => Promise<unknown>): Promise<unknown> {
    const locker = await connected(url);
    await locker.query('BEGIN');
    await locker.query(`LOCK TABLE ${q(S)}.session IN ACCESS EXCLUSIVE MODE`);
    const outcome = work().then(
      () => undefined,
      (error: unknown) => error,
    );
    try {
      await waitingOnLock(database);
      expect(await terminate(database, `application_name LIKE 'djgc-catalog%' AND wait_event_type = 'Lock'`)).toBe(1);
      return await outcome;
    } finally {
      await locker.query('ROLLBACK');
    }
  }

  it('Given idle pooled connections in two databases, When they are terminated, Then the catalog reconnects on next use', async () => {
    const there: StorageColumn = { database: second.name, ...column };
    await catalog.findReferences(column, ['x']);
    await catalog.findReferences(there, ['x']);
    await terminate(main.name, `application_name = 'djgc-catalog'`);
    await terminate(second.name, `application_name = 'djgc-catalog'`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await catalog.findReferences(column, ['_hash/main/1'])).toHaveLength(1);
    expect(await catalog.findReferences(there, ['_hash/second/1'])).toHaveLength(1);
  });

  it('Given a re-check waiting on a lock, When its connection is terminated, Then findReferences rejects with the error', async () => {
    const error = await terminatedWhileBlocked(main.url, main.name, () => catalog.findReferences(column, ['_hash/main/1']));
    expect((error as Error).message).toMatch(/terminat/i);
    expect(await catalog.findReferences(column, ['_hash/main/1'])).toHaveLength(1);
  });

  it('Given a stream waiting on a lock before its first row, When its connection is terminated, Then references rejects with the error', async () => {
    const there: StorageColumn = { database: second.name, ...column };
    const error = await terminatedWhileBlocked(second.url, second.name, () => collect(catalog.references(there)));
    expect((error as Error).message).toMatch(/terminat|ended|ECONNRESET|EPIPE/i);
  });
});
