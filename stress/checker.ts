import pLimit from 'p-limit';
import type { Ledger, LedgerRow } from './ledger.js';
import type { StressStore } from './store.js';
import { sleep } from './random.js';

const CHECK_CONCURRENCY = 8;

export interface CheckerStats {
  passes: number;
  errors: number;
  firstError?: string;
}

/**
 * Whether every object of `row` is at its path. A missing object counts as lost only if the row
 * stayed committed and unchanged for the whole look (its generation did not move), so that a
 * delete or update committed meanwhile is never mistaken for a loss.
 */
async function checkRow(row: LedgerRow, ledger: Ledger, store: StressStore, when: 'during' | 'end', stats: CheckerStats): Promise<void> {
  for (const [column, paths] of Object.entries(row.columns)) {
    for (const path of paths) {
      const generation = row.generation;
      if (!row.checked) return;
      let present: boolean;
      try {
        present = await store.exists(path);
      } catch (error) {
        stats.errors++;
        stats.firstError ??= (error as Error).message;
        continue;
      }
      ledger.checks++;
      if (!present && row.checked && row.generation === generation && ledger.rows.get(row.key) === row) {
        ledger.recordLoss(row, column, path, when);
      }
    }
  }
}

/** One pass over every committed row. */
export async function checkAll(ledger: Ledger, store: StressStore, when: 'during' | 'end', stats: CheckerStats): Promise<void> {
  const limit = pLimit(CHECK_CONCURRENCY);
  await Promise.all(ledger.checkedRows().map((row) => limit(() => checkRow(row, ledger, store, when, stats))));
  stats.passes++;
}

/** Check every committed row over and over until `stopped()`. */
export async function checkerLoop(ledger: Ledger, store: StressStore, stopped: () => boolean, stats: CheckerStats): Promise<void> {
  while (!stopped()) {
    await checkAll(ledger, store, 'during', stats);
    await sleep(20);
  }
}
