import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { openCatalog, type DatabaseConnection } from '../../functions/catalog/index.js';
import { ALL_OTHER_DATABASES } from '../../functions/catalog/postgres.js';
import { normalizeStore } from '../../functions/config/datajoint.js';
import { openStore, physicalRoot } from '../../functions/stores/index.js';
import { RunFolder } from '../../functions/engine/run/run-folder.js';
import { LocalFolderStorage } from '../../functions/pipeline/local-folder-storage.js';
import { runLocally } from '../../functions/engine/run/local.js';
import { DEFAULT_RUN_OPTIONS, type RunOptions } from '../../functions/engine/model/options.js';
import type { Report } from '../../functions/engine/phases/report.js';
import type { Catalog, ObjectStore, StoreSpec } from '../../functions/engine/types.js';
import type { RunObserver } from '../../functions/engine/model/events.js';
import { NO_DECLARATIONS, type Declarations } from '../../functions/engine/model/plan.js';

/** A connection description from a test server URL (postgres://… or mysql://…). */
export function connectionFromUrl(url: string, database?: string): DatabaseConnection {
  const parsed = new URL(url);
  const backend = parsed.protocol.startsWith('postgres') ? 'postgresql' : 'mysql';
  return {
    backend,
    host: parsed.hostname,
    port: Number(parsed.port || (backend === 'postgresql' ? 5432 : 3306)),
    user: decodeURIComponent(parsed.username || (backend === 'postgresql' ? 'postgres' : 'root')),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(backend === 'postgresql' ? { database: database ?? (parsed.pathname.slice(1) || 'postgres') } : {}),
  };
}

/** A catalog of one test database: the other tests' databases on the same server are not read. */
export async function catalogFor(url: string, database?: string): Promise<Catalog> {
  return openCatalog(connectionFromUrl(url, database), { ignoredDatabases: [ALL_OTHER_DATABASES] });
}

export const fileStore = (location: string, extra: Record<string, unknown> = {}): StoreSpec =>
  normalizeStore('main', { protocol: 'file', location, ...extra });

export const s3Store = (endpoint: string, bucket: string, location = '', extra: Record<string, unknown> = {}): StoreSpec => {
  const url = new URL(endpoint);
  return normalizeStore('main', {
    protocol: 's3',
    endpoint: url.host,
    secure: url.protocol === 'https:',
    bucket,
    location,
    access_key: 'test',
    secret_key: 'test',
    ...extra,
  });
};

export interface EngineRun {
  report: Report;
  /** Paths listed as orphans by the run (the review lists). */
  orphans: string[];
}

export interface EngineSetup {
  catalog: Catalog;
  stores: Record<string, StoreSpec>;
  defaultStore?: string;
  openStore?: (spec: StoreSpec) => ObjectStore;
  observe?: RunObserver;
  declared?: Declarations;
}

/** One local run of the engine in a fresh run folder; the grace period and its floor are 0, and orphans are deleted directly, unless given. */
export async function runEngine(setup: EngineSetup, options: Partial<RunOptions>): Promise<EngineRun> {
  const dir = await mkdtemp(join(tmpdir(), 'djgc-test-run-'));
  const folder = new RunFolder(new LocalFolderStorage(dir));
  try {
    const report = await runLocally(
      {
        catalog: setup.catalog,
        stores: setup.stores,
        defaultStore: setup.defaultStore ?? Object.keys(setup.stores)[0] ?? null,
        openStore: setup.openStore ?? openStore,
        rootOf: physicalRoot,
        folder,
        lifecycle: { runTimeoutMinutes: 60, cooldownMinutes: 0, graceFloorHours: 0 },
        declared: setup.declared ?? NO_DECLARATIONS,
        now: () => new Date(),
        ...(setup.observe ? { observe: setup.observe } : {}),
      },
      // Direct deletion and no valves unless a case asks: quarantine and the valves have cases of their own.
      { options: { ...DEFAULT_RUN_OPTIONS, graceHours: 0, removal: 'delete', maxOrphanFraction: 1, minReferenceRatio: 0, ...options } },
    );
    const orphans: string[] = [];
    for (const shard of report.shards) {
      if (!shard.listing_complete || shard.kind === 'purge') continue;
      for await (const line of folder.readOrphans(report.run_id, shard.id)) orphans.push((JSON.parse(line) as { path: string }).path);
    }
    return { report, orphans: orphans.sort() };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Every file below `root`, as `/`-separated relative paths, sorted. */
export async function filesBelow(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort();
}
