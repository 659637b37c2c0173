import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { postgresUrl } from '../support/env.js';
import { createTestDatabase } from '../support/postgres.js';
import { catalogFor, connectionFromUrl, fileStore, filesBelow, runEngine, type EngineSetup } from '../support/engine.js';
import { openCatalog } from '../../functions/catalog/index.js';
import { normalizeStore } from '../../functions/config/datajoint.js';
import { openStore, physicalRoot } from '../../functions/stores/index.js';
import { RunFolder } from '../../functions/engine/run/run-folder.js';
import { LocalFolderStorage } from '../../functions/pipeline/local-folder-storage.js';
import { runLocally } from '../../functions/engine/run/local.js';
import { DEFAULT_RUN_OPTIONS, type RunOptions } from '../../functions/engine/model/options.js';
import { NO_DECLARATIONS } from '../../functions/engine/model/plan.js';
import type { Report } from '../../functions/engine/phases/report.js';
import { DataJointWriter } from '../../functions/demo/datajoint-writer.js';
import type { Catalog, MoveOptions, ObjectStore, StoreSpec } from '../../functions/engine/types.js';

// Each case is a way djgc 0.1 deleted the object of a live row. Every case asserts that the
// object is still at its path after the run, that no removal ever touched it (neither a delete
// nor a move into the quarantine area), and that the report says why it was kept.

// ---- harness: everything that depends on the engine's entry points ----

const QUARANTINE = '_djgc/quarantine/';

/** A collect in a fresh run folder: grace 0, floor 0, direct deletion unless `removal` says otherwise. */
const collect = (setup: EngineSetup, options: Partial<RunOptions> = {}): Promise<{ report: Report; orphans: string[] }> =>
  runEngine(setup, { mode: 'collect', ...options });

/** The lifecycle of a local run whose run folder outlives it; the grace floor is given. */
function localRun(folderDir: string, setup: EngineSetup, graceFloorHours = 0) {
  const folder = new RunFolder(new LocalFolderStorage(folderDir));
  const deps = {
    catalog: setup.catalog,
    stores: setup.stores,
    defaultStore: setup.defaultStore ?? Object.keys(setup.stores)[0] ?? null,
    openStore: setup.openStore ?? openStore,
    rootOf: physicalRoot,
    folder,
    lifecycle: { runTimeoutMinutes: 60, cooldownMinutes: 0, graceFloorHours },
    declared: NO_DECLARATIONS,
    now: () => new Date(),
  };
  const options = (o: Partial<RunOptions>): RunOptions => ({ ...DEFAULT_RUN_OPTIONS, maxOrphanFraction: 1, minReferenceRatio: 0, ...o });
  return {
    run: (o: Partial<RunOptions>): Promise<Report> => runLocally(deps, { options: options(o) }),
    approve: (runId: string): Promise<Report> => runLocally(deps, { approveRun: runId }),
  };
}

/** Where the recorded digest of a shard's orphan list lives, when the engine records one. */
const shardResultFile = (folderDir: string, orphanList: string): string =>
  join(folderDir, orphanList.replace('/orphans/', '/shards/').replace(/\.jsonl$/, '.json'));

// ---- fixtures ----

const OLD = new Date(Date.now() - 3 * 86_400_000);

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: pg.Client;
let catalog: Catalog;
let dir: string;
let scratch: string;
/** Every path any removal took out of its place (deleted, or moved away) during the test. */
let removed: string[];

function client(url: string): pg.Client {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  return c;
}

beforeEach(async () => {
  db = await createTestDatabase('djgc_loss');
  sql = client(db.url);
  await sql.connect();
  catalog = await catalogFor(postgresUrl(), db.name);
  dir = await mkdtemp(join(tmpdir(), 'djgc-loss-store-'));
  scratch = await mkdtemp(join(tmpdir(), 'djgc-loss-scratch-'));
  removed = [];
});

