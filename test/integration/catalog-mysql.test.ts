import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog } from '../../functions/catalog/index.js';
import { MysqlCatalog } from '../../functions/catalog/mysql.js';
import { toReference, toReferences } from '../../functions/catalog/reference.js';
import { MalformedMetadataError, type Catalog, type Reference, type StorageColumn } from '../../functions/engine/types.js';
import { fixture } from '../support/fixture.js';
import { dropMysqlDatabases, loadMysqlFixture, testConnection, withMysqlServer } from '../support/mysql.js';
import { uniqueName } from '../support/names.js';

// Every statement on the server runs while this file holds the server-wide test lock
// (taken in beforeAll, released in afterAll): the catalog reads every database on it.

const BASE = uniqueName('djgc_cat');
const A = `${BASE}_a`;
const B = `${BASE}_b`;
const FIXTURE_DB = 'djgc_fixture';
const BIG_ROWS = 1 << 17;

const q = (name: string): string => `\`${name.replaceAll('`', '``')}\``;
const t = (schema: string, table: string): string => `${q(schema)}.${q(table)}`;
const json = (name: string, comment: string, nullable = true): string =>
  `${q(name)} longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin ${nullable ? 'DEFAULT NULL' : 'NOT NULL'} COMMENT '${comment}' CHECK (json_valid(${q(name)}))`;

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const key = (r: Reference): string => `${r.store ?? '<default>'}|${r.path}`;
const keys = (refs: Reference[]): string[] => refs.map(key).sort();
const colKey = (c: StorageColumn): string => JSON.stringify([c.schema, c.table, c.column, c.codec, c.store]);
const column = (schema: string, table: string, name: string, codec: string, store: string): StorageColumn => ({
  schema,
  table,
  column: name,
  codec,
  store,
});
const hashRef = (schema: string, hash: string): string =>
  JSON.stringify({ hash, path: `_hash/${schema}/${hash}`, schema, store: 'main', size: 10 });

const SESSION_DATA = column(A, 'session', 'data', 'blob', 'main');
const SESSION_GRAPH = column(A, 'session', 'graph', 'graph', 'main');
const SESSION_LEGACY = column(A, 'session', 'legacy', 'blob', 'main');
const SESSION_RAW = column(A, 'session', 'raw', 'filepath', 'main');
const SESSION_OPT = column(A, 'session', 'opt', 'attach', 'cold');
const LOOKUP_OBJ = column(A, '#lookup', 'obj', 'object', 'main');
const BAD_M = column(A, 'bad', 'm', 'blob', 'main');
const COMPUTED_R = column(B, 'we`ird', 'Result', 'npy', '');
const BIG_V = column(B, 'big', 'v', 'blob', 'main');
const EDGE_V = column(B, 'edge', 'v', 'blob', 'main');

let url: string;
let admin: mysql.Connection;
let catalog: MysqlCatalog;
let releaseServer: () => void = () => undefined;
let serverHeld: Promise<void> | undefined;

