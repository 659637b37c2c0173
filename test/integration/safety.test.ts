import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { postgresUrl } from '../support/env.js';
import { createTestDatabase } from '../support/postgres.js';
import { catalogFor, fileStore, filesBelow, runEngine } from '../support/engine.js';
import { DataJointWriter } from '../../functions/demo/datajoint-writer.js';
import { FileStore } from '../../functions/stores/file.js';
import type { Catalog, ObjectEntry, ObjectStore, Reference, StorageColumn, StoreSpec } from '../../functions/engine/types.js';

const OLD = new Date(Date.now() - 3 * 86_400_000);

/** A PostgreSQL database and a file store, written the way DataJoint writes them. */
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: pg.Client;
let catalog: Catalog;
let dir: string;

beforeEach(async () => {
  db = await createTestDatabase('djgc_safe');
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  catalog = await catalogFor(postgresUrl(), db.name);
  dir = await mkdtemp(join(tmpdir(), 'djgc-safe-'));
});

afterEach(async () => {
  await catalog.close();
  await sql.end();
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

async function table(schema: string, name: string, columns: Record<string, string>): Promise<void> {
  await sql.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  await sql.query(`CREATE TABLE ${schema}."${name}" (id integer PRIMARY KEY, ${Object.keys(columns).map((c) => `${c} jsonb`).join(', ')})`);
  for (const [column, type] of Object.entries(columns)) {
    await sql.query(`COMMENT ON COLUMN ${schema}."${name}".${column} IS '${type}'`);
  }
}

async function insert(schema: string, name: string, id: number, values: Record<string, unknown>): Promise<void> {
  const columns = Object.keys(values);
  await sql.query(
    `INSERT INTO ${schema}."${name}" (id, ${columns.join(', ')}) VALUES ($1, ${columns.map((_, i) => `$${i + 2}`).join(', ')})`,
    [id, ...columns.map((c) => (values[c] === null ? null : JSON.stringify(values[c])))],
  );
}

const paths = (o: Record<string, unknown>): string => o.path as string;

describe('references protect objects', () => {
  it('a second schema’s rows protect the first schema’s objects; custom codecs count', async () => {
    const w = new DataJointWriter(dir);
    await table('lab', 'session', { rec: ':<blob@main>:', movie: ':<object@main>:' });
    await table('analysis', '__result', { src: ':<blob@main>:', g: ':<graph@main>:custom codec' });
    const kept = await w.hashObject('lab', 'shared recording', OLD);
    const copiedFolder = await w.schemaFolder('lab', 'session', { id: 1 }, 'movie', { a: '1', 'b/c': '2' }, OLD);
    const graph = await w.hashObject('analysis', 'graph payload', OLD);
    const gone = await w.hashObject('lab', 'deleted recording', OLD);
    await insert('lab', 'session', 1, { rec: kept, movie: copiedFolder });
    await insert('lab', 'session', 2, { rec: gone, movie: null });
    await insert('analysis', '__result', 1, { src: kept, g: graph });
    // The analysis row copied the folder's metadata verbatim (insert-from-query) into a blob column.
    await insert('analysis', '__result', 2, { src: copiedFolder, g: null });
    await sql.query('DELETE FROM lab.session');

    const { report, orphans } = await runEngine({ catalog, stores: { main: fileStore(dir) } }, { mode: 'collect', schemas: ['lab'] });
    expect(report.scan_errors).toEqual([]);
    expect(orphans).toEqual([paths(gone)]);
    expect(report.deleted).toBe(1);
    const left = await filesBelow(dir);
    expect(left).toContain(paths(kept));
    expect(left).toContain(paths(graph));
    expect(left).toContain(`${paths(copiedFolder)}/b/c`);
    expect(left).toContain(`${paths(copiedFolder)}.manifest.json`);
    expect(left).not.toContain(paths(gone));
  });

  it('collects a subfolded hash section and a partitioned schema section', async () => {
    const store = fileStore(dir, { subfolding: [2, 2], partition_pattern: '{subject}' });
    const w = new DataJointWriter(dir, 'main', [2, 2]);
    await table('lab', 'scan', { h: ':<hash@main>:', n: ':<npy@main>:' });
    const liveHash = await w.hashObject('lab', 'live', OLD);
    const deadHash = await w.hashObject('lab', 'dead', OLD);
    // partition_pattern "{subject}" puts the partition attribute before the schema.
    const live = { path: '_schema/subject=m1/lab/scan/id=1/n_live0001.npy', store: 'main' };
    const dead = { path: '_schema/subject=m2/lab/scan/id=2/n_dead0001.npy', store: 'main' };
    const otherSchema = '_schema/subject=m2/elsewhere/scan/id=2/n_other001.npy';
    for (const p of [live.path, dead.path, otherSchema]) await w.put(p, Buffer.from('x'), OLD);
    await insert('lab', 'scan', 1, { h: liveHash, n: live });
    await insert('lab', 'scan', 2, { h: deadHash, n: dead });
    await sql.query('DELETE FROM lab.scan WHERE id = 2');
    expect(paths(liveHash)).toMatch(/^_hash\/lab\/[a-z2-7]{2}\/[a-z2-7]{2}\/[a-z2-7]{26}$/);

    const { report, orphans } = await runEngine({ catalog, stores: { main: store } }, { mode: 'collect' });
    expect(report.scan_errors).toEqual([]);
    expect(orphans).toEqual([dead.path, paths(deadHash)].sort());
    const left = await filesBelow(dir);
    expect(left).toEqual([live.path, otherSchema, paths(liveHash)].sort());
    expect(report.outside_scope).toBe(1);
  });
});

describe('layouts of older releases', () => {
  it('collects the root-level schema layout of releases ≤ 2.3.0 only when asked', async () => {
    const w = new DataJointWriter(dir);
    await table('lab', 'scan', { n: ':<npy@main>:' });
    const live = { path: 'lab/scan/id=1/n_live0001.npy', store: 'main' };
    const dead = 'lab/scan/id=2/n_dead0001.npy';
    const other = 'labnotes/scan/id=2/readme.txt';
    for (const p of [live.path, dead, other]) await w.put(p, Buffer.from('x'), OLD);
    await insert('lab', 'scan', 1, { n: live });

    const plain = await runEngine({ catalog, stores: { main: fileStore(dir) } }, { mode: 'collect' });
    expect(plain.report).toMatchObject({ stored: 0, deleted: 0, errors: 0 });
    expect(await filesBelow(dir)).toEqual([dead, live.path, other].sort());

    const legacy = await runEngine({ catalog, stores: { main: fileStore(dir) } }, { mode: 'collect', legacyRootLayout: true });
    expect(legacy.orphans).toEqual([dead]);
    expect(legacy.report).toMatchObject({ schema_paths_stored: 2, schema_paths_referenced: 1, deleted: 1, errors: 0 });
    expect(await filesBelow(dir)).toEqual([live.path, other].sort());
  });
});

describe('fresh objects and concurrent writers', () => {
  it('keeps objects younger than the grace period and counts them as protected', async () => {
    const w = new DataJointWriter(dir);
    await table('lab', 't', { h: ':<blob@main>:' });
    const old = await w.hashObject('lab', 'old orphan', OLD);
    const fresh = await w.hashObject('lab', 'fresh upload, row not inserted yet');
    const { report, orphans } = await runEngine({ catalog, stores: { main: fileStore(dir) } }, { mode: 'collect', graceHours: 1 });
    expect(report).toMatchObject({ protected: 1, orphaned: 1, deleted: 1, errors: 0 });
    expect(orphans).toEqual([paths(old)]);
    expect(await filesBelow(dir)).toEqual([paths(fresh)]);
  });

  it('keeps an object that is referenced again between the mark and its delete batch', async () => {
    const w = new DataJointWriter(dir);
    await table('lab', 't', { h: ':<blob@main>:' });
    const revived = await w.hashObject('lab', 'deduplicated content', OLD);
    const dead = await w.hashObject('lab', 'really gone', OLD);
    // A writer inserts a row whose (deduplicated) object already exists, after the mark and before the delete.
    const racing: Catalog = {
      backend: catalog.backend,
      discover: () => catalog.discover(),
      openWriteTransactions: () => catalog.openWriteTransactions(),
      writeHorizon: () => catalog.writeHorizon(),
      stillOpen: (snapshot) => catalog.stillOpen(snapshot),
      checkReadable: (options) => catalog.checkReadable(options),
      references: (column) => catalog.references(column),
      findReferences: async (column: StorageColumn, candidates: readonly string[], options?: { inFlight?: boolean }): Promise<Reference[]> => {
        await sql.query('INSERT INTO lab.t (id, h) VALUES (7, $1) ON CONFLICT DO NOTHING', [JSON.stringify(revived)]);
        return catalog.findReferences(column, candidates, options);
      },
      close: () => catalog.close(),
    };
    const { report, orphans } = await runEngine({ catalog: racing, stores: { main: fileStore(dir) } }, { mode: 'collect' });
    expect(orphans).toEqual([paths(revived), paths(dead)].sort());
    expect(report).toMatchObject({ orphaned: 2, saved_by_recheck: 1, deleted: 1, errors: 0 });
    expect(report.by_schema.lab!.tables['(hash)']).toMatchObject({ saved: 1, deleted: 1 });
    expect(await filesBelow(dir)).toEqual([paths(revived)]);
  });
});

describe('fail closed', () => {
  async function twoSchemas(): Promise<{ orphanA: string; orphanB: string; store: StoreSpec }> {
    const w = new DataJointWriter(dir);
    await table('a', 't', { h: ':<blob@main>:' });
    await table('b', 't', { h: ':<blob@main>:' });
    const orphanA = paths(await w.hashObject('a', 'orphan a', OLD));
    const orphanB = paths(await w.hashObject('b', 'orphan b', OLD));
    return { orphanA, orphanB, store: fileStore(dir) };
  }

  it('deletes nothing when a metadata value is malformed, and says which column', async () => {
    const { orphanA, orphanB, store } = await twoSchemas();
    await sql.query(`INSERT INTO b.t (id, h) VALUES (1, '{"hash": "no path here"}')`);
    const { report } = await runEngine({ catalog, stores: { main: store } }, { mode: 'collect' });
    expect(report.deleted).toBe(0);
    expect(report.scan_errors.join('\n')).toMatch(/cannot read references of b\.t\.h/);
    expect(report.scan_errors.join('\n')).toMatch(/nothing (deleted|removed)/);
    expect(await filesBelow(dir)).toEqual([orphanA, orphanB]);
  });

  it('deletes nothing in a shard whose listing fails, and still collects the others', async () => {
    const { orphanA, orphanB, store } = await twoSchemas();
    // The store is real; the fault is a listing that breaks after its first page for schema b.
    const failing = (spec: StoreSpec): ObjectStore => {
      const real = new FileStore(spec);
      return {
        description: real.description,
        deleteBatch: (batch) => real.deleteBatch(batch),
        moveBatch: (moves, options) => real.moveBatch(moves, options),
        stat: (path) => real.stat(path),
        pruneEmptyFolders: (paths, keep) => real.pruneEmptyFolders(paths, keep),
        versioning: () => real.versioning(),
        async *list(prefix, options): AsyncIterable<ObjectEntry[]> {
          for await (const page of real.list(prefix, options)) {
            yield page;
            if (prefix === '_hash/b/') throw Object.assign(new Error('connection reset while listing'), { code: 'ECONNRESET' });
          }
        },
      };
    };
    const { report } = await runEngine({ catalog, stores: { main: store }, openStore: failing }, { mode: 'collect' });
    expect(report.deleted).toBe(1);
    expect(report.scan_errors.join('\n')).toMatch(/listing .* under '_hash\/b\/' failed: connection reset while listing/);
    expect(await filesBelow(dir)).toEqual([orphanB]);
    expect(orphanA).toMatch(/^_hash\/a\//);
  });

  it('deletes nothing when the database connection drops while references stream', async () => {
    const { orphanA, orphanB, store } = await twoSchemas();
    await sql.query(
      `INSERT INTO b.t (id, h) SELECT g, jsonb_build_object('path', '_hash/b/' || md5(g::text), 'store', 'main') FROM generate_series(1, 20000) g`,
    );
    const killer = new pg.Client({ connectionString: db.url });
    await killer.connect();
    let killed = false;
    const dropping: Catalog = {
      backend: catalog.backend,
      discover: () => catalog.discover(),
      openWriteTransactions: () => catalog.openWriteTransactions(),
      writeHorizon: () => catalog.writeHorizon(),
      stillOpen: (snapshot) => catalog.stillOpen(snapshot),
      checkReadable: (options) => catalog.checkReadable(options),
      findReferences: (c, p, o) => catalog.findReferences(c, p, o),
      close: () => catalog.close(),
      async *references(column) {
        for await (const ref of catalog.references(column)) {
          if (column.schema === 'b' && !killed) {
            killed = true;
            await killer.query(
              `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND query LIKE '%"b"."t"%'`,
              [db.name],
            );
          }
          yield ref;
        }
      },
    };
    try {
      const { report } = await runEngine({ catalog: dropping, stores: { main: store } }, { mode: 'collect', concurrency: 1 });
      expect(killed).toBe(true);
      expect(report.deleted).toBe(0);
      expect(report.scan_errors.join('\n')).toMatch(/cannot read references of b\.t\.h: .*(terminat|EPIPE|ECONNRESET)/i);
      expect(await filesBelow(dir)).toEqual([orphanA, orphanB]);
    } finally {
      await killer.end();
    }
  });
});

