import { PGlite } from '@electric-sql/pglite';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlCatalog, referenceSelect as mysqlReferenceSelect } from '../../functions/catalog/mysql.js';
import { PgliteCatalog } from '../../functions/catalog/pglite.js';
import { PostgresCatalog, referenceSelect as postgresReferenceSelect } from '../../functions/catalog/postgres.js';
import { toReferences } from '../../functions/catalog/reference.js';
import { MalformedMetadataError, type Catalog, type Reference, type StorageColumn } from '../../functions/engine/types.js';
import { dropMysqlDatabases, withMysqlServer } from '../support/mysql.js';
import { uniqueName } from '../support/names.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

// The references a catalog streams from a column must be exactly those `toReferences`
// reads from each stored value, whether the server extracts the path or hands over the
// value, and a re-check must find each of them by its canonical path.

const SCHEMA = 'ext';
const h = (letter: string): string => letter.repeat(26);
const hashPath = (letter: string): string => `_hash/${SCHEMA}/${h(letter)}`;

interface StoredValue {
  /** The JSON text stored; null is SQL NULL. */
  text: string | null;
  /** Ordinary DataJoint metadata: the server extracts its path itself ('jsonb': only where jsonb has unescaped the text). */
  server?: true | 'jsonb';
  /** The references it must yield, as `store|path` (pinned, so that no reading of it can lose one). */
  refs?: string[];
}

const json = (value: unknown, rest: Omit<StoredValue, 'text'> = {}): StoredValue => ({ text: JSON.stringify(value), ...rest });

/** Accepted before, yet each protected nothing (or not everything): each must yield its canonical paths. */
const LOSS_PATHS: StoredValue[] = [
  json({ hash: h('c'), path: `_hash/${SCHEMA}//${h('c')}`, schema: SCHEMA, store: 'main', size: 1 }, { refs: [`main|${hashPath('c')}`] }),
  json({ hash: h('d'), path: `_hash/${SCHEMA}/./${h('d')}`, schema: SCHEMA, store: 'main', size: 1 }, { refs: [`main|${hashPath('d')}`] }),
  json(
    { path: `_schema/${SCHEMA}/t/id=1/obj_x/`, store: 'main', size: 8, ext: null, is_dir: true, item_count: 3 },
    { refs: [`main|_schema/${SCHEMA}/t/id=1/obj_x`] },
  ),
  json({ kind: 'graph', data: { path: hashPath('e'), store: 'main' } }, { refs: [`main|${hashPath('e')}`] }),
  json(
    { kind: 'graph', data: [{ path: hashPath('f'), store: 'main' }, { path: hashPath('g'), store: 'cold' }] },
    { refs: [`cold|${hashPath('g')}`, `main|${hashPath('f')}`] },
  ),
  json(
    { path: hashPath('s'), store: 'main', data: { path: hashPath('t'), store: 'main' } },
    { refs: [`main|${hashPath('s')}`, `main|${hashPath('t')}`] },
  ),
];

/** Read alone: the server's extraction at the edges of what is canonical (some are malformed). */
const EDGES: StoredValue[] = [
  json({ path: 'a/...', store: 'main' }, { server: true }),
  json({ path: 'x/..y/.z/z./.../..../a..', store: 'main' }, { server: true }),
  json({ path: 'é/ü/x', store: 'main' }, { server: true }),
  { text: '{ "path" : "a/b" ,\n "store" : "main" }', server: true },
  json({ path: 'a/b', store: 'm/n' }, { refs: ['m/n|a/b', 'm/n|m/n'] }),
  json({ path: 'a/..', store: 'main' }),
  json({ path: '..', store: 'main' }),
  json({ path: '.', store: 'main' }),
  json({ path: '/', store: 'main' }),
  json({ path: '', store: 'main' }),
  json({ path: 'ok', data: { path: '../up' } }),
];

