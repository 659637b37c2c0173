import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StressConfig } from './config.js';
import { openStressDatabase, type Backend, type StressDatabase } from './database.js';
import { openStressStore, type StoreKind, type StressStore } from './store.js';
import { Ledger } from './ledger.js';
import { declareBaseTables, Writers, type WriterKind, type WriterStats } from './writers.js';
import { checkAll, checkerLoop, type CheckerStats } from './checker.js';
import { collectInProcess, collectWithCommand, writeProject, type CycleOutcome } from './collector.js';
import { armFault, chooseFault, emptyFaults, type FaultKind, type FaultTally } from './faults.js';
import { REMOVAL_KEYS, reportProblems, type RemovalKey } from './consistency.js';
import { chance, randomInt, sleep } from './random.js';

export interface CombinationResult {
  name: string;
  ran: boolean;
  failure?: string;
  cycles: { engine: number; cli: number; cliKilled: number; withErrors: number; failed: number };
  rowsCommitted: number;
  rowsAtEnd: number;
  writers: Record<WriterKind, WriterStats>;
  removals: Record<RemovalKey, number>;
  savedByRecheck: number;
  protectedCount: number;
  faults: Record<FaultKind, FaultTally>;
  ledger: Ledger;
  checker: CheckerStats;
  /** Reports whose totals do not add up, runs that failed with no fault injected, and the like. */
  anomalies: string[];
  /** Distinct error messages of runs with no fault injected. */
  spuriousErrors: Map<string, number>;
  quarantineSeen: boolean;
  startedAt: number;
  durationMs: number;
  storeObjectsAtEnd: number;
}

const SCHEMAS = 2;
/** Time kept back from the combination's limit for stopping the writers and the last collect and check. */
const WIND_DOWN_MS = 25_000;

const shortError = (message: string): string =>
  message
    .replace(/[0-9a-f]{8,}|\d{4}-\d\d-\d\dT[\d:.-]+Z?|\b\d+\b/gi, '#')
    .slice(0, 220);

