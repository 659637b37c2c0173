import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PgliteCatalog } from '../catalog/pglite.js';
import { normalizeStore } from '../config/datajoint.js';
import { openStore, physicalRoot } from '../stores/index.js';
import { RunFolder } from '../engine/run/run-folder.js';
import { LocalFolderStorage } from '../pipeline/local-folder-storage.js';
import { DEFAULT_RUN_OPTIONS, GRACE_FLOOR_HOURS, type RunMode } from '../engine/model/options.js';
import { NO_DECLARATIONS } from '../engine/model/plan.js';
import { executeRun, consoleOutput, type Output } from '../cli/execute.js';
import { DataJointWriter } from './datajoint-writer.js';
import { seedDemo } from './demo-schema.js';

export interface DemoOptions {
  /** Folder for the demonstration store and its run folders; replaced on every run. */
  dir: string;
  json: boolean;
  verbose: boolean;
  output?: Output;
}

/** A full scan and collect on an embedded PostgreSQL holding a DataJoint schema, with a local folder as the store. */
export async function runDemo(options: DemoOptions): Promise<number> {
  const output = options.output ?? consoleOutput;
  const storeRoot = join(options.dir, 'store');
  await rm(options.dir, { recursive: true, force: true });
  const db = new PGlite();
  try {
    const seed = await seedDemo((sql, params) => (params ? db.query(sql, params) : db.exec(sql)), new DataJointWriter(storeRoot));
    const say = (text: string): void => (options.json ? output.err(text) : output.out(text));
    say(`Demonstration database (embedded PostgreSQL) and store ${storeRoot}:\n${seed.description.map((d) => `  - ${d}`).join('\n')}\n\n`);

    const deps = {
      catalog: new PgliteCatalog(db),
      stores: { main: normalizeStore('main', { protocol: 'file', location: storeRoot }) },
      defaultStore: 'main',
      openStore,
      rootOf: physicalRoot,
      folder: new RunFolder(new LocalFolderStorage(join(options.dir, 'reports'))),
      lifecycle: { runTimeoutMinutes: 60, cooldownMinutes: 0, graceFloorHours: GRACE_FLOOR_HOURS },
      declared: NO_DECLARATIONS,
      now: () => new Date(),
    };
    const run = (mode: RunMode, retentionHours = DEFAULT_RUN_OPTIONS.retentionHours) => ({ options: { ...DEFAULT_RUN_OPTIONS, mode, retentionHours } });
    const flags = { json: options.json, verbose: options.verbose, progress: false };
    say('== djgc scan (dry run) ==\n');
    const scan = await executeRun(deps, run('dry-run'), flags, output);
    say('\n== djgc collect --confirm ==\n');
    const collect = await executeRun(deps, run('collect'), flags, output);
    say('\n== djgc scan again ==\n');
    const after = await executeRun(deps, run('dry-run'), flags, output);
    say('\n== djgc collect --confirm --retention 0 (purges the quarantine) ==\n');
    const purge = await executeRun(deps, run('collect', 0), flags, output);
    return Math.max(scan.exitCode, collect.exitCode, after.exitCode, purge.exitCode);
  } finally {
    await db.close();
  }
}
