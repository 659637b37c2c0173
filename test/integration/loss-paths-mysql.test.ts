import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { dropMysqlDatabases, withMysqlServer } from '../support/mysql.js';
import { uniqueName } from '../support/names.js';
import { catalogFor, fileStore, filesBelow, runEngine, type EngineSetup } from '../support/engine.js';
import { openStore, physicalRoot } from '../../functions/stores/index.js';
import { RunFolder } from '../../functions/engine/run/run-folder.js';
import { LocalFolderStorage } from '../../functions/pipeline/local-folder-storage.js';
import { runLocally } from '../../functions/engine/run/local.js';
import { DEFAULT_RUN_OPTIONS, type RunOptions } from '../../functions/engine/model/options.js';
import { NO_DECLARATIONS } from '../../functions/engine/model/plan.js';
import type { Report } from '../../functions/engine/phases/report.js';
import { DataJointWriter } from '../../functions/demo/datajoint-writer.js';
import type { Catalog, MoveOptions, ObjectStore, StoreSpec } from '../../functions/engine/types.js';

// The MariaDB side of the loss paths of djgc 0.1 (see loss-paths.test.ts). Every case holds the
// server-wide test lock: djgc reads every database on a MySQL/MariaDB server.

// ---- harness: everything that depends on the engine's entry points ----

const QUARANTINE = '_djgc/quarantine/';

const collect = (setup: EngineSetup, options: Partial<RunOptions> = {}): Promise<{ report: Report; orphans: string[] }> =>
  runEngine(setup, { mode: 'collect', ...options });

/** Runs in one run folder that outlives them (grace floor 0, no valves), with the engine's default options otherwise. */
function localRun(folderDir: string, setup: EngineSetup) {
  const folder = new RunFolder(new LocalFolderStorage(folderDir));
  const deps = {
    catalog: setup.catalog,
    stores: setup.stores,
    defaultStore: setup.defaultStore ?? Object.keys(setup.stores)[0] ?? null,
    openStore: setup.openStore ?? openStore,
    rootOf: physicalRoot,
    folder,
    lifecycle: { runTimeoutMinutes: 60, cooldownMinutes: 0, graceFloorHours: 0 },
    declared: NO_DECLARATIONS,
    now: () => new Date(),
  };
  return (o: Partial<RunOptions>): Promise<Report> =>
    runLocally(deps, { options: { ...DEFAULT_RUN_OPTIONS, maxOrphanFraction: 1, minReferenceRatio: 0, ...o } });
}

// ---- fixtures ----

const OLD = new Date(Date.now() - 3 * 86_400_000);
const PASSWORD = 'loss-paths-pw';
const q = (name: string): string => `\`${name.replaceAll('`', '``')}\``;

let dir: string;
let scratch: string;
let removed: string[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'djgc-loss-store-'));
  scratch = await mkdtemp(join(tmpdir(), 'djgc-loss-scratch-'));
  removed = [];
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
});

async function connect(url: string): Promise<mysql.Connection> {
  const connection = await mysql.createConnection({ uri: url });
  connection.on('error', () => undefined);
  return connection;
}

/**
 * Run `body` holding the server lock, with databases of its own (created empty) and users it
 * creates through `user`; all are dropped after.
 */
async function onServer(databases: number, body: (s: { url: string; admin: mysql.Connection; dbs: string[]; user: (grants: string[]) => Promise<string> }) => Promise<void>): Promise<void> {
  await withMysqlServer(async (url) => {
    const admin = await connect(url);
    const base = uniqueName('djgc_lossm');
    const dbs = Array.from({ length: databases }, (_, i) => `${base}_${i}`);
    const users: string[] = [];
    try {
      for (const name of dbs) await admin.query(`CREATE DATABASE ${q(name)}`);
      const user = async (grants: string[]): Promise<string> => {
        const name = uniqueName('djgc_lossu');
        users.push(name);
        await admin.query(`CREATE USER ${q(name)}@'%' IDENTIFIED BY '${PASSWORD}'`);
        for (const grant of grants) await admin.query(`GRANT ${grant} TO ${q(name)}@'%'`);
        const target = new URL(url);
        target.username = name;
        target.password = PASSWORD;
        return target.toString();
      };
      await body({ url, admin, dbs, user });
    } finally {
      for (const name of users) await admin.query(`DROP USER IF EXISTS ${q(name)}@'%'`);
      await admin.end();
      await dropMysqlDatabases(url, dbs);
    }
  });
}

/** A DataJoint table with one `<blob@main>` column (MariaDB's JSON: longtext checked by json_valid). */
async function blobTable(admin: mysql.Connection, db: string, name = 't'): Promise<void> {
  await admin.query(`CREATE TABLE ${q(db)}.${q(name)} (id int PRIMARY KEY, h JSON COMMENT ':<blob@main>:') ENGINE=InnoDB`);
}

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

