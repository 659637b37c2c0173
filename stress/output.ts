import type { CombinationResult } from './combination.js';
import { FAULT_KINDS } from './faults.js';
import { WRITER_KINDS } from './writers.js';
import type { Loss, Removal } from './ledger.js';

function table(rows: string[][], alignLeft = false): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const cell = (text: string, i: number): string => (i === 0 || alignLeft ? text.padEnd(widths[i]!) : text.padStart(widths[i]!));
  return rows.map((row) => `  ${row.map(cell).join('  ').trimEnd()}`).join('\n');
}

const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** How the object of a lost row went: the removal that took it, measured against the writer's steps. */
export function explainLoss(loss: Loss, removals: Removal[], graceMs: number, startedAt: number): string {
  const o = loss.origin;
  const before = removals.filter((r) => r.path === loss.path && r.at <= loss.noticedAt + 1000).sort((a, b) => a.at - b.at);
  const removal = before.at(-1);
  const steps =
    `writer ${o.writer}${o.reused ? ' (dedup: object found in the store, not uploaded again)' : ''}: object at +${s(o.objectAt - startedAt)}, ` +
    `statement at +${s(o.statementAt - startedAt)}, commit at +${s(o.committedAt - startedAt)} (transaction held ${s(o.committedAt - o.statementAt)})`;
  let how: string;
  if (!removal) how = 'no removal of it was seen (a djgc command run without --verbose lines for it, or a removal not reported as an event)';
  else {
    const by = `${removal.kind} by ${removal.runner === 'cli' ? 'the djgc command' : 'the engine'} in cycle ${removal.cycle} at +${s(removal.at - startedAt)}`;
    if (removal.at < o.statementAt) {
      how = `${by}, before the row's statement ran (${o.statementAt - removal.at} ms before; the object was ${s(removal.at - o.objectAt)} old then, grace ${s(graceMs)})`;
    } else if (removal.at < o.committedAt) {
      how = `${by}, ${removal.at - o.statementAt} ms after the row's statement had run, while its write transaction was open and had written: the run did not wait for it`;
    } else {
      how = `${by}, ${removal.at - o.committedAt} ms after the row was committed: the re-check missed a committed row`;
    }
  }
  return `${loss.path} of ${loss.row}.${loss.column}, noticed ${loss.when === 'end' ? 'at the end' : 'during the run'} at +${s(loss.noticedAt - startedAt)}\n      ${steps}\n      ${how}`;
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
      ['purges deferred', String(r.removals.deferred)],
      ['saved by the re-check', String(r.savedByRecheck)],
      ['protected by the grace period (sum over runs)', String(r.protectedCount)],
      ['objects in the store at the end', String(r.storeObjectsAtEnd)],
      ['existence checks (passes)', `${r.ledger.checks} (${r.checker.passes})`],
      ['LOST', String(lost)],
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
      ['kind', 'armed', 'injected', 'hits', 'reported', 'absorbed (retried)'],
      ...FAULT_KINDS.map((k) => {
        const f = r.faults[k];
        return [k, String(f.armed), String(f.injected), String(f.hits), String(f.reported), String(f.absorbed)];
      }),
    ]),
  );
  if (lost > 0) {
    lines.push('  losses:');
    for (const loss of r.ledger.losses.slice(0, 25)) lines.push(`    - ${explainLoss(loss, r.ledger.removals, graceMs, r.startedAt)}`);
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