const VALUES: StoredValue[] = [
  // Ordinary DataJoint values (spec §2).
  json({ hash: h('a'), path: hashPath('a'), schema: SCHEMA, store: 'main', size: 69 }, { server: true }),
  json({ path: `_schema/${SCHEMA}/session/subject=m%2F1%20x/sess_idx=3/wave_siMNaXZy.npy`, store: 'main', dtype: 'float32', shape: [2, 3] }, { server: true }),
  json({ path: `_schema/${SCHEMA}/t/id=3/obj_zY50ZToX.dat`, store: 'main', size: 8, ext: 'dat', is_dir: false, item_count: null, timestamp: '2026-01-02T03:04:05+00:00' }, { server: true }),
  json({ path: `_schema/${SCHEMA}/t/id=4/obj_folderXY`, store: 'main', size: 30, ext: null, is_dir: true, item_count: 3, timestamp: '2026-01-02T03:04:05+00:00' }, { server: true }),
  json({ path: 'user/sub/raw.bin', store: 'main', size: 7, is_dir: false, timestamp: '2026-01-02T03:04:05+00:00' }, { server: true }),
  json({ path: hashPath('b'), store: null }, { server: true }),
  json({ path: `${SCHEMA}/t/id=5/.hidden_file`, store: '' }, { server: true }),
  ...LOSS_PATHS,
  // Other values only JavaScript reads.
  json({ path: `/${hashPath('i')}`, store: 'main' }, { refs: [`main|${hashPath('i')}`] }),
  json({ path: `_hash/other/../${SCHEMA}/${h('j')}`, store: 'main' }, { refs: [`main|${hashPath('j')}`] }),
  json({ path: hashPath('k'), store: 'main', mime: 'image/png' }, { refs: ['main|image/png', `main|${hashPath('k')}`] }),
  json({ path: hashPath('l'), store: 'main', sizes: { [`_schema/${SCHEMA}/t/l.dat`]: 3 } }, { refs: [`main|${hashPath('l')}`, `main|_schema/${SCHEMA}/t/l.dat`] }),
  json({ store: 'cold', data: { path: hashPath('m') } }, { refs: [`cold|${hashPath('m')}`] }),
  json({ path: hashPath('n'), store: 'main', kind: 'path' }, { refs: [`main|${hashPath('n')}`] }),
  json({ path: hashPath('o'), store: 'main', meta: { path: 'p' } }, { refs: ['main|p', `main|${hashPath('o')}`] }),
  json({ path: hashPath('p'), store: 'main', up: '../outside/the/store' }, { refs: [`main|${hashPath('p')}`] }),
  { text: `{"path": "_hash\\/${SCHEMA}\\/${h('q')}", "store": "main"}`, refs: [`main|${hashPath('q')}`], server: 'jsonb' },
  { text: `{"path": "${hashPath('r')}", "store": "main", "note": "a\\/b"}`, refs: ['main|a/b', `main|${hashPath('r')}`] },
  { text: null },
  { text: 'null' },
];

const key = (r: Reference): string => `${r.store ?? '<default>'}|${r.path}`;
const keys = (refs: Iterable<Reference>): string[] => [...refs].map(key).sort();

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

interface Backend {
  catalog: Pick<Catalog, 'references' | 'findReferences'>;
  column: StorageColumn;
  /** Replace the column's rows with `values`, row i holding values[i]. */
  load(values: readonly StoredValue[]): Promise<void>;
  /** Each row's id and value as the driver returns it. */
  readBack(): Promise<Array<{ id: number; value: unknown }>>;
  /** The paths the server extracted itself (rows sent without the raw value). */
  serverPaths(): Promise<string[]>;
}

/** The references `toReferences` reads from each stored value, checked against the pinned ones. */
async function expectedReferences(backend: Backend, values: readonly StoredValue[]): Promise<Reference[]> {
  const rows = await backend.readBack();
  expect(rows).toHaveLength(values.length);
  const all: Reference[] = [];
  for (const { id, value } of rows) {
    const refs = toReferences(value, 'read back');
    const pinned = values[id]!.refs;
    if (pinned) expect(keys(refs), values[id]!.text ?? 'NULL').toEqual([...pinned].sort());
    all.push(...refs);
  }
  return all;
}

