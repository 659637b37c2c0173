import { randomBytes } from 'node:crypto';
import { contentHash } from '../functions/demo/datajoint-writer.js';
import type { ColumnDecl, StressDatabase, Transaction } from './database.js';
import type { Ledger, LedgerRow, RowOrigin } from './ledger.js';
import type { StressStore } from './store.js';
import { chance, pick, randomInt, sleep } from './random.js';

export const WRITER_KINDS = ['insert', 'dedup', 'copy', 'declare', 'delete', 'update'] as const;
export type WriterKind = (typeof WRITER_KINDS)[number];

export interface WriterStats {
  ops: number;
  committed: number;
  rolledBack: number;
  errors: number;
  /** dedup: the old object was there and not uploaded again / was gone and uploaded again. */
  reused: number;
  reuploaded: number;
  /** Transactions held longer than the grace period. */
  heldPastGrace: number;
  firstError?: string;
}

export interface WriterSettings {
  writersPerKind: number;
  maxHoldMs: number;
  graceMs: number;
  /** Rows the delete writers keep the ledger near. */
  targetRows: number;
}

interface HashEntry {
  schema: string;
  content: Buffer;
  path: string;
  at: number;
}

const SESSION: ColumnDecl[] = [
  { name: 'id', type: 'int' },
  { name: 'rec', type: '<blob@main>' },
  { name: 'traces', type: '<npy@main>' },
  { name: 'movie', type: '<object@main>', nullable: true },
];
const COPY: ColumnDecl[] = [
  { name: 'id', type: 'int' },
  { name: 'src', type: '<blob@main>' },
];
const DECLARED: ColumnDecl[] = [
  { name: 'id', type: 'int' },
  { name: 'val', type: '<attach@main>' },
];
const MAX_DECLARED_TABLES = 8;
const MAX_HASH_POOL = 400;

/** The base tables every schema gets before the writers start. */
export async function declareBaseTables(db: StressDatabase): Promise<void> {
  for (const schema of db.schemas) {
    await db.createTable(schema, 'session', SESSION);
    await db.createTable(schema, 'copy', COPY);
  }
}

const json = (value: unknown): string | null => (value === null ? null : JSON.stringify(value));
const parsed = (value: unknown): Record<string, unknown> =>
  (typeof value === 'string' ? JSON.parse(value) : value) as Record<string, unknown>;

function folderPaths(meta: Record<string, unknown>, names: string[]): string[] {
  const path = meta.path as string;
  return [...names.map((name) => `${path}/${name}`), `${path}.manifest.json`];
}

/**
 * Writers in DataJoint's write order (spec §7): objects first, then the row, in a transaction
 * held open a while. Each kind runs in its own loops until `stopped()`.
 */
export class Writers {
  readonly stats = Object.fromEntries(
    WRITER_KINDS.map((kind) => [kind, { ops: 0, committed: 0, rolledBack: 0, errors: 0, reused: 0, reuploaded: 0, heldPastGrace: 0 }]),
  ) as Record<WriterKind, WriterStats>;
  private readonly pool: HashEntry[] = [];
  private readonly declared: { schema: string; table: string }[] = [];
  private readonly busy = new Set<string>();
  private nextId = 1;
  private declaredCount = 0;

  constructor(
    private readonly db: StressDatabase,
    private readonly store: StressStore,
    private readonly ledger: Ledger,
    private readonly settings: WriterSettings,
    private readonly stopped: () => boolean,
  ) {}

