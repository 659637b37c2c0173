/** What a writer did to produce a row, kept for the account of a loss. */
export interface RowOrigin {
  writer: string;
  /** ms since the epoch: the object was found present (dedup) or uploaded. */
  objectAt: number;
  /** ms: the INSERT/UPDATE statement returned (its transaction open from then until commit). */
  statementAt: number;
  committedAt: number;
  /** The hash object was already in the store and not uploaded again. */
  reused: boolean;
}

export interface LedgerRow {
  key: string;
  schema: string;
  table: string;
  id: number;
  /** Column → the object paths its value references (a folder: its files and its manifest). */
  columns: Record<string, string[]>;
  /** The JSON of each storage column as committed. */
  values: Record<string, Record<string, unknown>>;
  /** Column → how its value came to be. */
  origins: Record<string, RowOrigin>;
  /** False while a change of the row is being committed: the checker leaves it alone then. */
  checked: boolean;
  /** Bumped on every change, so that a check can tell the row stayed as it was while it looked. */
  generation: number;
}

export interface Loss {
  path: string;
  row: string;
  column: string;
  noticedAt: number;
  /** `during` the run, or at the `end`. */
  when: 'during' | 'end';
  origin: RowOrigin;
}

/** One removal (delete, quarantine move, purge) of a path by the collector. */
export interface Removal {
  /** When the call that removed it began (engine runs); for the djgc command, when it said so. */
  startedAt: number;
  /** When the call returned (engine runs), or the command said it had removed the path. */
  at: number;
  kind: string;
  path: string;
  cycle: number;
  runner: 'engine' | 'cli';
}

/** Every committed row and the objects it references; the losses the checker found. */
export class Ledger {
  readonly rows = new Map<string, LedgerRow>();
  readonly losses: Loss[] = [];
  readonly removals: Removal[] = [];
  /** The engine's re-check queries, by cycle. */
  readonly rechecks = new Map<number, { column: string; startedAt: number; endedAt: number; paths: ReadonlySet<string> }[]>();
  /** Runs of the djgc command: a removal it did not live to name happened inside one of these. */
  readonly commandRuns: { cycle: number; startedAt: number; endedAt: number; killed: boolean }[] = [];
  private readonly lost = new Set<string>();
  rowsCommitted = 0;
  checks = 0;

  add(row: Omit<LedgerRow, 'checked' | 'generation' | 'key'>): void {
    const key = `${row.schema}.${row.table}#${row.id}`;
    this.rows.set(key, { ...row, key, checked: true, generation: 0 });
    this.rowsCommitted++;
  }

  /** A change of the row is about to be committed: stop checking it. */
  beginChange(row: LedgerRow): void {
    row.checked = false;
    row.generation++;
  }

  /** The change was committed: `null` for a delete, else the row's new columns. */
  committed(row: LedgerRow, update: null | { column: string; paths: string[]; value: Record<string, unknown>; origin: RowOrigin }): void {
    row.generation++;
    if (update === null) {
      this.rows.delete(row.key);
      return;
    }
    row.columns[update.column] = update.paths;
    row.values[update.column] = update.value;
    row.origins[update.column] = update.origin;
    row.checked = true;
  }

  /** The change was rolled back (or its outcome is unknown and the row is still there): check it again. */
  unchanged(row: LedgerRow): void {
    row.generation++;
    row.checked = true;
  }

  checkedRows(): LedgerRow[] {
    return [...this.rows.values()].filter((row) => row.checked);
  }

  recordLoss(row: LedgerRow, column: string, path: string, when: Loss['when']): void {
    const id = `${row.key}\t${path}`;
    if (this.lost.has(id)) return;
    this.lost.add(id);
    this.losses.push({ path, row: row.key, column, noticedAt: Date.now(), when, origin: { ...row.origins[column]! } });
  }
}