/** `values` in the column: streamed and re-checked, the catalog says exactly what `toReferences` says. */
async function expectExact(backend: Backend, values: readonly StoredValue[]): Promise<void> {
  const { catalog, column } = backend;
  await backend.load(values);
  const expected = await expectedReferences(backend, values).catch((error: unknown) => error as Error);
  if (expected instanceof Error) {
    expect(expected).toBeInstanceOf(MalformedMetadataError);
    const problem = (expected as MalformedMetadataError).detail;
    await expect(collect(catalog.references(column))).rejects.toThrow(problem);
    await expect(catalog.findReferences(column, ['a'])).rejects.toThrow(problem);
    return;
  }
  expect(keys(await collect(catalog.references(column)))).toEqual(keys(expected));
  const paths = [...new Set(expected.map((r) => r.path))];
  expect(keys(await catalog.findReferences(column, [...paths, 'no/such/path']))).toEqual(keys(expected));
  for (const path of paths) {
    expect(keys(await catalog.findReferences(column, [path])), path).toEqual(keys(expected.filter((r) => r.path === path)));
  }
}

/** `server`: which values the server extracts itself ('none' for a column it hands over whole). */
function checkExtraction(backend: () => Backend, server: 'jsonb' | 'text' | 'none'): void {
  it.each(LOSS_PATHS.map((value) => [value.text]))('reads %s alone exactly', async (text) => {
    await expectExact(backend(), [LOSS_PATHS.find((value) => value.text === text)!]);
  });

  it.each(EDGES.map((value) => [value.text]))('reads %s alone exactly', async (text) => {
    const value = EDGES.find((edge) => edge.text === text)!;
    await expectExact(backend(), [value]);
    const extracted = value.server === true || value.server === server ? [JSON.parse(value.text!).path as string] : [];
    expect(await backend().serverPaths()).toEqual(server === 'none' ? [] : extracted);
  });

  it('streams and finds exactly what toReferences reads, with ordinary values and odd ones together', async () => {
    await expectExact(backend(), VALUES);
    expect(await backend().catalog.findReferences(backend().column, [`_hash/${SCHEMA}//${h('c')}`, 'no/such/path'])).toEqual([]);
  });

  it(server !== 'none' ? 'extracts ordinary values on the server, and only those' : 'hands every value to JavaScript', async () => {
    await backend().load(VALUES);
    const extracted = VALUES.filter((v) => v.server === true || v.server === server).map((v) => JSON.parse(v.text!).path as string);
    expect((await backend().serverPaths()).sort()).toEqual(server !== 'none' ? extracted.sort() : []);
  });
}

const storageColumn = (schema: string, table: string): StorageColumn => ({ schema, table, column: 'v', codec: 'blob', store: 'main' });

describe('PostgreSQL', () => {
  let database: TestDatabase;
  let db: pg.Client;
  let catalog: PostgresCatalog;

  beforeAll(async () => {
    database = await createTestDatabase('djgc_extract');
    db = new pg.Client({ connectionString: database.url });
    await db.connect();
    await db.query(`CREATE SCHEMA ${SCHEMA}`);
    for (const type of ['jsonb', 'json']) {
      await db.query(`CREATE TABLE ${SCHEMA}.t_${type} (id integer PRIMARY KEY, v ${type})`);
      await db.query(`COMMENT ON COLUMN ${SCHEMA}.t_${type}.v IS ':<blob@main>:'`);
    }
    catalog = new PostgresCatalog(database.url, { batchSize: 7 });
  });

  afterAll(async () => {
    await catalog?.close();
    await db?.end();
    await database?.drop();
  });

  for (const type of ['jsonb', 'json']) {
    describe(`a ${type} column`, () => {
      const column = storageColumn(SCHEMA, `t_${type}`);
      checkExtraction(
        () => ({
          catalog,
          column,
          load: async (values) => {
            await db.query(`TRUNCATE ${SCHEMA}.t_${type}`);
            for (const [id, value] of values.entries()) {
              await db.query(`INSERT INTO ${SCHEMA}.t_${type} (id, v) VALUES ($1, $2::${type})`, [id, value.text]);
            }
          },
          readBack: async () => (await db.query<{ id: number; value: unknown }>(`SELECT id, v AS value FROM ${SCHEMA}.t_${type}`)).rows,
          serverPaths: async () =>
            (await db.query<{ path: string }>(`SELECT path FROM (${postgresReferenceSelect(column, type)}) r WHERE raw IS NULL`)).rows.map(
              (r) => r.path,
            ),
        }),
        type === 'jsonb' ? 'jsonb' : 'none',
      );
    });
  }
});

