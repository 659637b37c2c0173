import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openCatalog } from '../functions/catalog/index.js';
import { openStore, physicalRoot } from '../functions/stores/index.js';
import { RunFolder } from '../functions/engine/run/run-folder.js';
import { LocalFolderStorage } from '../functions/pipeline/local-folder-storage.js';
import { runLocally, type LocalDependencies } from '../functions/engine/run/local.js';
import { DEFAULT_RUN_OPTIONS, type RunOptions } from '../functions/engine/model/options.js';
import { NO_DECLARATIONS } from '../functions/engine/model/plan.js';
import type { RunEvent } from '../functions/engine/model/events.js';
import type { Catalog } from '../functions/engine/types.js';
import type { StressDatabase } from './database.js';
import type { StressStore } from './store.js';
import type { Ledger } from './ledger.js';
import type { ArmedFault } from './faults.js';
import { instrumentCatalog, instrumentStore, type RecheckCall, type RemovalCall } from './instrumented-store.js';
import { chance, randomInt } from './random.js';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(REPO_ROOT, 'functions', 'cli.ts');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const CYCLE_TIMEOUT_MS = 120_000;

export type ReportLike = Record<string, unknown> & { errors?: string[]; complete?: boolean };

export interface CycleOutcome {
  runner: 'engine' | 'cli';
  /** The run produced a report. */
  report?: ReportLike;
  /** The run threw, timed out, or the process died. */
  failure?: string;
  /** The djgc process was killed on purpose. */
  killed?: boolean;
  /** Paths removed per event type (engine runs: from events; CLI runs: from its --verbose lines). */
  removedByKind: Record<string, string[]>;
  durationMs: number;
}

export interface CollectorSettings {
  graceMs: number;
  retentionMs: number;
  transactionWaitMs: number;
}

/**
 * Options for a collect with a short grace period. `removal` and `retentionHours` belong to the
 * engine's quarantine; an engine without it ignores them.
 */
function collectOptions(settings: CollectorSettings): RunOptions {
  return {
    ...DEFAULT_RUN_OPTIONS,
    mode: 'collect',
    graceHours: settings.graceMs / 3_600_000,
    transactionWaitSeconds: settings.transactionWaitMs / 1000,
    concurrency: 2,
    ...({ removal: 'quarantine', retentionHours: settings.retentionMs / 3_600_000 } as Record<string, unknown>),
  } as RunOptions;
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => {
        onTimeout();
        reject(new Error(`the run did not finish within ${ms / 1000} s`));
      }, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** One collect through the engine API, in this process. */
export async function collectInProcess(
  db: StressDatabase,
  store: StressStore,
  runDir: string,
  settings: CollectorSettings,
  ledger: Ledger,
  cycle: number,
  fault: ArmedFault | null,
  seen: (event: RunEvent) => void,
): Promise<CycleOutcome> {
  const started = Date.now();
  const removedByKind: Record<string, string[]> = {};
  const observe = (event: RunEvent): void => {
    seen(event);
    fault?.observe(event);
    const paths = (event as { paths?: unknown }).paths;
    // A removal event says how: deleted, quarantined or purged.
    const kind = (event as { how?: string }).how ?? event.type;
    if (event.type !== 'saved' && Array.isArray(paths)) for (const path of paths as string[]) (removedByKind[kind] ??= []).push(path);
  };
  const record = (call: RemovalCall): void => {
    for (const path of call.paths) ledger.removals.push({ startedAt: call.startedAt, at: call.endedAt, kind: call.kind, path, cycle, runner: 'engine' });
  };
  let catalog: Catalog | undefined;
  try {
    catalog = await openCatalog(db.collector, { ignoredDatabases: ['*'] });
    const rechecks: RecheckCall[] = [];
    ledger.rechecks.set(cycle, rechecks);
    const deps: LocalDependencies = {
      catalog: instrumentCatalog(catalog, (call) => rechecks.push(call)),
      stores: { main: store.spec },
      defaultStore: 'main',
      openStore: (spec) => instrumentStore(openStore(spec), record),
      rootOf: physicalRoot,
      folder: new RunFolder(new LocalFolderStorage(runDir)),
      lifecycle: { runTimeoutMinutes: 60, cooldownMinutes: 0, graceFloorHours: 0, ...({ retentionFloorHours: 0 } as object) },
      declared: NO_DECLARATIONS,
      now: () => new Date(),
      observe,
    };
    const open = catalog;
    const report = (await withTimeout(runLocally(deps, { options: collectOptions(settings) }), CYCLE_TIMEOUT_MS, () => {
      void open.close().catch(() => undefined);
    })) as unknown as ReportLike;
    return { runner: 'engine', report, removedByKind, durationMs: Date.now() - started };
  } catch (error) {
    return { runner: 'engine', failure: (error as Error).message, removedByKind, durationMs: Date.now() - started };
  } finally {
    await catalog?.close().catch(() => undefined);
  }
}

/** A DataJoint project folder for the djgc command: datajoint.json and djgc.json. */
export async function writeProject(dir: string, db: StressDatabase, store: StressStore): Promise<void> {
  await mkdir(join(dir, '.git'), { recursive: true });
  await writeFile(join(dir, 'datajoint.json'), `${JSON.stringify({ database: db.datajointBlock(), stores: { default: 'main', main: store.datajointStore } }, null, 2)}\n`);
  await writeFile(join(dir, 'djgc.json'), `${JSON.stringify({ ignored_databases: { '*': 'stress test' } })}\n`);
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!/^(DJ_|AWS_)/.test(key)) env[key] = value;
  return env;
}

