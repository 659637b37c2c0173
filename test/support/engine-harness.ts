/**
 * The engine's roles on in-tree real parts, without services: an embedded PostgreSQL (PGlite)
 * holding a DataJoint schema, a `file` store and a run folder in temporary directories, and
 * recording stand-ins for the two outward ports (work queue, notifier). Time is a clock the test
 * moves; nothing waits on the wall clock.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PgliteCatalog } from '../../functions/catalog/pglite.js';
import { normalizeStore } from '../../functions/config/datajoint.js';
import { openStore, physicalRoot } from '../../functions/stores/index.js';
import { RunFolder } from '../../functions/engine/run/run-folder.js';
import { LocalFolderStorage } from '../../functions/pipeline/local-folder-storage.js';
import { DataJointWriter } from '../../functions/demo/datajoint-writer.js';
import { DEFAULT_RUN_OPTIONS, type RunOptions } from '../../functions/engine/model/options.js';
import { NO_DECLARATIONS } from '../../functions/engine/model/plan.js';
import type { Orphan } from '../../functions/engine/model/results.js';
import type { Report } from '../../functions/engine/phases/report.js';
import type { EngineDependencies, LifecycleSettings, Notifier, WorkQueue } from '../../functions/engine/run/ports.js';
import type { LocalDependencies } from '../../functions/engine/run/local.js';

export const SCHEMA = 'lab';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A clock that moves only when the test moves it. */
export class TestClock {
  private at: number;
  constructor(start: Date) {
    this.at = start.getTime();
  }
  now = (): Date => new Date(this.at);
  advanceMinutes(minutes: number): void {
    this.at += minutes * 60_000;
  }
}

/** The work queue as SQS would carry it: shard messages out, "shard done" notices back. */
export class RecordingQueue implements WorkQueue {
  readonly shards: { runId: string; shardId: string }[] = [];
  readonly done: { runId: string; shardId: string }[] = [];

  async sendShards(runId: string, shardIds: string[]): Promise<void> {
    for (const shardId of shardIds) this.shards.push({ runId, shardId });
  }

  async sendShardDone(runId: string, shardId: string): Promise<void> {
    this.done.push({ runId, shardId });
  }

  readonly resent: { runId: string; shardId: string }[] = [];

  async resendShard(runId: string, shardId: string): Promise<void> {
    this.resent.push({ runId, shardId });
  }

  shardsOf(runId: string): string[] {
    return this.shards.filter((m) => m.runId === runId).map((m) => m.shardId);
  }

  doneOf(runId: string): string[] {
    return this.done.filter((m) => m.runId === runId).map((m) => m.shardId);
  }
}

export class RecordingNotifier implements Notifier {
  readonly published: Report[] = [];
  async publish(report: Report): Promise<void> {
    this.published.push(report);
  }
  countFor(runId: string): number {
    return this.published.filter((r) => r.run_id === runId).length;
  }
}

/** What the seed put in the store, by fate. Every path is relative to the store root. */
export interface Seeded {
  /** Old and unreferenced: what a collect removes. */
  orphans: string[];
  /** Covered by a row. */
  referenced: string[];
  /** Unreferenced but younger than the default grace period. */
  young: string[];
  /** Outside the hash and schema sections (a `<filepath@>`-style user file). */
  userFiles: string[];
}

const DDL = `
DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE;
CREATE SCHEMA ${SCHEMA};
CREATE TABLE ${SCHEMA}.session (
  session_id integer NOT NULL PRIMARY KEY,
  recording jsonb NOT NULL,
  traces jsonb NOT NULL,
  movie jsonb
);
COMMENT ON COLUMN ${SCHEMA}.session.session_id IS ':int32:';
COMMENT ON COLUMN ${SCHEMA}.session.recording IS ':<blob@main>:serialized recording';
COMMENT ON COLUMN ${SCHEMA}.session.traces IS ':<npy@main>:calcium traces';
COMMENT ON COLUMN ${SCHEMA}.session.movie IS ':<object@main>:movie folder';
`;

const pathOf = (meta: Record<string, unknown>): string => meta.path as string;

/**
 * One embedded database for a whole test file (it takes seconds to start); `reset()` gives each
 * test a freshly seeded schema, a new store directory and a new run folder.
 */
export class EngineHarness {
  readonly clock = new TestClock(new Date(Date.UTC(2026, 0, 15, 3, 0)));
  readonly lifecycle: LifecycleSettings = { runTimeoutMinutes: 60, cooldownMinutes: 0, graceFloorHours: 24 };
  private dirs: string[] = [];
  storeRoot = '';
  folderRoot = '';
  folder!: RunFolder;
  writer!: DataJointWriter;
  seeded!: Seeded;

  private constructor(readonly db: PGlite) {}

  static async create(): Promise<EngineHarness> {
    const db = new PGlite();
    await db.waitReady;
    return new EngineHarness(db);
  }

