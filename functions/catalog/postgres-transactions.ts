import type { TransactionSnapshot, WritersSince } from '../engine/types.js';
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
 * What a re-check that began at snapshot $1 may have missed, asked after it: `writing`, the
 * transactions holding a write on a table with a storage column of this database (or on any table
 * of another database that is read, $2 the ignored ones, $3 true when every other one is ignored),
 * or a lock that creates or alters a table anywhere; and `committed`, whether a transaction that
 * was in progress at $1, or was given its id since, has committed. A row the re-check could not
 * see belongs to a transaction not committed at $1 that wrote a storage table: it holds that
 * table's lock until it ends, so it is still `writing`, or it has `committed`, or it rolled back.
 */
export const WRITERS_SINCE_SQL = `
WITH own AS (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()),
storage AS (SELECT DISTINCT c.oid${STORAGE_COLUMNS_FROM}),
writers AS (
  SELECT DISTINCT coalesce(l.pid::text, 'prepared') || ':' || l.virtualtransaction AS id
  FROM pg_catalog.pg_locks l
  WHERE l.locktype = 'relation'
    AND (l.mode IN ('ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
      OR (l.mode = 'RowExclusiveLock' AND (
        (l.database = (SELECT oid FROM own) AND l.relation IN (SELECT oid FROM storage))
        OR (l.database <> (SELECT oid FROM own) AND l.database <> 0 AND NOT $3::boolean AND NOT EXISTS (
          SELECT 1 FROM pg_catalog.pg_database d WHERE d.oid = l.database AND d.datname = ANY($2::text[]))))))
    AND ${NOT_OURS}),
horizon AS (SELECT $1::pg_snapshot AS was, pg_catalog.pg_current_snapshot() AS now),
since AS (
  SELECT pg_catalog.pg_snapshot_xip(was) AS xid FROM horizon
  UNION ALL
  SELECT g::text::xid8 FROM horizon,
    generate_series(pg_catalog.pg_snapshot_xmax(was)::text::bigint, pg_catalog.pg_snapshot_xmax(now)::text::bigint - 1) g)
SELECT (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM writers) AS writing,
       EXISTS (SELECT 1 FROM since WHERE pg_catalog.pg_xact_status(xid) = 'committed') AS committed`;

type Query = (sql: string) => Promise<{ rows: Array<{ id: string }> }>;
type QueryWith = <R extends object>(sql: string, values: unknown[]) => Promise<{ rows: R[] }>;

/** The horizon a re-check starts from: the server's transactions in progress now. */
export async function currentHorizon(query: QueryWith): Promise<string> {
  return (await query<{ snapshot: string }>('SELECT pg_catalog.pg_current_snapshot()::text AS snapshot', [])).rows[0]!.snapshot;
}

/** See `WRITERS_SINCE_SQL`. */
export async function writersSince(query: QueryWith, horizon: string, ignoredDatabases: ReadonlySet<string>, allOthersIgnored: boolean): Promise<WritersSince> {
  const row = (await query<WritersSince>(WRITERS_SINCE_SQL, [horizon, [...ignoredDatabases], allOthersIgnored])).rows[0]!;
  return { writing: row.writing, committed: row.committed };
}

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
