import type { CombinationResult } from './combination.js';
import { FAULT_KINDS } from './faults.js';
import { WRITER_KINDS } from './writers.js';
import type { Ledger, Loss } from './ledger.js';

function table(rows: string[][], alignLeft = false): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const cell = (text: string, i: number): string => (i === 0 || alignLeft ? text.padEnd(widths[i]!) : text.padStart(widths[i]!));
  return rows.map((row) => `  ${row.map(cell).join('  ').trimEnd()}`).join('\n');
}

const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** Causes of a loss, as the summary counts them. */
export const CAUSES = {
  notWaited: 'removed while the row\'s write transaction was open and had written (not waited for)',
  skippedTable: 'the re-check skipped the row\'s table (declared after the run\'s plan)',
  missedCommitted: 'committed before the re-check, which missed it',
  noRecheck: 'removed with no re-check of the path',
  recheckWindow: 'dedup look-up and INSERT between the re-check of its column and the delete call',
  lookupWindow: 'dedup look-up and INSERT between the delete call\'s start and its end / before the re-check',
  grace: 'grace period not honoured',
  copiedLost: 'metadata copied from a row whose object was already lost',
  command: 'removed by the djgc command (its timing known only from its output)',
  unseen: 'no removal seen',
} as const;

export interface LossAccount {
  text: string;
  cause: string;
}

/** How the object of a lost row went: the removal that took it, measured against the writer's steps and the re-check. */
export function explainLoss(loss: Loss, ledger: Ledger, graceMs: number, startedAt: number): LossAccount {
  const o = loss.origin;
  const t = (ms: number): string => `+${s(ms - startedAt)}`;
  const earlier = ledger.losses.find((l) => l.path === loss.path && l.noticedAt < loss.noticedAt && l !== loss);
  const removal = ledger.removals.filter((r) => r.path === loss.path && r.startedAt <= loss.noticedAt).sort((a, b) => a.startedAt - b.startedAt).at(-1);
  const steps =
    `writer ${o.writer}${o.reused ? ' (object found in the store, not uploaded again)' : ''}: object looked up/uploaded at ${t(o.objectAt)}, ` +
    `statement done at ${t(o.statementAt)}, committed at ${t(o.committedAt)} (transaction open ${s(o.committedAt - o.statementAt)} after its statement)`;
  const account = (cause: string, how: string): LossAccount => ({
    cause,
    text: `${loss.path} of ${loss.row}.${loss.column}, noticed ${loss.when === 'end' ? 'at the end' : 'during the run'} at ${t(loss.noticedAt)}\n      ${steps}\n      ${how}`,
  });
  if (earlier && (!removal || removal.startedAt < o.objectAt) && o.writer === 'copy') {
    return account(CAUSES.copiedLost, `the object was already gone for ${earlier.row} (noticed ${t(earlier.noticedAt)}) when this row copied its metadata`);
  }
  if (!removal) {
    const command = ledger.commandRuns.find((c) => c.startedAt <= loss.noticedAt && c.endedAt >= o.objectAt);
    return command
      ? account(CAUSES.command, `no removal named; the djgc command of cycle ${command.cycle} (${command.killed ? 'SIGKILLed' : 'finished'}) ran at ${t(command.startedAt)}–${t(command.endedAt)}`)
      : account(CAUSES.unseen, 'no removal of it was seen');
  }
  if (removal.runner === 'cli') {
    const by = `${removal.kind} by the djgc command in cycle ${removal.cycle}, named at ${t(removal.at)} (removed at or before that)`;
    return account(
      CAUSES.command,
      removal.at < o.statementAt ? `${by}, before the row's statement` : `${by}; ${removal.at - o.statementAt} ms after the row's statement, ${removal.at - o.committedAt} ms after its commit`,
    );
  }
  const by = `${removal.kind} call of the engine in cycle ${removal.cycle} began at ${t(removal.startedAt)}, returned at ${t(removal.at)}`;
  if (removal.startedAt < o.objectAt) {
    return account(CAUSES.lookupWindow, `${by}: it began before the writer's look-up, which still found the object (the look-up raced with the delete call)`);
  }
  if (removal.startedAt < o.statementAt) {
    const age = removal.startedAt - o.objectAt;
    if (o.reused) return account(CAUSES.lookupWindow, `${by}: between the writer's look-up and its statement (${o.statementAt - removal.startedAt} ms before it): no row existed yet`);
    return account(age < graceMs ? CAUSES.grace : CAUSES.lookupWindow, `${by}: before the row's statement, the object ${s(age)} old (grace ${s(graceMs)})`);
  }
  // What the re-check before this removal asked about the path: which columns, and when.
  const asked = (ledger.rechecks.get(removal.cycle) ?? []).filter((c) => c.paths.has(loss.path) && c.startedAt <= removal.startedAt);
  const column = `${loss.row.split('#')[0]}.${loss.column}`;
  const own = asked.filter((c) => c.column === column);
  if (asked.length === 0) return account(CAUSES.noRecheck, `${by}: no re-check query asked about the path before it`);
  if (own.length === 0) {
    const first = Math.min(...asked.map((c) => c.startedAt));
    return account(
      CAUSES.skippedTable,
      `${by}: the re-check (from ${t(first)}) asked ${new Set(asked.map((c) => c.column)).size} columns about the path but never ${column}, ` +
        `whose row was committed ${o.committedAt <= removal.startedAt ? `${removal.startedAt - o.committedAt} ms before the delete call` : 'during it'}`,
    );
  }
  const ownAt = Math.max(...own.map((c) => c.startedAt));
  if (o.committedAt < ownAt) {
    return account(CAUSES.missedCommitted, `${by}: the re-check asked ${column} at ${t(ownAt)}, ${ownAt - o.committedAt} ms after the row was committed, and the path still went`);
  }
  if (o.statementAt < ownAt) {
    return account(
      CAUSES.notWaited,
      `${by}: the row's statement ran ${ownAt - o.statementAt} ms before the re-check of ${column} (${t(ownAt)}) and was committed ${o.committedAt - ownAt} ms after it`,
    );
  }
  return account(
    o.reused || o.writer === 'copy' ? CAUSES.recheckWindow : CAUSES.notWaited,
    `${by}: the writer's look-up/statement ran ${o.objectAt - ownAt}/${o.statementAt - ownAt} ms after the re-check of ${column} (${t(ownAt)}), before the delete call ` +
      `(${removal.startedAt - ownAt} ms after that re-check)`,
  );
}

