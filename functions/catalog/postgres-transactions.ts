import type { TransactionSnapshot } from '../engine/types.js';
import { STORAGE_COLUMNS_FROM } from './postgres-readability.js';

/** This catalog's own sessions, and the session asking, are never waited for. */
const NOT_OURS = `(l.pid IS NULL OR (l.pid <> pg_backend_pid() AND l.pid NOT IN (
        SELECT a.pid FROM pg_catalog.pg_stat_activity a
        WHERE a.pid IS NOT NULL AND a.application_name LIKE 'djgc-catalog%')))`;

/**
 * Transactions that have written or are about to, server-wide, as `pid:virtualxid`: the
 * holder of an ExclusiveLock on its own transaction id (it has written), or of a write-mode
 * lock on a table (RowExclusiveLock and stronger: an INSERT/UPDATE/DELETE has started but
 * its first row, which assigns the transaction id, may not be written yet). A virtual
 * transaction id is not reused for a later transaction of the server, so an id that is gone
 * has ended. Prepared transactions (no backend) count too. Every role may read pg_locks and
 * the application name in pg_stat_activity; this catalog's own connections are left out.
 */
export const WRITE_TRANSACTIONS_SQL = `
SELECT DISTINCT coalesce(l.pid::text, 'prepared') || ':' || l.virtualtransaction AS id
FROM pg_catalog.pg_locks l
WHERE ((l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock')
    OR (l.locktype = 'relation'
        AND l.mode IN ('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')))
  AND ${NOT_OURS}
ORDER BY 1`;

/**
 * The transactions that hold a write on a table with a storage column of the database asked, or
 * a lock that creates or alters one of its tables, as `pid:virtualxid`. A row the re-check cannot
 * see was written by a transaction still open: it holds such a lock from its first write on until
 * it ends. pg_locks shows the whole server; each database's own tables are named only from it.
 */
export const STORAGE_WRITERS_SQL = `
WITH storage AS (SELECT DISTINCT c.oid${STORAGE_COLUMNS_FROM})
SELECT DISTINCT coalesce(l.pid::text, 'prepared') || ':' || l.virtualtransaction AS id
FROM pg_catalog.pg_locks l
WHERE l.locktype = 'relation'
  AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
  AND (l.mode IN ('ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
    OR (l.mode = 'RowExclusiveLock' AND l.relation IN (SELECT oid FROM storage)))
  AND ${NOT_OURS}
ORDER BY 1`;

type Query = (sql: string) => Promise<{ rows: Array<{ id: string }> }>;
/** The write transactions open now; a role refused pg_locks gets `visible: false` naming the grant. */
export async function writeTransactions(query: Query, role: () => Promise<string>): Promise<TransactionSnapshot> {
  try {
    const result = await query(WRITE_TRANSACTIONS_SQL);
    return { visible: true, ids: result.rows.map((row) => row.id) };
  } catch (error) {
    if ((error as { code?: string }).code !== '42501') throw error;
    const name = await role().catch(() => 'this role');
    return {
      visible: false,
      ids: [],
      reason:
        `role ${name} may not read the server's locks (${(error as Error).message}), so transactions still writing are invisible: ` +
        `GRANT SELECT ON pg_catalog.pg_locks, pg_catalog.pg_stat_activity TO ${name}`,
    };
  }
}

/** Which of the snapshot's transactions still hold their write locks, i.e. have not ended. */
export async function stillOpenTransactions(query: Query, snapshot: TransactionSnapshot): Promise<string[]> {
  if (!snapshot.visible || snapshot.ids.length === 0) return [];
  const now = new Set((await query(WRITE_TRANSACTIONS_SQL)).rows.map((row) => row.id));
  return snapshot.ids.filter((id) => now.has(id));
}