afterEach(async () => {
  await catalog.close();
  await sql.end();
  await db.drop();
  await rm(dir, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
});

/** The real store, with every removal it performs recorded in `removed`. */
function recording(spec: StoreSpec): ObjectStore {
  const real = openStore(spec);
  return new Proxy(real, {
    get(target, prop) {
      if (prop === 'deleteBatch') {
        return async (paths: string[]) => {
          const outcome = await target.deleteBatch(paths);
          removed.push(...outcome.deleted);
          return outcome;
        };
      }
      if (prop === 'moveBatch') {
        return async (moves: { from: string; to: string }[], options?: MoveOptions) => {
          const outcome = await target.moveBatch(moves, options);
          removed.push(...outcome.moved.map((m) => m.from));
          return outcome;
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** The catalog with some of its methods replaced; the others reach the real one. */
function intercept(real: Catalog, overrides: Partial<Catalog>): Catalog {
  return new Proxy(real, {
    get(target, prop) {
      if (Object.prototype.hasOwnProperty.call(overrides, prop)) return overrides[prop as keyof Catalog];
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function table(on: pg.Client, schema: string, name: string, columns: Record<string, string>): Promise<void> {
  await on.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  await on.query(`CREATE TABLE ${schema}."${name}" (id integer PRIMARY KEY, ${Object.keys(columns).map((c) => `${c} jsonb`).join(', ')})`);
  for (const [column, type] of Object.entries(columns)) await on.query(`COMMENT ON COLUMN ${schema}."${name}".${column} IS '${type}'`);
}

async function insert(on: pg.Client, schema: string, name: string, id: number, values: Record<string, unknown>): Promise<void> {
  const columns = Object.keys(values);
  await on.query(
    `INSERT INTO ${schema}."${name}" (id, ${columns.join(', ')}) VALUES ($1, ${columns.map((_, i) => `$${i + 2}`).join(', ')})`,
    [id, ...columns.map((c) => JSON.stringify(values[c]))],
  );
}

const pathOf = (o: Record<string, unknown>): string => o.path as string;
const store = (): Record<string, StoreSpec> => ({ main: fileStore(dir) });

/** The object is at its path, no removal took it, and no copy of it sits in the quarantine area. */
async function expectSurvived(path: string): Promise<void> {
  const files = await filesBelow(dir);
  expect(files, `${path} must still be in the store`).toContain(path);
  expect(removed, `${path} must never have been removed`).not.toContain(path);
  expect(files.filter((f) => f.startsWith(QUARANTINE) && f.endsWith(`/${path}`)), `${path} must not be in quarantine`).toEqual([]);
}

// ---- the loss paths ----

describe('1. rows in open transactions (deduplicated re-use)', () => {
  async function openWriter(reused: Record<string, unknown>): Promise<{ writer: pg.Client; pid: number }> {
    const writer = client(db.url);
    await writer.connect();
    const pid = Number((await writer.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
    await writer.query('BEGIN');
    // Deduplication: the object exists, so the writer uploads nothing and only inserts the row.
    await writer.query('INSERT INTO lab.t (id, h) VALUES (1, $1)', [JSON.stringify(reused)]);
    return { writer, pid };
  }

  it('Given a row inserted by an open transaction that re-uses an old hash object, When collect re-checks while it is open and it commits only after the re-check, Then the object never leaves its path and is saved by the re-check', async () => {
    const w = new DataJointWriter(dir);
    await table(sql, 'lab', 't', { h: ':<blob@main>:' });
    const reused = await w.hashObject('lab', 'deduplicated content', OLD);
    const { writer, pid } = await openWriter(reused);
    let rechecked = false;
    let sawWriter = false;
    let filesAtCommit: string[] | undefined;
    const watched = intercept(catalog, {
      findReferences: async (column, candidates) => {
        const found = await catalog.findReferences(column, candidates);
        rechecked = true;
        return found;
      },
      // The writer commits once djgc, having re-checked, waits for it.
      stillOpen: async (snapshot) => {
        const open = await catalog.stillOpen(snapshot);
        if (rechecked && filesAtCommit === undefined && snapshot.ids.some((id) => id.startsWith(`${pid}:`))) {
          sawWriter = true;
          filesAtCommit = await filesBelow(dir);
          await writer.query('COMMIT');
        }
        return open;
      },
    });
    try {
      const { report } = await collect({ catalog: watched, stores: store(), openStore: recording });
      if (filesAtCommit === undefined) {
        filesAtCommit = await filesBelow(dir);
        await writer.query('COMMIT');
      }
      expect(filesAtCommit, 'the object must be at its path when the row commits').toContain(pathOf(reused));
      await expectSurvived(pathOf(reused));
      expect(sawWriter).toBe(true);
      expect(report).toMatchObject({ orphaned: 1, saved_by_recheck: 1, deleted: 0, transactions_visible: true });
    } finally {
      await writer.end();
    }
  });

  // djgc lost data here when a removal batch re-checked, listed the write transactions open then,
  // and re-checked a second time only when that list was not empty: a writer whose row was
  // invisible to the first re-check and that committed before the list was taken was in neither.
  it('Given a row inserted by an open transaction that re-uses an old hash object, When it commits right after djgc’s first re-check read the database and before djgc lists the open transactions, Then the object survives', async () => {
    const w = new DataJointWriter(dir);
    await table(sql, 'lab', 't', { h: ':<blob@main>:' });
    const reused = await w.hashObject('lab', 'deduplicated content, committed in between', OLD);
    const { writer } = await openWriter(reused);
    let filesAtCommit: string[] | undefined;
    const watched = intercept(catalog, {
      // The re-check's query has run (the row was not visible to it); the commit lands before djgc looks at transactions.
      findReferences: async (column, candidates) => {
        const found = await catalog.findReferences(column, candidates);
        if (filesAtCommit === undefined) {
          filesAtCommit = await filesBelow(dir);
          await writer.query('COMMIT');
        }
        return found;
      },
    });
    try {
      const { report } = await collect({ catalog: watched, stores: store(), openStore: recording });
      if (filesAtCommit === undefined) {
        filesAtCommit = await filesBelow(dir);
        await writer.query('COMMIT');
      }
      expect(filesAtCommit).toContain(pathOf(reused));
      await expectSurvived(pathOf(reused));
      expect(report).toMatchObject({ saved_by_recheck: 1, deleted: 0 });
    } finally {
      await writer.end();
    }
  });

  // djgc lost data here (the stress run's losses) when the second re-check followed the end of the
  // transactions listed after the first: a writer that began during that wait and wrote its row
  // before the second re-check was in neither the list nor the re-check (not committed yet).
  it('Given a write transaction open at djgc’s re-check, When a second one begins while djgc waits for the first, inserts a row re-using an old hash object, and commits only after the first ended, Then the object never leaves its path and is saved by the re-check', async () => {
    const w = new DataJointWriter(dir);
    await table(sql, 'lab', 't', { h: ':<blob@main>:' });
    const reused = await w.hashObject('lab', 'deduplicated content, written while djgc waited', OLD);
    const first = client(db.url);
    await first.connect();
    const firstPid = Number((await first.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
    await first.query('BEGIN');
    await first.query('INSERT INTO lab.t (id, h) VALUES (2, NULL)');
    let second: { writer: pg.Client; pid: number } | undefined;
    let rechecked = false;
    let filesAtCommit: string[] | undefined;
    const watched = intercept(catalog, {
      findReferences: async (column, candidates, options) => {
        const found = await catalog.findReferences(column, candidates, options);
        rechecked = true;
        return found;
      },
      stillOpen: async (snapshot) => {
        const open = await catalog.stillOpen(snapshot);
        if (rechecked && !second && snapshot.ids.some((id) => id.startsWith(`${firstPid}:`))) {
          // djgc has re-checked and waits for the first writer: meanwhile the second writes its row, then the first ends.
          second = await openWriter(reused);
          await first.query('COMMIT');
        } else if (second && filesAtCommit === undefined && snapshot.ids.some((id) => id.startsWith(`${second!.pid}:`))) {
          // The second commits once djgc waits for it too.
          filesAtCommit = await filesBelow(dir);
          await second.writer.query('COMMIT');
        }
        return open;
      },
    });
    try {
      const { report } = await collect({ catalog: watched, stores: store(), openStore: recording });
      expect(second, 'the second writer must have begun while djgc waited').toBeDefined();
      if (filesAtCommit === undefined) {
        filesAtCommit = await filesBelow(dir);
        await second!.writer.query('COMMIT');
      }
      expect(filesAtCommit, 'the object must be at its path when the row commits').toContain(pathOf(reused));
      await expectSurvived(pathOf(reused));
      expect(report).toMatchObject({ orphaned: 1, saved_by_recheck: 1, deleted: 0 });
    } finally {
      await first.end();
      await second?.writer.end();
    }
  });
});

describe('1b. a writer that commits during the last re-check (PostgreSQL)', () => {
  // A re-check statement that began before a writer committed does not see its row, though the
  // writer is gone by the time the re-check is done: djgc must notice that a writer it saw ended.
  it('Given a row inserted by an open transaction that re-uses an old hash object, When it commits right after the last re-check read its table, Then the object never leaves its path and is saved by the re-check', async () => {
    const w = new DataJointWriter(dir);
    await table(sql, 'lab', 't', { h: ':<blob@main>:' });
    const reused = await w.hashObject('lab', 'deduplicated content, committed during the last look', OLD);
    const writer = client(db.url);
    await writer.connect();
    await writer.query('BEGIN');
    await writer.query('INSERT INTO lab.t (id, h) VALUES (1, $1)', [JSON.stringify(reused)]);
    let filesAtCommit: string[] | undefined;
    const watched = intercept(catalog, {
      findReferences: async (column, candidates, options) => {
        const found = await catalog.findReferences(column, candidates, options);
        if (options?.inFlight && filesAtCommit === undefined) {
          filesAtCommit = await filesBelow(dir);
          await writer.query('COMMIT');
        }
        return found;
      },
    });
    try {
      const { report } = await collect({ catalog: watched, stores: store(), openStore: recording }, { transactionWaitSeconds: 30 });
      if (filesAtCommit === undefined) {
        filesAtCommit = await filesBelow(dir);
        await writer.query('COMMIT');
      }
      expect(filesAtCommit, 'the object must be at its path when the row commits').toContain(pathOf(reused));
      await expectSurvived(pathOf(reused));
      expect(report).toMatchObject({ orphaned: 1, saved_by_recheck: 1, deleted: 0 });
    } finally {
      await writer.end();
    }
  });
});

describe('1c. a writer that found the object while its batch was being moved', () => {
  it('Given an orphaned hash object, When a writer re-uses it after the last look and commits its row while the batch moves to quarantine, Then the object is put back at its path right after the move and counted as saved', async () => {
    const w = new DataJointWriter(dir);
    await table(sql, 'lab', 't', { h: ':<blob@main>:' });
    const reused = await w.hashObject('lab', 'deduplicated content, found during the move', OLD);
    let wrote = false;
    const racing = (spec: StoreSpec): ObjectStore => {
      const real = recording(spec);
      return new Proxy(real, {
        get(target, prop) {
          if (prop === 'moveBatch') {
            return async (moves: { from: string; to: string }[], options?: MoveOptions) => {
              const outcome = await target.moveBatch(moves, options);
              // The writer looked the object up after djgc's last look, before it moved, and commits its row now.
              if (!wrote && moves.some((m) => m.from === pathOf(reused))) {
                wrote = true;
                await insert(sql, 'lab', 't', 1, { h: reused });
              }
              return outcome;
            };
          }
          const value = Reflect.get(target, prop, target) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    };
    const { report } = await collect({ catalog, stores: store(), openStore: racing }, { removal: 'quarantine' });
    expect(wrote).toBe(true);
    expect(await filesBelow(dir)).toContain(pathOf(reused));
    expect(report).toMatchObject({ orphaned: 1, saved_by_recheck: 1, quarantined: 0 });
  });
});

describe('2. a table created after the plan', () => {
  it('Given an orphaned hash object, When a new schema’s table with a storage column and a row referencing the object appear after the shards are planned, Then the re-check finds the row and the object survives', async () => {
    const w = new DataJointWriter(dir);
    await table(sql, 'lab', 't', { h: ':<blob@main>:' });
    const revived = await w.hashObject('lab', 'referenced by a table declared mid-run', OLD);
    const gone = await w.hashObject('lab', 'really gone', OLD);
    const ddl = client(db.url);
    await ddl.connect();
    let late: Promise<void> | undefined;
    const declareLate = async (): Promise<void> => {
      await table(ddl, 'analysis', 'late', { src: ':<blob@main>:' });
      await insert(ddl, 'analysis', 'late', 1, { src: revived });
    };
    // Every look at the database after the plan waits for the new table to exist.
    const watched = intercept(catalog, {
      discover: async () => {
        if (late) await late;
        return catalog.discover();
      },
      findReferences: async (column, candidates) => {
        if (late) await late;
        return catalog.findReferences(column, candidates);
      },
    });
    try {
      const { report, orphans } = await collect({
        catalog: watched,
        stores: store(),
        openStore: recording,
        observe: (event) => {
          if (event.type === 'shards-planned') late ??= declareLate();
        },
      });
      await late;
      expect(late).toBeDefined();
      expect(orphans).toEqual([pathOf(revived), pathOf(gone)].sort());
      await expectSurvived(pathOf(revived));
      expect(await filesBelow(dir)).not.toContain(pathOf(gone));
      expect(report).toMatchObject({ saved_by_recheck: 1, deleted: 1 });
    } finally {
      await ddl.end();
    }
  });
});

describe('3. references the user cannot see (PostgreSQL: another database)', () => {
  it('Given a second database on the server whose row references the first database’s object, When the first database is collected, Then the row is read and the object survives', async () => {
    const other = await createTestDatabase('djgc_loss_b');
    const otherSql = client(other.url);
    await otherSql.connect();
    let multi: Catalog | undefined;
    try {
      const w = new DataJointWriter(dir);
      await table(sql, 'lab', 't', { h: ':<blob@main>:' });
      const shared = await w.hashObject('lab', 'referenced from the other database only', OLD);
      const gone = await w.hashObject('lab', 'referenced nowhere', OLD);
      await table(otherSql, 'analysis', 'copy', { src: ':<blob@main>:' });
      await insert(otherSql, 'analysis', 'copy', 1, { src: shared });
      // Other tests' databases on the shared server are left out by name; these two are read.
      const names = (await sql.query<{ datname: string }>('SELECT datname FROM pg_database')).rows.map((r) => r.datname);
      multi = await openCatalog(connectionFromUrl(postgresUrl(), db.name), {
        ignoredDatabases: names.filter((n) => n !== db.name && n !== other.name),
      });
      const { report } = await collect({ catalog: multi, stores: store(), openStore: recording });
      await expectSurvived(pathOf(shared));
      expect(await filesBelow(dir)).not.toContain(pathOf(gone));
      expect(report.deleted).toBe(1);
      expect(report.columns.find((c) => c.column.includes('analysis') && c.column.includes('copy'))).toMatchObject({ references: 1 });
    } finally {
      await multi?.close();
      await otherSql.end();
      await other.drop();
    }
  });
});

describe('4. two store names for one place', () => {
  it('Given store "alias" at a symlink to the directory of store "main" and a row referencing the object through "alias", When store "main" is collected, Then the object survives', async () => {
    const w = new DataJointWriter(dir, 'alias');
    const link = join(scratch, 'alias-root');
    await symlink(dir, link, 'dir');
    await table(sql, 'lab', 't', { h: ':<blob@alias>:' });
    const live = await w.hashObject('lab', 'written through the alias', OLD);
    const gone = await w.hashObject('lab', 'nobody references this', OLD);
    await insert(sql, 'lab', 't', 1, { h: live });
    const stores = { main: fileStore(dir), alias: normalizeStore('alias', { protocol: 'file', location: link }) };
    const { report } = await collect({ catalog, stores, openStore: recording }, { store: 'main' });
    await expectSurvived(pathOf(live));
    expect(await filesBelow(dir)).not.toContain(pathOf(gone));
    expect(report).toMatchObject({ deleted: 1, hash_referenced: 1 });
  });
});

describe('5. non-canonical and nested paths', () => {
  /** A row's stored value for an object, and the files the object is made of. */
  type Shape = (w: DataJointWriter) => Promise<{ column: string; value: unknown; files: string[] }>;
  const split = (path: string): [string, string] => [path.slice(0, path.lastIndexOf('/')), path.slice(path.lastIndexOf('/') + 1)];
  const shapes: Record<string, Shape> = {
    'a hash path with an empty segment ("_hash/s//H")': async (w) => {
      const [section, hash] = split(pathOf(await w.hashObject('lab', 'double slash', OLD)));
      return { column: 'h', value: { path: `${section}//${hash}`, store: 'main' }, files: [`${section}/${hash}`] };
    },
    'a hash path with a "." segment ("_hash/s/./H")': async (w) => {
      const [section, hash] = split(pathOf(await w.hashObject('lab', 'dot segment', OLD)));
      return { column: 'h', value: { path: `${section}/./${hash}`, store: 'main' }, files: [`${section}/${hash}`] };
    },
    'an <object@> folder reference ending in "/"': async (w) => {
      const folder = await w.schemaFolder('lab', 't', { id: 1 }, 'o', { 'a.dat': '1', 'sub/b.dat': '2' }, OLD);
      const path = pathOf(folder);
      return { column: 'o', value: { ...folder, path: `${path}/` }, files: [`${path}/a.dat`, `${path}/sub/b.dat`, `${path}.manifest.json`] };
    },
    'a custom codec value with the path nested ({"kind":"graph","data":{"path":…}})': async (w) => {
      const path = pathOf(await w.hashObject('lab', 'graph payload', OLD));
      return { column: 'g', value: { kind: 'graph', data: { path, store: 'main' } }, files: [path] };
    },
    'a custom codec value with a top-level path and a second path nested beside it': async (w) => {
      const main = pathOf(await w.hashObject('lab', 'graph nodes', OLD));
      const preview = pathOf(await w.hashObject('lab', 'graph preview', OLD));
      return { column: 'g', value: { path: main, store: 'main', preview: { path: preview, store: 'main' } }, files: [main, preview] };
    },
  };

  for (const [shape, make] of Object.entries(shapes)) {
    it(`Given a row whose stored metadata is ${shape}, When collect runs, Then its object survives and only the real orphan is deleted`, async () => {
      const w = new DataJointWriter(dir);
      await table(sql, 'lab', 't', { h: ':<blob@main>:', o: ':<object@main>:', g: ':<graph@main>:custom codec' });
      const { column, value, files } = await make(w);
      const gone = pathOf(await w.hashObject('lab', 'orphan for contrast', OLD));
      await insert(sql, 'lab', 't', 1, { [column]: value });

      const { report, orphans } = await collect({ catalog, stores: store(), openStore: recording });
      for (const path of files) await expectSurvived(path);
      expect(orphans).toEqual([gone]);
      expect(await filesBelow(dir)).not.toContain(gone);
      expect(report).toMatchObject({ deleted: 1, errors: 0 });
    });
  }
});

describe('6. a tampered approval list', () => {
  interface Tampering {
    live: string;
    gone: string;
    userFile: string;
    rootFile: string;
    fresh: string;
    folderDir: string;
    list: string;
    runner: ReturnType<typeof localRun>;
    dryRunId: string;
  }

  /** A reviewed dry run of one live and one orphaned object, with user files and a fresh upload that came after it. */
  async function reviewedDryRun(): Promise<Tampering> {
    const w = new DataJointWriter(dir);
    await table(sql, 'lab', 't', { h: ':<blob@main>:' });
    const live = await w.hashObject('lab', 'live', OLD);
    const gone = pathOf(await w.hashObject('lab', 'gone', OLD));
    await insert(sql, 'lab', 't', 1, { h: live });
    const userFile = pathOf(await w.userFile('user/raw/notes.txt', 'a user file', OLD));
    const rootFile = pathOf(await w.userFile('datajoint_store.json', '{"type": "store"}', OLD));
    const folderDir = join(scratch, 'run-folder');
    const runner = localRun(folderDir, { catalog, stores: store(), openStore: recording });
    const dry = await runner.run({ mode: 'dry-run', graceHours: 1 });
    expect(dry.orphaned).toBe(1);
    // The list of the shard holding the reviewed orphan.
    let list: string | undefined;
    for (const name of dry.orphan_lists) if ((await readFile(join(folderDir, name), 'utf8')).includes(gone)) list = name;
    if (!list) throw new Error(`no orphan list of ${JSON.stringify(dry.orphan_lists)} holds ${gone}`);
    // Uploaded after the review, for a row that is not committed yet.
    const fresh = pathOf(await w.hashObject('lab', 'fresh upload'));
    return { live: pathOf(live), gone, userFile, rootFile, fresh, folderDir, list, runner, dryRunId: dry.run_id };
  }

  /** An orphan-list line for `path` with its true size and a forged old modification time. */
  const forged = async (path: string): Promise<string> =>
    JSON.stringify({ path, size: (await stat(join(dir, path))).size, lastModified: OLD.toISOString(), schema: 'lab', table: '(hash)' });

  async function appendToList(t: Tampering, paths: string[], forgeDigest: boolean): Promise<void> {
    const file = join(t.folderDir, t.list);
    const text = (await readFile(file, 'utf8')).trimEnd();
    const lines = [...(text === '' ? [] : text.split('\n')), ...(await Promise.all(paths.map(forged)))];
    await writeFile(file, `${lines.join('\n')}\n`);
    if (!forgeDigest) return;
    // The digest recorded for the list is forged to match (whoever can write the list can write this too).
    const digest = createHash('sha256');
    for (const line of lines) digest.update(`${line}\n`);
    const resultFile = shardResultFile(t.folderDir, t.list);
    const exists = await stat(resultFile).then(() => true, () => false);
    if (exists) {
      const result = JSON.parse(await readFile(resultFile, 'utf8')) as Record<string, unknown>;
      await writeFile(resultFile, JSON.stringify({ ...result, orphanDigest: digest.digest('hex') }));
    }
  }

  it('Given a dry run’s orphan list edited to add a user file, a file at the store root and a fresh object with a forged old time, When it is approved, Then nothing is deleted and the report says the list is not the one the run wrote', async () => {
    const t = await reviewedDryRun();
    await appendToList(t, [t.userFile, t.rootFile, t.fresh], false);
    const report = await t.runner.approve(t.dryRunId);
    for (const path of [t.live, t.userFile, t.rootFile, t.fresh]) await expectSurvived(path);
    expect(report.deleted).toBe(0);
    expect(report.scan_errors.join('\n')).toMatch(/approval is refused/);
    expect(report.scan_errors.join('\n')).toMatch(/digest differs/);
    expect(await filesBelow(dir)).toContain(t.gone);
  });

  it('Given the same edits with the recorded digest forged to match, When it is approved, Then nothing is deleted and the report names the entries outside the section', async () => {
    const t = await reviewedDryRun();
    await appendToList(t, [t.userFile, t.rootFile, t.fresh], true);
    const report = await t.runner.approve(t.dryRunId);
    for (const path of [t.live, t.userFile, t.rootFile, t.fresh]) await expectSurvived(path);
    expect(report.deleted).toBe(0);
    expect(report.scan_errors.join('\n')).toMatch(/2 entries of the orphan list .* are not objects of its section and scope \(first: user\/raw\/notes\.txt\)/);
    expect(report.scan_errors.join('\n')).toMatch(/approval is refused/);
  });

  it('Given only a fresh object added with a forged old time and the digest forged to match, When it is approved, Then the fresh object is kept as protected by its real age and only the reviewed orphan is removed', async () => {
    const t = await reviewedDryRun();
    await appendToList(t, [t.fresh], true);
    const report = await t.runner.approve(t.dryRunId);
    await expectSurvived(t.fresh);
    await expectSurvived(t.live);
    expect(await filesBelow(dir)).not.toContain(t.gone);
    // The approval keeps the dry run's removal, quarantine: the reviewed orphan is moved aside, not deleted.
    expect(report).toMatchObject({ quarantined: 1, deleted: 0, protected: 1 });
  });
});

describe('7. a zero grace period', () => {
  it('Given the default grace floor of 24 h, When a collect asks for a grace period of 0 h, Then it is refused naming the floor and nothing is removed', async () => {
    const w = new DataJointWriter(dir);
    await table(sql, 'lab', 't', { h: ':<blob@main>:' });
    // Uploaded a minute ago for a row whose transaction has not committed yet.
    const uploading = pathOf(await w.hashObject('lab', 'row not committed yet', new Date(Date.now() - 60_000)));
    const runner = localRun(join(scratch, 'run-folder'), { catalog, stores: store(), openStore: recording }, 24);
    await expect(runner.run({ mode: 'collect', graceHours: 0, removal: 'delete' })).rejects.toThrow(/below the floor of 24 h/);
    await expectSurvived(uploading);
  });
});