describe('MariaDB', () => {
  const database = uniqueName('djgc_extract');
  let admin: mysql.Connection;
  let catalog: MysqlCatalog;
  let releaseServer: () => void = () => undefined;
  let serverHeld: Promise<void> | undefined;

  // The lock keeps other tests that read every database on the server from seeing this one.
  beforeAll(async () => {
    await new Promise<void>((ready, fail) => {
      serverHeld = withMysqlServer(async (url) => {
        try {
          admin = await mysql.createConnection({ uri: url, jsonStrings: true });
          await admin.query(`CREATE DATABASE ${database}`);
          await admin.query(
            `CREATE TABLE ${database}.t (id int PRIMARY KEY, v longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL COMMENT ':<blob@main>:' CHECK (json_valid(v)))`,
          );
          catalog = new MysqlCatalog(url, { batchSize: 7 });
          ready();
          await new Promise<void>((release) => {
            releaseServer = release;
          });
        } finally {
          await catalog?.close();
          await admin?.end();
          await dropMysqlDatabases(url, [database]);
        }
      });
      serverHeld.catch(fail);
    });
  }, 900_000);

  afterAll(async () => {
    releaseServer();
    await serverHeld;
  });

  const column = storageColumn(database, 't');
  checkExtraction(
    () => ({
      catalog,
      column,
      load: async (values) => {
        await admin.query(`DELETE FROM ${database}.t`);
        for (const [id, value] of values.entries()) await admin.query(`INSERT INTO ${database}.t (id, v) VALUES (?, ?)`, [id, value.text]);
      },
      readBack: async () => (await admin.query<mysql.RowDataPacket[]>(`SELECT id, v AS value FROM ${database}.t`))[0] as Array<{ id: number; value: unknown }>,
      serverPaths: async () =>
        ((await admin.query<mysql.RowDataPacket[]>(`SELECT path FROM (${mysqlReferenceSelect(column)}) r WHERE raw IS NULL`))[0]).map(
          (r) => r.path as string,
        ),
    }),
    'text',
  );
});

describe('PGlite (the embedded database)', () => {
  let db: PGlite;
  let catalog: PgliteCatalog;

  beforeAll(async () => {
    db = new PGlite();
    await db.exec(`CREATE SCHEMA ${SCHEMA}; CREATE TABLE ${SCHEMA}.t (id integer PRIMARY KEY, v jsonb)`);
    catalog = new PgliteCatalog(db);
  });

  afterAll(async () => {
    await db?.close();
  });

  const column = storageColumn(SCHEMA, 't');
  checkExtraction(
    () => ({
      catalog,
      column,
      load: async (values) => {
        await db.query(`TRUNCATE ${SCHEMA}.t`);
        for (const [id, value] of values.entries()) await db.query(`INSERT INTO ${SCHEMA}.t (id, v) VALUES ($1, $2::jsonb)`, [id, value.text]);
      },
      readBack: async () => (await db.query<{ id: number; value: unknown }>(`SELECT id, v AS value FROM ${SCHEMA}.t`)).rows,
      serverPaths: async () =>
        (await db.query<{ path: string }>(`SELECT path FROM (${postgresReferenceSelect(column, 'jsonb')}) r WHERE raw IS NULL`)).rows.map(
          (r) => r.path,
        ),
    }),
    'jsonb',
  );
});