/** Losses by cause, for the summary. */
export function lossCauses(r: CombinationResult, graceMs: number): Map<string, number> {
  const causes = new Map<string, number>();
  for (const loss of r.ledger.losses) {
    const { cause } = explainLoss(loss, r.ledger, graceMs, r.startedAt);
    causes.set(cause, (causes.get(cause) ?? 0) + 1);
  }
  return causes;
}

export function formatCombination(r: CombinationResult, graceMs: number): string {
  const lines: string[] = [];
  const lost = r.ledger.losses.length;
  lines.push(`== ${r.name}: ${r.ran ? (lost === 0 ? 'ok' : `LOST ${lost}`) : 'COULD NOT RUN'} (${s(r.durationMs)})`);
  if (r.failure) lines.push(`  ${r.failure.split('\n').slice(0, 4).join('\n  ')}`);
  const cycles = r.cycles.engine + r.cycles.cli;
  const removalMode = r.quarantineSeen ? 'quarantine, then purge' : 'direct deletion (the engine reports no quarantine)';
  lines.push(
    table([
      ['figure', 'value'],
      ['cycles (engine + djgc command)', `${cycles} (${r.cycles.engine} + ${r.cycles.cli}, ${r.cycles.cliKilled} killed)`],
      ['cycles with errors reported / failed', `${r.cycles.withErrors} / ${r.cycles.failed}`],
      ['rows committed / at the end', `${r.rowsCommitted} / ${r.rowsAtEnd}`],
      ['removal', removalMode],
      ['objects quarantined', String(r.removals.quarantined)],
      ['objects restored', String(r.removals.restored)],
      ['objects purged', String(r.removals.purged)],
      ['objects deleted', String(r.removals.deleted)],
      ['objects deferred (writers not cleared in time)', String(r.removals.deferred)],
      ['saved by the re-check', String(r.savedByRecheck)],
      ['protected by the grace period (sum over runs)', String(r.protectedCount)],
      ['objects in the store at the end', String(r.storeObjectsAtEnd)],
      ['existence checks (passes)', `${r.ledger.checks} (${r.checker.passes})`],
      ['LOST (row, object) / distinct objects', `${lost} / ${new Set(r.ledger.losses.map((l) => l.path)).size}`],
    ], true),
  );
  lines.push('  writers:');
  lines.push(
    table([
      ['kind', 'ops', 'committed', 'rolled back', 'held > grace', 'dedup reused', 're-uploaded', 'errors'],
      ...WRITER_KINDS.map((k) => {
        const w = r.writers[k];
        return w ? [k, String(w.ops), String(w.committed), String(w.rolledBack), String(w.heldPastGrace), String(w.reused), String(w.reuploaded), `${w.errors}${w.firstError ? ` (${w.firstError.slice(0, 60)})` : ''}`] : [k, '-', '-', '-', '-', '-', '-', '-'];
      }),
    ]),
  );
  lines.push('  faults:');
  lines.push(
    table([
      ['kind', 'armed', 'injected', 'hits', 'run reported it', 'no error (retried)'],
      ...FAULT_KINDS.map((k) => {
        const f = r.faults[k];
        // A SIGKILLed process reports nothing: what counts is that the next cycles stay correct.
        if (k === 'cli-kill') return [k, String(f.armed), String(f.injected), String(f.hits), '-', '-'];
        return [k, String(f.armed), String(f.injected), String(f.hits), String(f.reported), String(f.absorbed)];
      }),
    ]),
  );
  if (lost > 0) {
    lines.push('  losses by cause:');
    for (const [cause, n] of lossCauses(r, graceMs)) lines.push(`    ${String(n).padStart(4)}  ${cause}`);
    lines.push('  losses:');
    for (const loss of r.ledger.losses.slice(0, 25)) lines.push(`    - ${explainLoss(loss, r.ledger, graceMs, r.startedAt).text}`);
    if (lost > 25) lines.push(`    … and ${lost - 25} more`);
  }
  if (r.anomalies.length > 0) {
    lines.push('  anomalies:');
    for (const a of r.anomalies.slice(0, 20)) lines.push(`    - ${a}`);
    if (r.anomalies.length > 20) lines.push(`    … and ${r.anomalies.length - 20} more`);
  }
  if (r.spuriousErrors.size > 0) {
    lines.push('  errors of runs with no fault hitting them:');
    for (const [message, n] of r.spuriousErrors) lines.push(`    - ${n}× ${message}`);
  }
  if (r.checker.errors > 0) lines.push(`  checker: ${r.checker.errors} look-ups failed (${r.checker.firstError})`);
  return lines.join('\n');
}
