import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog } from '../../functions/catalog/index.js';
import { PostgresCatalog } from '../../functions/catalog/postgres.js';
import { toReference, toReferences } from '../../functions/catalog/reference.js';
import { MalformedMetadataError, type Reference, type StorageColumn } from '../../functions/engine/types.js';
import { postgresUrl } from '../support/env.js';
import { fixture } from '../support/fixture.js';
import { createTestDatabase, loadPostgresFixture, testClient, type TestDatabase } from '../support/postgres.js';

const A = 'lab_a';
const B = 'Lab"B #~x';
const BIG_ROWS = 20_000;

const q = (name: string): string => `"${name.replaceAll('"', '""')}"`;
const t = (schema: string, table: string): string => `${q(schema)}.${q(table)}`;

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const key = (r: Reference): string => `${r.store ?? '<default>'}|${r.path}`;
const keys = (refs: Reference[]): string[] => refs.map(key).sort();
const colKey = (c: StorageColumn): string => JSON.stringify([c.schema, c.table, c.column, c.codec, c.store]);

function column(schema: string, table: string, name: string, codec: string, store: string): StorageColumn {
  return { schema, table, column: name, codec, store };
}

const hashRef = (schema: string, hash: string) => ({
  hash,
  path: `_hash/${schema}/${hash}`,
  schema,
  store: 'main',
  size: 10,
});

const SESSION_DATA = column(A, 'session', 'data', 'blob', 'main');
const SESSION_GRAPH = column(A, 'session', 'graph', 'graph', 'main');
const SESSION_LEGACY = column(A, 'session', 'legacy', 'blob', 'main');
const SESSION_RAW = column(A, 'session', 'raw', 'filepath', 'main');
const SESSION_OPT = column(A, 'session', 'opt', 'attach', 'cold');
const LOOKUP_OBJ = column(A, '#lookup', 'obj', 'object', 'main');
const BAD_M = column(A, 'bad', 'm', 'blob', 'main');
const COMPUTED_R = column(B, '__computed', 'Result', 'npy', '');
const BIG_V = column(B, 'big', 'v', 'blob', 'main');

let database: TestDatabase;
let fixtureDatabase: TestDatabase | undefined;
let db: pg.Client;
let catalog: PostgresCatalog;