  /** Run every writer loop until `stopped()`; resolves once all of them have finished their last operation. */
  async run(): Promise<void> {
    const loops: Promise<void>[] = [];
    const n = this.settings.writersPerKind;
    for (let i = 0; i < n; i++) {
      loops.push(this.loop('insert', () => this.insert(), [50, 400]));
      loops.push(this.loop('dedup', () => this.dedup(), [100, 600]));
      loops.push(this.loop('copy', () => this.copy(), [200, 800]));
      loops.push(this.loop('declare', () => this.declare(), [300, 1200]));
      // Deletes hold their transactions too: three loops keep the table sizes near the target.
      for (let j = 0; j < 3; j++) {
        loops.push(this.loop('delete', () => this.remove(), () => (this.ledger.rows.size > this.settings.targetRows ? [0, 50] : [300, 1000])));
      }
      loops.push(this.loop('update', () => this.update(), [200, 900]));
    }
    await Promise.all(loops);
  }

  private async loop(kind: WriterKind, op: () => Promise<void>, pause: [number, number] | (() => [number, number])): Promise<void> {
    const stats = this.stats[kind];
    while (!this.stopped()) {
      stats.ops++;
      try {
        await op();
      } catch (error) {
        stats.errors++;
        stats.firstError ??= (error as Error).message;
      }
      const [min, max] = typeof pause === 'function' ? pause() : pause;
      await sleep(randomInt(min, max));
    }
  }

  private async hold(kind: WriterKind): Promise<void> {
    const ms = randomInt(0, this.settings.maxHoldMs);
    if (ms > this.settings.graceMs) this.stats[kind].heldPastGrace++;
    await sleep(ms);
  }

  /** Commit (or, with probability `rollbackRate`, roll back); false when rolled back. A failure rolls back and throws. */
  private async finish(kind: WriterKind, tx: Transaction, rollbackRate: number, beforeCommit?: () => void): Promise<boolean> {
    if (chance(rollbackRate)) {
      await tx.rollback();
      this.stats[kind].rolledBack++;
      return false;
    }
    beforeCommit?.();
    await tx.commit();
    this.stats[kind].committed++;
    return true;
  }

