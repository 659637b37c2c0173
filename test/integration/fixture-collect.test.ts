import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { awsEndpoint, postgresUrl } from '../support/env.js';
import { createTestDatabase, loadPostgresFixture } from '../support/postgres.js';
import { dropMysqlDatabases, loadMysqlFixture, withMysqlServer } from '../support/mysql.js';
import { createBucket, emptyAndDeleteBucket, listAllKeys, uploadDirectory } from '../support/s3.js';
import { copyStore, FIXTURE_DIR, loadGroundTruth } from '../support/fixture.js';
import { catalogFor, fileStore, filesBelow, runEngine, s3Store } from '../support/engine.js';
import type { Catalog, StoreSpec } from '../../functions/engine/types.js';

type Backend = 'postgres' | 'mariadb';

/**
 * The acceptance case of DataJoint's own output: scan reports exactly the ground truth's orphans,
 * collect deletes exactly those, and everything referenced, every <filepath@> target and every
 * file outside the sections stays.
 */
async function checkFixture(backend: Backend, catalog: Catalog, store: StoreSpec, listStore: () => Promise<string[]>): Promise<void> {
  const truth = await loadGroundTruth(backend);
  const orphaned = truth.objects.filter((o) => o.status === 'orphaned').map((o) => o.path).sort();
  const kept = truth.objects.filter((o) => o.status !== 'orphaned').map((o) => o.path).sort();
  const hashOrphans = truth.objects.filter((o) => o.status === 'orphaned' && o.section === 'hash');
  const schemaOrphans = truth.objects.filter((o) => o.status === 'orphaned' && o.section === 'schema');
  expect(hashOrphans).toHaveLength(2);
  expect(schemaOrphans).toHaveLength(25);

  const scan = await runEngine({ catalog, stores: { main: store } }, { mode: 'dry-run' });
  expect(scan.report.scan_errors).toEqual([]);
  expect(scan.orphans).toEqual(orphaned);
  expect(scan.report).toMatchObject({
    hash_orphaned: 2,
    hash_orphaned_bytes: hashOrphans.reduce((n, o) => n + o.size, 0),
    schema_paths_orphaned: 25,
    schema_paths_orphaned_bytes: schemaOrphans.reduce((n, o) => n + o.size, 0),
    hash_referenced: 12,
    hash_stored: 14,
    schema_paths_referenced: 24,
    referenced_objects: 60,
    schema_paths_stored: 73,
    orphaned: 27,
    deleted: 0,
    dry_run: true,
  });
  expect(await listStore()).toEqual([...truth.objects.map((o) => o.path)].sort());

  const collect = await runEngine({ catalog, stores: { main: store } }, { mode: 'collect' });
  expect(collect.report.scan_errors).toEqual([]);
  expect(collect.report).toMatchObject({ deleted: 27, orphaned: 27, saved_by_recheck: 0, dry_run: false });
  expect(collect.report.bytes_freed).toBe(scan.report.orphaned_bytes);
  expect(await listStore()).toEqual(kept);

  const again = await runEngine({ catalog, stores: { main: store } }, { mode: 'dry-run' });
  expect(again.report).toMatchObject({ orphaned: 0, referenced: 36, errors: 0 });
}

describe('DataJoint 2.3.2 fixture on PostgreSQL', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let catalog: Catalog;

  beforeAll(async () => {
    db = await createTestDatabase('djgc_fx');
    await loadPostgresFixture(db.url, join(FIXTURE_DIR, 'postgres.sql'));
    catalog = await catalogFor(postgresUrl(), db.name);
  });
  afterAll(async () => {
    await catalog?.close();
    await db?.drop();
  });

  it('collects exactly the orphans of a file store', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'djgc-fx-'));
    try {
      await copyStore('postgres', dir);
      await checkFixture('postgres', catalog, fileStore(dir), () => filesBelow(dir));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gets the same result when sections are cut into many key ranges, reading each column once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'djgc-fx-'));
    try {
      await copyStore('postgres', dir);
      const reads = new Map<string, number>();
      const counting: Catalog = {
        backend: catalog.backend,
        discover: () => catalog.discover(),
        openWriteTransactions: () => catalog.openWriteTransactions(),
        writeHorizon: () => catalog.writeHorizon(),
        stillOpen: (snapshot) => catalog.stillOpen(snapshot),
        checkReadable: (options) => catalog.checkReadable(options),
        findReferences: (column, paths, options) => catalog.findReferences(column, paths, options),
        close: async () => undefined,
        references: (column) => {
          const name = `${column.schema}.${column.table}.${column.column}`;
          reads.set(name, (reads.get(name) ?? 0) + 1);
          return catalog.references(column);
        },
      };
      const ranged = await runEngine({ catalog: counting, stores: { main: fileStore(dir) } }, { mode: 'collect', maxRefsPerShard: 3 });
      expect(ranged.report.shards.length).toBeGreaterThan(8);
      expect(ranged.report.scan_errors).toEqual([]);
      const truth = loadGroundTruth('postgres');
      expect(ranged.orphans).toEqual(truth.objects.filter((o) => o.status === 'orphaned').map((o) => o.path).sort());
      expect(ranged.report).toMatchObject({ deleted: 27, referenced: 36 });
      expect(await filesBelow(dir)).toEqual(truth.objects.filter((o) => o.status !== 'orphaned').map((o) => o.path).sort());
      expect([...reads.values()]).toEqual(Array(8).fill(1));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('collects exactly the orphans of the same store in S3', async () => {
    const { bucket, client } = await createBucket('djgc-fx-pg');
    try {
      await uploadDirectory(client, bucket, join(FIXTURE_DIR, 'store-postgres'), 'dj/');
      await checkFixture('postgres', catalog, s3Store(awsEndpoint(), bucket, 'dj'), async () => stripPrefix(await listAllKeys(client, bucket), 'dj/'));
    } finally {
      await emptyAndDeleteBucket(client, bucket);
    }
  });
});

describe('DataJoint 2.3.2 fixture on MariaDB', () => {
  it('collects exactly the orphans of a file store and of S3', async () => {
    await withMysqlServer(async (url) => {
      let catalog: Catalog | undefined;
      let s3: { bucket: string; client: S3Client } | undefined;
      const dir = await mkdtemp(join(tmpdir(), 'djgc-fx-'));
      try {
        await loadMysqlFixture(url, 'djgc_fixture', join(FIXTURE_DIR, 'mariadb.sql'));
        catalog = await catalogFor(url);
        await copyStore('mariadb', dir);
        await checkFixture('mariadb', catalog, fileStore(dir), () => filesBelow(dir));

        s3 = await createBucket('djgc-fx-maria');
        await uploadDirectory(s3.client, s3.bucket, join(FIXTURE_DIR, 'store-mariadb'));
        const { client, bucket } = s3;
        await checkFixture('mariadb', catalog, s3Store(awsEndpoint(), bucket), async () => (await listAllKeys(client, bucket)).sort());
      } finally {
        await catalog?.close();
        if (s3) await emptyAndDeleteBucket(s3.client, s3.bucket);
        await dropMysqlDatabases(url, ['djgc_fixture']);
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});

function stripPrefix(keys: string[], prefix: string): string[] {
  return keys.map((k) => (k.startsWith(prefix) ? k.slice(prefix.length) : `OUTSIDE:${k}`)).sort();
}
