import { mkdir, mkdtemp, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsEndpoint, postgresUrl } from '../support/env.js';
import { copyStore, fixture, loadGroundTruth } from '../support/fixture.js';
import { dropMysqlDatabases, loadMysqlFixture, withMysqlServer } from '../support/mysql.js';
import { uniqueName } from '../support/names.js';
import { createTestDatabase, loadPostgresFixture } from '../support/postgres.js';
import { createBucket, emptyAndDeleteBucket, listAllKeys, uploadDirectory } from '../support/s3.js';

async function filesBelow(root: string, dir = root): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await filesBelow(root, path)));
    else found.push(relative(root, path));
  }
  return found.sort();
}

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'djgc-services-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('PostgreSQL helpers', () => {
  async function databaseExists(name: string): Promise<boolean> {
    const client = new pg.Client({ connectionString: postgresUrl() });
    await client.connect();
    try {
      const result = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      return result.rowCount === 1;
    } finally {
      await client.end();
    }
  }

  it('loads the fixture into a fresh database and drops it again', async () => {
    const db = await createTestDatabase('djgc_services');
    try {
      expect(new URL(db.url).pathname).toBe(`/${db.name}`);
      await loadPostgresFixture(db.url, fixture.postgresSql);
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const counts = await client.query<{ samples: string; notes: string }>(
          'SELECT (SELECT count(*) FROM djgc_fixture.sample) AS samples, (SELECT count(*) FROM djgc_fixture.note) AS notes',
        );
        expect(counts.rows[0]).toEqual({ samples: '8', notes: '1' });
      } finally {
        await client.end();
      }
    } finally {
      await db.drop();
    }
    expect(await databaseExists(db.name)).toBe(false);
  });

  it('gives each database a distinct name', async () => {
    const [a, b] = await Promise.all([createTestDatabase('djgc_services'), createTestDatabase('djgc_services')]);
    try {
      expect(a.name).not.toBe(b.name);
      expect(await databaseExists(a.name)).toBe(true);
      expect(await databaseExists(b.name)).toBe(true);
    } finally {
      await Promise.all([a.drop(), b.drop()]);
    }
  });

  it('fails on the first SQL error and names it', async () => {
    const db = await createTestDatabase('djgc_services');
    try {
      const bad = join(scratch, 'bad-postgres.sql');
      await writeFile(bad, 'CREATE TABLE kept (id int);\nSELECT * FROM no_such_table;\nCREATE TABLE never (id int);\n');
      await expect(loadPostgresFixture(db.url, bad)).rejects.toThrow(/no_such_table/);
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const tables = await client.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
        expect(tables.rows.map((row: { tablename: string }) => row.tablename)).toEqual(['kept']);
      } finally {
        await client.end();
      }
    } finally {
      await db.drop();
    }
  });

  it('rejects a prefix that is not a plain identifier', async () => {
    await expect(createTestDatabase('Bad"name')).rejects.toThrow(/invalid name prefix/);
  });
});