  private async withTransaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const tx = await this.db.transaction();
    try {
      return await fn(tx);
    } catch (error) {
      await tx.rollback().catch(() => undefined);
      throw error;
    }
  }

  private remember(entry: HashEntry): void {
    this.pool.push(entry);
    if (this.pool.length > MAX_HASH_POOL) this.pool.splice(randomInt(0, this.pool.length - 1), 1);
  }

  private origin(writer: string, objectAt: number, statementAt: number, reused = false): RowOrigin {
    return { writer, objectAt, statementAt, committedAt: Date.now(), reused };
  }

  /** Upload, then insert inside a transaction held open a while; sometimes rolled back (an orphan). */
  private async insert(): Promise<void> {
    const schema = pick(this.db.schemas);
    const id = this.nextId++;
    const w = this.store.writer;
    const content = randomBytes(randomInt(32, 512));
    const rec = await w.hashObject(schema, content);
    const objectAt = Date.now();
    const traces = await w.schemaFile(schema, 'session', { id }, 'traces', randomBytes(randomInt(64, 256)), '.npy');
    const files = { '.zarray': '{}', '0.0': randomBytes(48).toString('hex') };
    const movie = chance(0.25) ? await w.schemaFolder(schema, 'session', { id }, 'movie', files) : null;
    let statementAt = 0;
    const committed = await this.withTransaction(async (tx) => {
      await tx.query(`INSERT INTO ${this.db.table(schema, 'session')} (id, rec, traces, movie) VALUES (?, ?, ?, ?)`, [
        id,
        json(rec),
        json(traces),
        json(movie),
      ]);
      statementAt = Date.now();
      await this.hold('insert');
      return this.finish('insert', tx, 0.15);
    });
    this.remember({ schema, content, path: rec.path as string, at: objectAt });
    if (!committed) return;
    const origin = this.origin('insert', objectAt, statementAt);
    this.ledger.add({
      schema,
      table: 'session',
      id,
      columns: { rec: [rec.path as string], traces: [traces.path as string], ...(movie ? { movie: folderPaths(movie, Object.keys(files)) } : {}) },
      values: { rec, traces, ...(movie ? { movie } : {}) },
      origins: { rec: origin, traces: origin, ...(movie ? { movie: origin } : {}) },
    });
  }

  /** An old content of `schema` (older than the grace period), if any. */
  private oldContent(schema?: string): HashEntry | undefined {
    const cutoff = Date.now() - this.settings.graceMs - 500;
    const old = this.pool.filter((e) => e.at < cutoff && (schema === undefined || e.schema === schema));
    return old.length > 0 ? pick(old) : undefined;
  }

  /**
   * DataJoint's deduplication inside a held transaction: the object is looked up and, being
   * there, not uploaded again (its modification time stays old), then the row is inserted.
   */
  private async reuse(kind: WriterKind, entry: HashEntry): Promise<{ meta: Record<string, unknown>; objectAt: number; reused: boolean }> {
    const present = await this.store.exists(entry.path);
    const objectAt = Date.now();
    if (present) this.stats[kind].reused++;
    else {
      await this.store.writer.hashObject(entry.schema, entry.content);
      this.stats[kind].reuploaded++;
    }
    const meta = { hash: contentHash(entry.content), path: entry.path, schema: entry.schema, store: 'main', size: entry.content.length };
    return { meta, objectAt, reused: present };
  }

  private async dedup(): Promise<void> {
    const entry = this.oldContent();
    if (!entry) return;
    const { schema } = entry;
    const id = this.nextId++;
    let statementAt = 0;
    let objectAt = 0;
    let reused = false;
    let rec: Record<string, unknown> = {};
    let traces: Record<string, unknown> = {};
    const committed = await this.withTransaction(async (tx) => {
      traces = await this.store.writer.schemaFile(schema, 'session', { id }, 'traces', randomBytes(80), '.npy');
      ({ meta: rec, objectAt, reused } = await this.reuse('dedup', entry));
      await tx.query(`INSERT INTO ${this.db.table(schema, 'session')} (id, rec, traces, movie) VALUES (?, ?, ?, NULL)`, [id, json(rec), json(traces)]);
      statementAt = Date.now();
      await this.hold('dedup');
      return this.finish('dedup', tx, 0.1);
    });
    if (!committed) return;
    const origin = this.origin('dedup', objectAt, statementAt, reused);
    this.ledger.add({
      schema,
      table: 'session',
      id,
      columns: { rec: [entry.path], traces: [traces.path as string] },
      values: { rec, traces },
      origins: { rec: origin, traces: this.origin('dedup', statementAt, statementAt) },
    });
  }

  /** Insert into schema B a row whose JSON is copied (INSERT … SELECT) from a row of schema A. */
  private async copy(): Promise<void> {
    if (this.db.schemas.length < 2) return;
    const [from, to] = [...this.db.schemas].sort(() => Math.random() - 0.5) as [string, string];
    const sources = this.ledger.checkedRows().filter((r) => r.schema === from && r.table === 'session');
    if (sources.length === 0) return;
    const source = pick(sources);
    const id = this.nextId++;
    let statementAt = 0;
    let src: Record<string, unknown> | undefined;
    const committed = await this.withTransaction(async (tx) => {
      const { rows } = await tx.query(
        `INSERT INTO ${this.db.table(to, 'copy')} (id, src) SELECT ?, rec FROM ${this.db.table(from, 'session')} WHERE id = ? RETURNING src`,
        [id, source.id],
      );
      statementAt = Date.now();
      if (rows.length === 0) {
        await tx.rollback();
        return false;
      }
      src = parsed(rows[0]!.src);
      await this.hold('copy');
      return this.finish('copy', tx, 0.1);
    });
    if (!committed || !src) return;
    const origin = this.origin('copy', statementAt, statementAt, true);
    this.ledger.add({ schema: to, table: 'copy', id, columns: { src: [src.path as string] }, values: { src }, origins: { src: origin } });
  }

  /** Declare new tables mid-run (a storage column in the comment) and insert into them, fresh or deduplicated. */
  private async declare(): Promise<void> {
    if (this.declared.length === 0 || (this.declared.length < MAX_DECLARED_TABLES && chance(0.25))) {
      const schema = pick(this.db.schemas);
      const table = `t_${++this.declaredCount}`;
      await this.db.createTable(schema, table, DECLARED);
      this.declared.push({ schema, table });
    }
    const { schema, table } = pick(this.declared);
    const id = this.nextId++;
    const old = chance(0.5) ? this.oldContent(schema) : undefined;
    let statementAt = 0;
    let objectAt = 0;
    let reused = false;
    let val: Record<string, unknown> = {};
    let fresh: HashEntry | undefined;
    const committed = await this.withTransaction(async (tx) => {
      if (old) ({ meta: val, objectAt, reused } = await this.reuse('declare', old));
      else {
        const content = Buffer.concat([Buffer.from('notes.txt\0'), randomBytes(randomInt(16, 200))]);
        val = await this.store.writer.hashObject(schema, content);
        objectAt = Date.now();
        fresh = { schema, content, path: val.path as string, at: objectAt };
      }
      await tx.query(`INSERT INTO ${this.db.table(schema, table)} (id, val) VALUES (?, ?)`, [id, json(val)]);
      statementAt = Date.now();
      await this.hold('declare');
      return this.finish('declare', tx, 0.1);
    });
    if (fresh) this.remember(fresh);
    if (!committed) return;
    const origin = this.origin('declare', objectAt, statementAt, reused);
    this.ledger.add({ schema, table, id, columns: { val: [val.path as string] }, values: { val }, origins: { val: origin } });
  }

  private claim(filter: (row: LedgerRow) => boolean): LedgerRow | undefined {
    const rows = this.ledger.checkedRows().filter((r) => !this.busy.has(r.key) && filter(r));
    if (rows.length === 0) return undefined;
    const row = pick(rows);
    this.busy.add(row.key);
    return row;
  }

  /** Delete a row (its objects become orphans unless another row shares them). */
  private async remove(): Promise<void> {
    const row = this.claim(() => true);
    if (!row) return;
    try {
      await this.withTransaction(async (tx) => {
        const { count } = await tx.query(`DELETE FROM ${this.db.table(row.schema, row.table)} WHERE id = ?`, [row.id]);
        if (count === 0) throw new Error(`row ${row.key} was not there to delete`);
        await this.hold('delete');
        try {
          await this.finish('delete', tx, 0.1, () => this.ledger.beginChange(row));
        } catch (error) {
          // Its outcome unknown, the row is no longer checked: a missing object could be a correct removal.
          this.ledger.committed(row, null);
          throw error;
        }
        if (!row.checked) this.ledger.committed(row, null);
      });
    } finally {
      this.busy.delete(row.key);
    }
  }

  /** Replace a value (update1): a new object is uploaded and the old one is orphaned. */
  private async update(): Promise<void> {
    const row = this.claim((r) => r.table === 'session');
    if (!row) return;
    try {
      const traces = await this.store.writer.schemaFile(row.schema, 'session', {}, 'traces', randomBytes(96), '.npy');
      const objectAt = Date.now();
      await this.withTransaction(async (tx) => {
        const { count } = await tx.query(`UPDATE ${this.db.table(row.schema, 'session')} SET traces = ? WHERE id = ?`, [json(traces), row.id]);
        if (count === 0) throw new Error(`row ${row.key} was not there to update`);
        const statementAt = Date.now();
        await this.hold('update');
        try {
          await this.finish('update', tx, 0.1, () => this.ledger.beginChange(row));
        } catch (error) {
          this.ledger.committed(row, null);
          throw error;
        }
        if (!row.checked) {
          this.ledger.committed(row, { column: 'traces', paths: [traces.path as string], value: traces, origin: this.origin('update', objectAt, statementAt) });
        }
      });
    } finally {
      this.busy.delete(row.key);
    }
  }
}