function intercept(real: Catalog, overrides: Partial<Catalog>): Catalog {
  return new Proxy(real, {
    get(target, prop) {
      if (Object.prototype.hasOwnProperty.call(overrides, prop)) return overrides[prop as keyof Catalog];
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

const pathOf = (o: Record<string, unknown>): string => o.path as string;
const store = (): Record<string, StoreSpec> => ({ main: fileStore(dir) });

async function expectSurvived(path: string): Promise<void> {
  const files = await filesBelow(dir);
  expect(files, `${path} must still be in the store`).toContain(path);
  expect(removed, `${path} must never have been removed`).not.toContain(path);
  expect(files.filter((f) => f.startsWith(QUARANTINE) && f.endsWith(`/${path}`)), `${path} must not be in quarantine`).toEqual([]);
}

/** Another connection opens a transaction and inserts a row re-using the (deduplicated) object; it stays open. */
async function openWriter(url: string, db: string, reused: Record<string, unknown>): Promise<{ writer: mysql.Connection; thread: number }> {
  const writer = await connect(url);
  const [[row]] = await writer.query<mysql.RowDataPacket[]>('SELECT CONNECTION_ID() AS id');
  await writer.query('START TRANSACTION');
  await writer.query(`INSERT INTO ${q(db)}.t VALUES (1, ?)`, [JSON.stringify(reused)]);
  return { writer, thread: Number(row!.id) };
}

// ---- the loss paths ----

describe('1. rows in open transactions (deduplicated re-use), MariaDB', () => {
  it('Given a row inserted by an open transaction that re-uses an old hash object, When collect re-checks while it is open and it commits only after the re-check, Then the object never leaves its path and is saved by the re-check', async () => {
    await onServer(1, async ({ url, admin, dbs: [db] }) => {
      await blobTable(admin, db!);
      const reused = await new DataJointWriter(dir).hashObject(db!, 'deduplicated content', OLD);
      const { writer, thread } = await openWriter(url, db!, reused);
      const catalog = await catalogFor(url);
      let rechecked = false;
      let sawWriter = false;
      let filesAtCommit: string[] | undefined;
      const watched = intercept(catalog, {
        findReferences: async (column, candidates) => {
          const found = await catalog.findReferences(column, candidates);
          rechecked = true;
          return found;
        },
        openWriteTransactions: async () => {
          const snapshot = await catalog.openWriteTransactions();
          if (rechecked && filesAtCommit === undefined) {
            sawWriter = snapshot.ids.some((id) => id.startsWith(`${thread}@`));
            filesAtCommit = await filesBelow(dir);
            await writer.query('COMMIT');
          }
          return snapshot;
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
        await catalog.close();
      }
    });
  });

  // djgc lost data here (see the PostgreSQL case): a writer that committed between the first
  // re-check and the listing of open transactions was seen by neither, and with an empty list no
  // second re-check ran. Under the server lock nothing else writes, so this is deterministic.
  it('Given a row inserted by an open transaction that re-uses an old hash object, When it commits right after djgc’s first re-check read the database and before djgc lists the open transactions, Then the object survives', async () => {
    await onServer(1, async ({ url, admin, dbs: [db] }) => {
      await blobTable(admin, db!);
      const reused = await new DataJointWriter(dir).hashObject(db!, 'committed between re-check and transaction list', OLD);
      const { writer } = await openWriter(url, db!, reused);
      const catalog = await catalogFor(url);
      let committed = false;
      const watched = intercept(catalog, {
        findReferences: async (column, candidates) => {
          const found = await catalog.findReferences(column, candidates);
          if (!committed) {
            committed = true;
            await writer.query('COMMIT');
          }
          return found;
        },
      });
      try {
        const { report } = await collect({ catalog: watched, stores: store(), openStore: recording });
        if (!committed) await writer.query('COMMIT');
        await expectSurvived(pathOf(reused));
        expect(report).toMatchObject({ saved_by_recheck: 1, deleted: 0 });
      } finally {
        await writer.end();
        await catalog.close();
      }
    });
  });

  // djgc lost data here (the stress run's losses; see the PostgreSQL case): a writer that began
  // while djgc waited for the transactions listed after its first re-check, and wrote its row
  // before the second, was in neither the list nor the (committed-only) second re-check.
  it('Given a write transaction open at djgc’s re-check, When a second one begins while djgc waits for the first, inserts a row re-using an old hash object, and commits only after the first ended, Then the object never leaves its path and is saved by the re-check', async () => {
    await onServer(1, async ({ url, admin, dbs: [db] }) => {
      await blobTable(admin, db!);
      const reused = await new DataJointWriter(dir).hashObject(db!, 'deduplicated content, written while djgc waited', OLD);
      const first = await connect(url);
      const [[row]] = await first.query<mysql.RowDataPacket[]>('SELECT CONNECTION_ID() AS id');
      const firstThread = Number(row!.id);
      await first.query('START TRANSACTION');
      await first.query(`INSERT INTO ${q(db!)}.t VALUES (2, NULL)`);
      const catalog = await catalogFor(url);
      let second: { writer: mysql.Connection; thread: number } | undefined;
      let rechecked = false;
      let filesAtCommit: string[] | undefined;
      const commitSecond = async (): Promise<void> => {
        filesAtCommit = await filesBelow(dir);
        await second!.writer.query('COMMIT');
      };
      const watched = intercept(catalog, {
        findReferences: async (column, candidates, options) => {
          const found = await catalog.findReferences(column, candidates, options);
          rechecked = true;
          return found;
        },
        stillOpen: async (snapshot) => {
          const open = await catalog.stillOpen(snapshot);
          if (rechecked && !second && snapshot.ids.some((id) => id.startsWith(`${firstThread}@`))) {
            // djgc has re-checked and waits for the first writer: meanwhile the second writes its row, then the first ends.
            second = await openWriter(url, db!, reused);
            await first.query('COMMIT');
          } else if (second && filesAtCommit === undefined && snapshot.ids.some((id) => id.startsWith(`${second!.thread}@`))) await commitSecond();
          return open;
        },
      });
      try {
        const { report } = await collect({ catalog: watched, stores: store(), openStore: recording });
        expect(second, 'the second writer must have begun while djgc waited').toBeDefined();
        if (filesAtCommit === undefined) await commitSecond();
        expect(filesAtCommit, 'the object must be at its path when the row commits').toContain(pathOf(reused));
        await expectSurvived(pathOf(reused));
        expect(report).toMatchObject({ orphaned: 1, saved_by_recheck: 1, deleted: 0, transactions_visible: true });
      } finally {
        await first.end();
        await second?.writer.end();
        await catalog.close();
      }
    });
  });

  it('Given a database user without PROCESS and a row committed right after djgc’s re-check, When collect runs with the default removal, Then the report says transactions were not visible, the object is quarantined rather than deleted, and a later collect restores it once the retention has passed', async () => {
    await onServer(1, async ({ url, admin, dbs: [db], user }) => {
      await blobTable(admin, db!);
      const reused = await new DataJointWriter(dir).hashObject(db!, 'written while djgc cannot see transactions', OLD);
      const { writer } = await openWriter(url, db!, reused);
      const readerUrl = await user(['SELECT ON *.*']);
      const catalog = await catalogFor(readerUrl);
      let rechecked = false;
      let committed = false;
      // The writer commits once djgc has re-checked and asked for the open transactions (it is shown none).
      const watched = intercept(catalog, {
        findReferences: async (column, candidates) => {
          const found = await catalog.findReferences(column, candidates);
          rechecked = true;
          return found;
        },
        openWriteTransactions: async () => {
          const snapshot = await catalog.openWriteTransactions();
          if (rechecked && !committed) {
            committed = true;
            await writer.query('COMMIT');
          }
          return snapshot;
        },
      });
      try {
        const runs = localRun(join(scratch, 'run-folder'), { catalog: watched, stores: store(), openStore: recording });
        // The engine's default removal (no `removal` given).
        const first = await runs({ mode: 'collect', graceHours: 0 });
        if (!committed) await writer.query('COMMIT');
        // The second re-check, always made after listing transactions, sees the row committed after the first: the object never moves.
        expect(await filesBelow(dir)).toEqual([pathOf(reused)]);
        expect(committed, 'the row committed during the run, after the re-check').toBe(true);
        expect(first).toMatchObject({ transactions_visible: false, removal: 'quarantine', saved_by_recheck: 1, quarantined: 0, deleted: 0 });
        expect(DEFAULT_RUN_OPTIONS.removal).toBe('quarantine');
      } finally {
        await writer.end();
        await catalog.close();
      }
    });
  });
});

describe('3. references the user cannot see, MariaDB', () => {
  it('Given a user with SELECT on only one of two DataJoint databases, and a row in the other referencing an object of the first, When collect runs as that user, Then nothing is deleted and the report names the missing grant', async () => {
    await onServer(2, async ({ admin, dbs: [a, b], user }) => {
      await blobTable(admin, a!);
      await blobTable(admin, b!);
      const w = new DataJointWriter(dir);
      const shared = await w.hashObject(a!, 'referenced only from the unreadable database', OLD);
      const gone = pathOf(await w.hashObject(a!, 'referenced nowhere', OLD));
      await admin.query(`INSERT INTO ${q(b!)}.t VALUES (1, ?)`, [JSON.stringify(shared)]);
      const catalog = await catalogFor(await user([`SELECT ON ${q(a!)}.*`]));
      try {
        const { report } = await collect({ catalog, stores: store(), openStore: recording });
        await expectSurvived(pathOf(shared));
        await expectSurvived(gone);
        expect(report.deleted).toBe(0);
        expect(report.scan_errors.join('\n')).toMatch(/no global SELECT privilege.*GRANT SELECT ON \*\.\*/);
        expect(report.scan_errors.join('\n')).toMatch(/not every reference is readable/);
      } finally {
        await catalog.close();
      }
    });
  });
});