describe('MariaDB helpers', () => {
  async function query<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
    const connection = await mysql.createConnection({ uri: url });
    try {
      const [rows] = await connection.query(sql, params);
      return rows as T[];
    } finally {
      await connection.end();
    }
  }

  it('loads the fixture into a new database and drops it again', async () => {
    await withMysqlServer(async (url) => {
      const name = uniqueName('djgc_services');
      try {
        await loadMysqlFixture(url, name, fixture.mariadbSql);
        const [counts] = await query<{ samples: number; notes: number }>(
          url,
          `SELECT (SELECT count(*) FROM \`${name}\`.sample) AS samples, (SELECT count(*) FROM \`${name}\`.note) AS notes`,
        );
        expect(counts).toEqual({ samples: 8, notes: 1 });
      } finally {
        await dropMysqlDatabases(url, [name]);
      }
      expect(await query(url, 'SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?', [name])).toEqual([]);
    });
  });

  it('fails on an SQL error and names it', async () => {
    await withMysqlServer(async (url) => {
      const name = uniqueName('djgc_services');
      const bad = join(scratch, 'bad-mariadb.sql');
      await writeFile(bad, 'SELECT * FROM no_such_table;\n');
      try {
        await expect(loadMysqlFixture(url, name, bad)).rejects.toThrow(/no_such_table/);
      } finally {
        await dropMysqlDatabases(url, [name]);
      }
    });
  });

  it('lets only one holder use the server at a time', async () => {
    const events: string[] = [];
    let releaseFirst!: () => void;
    const firstMayFinish = new Promise<void>((resolve) => (releaseFirst = resolve));
    let firstEntered!: () => void;
    const firstIsIn = new Promise<void>((resolve) => (firstEntered = resolve));

    const first = withMysqlServer(async () => {
      events.push('first in');
      firstEntered();
      await firstMayFinish;
      events.push('first out');
    });
    await firstIsIn;
    const second = withMysqlServer(async () => {
      events.push('second in');
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(events).toEqual(['first in']);
    releaseFirst();
    await Promise.all([first, second]);
    expect(events).toEqual(['first in', 'first out', 'second in']);
  });

  it('releases the lock when the callback throws', async () => {
    await expect(
      withMysqlServer(async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await expect(withMysqlServer(async () => 'next')).resolves.toBe('next');
  });
});

describe('S3 helpers (fauxqs)', () => {
  it('uploads a directory and lists the same keys back', async () => {
    const { bucket, client, endpoint } = await createBucket('djgc-services');
    try {
      expect(endpoint).toBe(awsEndpoint());
      const local = fixture.store('postgres');
      const files = await filesBelow(local);
      expect(await uploadDirectory(client, bucket, local, 'dj/store')).toBe(files.length);

      expect((await listAllKeys(client, bucket)).sort()).toEqual(files.map((file) => `dj/store/${file}`).sort());
      expect((await listAllKeys(client, bucket, 'dj/store/_hash/')).sort()).toEqual(
        files.filter((file) => file.startsWith('_hash/')).map((file) => `dj/store/${file}`),
      );
    } finally {
      await emptyAndDeleteBucket(client, bucket);
    }
    await expect(client.send(new HeadBucketCommand({ Bucket: bucket }))).rejects.toThrow();
  });

  it('lists more than one page of keys', async () => {
    const { bucket, client } = await createBucket('djgc-services');
    const local = join(scratch, 'many');
    try {
      await Promise.all(
        Array.from({ length: 1005 }, async (_, i) => {
          const dir = join(local, `d${i % 3}`);
          await mkdir(dir, { recursive: true });
          await writeFile(join(dir, `f${String(i).padStart(4, '0')}`), String(i));
        }),
      );
      expect(await uploadDirectory(client, bucket, local)).toBe(1005);
      const keys = await listAllKeys(client, bucket);
      expect(keys).toHaveLength(1005);
      expect(new Set(keys).size).toBe(1005);
      expect(keys).toContain('d2/f1004');
    } finally {
      await emptyAndDeleteBucket(client, bucket);
    }
    await expect(client.send(new HeadBucketCommand({ Bucket: bucket }))).rejects.toThrow();
  });
});

describe('fixture helpers', () => {
  it('reads the ground truth of both backends', () => {
    for (const backend of ['postgres', 'mariadb'] as const) {
      const truth = loadGroundTruth(backend);
      expect(truth.objects).toHaveLength(99);
      expect(truth.objects.filter((o) => o.status === 'orphaned' && o.section === 'hash')).toHaveLength(2);
      expect(truth.objects.filter((o) => o.status === 'orphaned' && o.section === 'schema')).toHaveLength(25);
    }
  });

  it('copies the store as a writable tree and leaves the fixture untouched', async () => {
    const target = join(scratch, 'store-copy');
    const truth = loadGroundTruth('mariadb');
    expect(await copyStore('mariadb', target)).toBe(target);
    const copied = await filesBelow(target);
    expect(copied).toEqual(truth.objects.map((o) => o.path).sort());

    const victim = truth.objects[0]!;
    expect((await stat(join(target, victim.path))).size).toBe(victim.size);
    await unlink(join(target, victim.path));
    expect(await filesBelow(target)).not.toContain(victim.path);
    expect(await filesBelow(fixture.store('mariadb'))).toEqual(copied);
  });

  it('refuses to copy into the fixture directory', async () => {
    await expect(copyStore('postgres', join(fixture.store('postgres'), 'copy'))).rejects.toThrow(/inside the fixture directory/);
  });
});