async function streamBackends(name: string): Promise<number> {
  const result = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'djgc-catalog-stream'`,
    [name],
  );
  return Number(result.rows[0]!.n);
}

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i += 1) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  database = await createTestDatabase('djgc_cat');
  db = testClient(database.url);
  await db.connect();
  await db.query(`
    CREATE SCHEMA ${q(A)};
    CREATE SCHEMA ${q(B)};
    CREATE TABLE ${t(A, 'session')} (
      id integer PRIMARY KEY,
      data jsonb NOT NULL,
      small bytea,
      note varchar(32),
      graph jsonb,
      legacy jsonb,
      raw jsonb,
      opt jsonb,
      inherited integer
    );
    COMMENT ON COLUMN ${t(A, 'session')}.id IS ':int32:';
    COMMENT ON COLUMN ${t(A, 'session')}.data IS ':<blob@main>:recording
spanning two lines';
    COMMENT ON COLUMN ${t(A, 'session')}.small IS ':<blob>:in-table blob: no store object';
    COMMENT ON COLUMN ${t(A, 'session')}.note IS ':varchar(32):free text';
    COMMENT ON COLUMN ${t(A, 'session')}.graph IS ':<graph@main>:custom codec chaining to <blob@>';
    COMMENT ON COLUMN ${t(A, 'session')}.legacy IS ':blob@main:migrated';
    COMMENT ON COLUMN ${t(A, 'session')}.raw IS ':<filepath@main>:user file';
    COMMENT ON COLUMN ${t(A, 'session')}.opt IS ':<attach@cold>:nullable';
    CREATE TABLE ${t(A, '#lookup')} (id integer PRIMARY KEY, obj jsonb);
    COMMENT ON COLUMN ${t(A, '#lookup')}.obj IS ':<object@main>:folder';
    CREATE TABLE ${t(A, 'bad')} (id integer PRIMARY KEY, m jsonb);
    COMMENT ON COLUMN ${t(A, 'bad')}.m IS ':<blob@main>:';
    CREATE TABLE ${t(A, '~lineage')} (table_name varchar(64), lineage jsonb);
    COMMENT ON COLUMN ${t(A, '~lineage')}.lineage IS ':<blob@main>:looks like storage, but a hidden table';
    CREATE VIEW ${t(A, 'session_view')} AS SELECT id, data FROM ${t(A, 'session')};
    COMMENT ON COLUMN ${t(A, 'session_view')}.data IS ':<blob@main>:a view, not a table';
    CREATE TABLE ${t(B, '__computed')} (id integer PRIMARY KEY, "Result" jsonb);
    COMMENT ON COLUMN ${t(B, '__computed')}."Result" IS ':<npy@>:default store';
    CREATE TABLE ${t(B, 'big')} (id integer PRIMARY KEY, v jsonb);
    COMMENT ON COLUMN ${t(B, 'big')}.v IS ':<blob@main>:';
  `);
  // Values are written as JSON text, so a string becomes a JSON string value.
  const insert = async (table: string, columns: string[], values: unknown[][]): Promise<void> => {
    for (const row of values) {
      await db.query(
        `INSERT INTO ${table} (${columns.map(q).join(', ')}) VALUES (${row.map((_, i) => `$${i + 1}`).join(', ')})`,
        row.map((v) => (v === null || typeof v === 'number' || Buffer.isBuffer(v) ? v : JSON.stringify(v))),
      );
    }
  };
  await insert(
    t(A, 'session'),
    ['id', 'data', 'small', 'graph', 'legacy', 'raw', 'opt'],
    [
      [1, hashRef(A, 'aaaaaaaaaaaaaaaaaaaaaaaaaa'), Buffer.from('dj0'), hashRef(A, 'gggggggggggggggggggggggggg'), hashRef(A, 'llllllllllllllllllllllllll'), { path: 'user/sub/raw.bin', store: 'main', size: 7, is_dir: false }, null],
      // A value copied verbatim from schema B, and a JSON string holding the metadata (written as text by some clients).
      [2, hashRef(B, 'bbbbbbbbbbbbbbbbbbbbbbbbbb'), null, null, JSON.stringify(hashRef(A, 'ssssssssssssssssssssssssss')), null, { path: '_hash/lab_a/cccccccccccccccccccccccccc', store: null }],
      [3, { path: '_hash/lab_a/dddddddddddddddddddddddddd', store: '' }, null, null, null, null, null],
    ],
  );
  await insert(t(A, '#lookup'), ['id', 'obj'], [
    [1, { path: `_schema/${A}/#lookup/id=1/obj_zY50ZToX`, store: 'main', size: 8, ext: null, is_dir: true, item_count: 3 }],
    [2, null],
    [3, 'null'],
  ]);
  await db.query(`INSERT INTO ${t(A, '#lookup')} (id, obj) VALUES (4, 'null'::jsonb)`);
  await insert(t(A, 'bad'), ['id', 'm'], [[1, hashRef(A, 'eeeeeeeeeeeeeeeeeeeeeeeeee')]]);
  await insert(t(A, '~lineage'), ['table_name', 'lineage'], [['session', { path: 'never/read' }]]);
  await insert(t(B, '__computed'), ['id', 'Result'], [
    [1, { path: `_schema/${B}/__computed/id=1/Result_abcdEFGH.npy`, dtype: 'float32', shape: [2, 3] }],
  ]);
  await db.query(
    `INSERT INTO ${t(B, 'big')} SELECT i, jsonb_build_object('path', '_hash/big/' || i, 'store', 'main') FROM generate_series(1, ${BIG_ROWS}) i`,
  );
  catalog = new PostgresCatalog(postgresUrl(), { database: database.name, batchSize: 50 });
});

afterAll(async () => {
  await catalog?.close();
  await db?.end();
  await database?.drop();
  await fixtureDatabase?.drop();
});

describe('PostgresCatalog.discover', () => {
  it('finds exactly the storage columns of ordinary tables in every schema', async () => {
    // Other databases on the test server are other tests' (see catalog-postgres-safety.test.ts).
    const found = (await catalog.discover()).filter((c) => c.database === undefined);
    expect(found.map(colKey).sort()).toEqual(
      [SESSION_DATA, SESSION_GRAPH, SESSION_LEGACY, SESSION_RAW, SESSION_OPT, LOOKUP_OBJ, BAD_M, COMPUTED_R, BIG_V]
        .map(colKey)
        .sort(),
    );
  });
});

