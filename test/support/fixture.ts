import { readFileSync } from 'node:fs';
import { chmod, cp, readdir } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The DataJoint 2.3.2 fixture (read-only: copy the store before changing anything). */
export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/datajoint-2.3.2/', import.meta.url));

export type Backend = 'postgres' | 'mariadb';

export const fixture = {
  postgresSql: join(FIXTURE_DIR, 'postgres.sql'),
  mariadbSql: join(FIXTURE_DIR, 'mariadb.sql'),
  /** Schema (PostgreSQL) / database (MariaDB) the fixture's tables live in. */
  schema: 'djgc_fixture',
  store: (backend: Backend): string => join(FIXTURE_DIR, `store-${backend}`),
  groundTruth: (backend: Backend): string => join(FIXTURE_DIR, `ground-truth-${backend}.json`),
} as const;

export type Section = 'hash' | 'schema' | 'filepath-or-other';
export type ObjectStatus = 'referenced' | 'orphaned' | 'unreferenced-user-file';

export interface GroundTruthObject {
  /** Relative to the store root, `/`-separated. */
  path: string;
  size: number;
  section: Section;
  status: ObjectStatus;
  reason?: string;
}

export interface GroundTruth {
  written_by: { library: string; version: string };
  database: { backend: 'postgresql' | 'mysql'; server_version: string; schema: string };
  store: { name: string; spec: Record<string, unknown>; root: string };
  tables: Record<string, { primary_key: string; store_columns: Record<string, string> }>;
  rows: Record<string, number[]>;
  objects: GroundTruthObject[];
  summary: Record<Section, Partial<Record<ObjectStatus, number>>>;
  /** DataJoint's own garbage-collection dry run on the same data. */
  datajoint_gc_dry_run: Record<string, unknown>;
}

const SECTIONS: readonly string[] = ['hash', 'schema', 'filepath-or-other'];
const STATUSES: readonly string[] = ['referenced', 'orphaned', 'unreferenced-user-file'];

/** The fixture's ground truth: every file in the store with its section and status. */
export function loadGroundTruth(backend: Backend): GroundTruth {
  const file = fixture.groundTruth(backend);
  const data = JSON.parse(readFileSync(file, 'utf8')) as GroundTruth;
  if (!Array.isArray(data.objects)) throw new Error(`${file}: no "objects" array`);
  for (const object of data.objects) {
    if (
      typeof object.path !== 'string' ||
      typeof object.size !== 'number' ||
      !SECTIONS.includes(object.section) ||
      !STATUSES.includes(object.status)
    ) {
      throw new Error(`${file}: unexpected object entry ${JSON.stringify(object)}`);
    }
  }
  return data;
}

async function makeWritable(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await makeWritable(path);
    else await chmod(path, 0o644);
  }
}

/**
 * Copy the backend's store tree so that `targetDir` becomes a writable store root
 * (created if missing). Returns `targetDir` as an absolute path.
 */
export async function copyStore(backend: Backend, targetDir: string): Promise<string> {
  const target = resolve(targetDir);
  const fromFixtures = relative(FIXTURE_DIR, target);
  if (!fromFixtures.startsWith('..') && !fromFixtures.startsWith('/')) {
    throw new Error(`copyStore: target ${target} is inside the fixture directory; copy to a temporary directory instead`);
  }
  await cp(fixture.store(backend), target, { recursive: true, errorOnExist: true, force: false });
  await makeWritable(target);
  return target;
}