  /** A new store and run folder, and the schema seeded again: sessions 1 and 2 live, session 3 deleted. */
  async reset(): Promise<Seeded> {
    await this.removeDirs();
    this.storeRoot = await this.tempDir('djgc-harness-store-');
    this.folderRoot = await this.tempDir('djgc-harness-runs-');
    this.folder = new RunFolder(new LocalFolderStorage(this.folderRoot));
    this.writer = new DataJointWriter(this.storeRoot);
    await this.db.exec(DDL);

    const old = this.ago(3 * DAY);
    const w = this.writer;
    const referenced: string[] = [];
    const insert = async (id: number, recording: Record<string, unknown>, traces: Record<string, unknown>, movie: Record<string, unknown> | null): Promise<void> => {
      await this.db.query(`INSERT INTO ${SCHEMA}.session VALUES ($1, $2, $3, $4)`, [
        id,
        JSON.stringify(recording),
        JSON.stringify(traces),
        movie === null ? null : JSON.stringify(movie),
      ]);
    };

    const rec1 = await w.hashObject(SCHEMA, 'recording 1', old);
    const traces1 = await w.schemaFile(SCHEMA, 'session', { session_id: 1 }, 'traces', 'traces 1', '.npy', old);
    const movie1 = await w.schemaFolder(SCHEMA, 'session', { session_id: 1 }, 'movie', { '0.0': 'frame 1', 'sub/0.1': 'frame 1b' }, old);
    await insert(1, rec1, traces1, movie1);
    referenced.push(pathOf(rec1), pathOf(traces1), `${pathOf(movie1)}/0.0`, `${pathOf(movie1)}/sub/0.1`, `${pathOf(movie1)}.manifest.json`);

    const rec2 = await w.hashObject(SCHEMA, 'recording 2', old);
    const traces2 = await w.schemaFile(SCHEMA, 'session', { session_id: 2 }, 'traces', 'traces 2', '.npy', old);
    await insert(2, rec2, traces2, null);
    referenced.push(pathOf(rec2), pathOf(traces2));

    // Session 3 was inserted, then deleted: its objects are orphans.
    const rec3 = await w.hashObject(SCHEMA, 'recording 3', old);
    const traces3 = await w.schemaFile(SCHEMA, 'session', { session_id: 3 }, 'traces', 'traces 3', '.npy', old);
    const movie3 = await w.schemaFolder(SCHEMA, 'session', { session_id: 3 }, 'movie', { '0.0': 'frame 3', '0.1': 'frame 3b' }, old);
    await insert(3, rec3, traces3, movie3);
    await this.db.query(`DELETE FROM ${SCHEMA}.session WHERE session_id = 3`);
    const orphans = [pathOf(rec3), pathOf(traces3), `${pathOf(movie3)}/0.0`, `${pathOf(movie3)}/0.1`, `${pathOf(movie3)}.manifest.json`];

    // Uploaded ten minutes ago for a row not inserted yet.
    const young = [pathOf(await w.schemaFile(SCHEMA, 'session', { session_id: 4 }, 'traces', 'traces 4', '.npy', this.ago(10 * 60_000)))];
    const userFiles = [pathOf(await w.userFile('acquisition/session_1.dat', 'raw 1', old))];

    this.seeded = { orphans: orphans.sort(), referenced: referenced.sort(), young, userFiles };
    return this.seeded;
  }

  /** An old, unreferenced hash object written now (after a run has listed the store). */
  async addOrphan(content: string): Promise<string> {
    return pathOf(await this.writer.hashObject(SCHEMA, content, this.ago(3 * DAY)));
  }

  ago(ms: number): Date {
    return new Date(this.clock.now().getTime() - ms);
  }

  /** The roles' dependencies as the Lambda handlers wire them, with recording queue and notifier. */
  deps(overrides: Partial<EngineDependencies> = {}): EngineDependencies & { queue: RecordingQueue; notifier: RecordingNotifier } {
    return {
      ...this.common(),
      queue: new RecordingQueue(),
      notifier: new RecordingNotifier(),
      ...overrides,
    } as EngineDependencies & { queue: RecordingQueue; notifier: RecordingNotifier };
  }

  /** The local runner's dependencies (it brings its own queue and lock holder). */
  local(notifier: Notifier = new RecordingNotifier()): LocalDependencies {
    return { ...this.common(), notifier };
  }

  /** Direct deletion unless a case asks for quarantine (the quarantine cases are in engine-quarantine.test.ts). */
  options(overrides: Partial<RunOptions> = {}): RunOptions {
    return { ...DEFAULT_RUN_OPTIONS, schemas: [SCHEMA], removal: 'delete', ...overrides };
  }

  /** Every file in the store, as paths relative to its root, sorted. */
  async storeKeys(): Promise<string[]> {
    const entries = await readdir(this.storeRoot, { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.isFile())
      .map((e) => relative(this.storeRoot, join(e.parentPath, e.name)).split(sep).join('/'))
      .sort();
  }

  /** Every key the seed wrote, plus any given. */
  allSeeded(...extra: string[]): string[] {
    const s = this.seeded;
    return [...s.orphans, ...s.referenced, ...s.young, ...s.userFiles, ...extra].sort();
  }

  /** What a run's report lists for review: the orphan paths of every shard that listed completely. */
  async orphansListed(report: Report): Promise<string[]> {
    const paths: string[] = [];
    for (const shard of report.shards) {
      if (!shard.listing_complete) continue;
      for await (const line of this.folder.readOrphans(report.run_id, shard.id)) paths.push((JSON.parse(line) as Orphan).path);
    }
    return paths.sort();
  }

  async close(): Promise<void> {
    await this.removeDirs();
    await this.db.close();
  }

  private common(): Omit<EngineDependencies, 'queue' | 'notifier'> {
    return {
      catalog: new PgliteCatalog(this.db),
      stores: { main: normalizeStore('main', { protocol: 'file', location: this.storeRoot }) },
      defaultStore: 'main',
      openStore,
      rootOf: physicalRoot,
      folder: this.folder,
      lifecycle: this.lifecycle,
      declared: NO_DECLARATIONS,
      now: this.clock.now,
    };
  }

  private async tempDir(prefix: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  private async removeDirs(): Promise<void> {
    for (const dir of this.dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  }
}
