/**
 * A shared server as it is: besides the user's DataJoint schema (the fixture, on store `main`),
 * another lab's schema whose storage columns name a store `local` the user's configuration does
 * not have — one row referencing a path that is, by chance, one of the user's orphans, and a table
 * holding a malformed value. Driven through the `djgc` command in a project folder, on PostgreSQL
 * and on MariaDB:
 *
 * - undeclared, `local` could be the user's own storage under another name: the collect fails
 *   closed (exit 1, nothing deleted), naming the store, the other schema's column and what to do;
 * - declared foreign in djgc.json, the same collect deletes exactly the fixture's orphans (the
 *   foreign reference, read and counted, protects nothing of `main`), the malformed foreign column
 *   is a warning that blocks nothing, and the report lists the foreign store with its reason.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { runDjgc } from '../support/cli.js';
import { filesBelow } from '../support/engine.js';
import { postgresUrl } from '../support/env.js';
import { copyStore, fixture, loadGroundTruth, type Backend } from '../support/fixture.js';
import { dropMysqlDatabases, loadMysqlFixture, testConnection, withMysqlServer } from '../support/mysql.js';
import { createTestDatabase, loadPostgresFixture, type TestDatabase } from '../support/postgres.js';
import { uniqueName } from '../support/names.js';

const REASON = "the imaging lab's directory on this server, not ours";
const COLLECT = ['collect', '--schema', fixture.schema, '--grace', '0', '--grace-floor', '0', '--removal', 'delete', '--confirm'];

interface Project {
  dir: string;
  store: string;
  env: NodeJS.ProcessEnv;
  /** djgc.json without foreign stores (PostgreSQL: the other tests' databases are left out). */
  djgc: Record<string, unknown>;
}

interface Paths {
  all: string[];
  orphans: string[];
  kept: string[];
  /** A hash orphan of the fixture whose path the other lab's row names, on its own store. */
  namedByForeign: string;
}

function pathsOf(backend: Backend): Paths {
  const truth = loadGroundTruth(backend);
  const orphans = truth.objects.filter((o) => o.status === 'orphaned').map((o) => o.path).sort();
  const namedByForeign = orphans.find((p) => p.startsWith('_hash/'));
  if (!namedByForeign) throw new Error('the fixture has no hash orphan');
  return {
    all: truth.objects.map((o) => o.path).sort(),
    orphans,
    kept: truth.objects.filter((o) => o.status !== 'orphaned').map((o) => o.path).sort(),
    namedByForeign,
  };
}

/** The other lab's rows: a reference on its store `local`, and a value that is no reference at all. */
function otherLabValues(other: string, paths: Paths): { reference: string; malformed: string } {
  const hash = paths.namedByForeign.split('/').pop()!;
  return {
    reference: JSON.stringify({ hash, path: paths.namedByForeign, schema: other, store: 'local', size: 34 }),
    malformed: JSON.stringify({ hash: 'x' }),
  };
}

async function makeProject(backend: Backend, database: Record<string, unknown>, djgc: Record<string, unknown>): Promise<Project> {
  const dir = await mkdtemp(join(tmpdir(), 'djgc-foreign-'));
  // A repository marker stops the upward search for datajoint.json and djgc.json here.
  await mkdir(join(dir, '.git'));
  const store = await copyStore(backend, join(dir, 'store'));
  await writeFile(join(dir, 'datajoint.json'), `${JSON.stringify({ database, stores: { default: 'main', main: { protocol: 'file', location: store } } }, null, 2)}\n`);
  await writeDjgc(dir, djgc);
  return { dir, store, djgc, env: { XDG_STATE_HOME: join(dir, 'state') } };
}

async function writeDjgc(dir: string, content: Record<string, unknown>): Promise<void> {
  await writeFile(join(dir, 'djgc.json'), `${JSON.stringify(content, null, 2)}\n`);
}

interface JsonReport {
  deleted: number;
  errors: number;
  scan_errors: string[];
  warnings: string[];
  declared: { foreign_stores: Record<string, string> };
  references_to_foreign_stores: number;
}