async function setUp(): Promise<void> {
  admin = await testConnection(url, { jsonStrings: true });
  await dropMysqlDatabases(url, [A, B, FIXTURE_DB]);
  const statements = [
    `CREATE DATABASE ${q(A)}`,
    `CREATE DATABASE ${q(B)}`,
    `CREATE TABLE ${t(A, 'session')} (
      id int NOT NULL COMMENT ':int32:',
      ${json('data', ':<blob@main>:recording\nspanning two lines', false)},
      small longblob COMMENT ':<blob>:in-table blob: no store object',
      note varchar(32) COMMENT ':varchar(32):free text',
      ${json('graph', ':<graph@main>:custom codec chaining to <blob@>')},
      ${json('legacy', ':blob@main:migrated')},
      ${json('raw', ':<filepath@main>:user file')},
      ${json('opt', ':<attach@cold>:nullable')},
      inherited int,
      PRIMARY KEY (id))`,
    `CREATE TABLE ${t(A, '#lookup')} (id int PRIMARY KEY, ${json('obj', ':<object@main>:folder')})`,
    `CREATE TABLE ${t(A, 'bad')} (id int PRIMARY KEY, m longtext COLLATE utf8mb4_bin COMMENT ':<blob@main>:')`,
    `CREATE TABLE ${t(A, '~lineage')} (table_name varchar(64), ${json('lineage', ':<blob@main>:hidden table')})`,
    `CREATE VIEW ${t(A, 'session_view')} AS SELECT id, data FROM ${t(A, 'session')}`,
    `CREATE TABLE ${t(B, 'we`ird')} (id int PRIMARY KEY, ${json('Result', ':<npy@>:default store')})`,
    `CREATE TABLE ${t(B, 'big')} (id int PRIMARY KEY, ${json('v', ':<blob@main>:')})`,
    `CREATE TABLE ${t(B, 'edge')} (id int PRIMARY KEY, v longtext COLLATE utf8mb4_bin COMMENT ':<blob@main>:no CHECK: any text')`,
  ];
  for (const sql of statements) await admin.query(sql);
  const insert = async (table: string, columns: string[], rows: unknown[][]): Promise<void> => {
    for (const row of rows) {
      await admin.query(`INSERT INTO ${table} (${columns.map(q).join(', ')}) VALUES (?)`, [row]);
    }
  };
  await insert(t(A, 'session'), ['id', 'data', 'small', 'graph', 'legacy', 'raw', 'opt'], [
    [1, hashRef(A, 'aaaaaaaaaaaaaaaaaaaaaaaaaa'), Buffer.from('dj0'), hashRef(A, 'gggggggggggggggggggggggggg'), hashRef(A, 'llllllllllllllllllllllllll'), '{"path": "user/sub/raw.bin", "store": "main", "size": 7, "is_dir": false}', null],
    // Copied verbatim from database B; and a JSON string holding the metadata.
    [2, hashRef(B, 'bbbbbbbbbbbbbbbbbbbbbbbbbb'), null, null, JSON.stringify(hashRef(A, 'ssssssssssssssssssssssssss')), null, '{"path": "_hash/a/cccccccccccccccccccccccccc", "store": null}'],
    [3, '{"path": "_hash/a/dddddddddddddddddddddddddd", "store": ""}', null, null, null, null, null],
  ]);
  await insert(t(A, '#lookup'), ['id', 'obj'], [
    [1, `{"path": "_schema/a/#lookup/id=1/obj_zY50ZToX", "store": "main", "size": 8, "ext": null, "is_dir": true, "item_count": 3}`],
    [2, null],
    [3, 'null'],
  ]);
  await insert(t(A, 'bad'), ['id', 'm'], [[1, hashRef(A, 'eeeeeeeeeeeeeeeeeeeeeeeeee')]]);
  await insert(t(A, '~lineage'), ['table_name', 'lineage'], [['session', '{"path": "never/read"}']]);
  await insert(t(B, 'we`ird'), ['id', 'Result'], [[1, '{"path": "_schema/b/we`ird/id=1/Result_abcdEFGH.npy", "dtype": "float32", "shape": [2, 3]}']]);
  await admin.query(`INSERT INTO ${t(B, 'big')} VALUES (1, JSON_OBJECT('path', '_hash/big/1', 'store', 'main', 'pad', REPEAT('x', 200)))`);
  for (let rows = 1; rows < BIG_ROWS; rows *= 2) {
    await admin.query(
      `INSERT INTO ${t(B, 'big')} SELECT id + ?, JSON_OBJECT('path', CONCAT('_hash/big/', id + ?), 'store', 'main', 'pad', REPEAT('x', 200)) FROM ${t(B, 'big')}`,
      [rows, rows],
    );
  }
  catalog = new MysqlCatalog(url, { batchSize: 50 });
}

async function tearDown(): Promise<void> {
  await catalog?.close();
  await admin?.end();
  await dropMysqlDatabases(url, [A, B, FIXTURE_DB]);
}

beforeAll(async () => {
  await new Promise<void>((ready, fail) => {
    serverHeld = withMysqlServer(async (serverUrl) => {
      url = serverUrl;
      try {
        await setUp();
        ready();
        await new Promise<void>((release) => {
          releaseServer = release;
        });
      } finally {
        await tearDown();
      }
    });
    serverHeld.catch(fail);
  });
}, 900_000);

afterAll(async () => {
  releaseServer();
  await serverHeld;
});

