import type { PGlite } from '@electric-sql/pglite';
import type { Catalog, Readability, Reference, StorageColumn, TransactionSnapshot, WriteHorizon } from '../engine/types.js';
import { parseStorageComment } from './comment.js';
import { READABLE_SQL, tableProblems, type ReadableRow } from './postgres-readability.js';
import { COLUMN_TYPE_SQL, DISCOVER_SQL, qualifiedName, quoteIdentifier, referenceSelect, rowToReference, type ReferenceRow } from './postgres.js';

const FETCH_SIZE = 1000;

/** The catalog of an embedded PostgreSQL (PGlite): the same SQL as PostgresCatalog over PGlite's single connection. */
export class PgliteCatalog implements Catalog {
  readonly backend = 'postgresql' as const;
  private cursors = 0;

  constructor(private readonly db: PGlite) {}

  async discover(): Promise<StorageColumn[]> {
    const result = await this.db.query<{ schema: string; table: string; column: string; comment: string | null }>(DISCOVER_SQL);
    return result.rows.flatMap((row) => {
      const declared = parseStorageComment(row.comment);
      return declared ? [{ schema: row.schema, table: row.table, column: row.column, ...declared }] : [];
    });
  }

  async *references(column: StorageColumn): AsyncGenerator<Reference> {
    const cursor = quoteIdentifier(`djgc_cursor_${++this.cursors}`);
    await this.db.query(`DECLARE ${cursor} NO SCROLL CURSOR WITH HOLD FOR ${referenceSelect(column, await this.columnType(column))}`);
    try {
      for (;;) {
        const batch = await this.db.query<ReferenceRow>(`FETCH ${FETCH_SIZE} FROM ${cursor}`);
        for (const row of batch.rows) for (const reference of rowToReference(row, qualifiedName(column))) yield reference;
        if (batch.rows.length < FETCH_SIZE) break;
      }
    } finally {
      await this.db.query(`CLOSE ${cursor}`);
    }
  }

  async findReferences(column: StorageColumn, paths: readonly string[]): Promise<Reference[]> {
    const wanted = new Set(paths);
    const sql = referenceSelect(column, await this.columnType(column), (ok, path) => `NOT ${ok} OR ${path} = ANY($1::text[])`);
    const result = await this.db.query<ReferenceRow>(sql, [[...wanted]]);
    return result.rows.flatMap((row) => rowToReference(row, qualifiedName(column)).filter((reference) => wanted.has(reference.path)));
  }

  /** Nothing else writes to an embedded database, and its one connection is this catalog's. */
  async openWriteTransactions(): Promise<TransactionSnapshot> {
    return { visible: true, ids: [] };
  }

  async stillOpen(_snapshot: TransactionSnapshot): Promise<string[]> {
    return [];
  }

  /** Nothing to wait for: no other session can write. */
  async writeHorizon(): Promise<WriteHorizon | null> {
    return null;
  }

  /** Only its own database: an embedded server holds no other the catalog could be asked to read. */
  async checkReadable(options: { ignoredSchemas: string[] }): Promise<Readability> {
    const rows = (await this.db.query<ReadableRow>(READABLE_SQL)).rows;
    const role = (await this.db.query<{ role: string }>('SELECT current_user AS role')).rows[0]!.role;
    return { problems: tableProblems(rows, { role, ignoredSchemas: new Set(options.ignoredSchemas), quote: quoteIdentifier }) };
  }

  async close(): Promise<void> {
    // The database belongs to whoever created it.
  }

  private async columnType(column: StorageColumn): Promise<string> {
    const result = await this.db.query<{ type: string }>(COLUMN_TYPE_SQL, [column.schema, column.table, column.column]);
    const type = result.rows[0]?.type;
    if (type === undefined) throw new Error(`column ${qualifiedName(column)} does not exist in the embedded database`);
    return type;
  }
}