let retentionFlag: Promise<boolean> | undefined;

/** Whether this djgc's collect takes --retention (the quarantine's). */
function cliHasRetention(cwd: string): Promise<boolean> {
  retentionFlag ??= new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', TSX, CLI, 'collect', '--help'], { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.on('close', () => resolve(/--retention\b/.test(out)));
    child.on('error', () => resolve(false));
  });
  return retentionFlag;
}

const REMOVAL_LINE = /^(deleted|quarantined|purged|restored|moved) (\S+)/;

/**
 * One collect as the djgc command in a child process; with `kill`, SIGKILLed at a random moment:
 * half the time as soon as it says it removed something (mid-removal), else after a random delay.
 */
export async function collectWithCommand(
  project: string,
  runDir: string,
  settings: CollectorSettings,
  ledger: Ledger,
  cycle: number,
  kill: boolean,
): Promise<CycleOutcome> {
  const started = Date.now();
  const retention = (await cliHasRetention(project)) ? ['--retention', `${Math.max(1, Math.round(settings.retentionMs / 1000))}s`] : [];
  const args = [
    '--import', TSX, CLI, 'collect', '--confirm',
    '--grace', `${Math.round(settings.graceMs / 1000)}s`, '--grace-floor', '0',
    '--transaction-wait', `${Math.max(1, Math.round(settings.transactionWaitMs / 1000))}s`,
    ...retention,
    '--json', '--verbose', '--no-progress', '--run-dir', runDir,
  ];
  const removedByKind: Record<string, string[]> = {};
  const onRemoval = chance(0.5);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: project, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    const killNow = (): void => {
      if (killed || child.exitCode !== null) return;
      killed = true;
      child.kill('SIGKILL');
    };
    const timer = kill && !onRemoval ? setTimeout(killNow, randomInt(300, 5000)) : undefined;
    const limit = setTimeout(() => child.kill('SIGKILL'), CYCLE_TIMEOUT_MS);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    let pending = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const match = REMOVAL_LINE.exec(line);
        if (!match) continue;
        (removedByKind[match[1]!] ??= []).push(match[2]!);
        const at = Date.now();
        ledger.removals.push({ startedAt: at, at, kind: match[1]!, path: match[2]!, cycle, runner: 'cli' });
        if (kill && onRemoval) killNow();
      }
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(limit);
      const durationMs = Date.now() - started;
      ledger.commandRuns.push({ cycle, startedAt: started, endedAt: Date.now(), killed });
      if (killed) return resolve({ runner: 'cli', killed: true, removedByKind, durationMs });
      try {
        const report = JSON.parse(stdout) as ReportLike;
        resolve({ runner: 'cli', report, removedByKind, durationMs });
      } catch {
        resolve({ runner: 'cli', failure: `djgc exited with ${signal ?? code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`, removedByKind, durationMs });
      }
    });
  });
}