async function streamThreads(): Promise<number[]> {
  const [rows] = await admin.query<mysql.RowDataPacket[]>(
    `SELECT ID AS id FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND INFO LIKE ?`,
    [`%${t(B, 'big').replaceAll('\\', '\\\\').replaceAll('%', '\\%').replaceAll('_', '\\_')}%`],
  );
  return rows.map((row) => Number(row.id));
}

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i += 1) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('MysqlCatalog.discover', () => {
  it('finds exactly the storage columns of base tables, in every database, skipping ~ tables and system databases', async () => {
    const found = await catalog.discover();
    expect(found.filter((c) => c.schema === A || c.schema === B).map(colKey).sort()).toEqual(
      [SESSION_DATA, SESSION_GRAPH, SESSION_LEGACY, SESSION_RAW, SESSION_OPT, LOOKUP_OBJ, BAD_M, COMPUTED_R, BIG_V, EDGE_V]
        .map(colKey)
        .sort(),
    );
    expect(found.filter((c) => ['mysql', 'sys', 'information_schema', 'performance_schema'].includes(c.schema))).toEqual([]);
    expect(found.filter((c) => c.table.startsWith('~'))).toEqual([]);
  });
});

describe('MysqlCatalog.references', () => {
  it('yields the (store, path) of every stored value, including JSON strings, skipping NULLs', async () => {
    expect(keys(await collect(catalog.references(SESSION_DATA)))).toEqual(
      [
        `main|_hash/${A}/aaaaaaaaaaaaaaaaaaaaaaaaaa`,
        `main|_hash/${B}/bbbbbbbbbbbbbbbbbbbbbbbbbb`,
        '<default>|_hash/a/dddddddddddddddddddddddddd',
      ].sort(),
    );
    expect(keys(await collect(catalog.references(SESSION_LEGACY)))).toEqual(
      [`main|_hash/${A}/llllllllllllllllllllllllll`, `main|_hash/${A}/ssssssssssssssssssssssssss`].sort(),
    );
    expect(keys(await collect(catalog.references(SESSION_GRAPH)))).toEqual([`main|_hash/${A}/gggggggggggggggggggggggggg`]);
    expect(keys(await collect(catalog.references(SESSION_RAW)))).toEqual(['main|user/sub/raw.bin']);
    expect(keys(await collect(catalog.references(SESSION_OPT)))).toEqual(['<default>|_hash/a/cccccccccccccccccccccccccc']);
    expect(keys(await collect(catalog.references(LOOKUP_OBJ)))).toEqual(['main|_schema/a/#lookup/id=1/obj_zY50ZToX']);
    expect(keys(await collect(catalog.references(COMPUTED_R)))).toEqual([
      '<default>|_schema/b/we`ird/id=1/Result_abcdEFGH.npy',
    ]);
  });

  it('streams a large column completely', async () => {
    const refs = await collect(catalog.references(BIG_V));
    expect(refs).toHaveLength(BIG_ROWS);
    expect(new Set(refs.map((r) => r.path)).size).toBe(BIG_ROWS);
  });

  it('releases its connection, and the server its query, when the consumer stops early', async () => {
    for await (const reference of catalog.references(BIG_V)) {
      expect(reference.path).toMatch(/^_hash\/big\//);
      break;
    }
    await until(async () => (await streamThreads()).length === 0, 'the server to drop the stream query');
  });

  it('throws when the connection is killed mid-stream, never ending silently', async () => {
    let seen = 0;
    let killed: number[] = [];
    const run = async () => {
      for await (const _ of catalog.references(BIG_V)) {
        seen += 1;
        if (seen === 10) {
          killed = await streamThreads();
          for (const id of killed) await admin.query(`KILL ${id}`);
        }
      }
    };
    const error = await run().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(killed).toHaveLength(1);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(MalformedMetadataError);
    expect(seen).toBeLessThan(BIG_ROWS);
  });
});

describe('MysqlCatalog.close', () => {
  it('ends a stream in progress with an error, and the server its query', async () => {
    const other = new MysqlCatalog(url, { batchSize: 50 });
    const rows = other.references(BIG_V)[Symbol.asyncIterator]();
    expect((await rows.next()).done).toBe(false);
    await other.close();
    const drain = async (): Promise<number> => {
      let n = 1;
      while (!(await rows.next()).done) n += 1;
      return n;
    };
    await expect(drain()).rejects.toThrow(/closed/);
    await until(async () => (await streamThreads()).length === 0, 'the server to drop the stream query');
    await expect(other.discover()).rejects.toThrow(/closed/);
  });
});

describe('MysqlCatalog.findReferences', () => {
  it('returns exactly the references whose path is asked for', async () => {
    expect(
      keys(
        await catalog.findReferences(SESSION_LEGACY, [
          `_hash/${A}/ssssssssssssssssssssssssss`,
          `_hash/${A}/aaaaaaaaaaaaaaaaaaaaaaaaaa`,
          `_hash/${A}/nothere`,
        ]),
      ),
    ).toEqual([`main|_hash/${A}/ssssssssssssssssssssssssss`]);
    expect(keys(await catalog.findReferences(BIG_V, ['_hash/big/7', `_hash/big/${BIG_ROWS}`, `_hash/big/${BIG_ROWS + 1}`]))).toEqual(
      [`main|_hash/big/${BIG_ROWS}`, 'main|_hash/big/7'].sort(),
    );
    expect(await catalog.findReferences(SESSION_DATA, [])).toEqual([]);
  });

  it('matches paths exactly (no case folding or trailing-space padding)', async () => {
    expect(await catalog.findReferences(SESSION_RAW, ['USER/SUB/RAW.BIN', 'user/sub/raw.bin '])).toEqual([]);
  });

  it('handles more paths than fit one query', async () => {
    const paths = Array.from({ length: 2500 }, (_, i) => `_hash/big/${i + 1}`);
    expect(await catalog.findReferences(BIG_V, paths)).toHaveLength(2500);
  });
});

describe('malformed metadata', () => {
  const cases: Array<[string, string]> = [
    ['an object without a path', '{"hash": "x"}'],
    ['a JSON number', '5'],
    ['a path that is not a string', '{"path": 7, "store": "main"}'],
    ['an empty path', '{"path": ""}'],
    ['a store that is not a string', '{"path": "a", "store": 1}'],
    ['text that is not JSON', 'not json'],
    ['a number JSON.parse rejects', '{"path": "a", "size": 1.}'],
    ['an array without a path object', '[1, "a"]'],
  ];

  it.each(cases)('%s makes references() and findReferences() throw, naming the column', async (_, value) => {
    await admin.query(`INSERT INTO ${t(A, 'bad')} (id, m) VALUES (2, ?)`, [value]);
    try {
      const streamed = await collect(catalog.references(BAD_M)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(streamed).toBeInstanceOf(MalformedMetadataError);
      expect((streamed as MalformedMetadataError).where).toBe(`${A}.bad.m`);
      const rechecked = await catalog.findReferences(BAD_M, [`_hash/${A}/eeeeeeeeeeeeeeeeeeeeeeeeee`]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(rechecked).toBeInstanceOf(MalformedMetadataError);
      expect((rechecked as MalformedMetadataError).where).toBe(`${A}.bad.m`);
    } finally {
      await admin.query(`DELETE FROM ${t(A, 'bad')} WHERE id = 2`);
    }
  });

  it('reads the column again once the value is fixed', async () => {
    expect(keys(await collect(catalog.references(BAD_M)))).toEqual([`main|_hash/${A}/eeeeeeeeeeeeeeeeeeeeeeeeee`]);
  });
});

describe('extraction on the server', () => {
  // Each value alone in a column: the catalog must say exactly what toReference says
  // about the stored text, whether the server extracts the path or hands over the value.
  const wanted = ['a/b', 'x', 'dup last wins', 'escaped key last', 'ws', 'été', 'top', 'value-named-path', 'lower', 'p'];
  const values = [
    '{"path": "a/b", "store": "main"}',
    '{"store":"main","path":"a/b"}',
    '{"path":"a","path":"dup last wins"}',
    '{"p\\u0061th":"escaped key first","path":"x"}',
    '{"path":"x","p\\u0061th":"escaped key last"}',
    '{"path":"\\u00e9t\\u00e9"}',
    '{"path":"été"}',
    '{"path":"emoji \\ud83d\\ude00"}',
    '{"path":"a\\/b"}',
    '{"path":"quote \\" inside"}',
    '{"path":"x","size":1.}',
    '{"path":"x","size":-}',
    '{"path":"x","size":1e}',
    '{"path":"x","size":1.e5}',
    '{"path":"x","size":1e+}',
    '{"path":"x","size":01}',
    '{"path":"x","size":1.5e-3,"n":-0,"big":123456789012345678901234567890}',
    '{"path":"x","bad":"\\x"}',
    '{"path":""}',
    '{"path":" "}',
    '{"path":null}',
    '{"path":5}',
    '{"path":["a"]}',
    '{"path":{"path":"nested"}}',
    '{"meta":{"path":"nested only"}}',
    '{"meta":{"path":"nested"},"path":"top"}',
    '{"kind":"path","path":"value-named-path"}',
    '{"path":"x","store":null}',
    '{"path":"x","store":""}',
    '{"path":"x","store":5}',
    '{"path":"x","store":{"name":"main"}}',
    '{"path":"x","store":"a","store":"b"}',
    '{"path":"x","meta":{"store":7}}',
    '{"path":"x","shape":[2,3],"is_dir":false,"item_count":null,"ext":null}',
    ' \t\n{"path":"ws"}\r\n ',
    '{"hash":"abc"}',
    '{}',
    '[]',
    '[{"path":"in array"}]',
    '5',
    '"text"',
    '"{\\"path\\": \\"string encoded\\", \\"store\\": \\"main\\"}"',
    'null',
    'true',
    '{"path":"x"} trailing',
    '{"path":"x",}',
    'not json',
    '',
    '{"path":"x","t":"tab\there"}',
    '{"PATH":"upper","path":"lower"}',
    '{"Path":"case variant only"}',
    '{"path":"x","v":[1,[2,[3,{"a":true}]]]}',
    '{"path":"p","x":"]}{[:,"}',
    '{"path":"x","y":truex}',
    '{"path":"x","y":NaN}',
  ];

  it.each(values)('%j', async (value) => {
    await admin.query(`DELETE FROM ${t(B, 'edge')}`);
    await admin.query(`INSERT INTO ${t(B, 'edge')} (id, v) VALUES (1, ?)`, [value]);
    const [rows] = await admin.query<mysql.RowDataPacket[]>(`SELECT v FROM ${t(B, 'edge')}`);
    let expected: Reference[] | MalformedMetadataError;
    try {
      expected = toReferences(rows[0]!.v, `${B}.edge.v`);
    } catch (error) {
      expected = error as MalformedMetadataError;
    }
    const streamed = await collect(catalog.references(EDGE_V)).then(
      (refs) => refs,
      (e: unknown) => e,
    );
    const rechecked = await catalog.findReferences(EDGE_V, wanted).then(
      (refs) => refs,
      (e: unknown) => e,
    );
    if (expected instanceof MalformedMetadataError) {
      expect(streamed).toEqual(expected);
      expect(rechecked).toEqual(expected);
    } else {
      expect(streamed).toEqual(expected);
      expect(rechecked).toEqual(expected.filter((r) => wanted.includes(r.path)));
    }
  });
});

describe('the DataJoint 2.3.2 fixture (MariaDB)', () => {
  function referencesInDump(): string[] {
    const dump = readFileSync(fixture.mariadbSql, 'utf8');
    const found: string[] = [];
    for (const line of dump.split('\n').filter((l) => l.startsWith('INSERT INTO `note`') || l.startsWith('INSERT INTO `sample`') || l.startsWith('('))) {
      for (const literal of line.matchAll(/'(\{(?:[^'\\]|\\.)*\})'/g)) {
        const text = literal[1]!.replace(/\\(.)/g, '$1');
        found.push(key(toReference(text, 'dump')!));
      }
    }
    return found.sort();
  }

  it('discovers the 8 storage columns and streams the references in the dump', async () => {
    await loadMysqlFixture(url, FIXTURE_DB, fixture.mariadbSql);
    const target = new URL(url);
    const fx: Catalog = await openCatalog({
      backend: 'mysql',
      host: target.hostname,
      port: Number(target.port || 3306),
      user: decodeURIComponent(target.username),
      password: target.password ? decodeURIComponent(target.password) : undefined,
    });
    try {
      const columns = (await fx.discover()).filter((c) => c.schema === FIXTURE_DB);
      expect(columns.map((c) => `${c.table}.${c.column}:${c.codec}@${c.store}`).sort()).toEqual(
        [
          'sample.b:blob@main',
          'sample.a:attach@main',
          'sample.h:hash@main',
          'sample.n:npy@main',
          'sample.o:object@main',
          'sample.d:object@main',
          'sample.f:filepath@main',
          'note.shared:blob@main',
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

describe('openCatalog (MySQL)', () => {
  it('names the server and what to check when the login is refused', async () => {
    const target = new URL(url);
    const error = await openCatalog({
      backend: 'mysql',
      host: target.hostname,
      port: Number(target.port || 3306),
      user: 'djgc_no_such_user',
      password: 'secret-pw',
    }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toContain(`cannot connect to MySQL at ${target.hostname}:${target.port || 3306} (user "djgc_no_such_user")`);
    expect(error?.message).toMatch(/DJ_PASS/);
    expect(error?.message).not.toContain('secret-pw');
  });
});