async function failsClosedThenCollectsOnceDeclared(project: Project, other: string, paths: Paths): Promise<void> {
  expect(await filesBelow(project.store)).toEqual(paths.all);

  // Undeclared: `local` might be `main` under another name.
  const refused = await runDjgc(project.dir, [...COLLECT, '--json'], project.env);
  expect(refused.code, refused.stderr).toBe(1);
  const refusedReport = JSON.parse(refused.stdout) as JsonReport;
  expect(refusedReport.deleted).toBe(0);
  const undeclared = new RegExp(`cannot read references of (\\S+:)?${other}\\.scan\\.raw: references store 'local', which is not configured`);
  expect(refused.stderr).toMatch(undeclared);
  expect(refused.stderr).toContain(`declare it in djgc.json's "foreign_stores"`);
  expect(refusedReport.scan_errors.join('\n')).toMatch(undeclared);
  expect(await filesBelow(project.store)).toEqual(paths.all);

  await writeDjgc(project.dir, { ...project.djgc, foreign_stores: { local: REASON } });

  const scan = await runDjgc(project.dir, ['scan', '--schema', fixture.schema, '--grace', '0'], project.env);
  expect(scan.code, scan.stderr).toBe(0);
  expect(scan.stdout).toContain(`store 'local' is foreign: ${REASON}`);
  expect(scan.stdout).toMatch(new RegExp(`Warning: cannot read references of (\\S+:)?${other}\\.broken\\.raw: .*no "path".*declared foreign, so this blocks nothing`));
  expect(scan.stdout).toContain('Errors: none');

  const collected = await runDjgc(project.dir, [...COLLECT, '--json'], project.env);
  expect(collected.code, collected.stderr).toBe(0);
  const report = JSON.parse(collected.stdout) as JsonReport;
  expect(report).toMatchObject({ deleted: paths.orphans.length, errors: 0, scan_errors: [], references_to_foreign_stores: 1 });
  expect(report.declared.foreign_stores).toEqual({ local: REASON });
  expect(report.warnings).toHaveLength(1);
  expect(report.warnings[0]).toContain(`${other}.broken.raw`);
  // Exactly the fixture's orphans went, the one a foreign row names among them.
  expect(await filesBelow(project.store)).toEqual(paths.kept);
  expect(paths.orphans).toContain(paths.namedByForeign);
}

describe('a second schema on a store not in the configuration, on PostgreSQL', () => {
  const paths = pathsOf('postgres');
  const other = uniqueName('djgc_other');
  let db: TestDatabase;
  let project: Project;

  beforeAll(async () => {
    db = await createTestDatabase('djgc_foreign');
    await loadPostgresFixture(db.url, fixture.postgresSql);
    const values = otherLabValues(other, paths);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query(`CREATE SCHEMA ${other}`);
      for (const table of ['scan', 'broken']) {
        await client.query(`CREATE TABLE ${other}.${table} (id integer PRIMARY KEY, raw jsonb NOT NULL)`);
        await client.query(`COMMENT ON COLUMN ${other}.${table}.raw IS ':<blob@local>:the imaging lab''s data'`);
      }
      await client.query(`INSERT INTO ${other}.scan VALUES (1, $1)`, [values.reference]);
      await client.query(`INSERT INTO ${other}.broken VALUES (1, $1)`, [values.malformed]);
    } finally {
      await client.end();
    }
    const url = new URL(postgresUrl());
    project = await makeProject(
      'postgres',
      {
        backend: 'postgresql',
        host: url.hostname,
        port: Number(url.port || 5432),
        user: decodeURIComponent(url.username || 'postgres'),
        ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
        name: db.name,
      },
      { ignored_databases: { '*': "the other tests' databases on the shared test server" } },
    );
  });

  afterAll(async () => {
    await db?.drop();
    if (project) await rm(project.dir, { recursive: true, force: true });
  });

  it('fails closed naming the store and the column; declared foreign, collects exactly the orphans and lists the store', async () => {
    await failsClosedThenCollectsOnceDeclared(project, other, paths);
  }, 240_000);
});

describe('a second schema on a store not in the configuration, on MariaDB', () => {
  it('fails closed naming the store and the column; declared foreign, collects exactly the orphans and lists the store', async () => {
    const paths = pathsOf('mariadb');
    const other = uniqueName('djgc_other');
    await withMysqlServer(async (url) => {
      let project: Project | undefined;
      try {
        await loadMysqlFixture(url, fixture.schema, fixture.mariadbSql);
        const values = otherLabValues(other, paths);
        const admin = await testConnection(url);
        try {
          await admin.query(`CREATE DATABASE \`${other}\``);
          for (const table of ['scan', 'broken']) {
            await admin.query(
              `CREATE TABLE \`${other}\`.\`${table}\` (id int NOT NULL PRIMARY KEY, ` +
                `raw longtext NOT NULL COMMENT ':<blob@local>:the imaging lab''s data' CHECK (json_valid(raw)))`,
            );
          }
          await admin.query(`INSERT INTO \`${other}\`.scan VALUES (1, ?)`, [values.reference]);
          await admin.query(`INSERT INTO \`${other}\`.broken VALUES (1, ?)`, [values.malformed]);
        } finally {
          await admin.end();
        }
        const server = new URL(url);
        project = await makeProject(
          'mariadb',
          {
            backend: 'mysql',
            host: server.hostname,
            port: Number(server.port || 3306),
            user: decodeURIComponent(server.username || 'root'),
            ...(server.password ? { password: decodeURIComponent(server.password) } : {}),
          },
          {},
        );
        await failsClosedThenCollectsOnceDeclared(project, other, paths);
      } finally {
        await dropMysqlDatabases(url, [fixture.schema, other]);
        if (project) await rm(project.dir, { recursive: true, force: true });
      }
    });
  }, 600_000);
});