export async function runCombination(
  backend: Backend,
  storeKind: StoreKind,
  config: StressConfig,
  deadline: number,
  log: (line: string) => void,
): Promise<CombinationResult> {
  const name = `${backend}-${storeKind}`;
  const startedAt = Date.now();
  const ledger = new Ledger();
  const result: CombinationResult = {
    name,
    ran: false,
    cycles: { engine: 0, cli: 0, cliKilled: 0, withErrors: 0, failed: 0 },
    rowsCommitted: 0,
    rowsAtEnd: 0,
    writers: {} as Record<WriterKind, WriterStats>,
    removals: Object.fromEntries(REMOVAL_KEYS.map((k) => [k, 0])) as Record<RemovalKey, number>,
    savedByRecheck: 0,
    protectedCount: 0,
    faults: emptyFaults(),
    ledger,
    checker: { passes: 0, errors: 0 },
    anomalies: [],
    spuriousErrors: new Map(),
    quarantineSeen: false,
    startedAt,
    durationMs: 0,
    storeObjectsAtEnd: 0,
  };
  let db: StressDatabase | undefined;
  let store: StressStore | undefined;
  let work: string | undefined;
  let stopWriters = false;
  let stopChecker = false;
  let writersDone: Promise<void> = Promise.resolve();
  let checkerDone: Promise<void> = Promise.resolve();
  try {
    work = await mkdtemp(join(tmpdir(), `djgc-stress-${name}-`));
    db = await openStressDatabase(backend, storeKind, SCHEMAS);
    store = await openStressStore(storeKind);
    await declareBaseTables(db);
    const project = join(work, 'project');
    await writeProject(project, db, store);
    const runDir = join(work, 'runs');
    const settings = { graceMs: config.graceMs, retentionMs: config.retentionMs, transactionWaitMs: config.transactionWaitMs };

    const writers = new Writers(db, store, ledger, { writersPerKind: config.writersPerKind, maxHoldMs: config.maxHoldMs, graceMs: config.graceMs, targetRows: config.targetRows }, () => stopWriters);
    result.writers = writers.stats;
    writersDone = writers.run();
    checkerDone = checkerLoop(ledger, store, () => stopChecker, result.checker);
    // Let objects age past the grace period first, so that the first cycles already have orphans to remove.
    await sleep(config.graceMs + 1500);

    let purgeSeen = false;
    const account = (outcome: CycleOutcome, fault: FaultKind | null, hits: number): void => {
      const report = outcome.report;
      const errors = report?.errors ?? [];
      const troubled = outcome.failure !== undefined || errors.length > 0 || report?.complete === false;
      if (troubled) result.cycles.withErrors++;
      if (outcome.failure !== undefined) result.cycles.failed++;
      if (fault) {
        const tally = result.faults[fault];
        tally.armed++;
        if (hits > 0) {
          tally.injected++;
          tally.hits += hits;
          if (troubled) tally.reported++;
          else tally.absorbed++;
        }
      }
      if (troubled && (!fault || hits === 0) && !outcome.killed) {
        for (const message of outcome.failure !== undefined ? [outcome.failure] : errors) {
          const key = shortError(message);
          result.spuriousErrors.set(key, (result.spuriousErrors.get(key) ?? 0) + 1);
        }
      }
      if (report) {
        if ('quarantined' in report) result.quarantineSeen = true;
        for (const key of REMOVAL_KEYS) if (typeof report[key] === 'number') result.removals[key] += report[key] as number;
        result.savedByRecheck += typeof report.saved_by_recheck === 'number' ? report.saved_by_recheck : 0;
        result.protectedCount += typeof report.protected === 'number' ? report.protected : 0;
        for (const problem of reportProblems(report, outcome.removedByKind)) result.anomalies.push(`${outcome.runner} run ${String(report.run_id)}: ${problem}`);
      } else if (outcome.killed) {
        // A killed run has no report: what it removed before dying is counted from its own lines.
        result.removals.deleted += outcome.removedByKind.deleted?.length ?? 0;
      }
    };

    for (let cycle = 1; cycle <= config.cycles; cycle++) {
      if (Date.now() > deadline - WIND_DOWN_MS) {
        result.anomalies.push(`time limit: stopped after ${cycle - 1} of ${config.cycles} cycles`);
        break;
      }
      if (config.cliEvery > 0 && cycle % config.cliEvery === 0) {
        const kill = chance(0.7);
        const outcome = await collectWithCommand(project, runDir, settings, ledger, cycle, kill);
        result.cycles.cli++;
        if (outcome.killed) result.cycles.cliKilled++;
        account(outcome, kill ? 'cli-kill' : null, outcome.killed ? 1 : 0);
        log(`${name} cycle ${cycle}: djgc command ${outcome.killed ? 'killed' : outcome.failure ? `failed: ${outcome.failure}` : 'done'} (${outcome.durationMs} ms)`);
      } else {
        const kind = chooseFault(store, config.faultRate, purgeSeen);
        const fault = kind ? armFault(kind, db, store, config.s3ErrorRate) : null;
        const outcome = await collectInProcess(db, store, runDir, settings, ledger, cycle, fault, (event) => {
          if (/purg/.test(`${event.type} ${event.type === 'phase' ? event.phase : ''}`)) purgeSeen = true;
        });
        const hits = fault ? await fault.settle() : 0;
        result.cycles.engine++;
        account(outcome, kind, hits);
        const r = outcome.report;
        log(
          `${name} cycle ${cycle}: ${kind ?? 'no fault'}${kind ? ` (${hits} hit)` : ''}; ` +
            (r ? `orphaned ${String(r.orphaned)}, deleted ${String(r.deleted)}${'quarantined' in r ? `, quarantined ${String(r.quarantined)}, purged ${String(r.purged)}` : ''}, errors ${r.errors?.length ?? 0}` : `failed: ${outcome.failure}`) +
            `; rows ${ledger.rows.size}, lost ${ledger.losses.length} (${outcome.durationMs} ms${r ? ` ${JSON.stringify(r.timings_ms)} requests ${JSON.stringify(r.requests)}` : ''})`,
        );
      }
      await sleep(randomInt(50, 400));
    }

    stopWriters = true;
    await writersDone;
    stopChecker = true;
    await checkerDone;
    // One more collect with every writer stopped, then every committed row is looked at once more.
    const last = await collectInProcess(db, store, runDir, settings, ledger, config.cycles + 1, null, () => undefined);
    account(last, null, 0);
    await checkAll(ledger, store, 'end', result.checker);
    result.rowsCommitted = ledger.rowsCommitted;
    result.rowsAtEnd = ledger.rows.size;
    result.storeObjectsAtEnd = (await store.listAll()).length;
    result.ran = true;
  } catch (error) {
    result.failure = (error as Error).stack ?? String(error);
  } finally {
    stopWriters = true;
    stopChecker = true;
    await Promise.race([Promise.all([writersDone, checkerDone]), sleep(15_000)]);
    await db?.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true }).catch(() => undefined);
    result.durationMs = Date.now() - startedAt;
  }
  return result;
}
