/**
 * `npm run stress`: writers in DataJoint's write order, a checker of every committed row's objects
 * and djgc collecting, all at once, on PostgreSQL and MariaDB × a file store and S3 (fauxqs), with
 * the database, S3 and the collector's process failing on purpose. Exits 1 if an object of a
 * committed row went missing (even for a moment) or a combination could not run.
 *
 * STRESS_CYCLES (50) collect cycles per combination; STRESS_MINUTES (9.5) limit of the whole run;
 * STRESS_PARALLEL (2); STRESS_GRACE_SECONDS (2); STRESS_RETENTION_SECONDS (4, quarantine);
 * STRESS_WRITERS (2 loops per writer kind); STRESS_ROWS (120); STRESS_MAX_HOLD_SECONDS (3);
 * STRESS_CLI_EVERY (5: every 5th cycle is the djgc command, SIGKILLed 70% of the time);
 * STRESS_FAULT_RATE (0.5); STRESS_S3_ERROR_RATE (0.5); STRESS_ONLY (e.g. postgres-file,mariadb-s3);
 * STRESS_VERBOSE=1 logs every cycle.
 */
import { loadConfig } from './config.js';
import { runCombination, type CombinationResult } from './combination.js';
import { formatCombination, lossCauses } from './output.js';
import type { Backend } from './database.js';
import type { StoreKind } from './store.js';

const COMBINATIONS: [Backend, StoreKind][] = [
  ['postgres', 'file'],
  ['mariadb', 'file'],
  ['postgres', 's3'],
  ['mariadb', 's3'],
];
/** After everything is closed the process should end by itself; this only names a leak if it does not. */
const EXIT_GRACE_MS = 20_000;

async function main(): Promise<number> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const config = loadConfig();
  const chosen = COMBINATIONS.filter(([b, s]) => config.only.length === 0 || config.only.includes(`${b}-${s}`));
  if (chosen.length === 0) throw new Error(`STRESS_ONLY=${config.only.join(',')} names no combination (postgres-file, mariadb-file, postgres-s3, mariadb-s3)`);
  const started = Date.now();
  const log = (line: string): void => {
    process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
  };
  log(
    `stress: ${chosen.length} combinations, ${config.cycles} cycles each, grace ${config.graceMs / 1000} s, retention ${config.retentionMs / 1000} s, ` +
      `${config.writersPerKind} writers per kind, transactions held up to ${config.maxHoldMs / 1000} s, transaction wait ${config.transactionWaitMs / 1000} s, ${config.parallel} at a time`,
  );
  const results: CombinationResult[] = [];
  // PostgreSQL and MariaDB pairs run side by side: combinations on one MariaDB server would read each other's schemas.
  const batches = Math.ceil(chosen.length / config.parallel);
  for (let i = 0; i < chosen.length; i += config.parallel) {
    const batch = chosen.slice(i, i + config.parallel);
    const left = started + config.totalLimitMs - Date.now();
    const deadline = Date.now() + left / (batches - i / config.parallel);
    results.push(...(await Promise.all(batch.map(([b, s]) => runCombination(b, s, config, deadline, config.verbose ? log : () => undefined).then((r) => {
      log(`${r.name} finished: ${r.ran ? `${r.cycles.engine + r.cycles.cli} cycles, lost ${r.ledger.losses.length}` : 'could not run'}`);
      return r;
    })))));
  }
  const out: string[] = [];
  for (const r of results) out.push(formatCombination(r, config.graceMs), '');
  const lost = results.reduce((n, r) => n + r.ledger.losses.length, 0);
  const notRun = results.filter((r) => !r.ran).map((r) => r.name);
  const short = results.filter((r) => r.ran && r.cycles.engine + r.cycles.cli < config.cycles).map((r) => r.name);
  out.push(
    `stress: ${results.length} combinations in ${((Date.now() - started) / 1000).toFixed(0)} s; lost ${lost}` +
      (notRun.length ? `; could not run: ${notRun.join(', ')}` : '') +
      (short.length ? `; fewer cycles than asked (time limit): ${short.join(', ')}` : ''),
  );
  const causes = new Map<string, number>();
  for (const r of results) for (const [cause, n] of lossCauses(r, config.graceMs)) causes.set(cause, (causes.get(cause) ?? 0) + n);
  for (const [cause, n] of [...causes].sort((a, b) => b[1] - a[1])) out.push(`  ${String(n).padStart(5)}  ${cause}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return lost > 0 || notRun.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
    setTimeout(() => {
      process.stderr.write('stress: handles still open after the run; exiting anyway\n');
      process.exit(code);
    }, EXIT_GRACE_MS).unref();
  },
  (error: unknown) => {
    process.stderr.write(`stress: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
