import type { TransactionSnapshot } from '../engine/types.js';

/**
 * Open InnoDB transactions. A transaction is identified by its connection (thread) and its
 * start time: both last as long as it does, while `trx_id` does not (a transaction that has
 * only read shows 0, or a temporary number, until it first writes). A later transaction of
 * the same connection started within the same second shares the id, which only makes the
 * wait for it longer. It has written, or is about to, when it modified rows or holds locks.
 */
export const TRANSACTIONS_SQL = `
SELECT trx_mysql_thread_id AS thread, CAST(trx_started AS CHAR) AS started,
       (trx_rows_modified > 0 OR trx_tables_locked > 0 OR trx_lock_structs > 0) AS writes
FROM information_schema.INNODB_TRX`;

/**
 * InnoDB refreshes what information_schema shows of its transactions at most every 100 ms, so
 * a snapshot read sooner after the moment it must cover may be older than that moment.
 */
export const TRANSACTIONS_REFRESH_MS = 150;

export interface TransactionRow {
  thread: number | string;
  started: string;
  writes: number | string;
}

export const transactionId = (row: TransactionRow): string => `${row.thread}@${row.started}`;

/** MySQL's error for a missing privilege such as PROCESS (ER_SPECIFIC_ACCESS_DENIED_ERROR). */
const ACCESS_DENIED = 1227;

export function isProcessDenied(error: unknown): boolean {
  return (error as { errno?: number }).errno === ACCESS_DENIED;
}

export function invisible(account: string, error: unknown): TransactionSnapshot {
  return {
    visible: false,
    ids: [],
    reason:
      `MySQL user ${account} lacks the PROCESS privilege (${(error as Error).message}), so transactions still writing on other ` +
      `connections are invisible to it: GRANT PROCESS ON *.* TO ${account}`,
  };
}
