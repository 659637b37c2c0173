/**
 * A DataJoint user's configuration as DataJoint 2.3.2's save_template(minimal=False) writes it,
 * with only what a user must change — host, port, backend and the store locations — loaded by
 * loadDjConfig and used as is: the catalog opened from it (use_tls null: TLS tried, then plain,
 * as DataJoint does), the engine run on its stores, the orphans those of the fixture's ground truth.
 * The credentials go in .secrets/, where the template tells the user to put them; the test's
 * private PostgreSQL database is named by DJ_DATABASE_NAME.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog } from '../../functions/catalog/index.js';
import { ALL_OTHER_DATABASES } from '../../functions/catalog/postgres.js';
import { loadDjConfig, toDatabaseConnection, type DjConfig } from '../../functions/config/datajoint.js';
import type { Catalog } from '../../functions/engine/types.js';
import { runEngine } from '../support/engine.js';
import { postgresUrl } from '../support/env.js';
import { copyStore, FIXTURE_DIR, loadGroundTruth, type Backend } from '../support/fixture.js';
import { dropMysqlDatabases, loadMysqlFixture, withMysqlServer } from '../support/mysql.js';
import { createTestDatabase, loadPostgresFixture } from '../support/postgres.js';

/** `dj.config.save_template("datajoint.json", minimal=False)` of DataJoint 2.3.2, parsed. */
const FULL_TEMPLATE = {
  database: { host: 'localhost', port: 3306, reconnect: true, use_tls: null },
  connection: { charset: '' },
  display: { limit: 12, width: 14, show_tuple_count: true },
  stores: {
    default: 'main',
    filepath_default: 'raw_data',
    main: { protocol: 'file', location: '/data/my-project/main', partition_pattern: null, token_length: 8, subfolding: null },
    raw_data: { protocol: 'file', location: '/data/my-project/raw' },
  },
  loglevel: 'INFO',
  safemode: true,
  query_cache: null,
  download_path: '.',
};

interface Project {
  dir: string;
  env: NodeJS.ProcessEnv;
  load: (extraEnv?: NodeJS.ProcessEnv) => DjConfig;
}

/** A project folder holding the edited template, its .secrets/ and a copy of the fixture's store. */
async function makeProject(backend: Backend, serverUrl: string, env: NodeJS.ProcessEnv = {}): Promise<Project> {
  const dir = await mkdtemp(join(tmpdir(), 'djgc-template-'));
  await mkdir(join(dir, '.git'));
  const main = await copyStore(backend, join(dir, 'main'));
  const raw = join(dir, 'raw');
  await mkdir(raw);
  const server = new URL(serverUrl);
  const config = structuredClone(FULL_TEMPLATE) as typeof FULL_TEMPLATE & { database: Record<string, unknown> };
  config.database.host = server.hostname;
  config.database.port = Number(server.port || (backend === 'postgres' ? 5432 : 3306));
  config.database.backend = backend === 'postgres' ? 'postgresql' : 'mysql';
  config.stores.main.location = main;
  config.stores.raw_data.location = raw;
  await writeFile(join(dir, 'datajoint.json'), `${JSON.stringify(config, null, 2)}\n`);
  await mkdir(join(dir, '.secrets'));
  await writeFile(join(dir, '.secrets', 'database.user'), decodeURIComponent(server.username || (backend === 'postgres' ? 'postgres' : 'root')));
  await writeFile(join(dir, '.secrets', 'database.password'), decodeURIComponent(server.password));
  await writeFile(join(dir, '.secrets', '.gitignore'), '# Never commit secrets\n*\n!.gitignore\n');
  return { dir, env, load: (extraEnv = {}) => loadDjConfig({ cwd: dir, env: { ...env, ...extraEnv }, secretsDir: join(dir, 'no-system-secrets') }) };
}

async function checkAgainstGroundTruth(backend: Backend, project: Project): Promise<void> {
  const config = project.load();
  expect(config.warnings).toEqual([]);
  expect(config).toMatchObject({ defaultStore: 'main', filepathDefault: 'raw_data', source: join(project.dir, 'datajoint.json') });
  expect(config.database?.useTls).toBeNull();

  const catalog = await openCatalog(toDatabaseConnection(config.database!), { ignoredDatabases: [ALL_OTHER_DATABASES] });
  try {
    const truth = loadGroundTruth(backend);
    const orphaned = truth.objects.filter((o) => o.status === 'orphaned');
    const scan = await runEngine({ catalog, stores: config.stores, defaultStore: config.defaultStore! }, { mode: 'dry-run' });

    expect(scan.report.scan_errors).toEqual([]);
    expect(scan.orphans).toEqual(orphaned.map((o) => o.path).sort());
    expect(scan.report).toMatchObject({
      hash_orphaned: orphaned.filter((o) => o.section === 'hash').length,
      schema_paths_orphaned: orphaned.filter((o) => o.section === 'schema').length,
      orphaned: orphaned.length,
      deleted: 0,
      dry_run: true,
    });
  } finally {
    await catalog.close();
  }
}

async function checkTlsSettings(project: Project): Promise<void> {
  const required = toDatabaseConnection(project.load({ DJ_USE_TLS: 'true' }).database!);
  expect(required.tls).toBe(true);
  await expect(openCatalog(required, { connectTimeoutMs: 5000 })).rejects.toThrow(
    /The TLS connection failed: if the server does not offer TLS, turn TLS off with DJ_USE_TLS=false \(or "use_tls": false in datajoint\.json/,
  );

  const plain = await openCatalog(toDatabaseConnection(project.load({ DJ_USE_TLS: 'false' }).database!));
  await plain.close();
}

describe('the DataJoint 2.3.2 template on PostgreSQL', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let project: Project;
  let catalog: Catalog | undefined;

  beforeAll(async () => {
    db = await createTestDatabase('djgc_tpl');
    await loadPostgresFixture(db.url, join(FIXTURE_DIR, 'postgres.sql'));
    project = await makeProject('postgres', postgresUrl(), { DJ_DATABASE_NAME: db.name });
  });
  afterAll(async () => {
    await catalog?.close();
    await db?.drop();
    if (project) await rm(project.dir, { recursive: true, force: true });
  });

  it('opens the catalog and finds exactly the ground truth orphans', async () => {
    await checkAgainstGroundTruth('postgres', project);
  });

  it('honours use_tls: true (refused by a server without TLS, with what to do) and false', async () => {
    await checkTlsSettings(project);
  });
});

describe('the DataJoint 2.3.2 template on MariaDB', () => {
  it('opens the catalog, finds exactly the ground truth orphans, and honours use_tls', async () => {
    await withMysqlServer(async (url) => {
      let project: Project | undefined;
      try {
        await loadMysqlFixture(url, 'djgc_fixture', join(FIXTURE_DIR, 'mariadb.sql'));
        project = await makeProject('mariadb', url);
        await checkAgainstGroundTruth('mariadb', project);
        await checkTlsSettings(project);
      } finally {
        await dropMysqlDatabases(url, ['djgc_fixture']);
        if (project) await rm(project.dir, { recursive: true, force: true });
      }
    });
  });
});