describe('PostgresCatalog.references', () => {
  it('yields the (store, path) of every stored value, including JSON strings, skipping NULLs', async () => {
    expect(keys(await collect(catalog.references(SESSION_DATA)))).toEqual(
      [
        'main|_hash/lab_a/aaaaaaaaaaaaaaaaaaaaaaaaaa',
        'main|_hash/Lab"B #~x/bbbbbbbbbbbbbbbbbbbbbbbbbb',
        '<default>|_hash/lab_a/dddddddddddddddddddddddddd',
      ].sort(),
    );
    expect(keys(await collect(catalog.references(SESSION_LEGACY)))).toEqual(
      ['main|_hash/lab_a/llllllllllllllllllllllllll', 'main|_hash/lab_a/ssssssssssssssssssssssssss'].sort(),
    );
    expect(keys(await collect(catalog.references(SESSION_GRAPH)))).toEqual(['main|_hash/lab_a/gggggggggggggggggggggggggg']);
    expect(keys(await collect(catalog.references(SESSION_RAW)))).toEqual(['main|user/sub/raw.bin']);
    expect(keys(await collect(catalog.references(SESSION_OPT)))).toEqual(['<default>|_hash/lab_a/cccccccccccccccccccccccccc']);
    expect(keys(await collect(catalog.references(LOOKUP_OBJ)))).toEqual([`main|_schema/${A}/#lookup/id=1/obj_zY50ZToX`]);
    expect(keys(await collect(catalog.references(COMPUTED_R)))).toEqual([
      `<default>|_schema/${B}/__computed/id=1/Result_abcdEFGH.npy`,
    ]);
  });

  it('names a column that no longer exists', async () => {
    const gone = column(A, 'session', 'gone', 'blob', 'main');
    await expect(collect(catalog.references(gone))).rejects.toThrow(/column lab_a\.session\.gone does not exist/);
    await expect(catalog.findReferences(gone, ['x'])).rejects.toThrow(/does not exist/);
  });

  it('streams a large column completely', async () => {
    const refs = await collect(catalog.references(BIG_V));
    expect(refs).toHaveLength(BIG_ROWS);
    expect(new Set(refs.map((r) => r.path)).size).toBe(BIG_ROWS);
  });

  it('releases its connection when the consumer stops early', async () => {
    for await (const reference of catalog.references(BIG_V)) {
      expect(reference.path).toMatch(/^_hash\/big\//);
      break;
    }
    await until(async () => (await streamBackends(database.name)) === 0, 'the stream connection to close');
  });

  it('throws when the connection is terminated mid-stream, never ending silently', async () => {
    let seen = 0;
    let terminated = 0;
    const run = async () => {
      for await (const _ of catalog.references(BIG_V)) {
        seen += 1;
        if (seen === 10) {
          const result = await db.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'djgc-catalog-stream'`,
            [database.name],
          );
          terminated = result.rowCount ?? 0;
        }
      }
    };
    const error = await run().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(terminated).toBe(1);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(MalformedMetadataError);
    // The server's notice, or the socket error when the client writes first: either way, a loud failure.
    expect((error as Error).message).toMatch(/terminat|EPIPE|ECONNRESET/i);
    expect(seen).toBeLessThan(BIG_ROWS);
    await until(async () => (await streamBackends(database.name)) === 0, 'the stream connection to close');
  });
});

describe('PostgresCatalog.close', () => {
  it('ends a stream in progress with an error and closes its connection', async () => {
    const other = new PostgresCatalog(postgresUrl(), { database: database.name, batchSize: 50 });
    const rows = other.references(BIG_V)[Symbol.asyncIterator]();
    expect((await rows.next()).done).toBe(false);
    await other.close();
    const drain = async (): Promise<number> => {
      let n = 1;
      while (!(await rows.next()).done) n += 1;
      return n;
    };
    await expect(drain()).rejects.toThrow(/ended|terminated/i);
    await until(async () => (await streamBackends(database.name)) === 0, 'the stream connection to close');
    await expect(other.discover()).rejects.toThrow(/closed/);
  });
});

describe('PostgresCatalog.findReferences', () => {
  it('returns exactly the references whose path is asked for', async () => {
    const found = await catalog.findReferences(SESSION_LEGACY, [
      '_hash/lab_a/ssssssssssssssssssssssssss',
      '_hash/lab_a/aaaaaaaaaaaaaaaaaaaaaaaaaa',
      '_hash/lab_a/nothere',
    ]);
    expect(keys(found)).toEqual(['main|_hash/lab_a/ssssssssssssssssssssssssss']);
    expect(keys(await catalog.findReferences(BIG_V, ['_hash/big/7', '_hash/big/20000', '_hash/big/20001']))).toEqual(
      ['main|_hash/big/20000', 'main|_hash/big/7'].sort(),
    );
    expect(await catalog.findReferences(SESSION_DATA, [])).toEqual([]);
  });
});

describe('malformed metadata', () => {
  const cases: Array<[string, string]> = [
    ['an object without a path', '{"hash": "x"}'],
    ['a JSON number', '5'],
    ['a path that is not a string', '{"path": 7, "store": "main"}'],
    ['an empty path', '{"path": ""}'],
    ['a store that is not a string', '{"path": "a", "store": 1}'],
    ['a JSON string that is not JSON', '"not json"'],
    ['an array without a path object', '[1, "a"]'],
  ];

  it.each(cases)('%s makes references() and findReferences() throw, naming the column', async (_, value) => {
    await db.query(`INSERT INTO ${t(A, 'bad')} (id, m) VALUES (2, $1::jsonb)`, [value]);
    try {
      const streamed = await collect(catalog.references(BAD_M)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(streamed).toBeInstanceOf(MalformedMetadataError);
      expect((streamed as MalformedMetadataError).where).toBe('lab_a.bad.m');
      const rechecked = await catalog
        .findReferences(BAD_M, ['_hash/lab_a/eeeeeeeeeeeeeeeeeeeeeeeeee'])
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(rechecked).toBeInstanceOf(MalformedMetadataError);
      expect((rechecked as MalformedMetadataError).where).toBe('lab_a.bad.m');
    } finally {
      await db.query(`DELETE FROM ${t(A, 'bad')} WHERE id = 2`);
    }
  });

  it('reads the column again once the value is fixed', async () => {
    expect(keys(await collect(catalog.references(BAD_M)))).toEqual(['main|_hash/lab_a/eeeeeeeeeeeeeeeeeeeeeeeeee']);
  });
});

describe('extraction on the server', () => {
  // Each value alone in a column: the catalog must say exactly what toReference says about the raw value.
  const values = [
    '{"path": "a/b", "store": "main"}',
    '{"store": "main", "path": "é/\\u00e9/\\ud83d\\ude00"}',
    '{"path": "a", "path": "last wins"}',
    '{"path": "x", "store": null}',
    '{"path": "x", "store": ""}',
    '{"path": "x", "store": 5}',
    '{"path": "x", "store": {"name": "main"}}',
    '{"path": ""}',
    '{"path": null}',
    '{"path": ["a"]}',
    '{"meta": {"path": "nested only"}}',
    '{"path": " "}',
    '{}',
    '[]',
    '"{\\"path\\": \\"string encoded\\", \\"store\\": \\"cold\\"}"',
    '"\\"{\\\\\\"path\\\\\\": \\\\\\"twice\\\\\\"}\\""',
    '"null"',
    'null',
    'true',
    '1.5',
  ];

  it.each(values)('%s', async (value) => {
    await db.query(`CREATE TABLE IF NOT EXISTS ${t(A, 'edge')} (v jsonb)`);
    await db.query(`TRUNCATE ${t(A, 'edge')}`);
    await db.query(`INSERT INTO ${t(A, 'edge')} (v) VALUES ($1::jsonb)`, [value]);
    const raw = (await db.query<{ v: unknown }>(`SELECT v FROM ${t(A, 'edge')}`)).rows[0]!.v;
    const edge = column(A, 'edge', 'v', 'blob', 'main');
    let expected: Reference[] | MalformedMetadataError;
    try {
      expected = toReferences(raw, 'lab_a.edge.v');
    } catch (error) {
      expected = error as MalformedMetadataError;
    }
    const streamed = await collect(catalog.references(edge)).then(
      (refs) => refs,
      (e: unknown) => e,
    );
    const rechecked = await catalog.findReferences(edge, ['a/b', 'x', 'last wins', ' ', 'string encoded', 'twice']).then(
      (refs) => refs,
      (e: unknown) => e,
    );
    if (expected instanceof MalformedMetadataError) {
      expect(streamed).toEqual(expected);
      expect(rechecked).toEqual(expected);
    } else {
      expect(streamed).toEqual(expected);
      const wantedHere = expected.filter((r) => ['a/b', 'x', 'last wins', ' ', 'string encoded', 'twice'].includes(r.path));
      if (wantedHere.length > 0) expect(rechecked).toEqual(wantedHere);
    }
  });
});

describe('the DataJoint 2.3.2 fixture', () => {
  function referencesInDump(): string[] {
    const dump = readFileSync(fixture.postgresSql, 'utf8');
    const found: string[] = [];
    const storage: Record<string, string[]> = { note: ['shared'], sample: ['b', 'a', 'h', 'n', 'o', 'd', 'f'] };
    for (const block of dump.matchAll(/^COPY djgc_fixture\.(\w+) \(([^)]*)\) FROM stdin;\n([\s\S]*?)^\\\.$/gm)) {
      const columns = block[2]!.split(', ');
      for (const line of block[3]!.split('\n').filter(Boolean)) {
        const fields = line.split('\t').map((f) => f.replace(/\\\\/g, '\\'));
        for (const name of storage[block[1]!] ?? []) {
          const field = fields[columns.indexOf(name)]!;
          if (field === '\\N') continue;
          const ref = toReference(JSON.parse(field), name)!;
          found.push(key(ref));
        }
      }
    }
    return found.sort();
  }

  it('discovers the 8 storage columns and streams the references in the dump', async () => {
    fixtureDatabase = await createTestDatabase('djgc_cat_fx');
    await loadPostgresFixture(fixtureDatabase.url, fixture.postgresSql);
    const fx = await openCatalog({
      backend: 'postgresql',
      host: new URL(fixtureDatabase.url).hostname,
      port: Number(new URL(fixtureDatabase.url).port || 5432),
      user: decodeURIComponent(new URL(fixtureDatabase.url).username),
      password: new URL(fixtureDatabase.url).password ? decodeURIComponent(new URL(fixtureDatabase.url).password) : undefined,
      database: fixtureDatabase.name,
    });
    try {
      const columns = (await fx.discover()).filter((c) => c.database === undefined);
      expect(columns.map((c) => `${c.schema}.${c.table}.${c.column}:${c.codec}@${c.store}`).sort()).toEqual(
        [
          'djgc_fixture.sample.b:blob@main',
          'djgc_fixture.sample.a:attach@main',
          'djgc_fixture.sample.h:hash@main',
          'djgc_fixture.sample.n:npy@main',
          'djgc_fixture.sample.o:object@main',
          'djgc_fixture.sample.d:object@main',
          'djgc_fixture.sample.f:filepath@main',
          'djgc_fixture.note.shared:blob@main',
        ].sort(),
      );
      const streamed: Reference[] = [];
      for (const c of columns) streamed.push(...(await collect(fx.references(c))));
      const expected = referencesInDump();
      expect(expected).toHaveLength(8 * 7 + 1);
      expect(keys(streamed)).toEqual(expected);
    } finally {
      await fx.close();
    }
  });
});

describe('openCatalog', () => {
  it('names the server and what to check when it cannot connect', async () => {
    const error = await openCatalog({ backend: 'postgresql', host: '127.0.0.1', port: 1, user: 'nobody', password: 'secret-pw' }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/cannot connect to PostgreSQL at 127\.0\.0\.1:1 \(database "postgres", user "nobody"\)/);
    expect(error?.message).toMatch(/DJ_HOST/);
    expect(error?.message).not.toContain('secret-pw');
  });

  it('rejects a malformed connection before connecting', async () => {
    await expect(
      openCatalog({ backend: 'postgresql', host: '', port: 70000, user: 'u' }),
    ).rejects.toThrow(/invalid database connection: host is empty.*port must be an integer from 1 to 65535/);
  });
});
