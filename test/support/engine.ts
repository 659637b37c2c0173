import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { openCatalog, type DatabaseConnection } from '../../functions/catalog/index.js';
import { normalizeStore } from '../../functions/config/datajoint.js';
import { openStore } from '../../functions/stores/index.js';
import { LocalRunFolder } from '../../functions/engine/run-folder.js';
import { runCollection } from '../../functions/engine/run.js';
import { DEFAULT_OPTIONS, type RunOptions } from '../../functions/engine/plan.js';
import type { Report } from '../../functions/engine/report.js';
import type { Catalog, ObjectStore, StoreSpec } from '../../functions/engine/types.js';
import type { RunObserver } from '../../functions/engine/events.js';

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

export async function catalogFor(url: string, database?: string): Promise<Catalog> {
  return openCatalog(connectionFromUrl(url, database));
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
}

export async function runEngine(setup: EngineSetup, options: Partial<RunOptions>): Promise<EngineRun> {
  const dir = await mkdtemp(join(tmpdir(), 'djgc-test-run-'));
  const folder = new LocalRunFolder(dir);
  try {
    const report = await runCollection(
      {
        catalog: setup.catalog,
        stores: setup.stores,
        defaultStore: setup.defaultStore ?? Object.keys(setup.stores)[0] ?? null,
        openStore: setup.openStore ?? openStore,
        folder,
        ...(setup.observe ? { observe: setup.observe } : {}),
      },
      { ...DEFAULT_OPTIONS, graceMs: 0, ...options },
    );
    const orphans: string[] = [];
    for (const list of report.orphan_lists) {
      for await (const line of folder.readLines(list)) orphans.push((JSON.parse(line) as { path: string }).path);
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
