/**
 * Contracts shared by the engine, the catalogs (databases) and the object stores.
 * Nothing here knows about AWS Lambda.
 */
import type { StoreRequests } from './model/requests.js';

/** A store as DataJoint configures it (spec §5), with defaults applied. */
export interface StoreSpec {
  name: string;
  protocol: 'file' | 's3';
  /** file: directory; s3: key prefix inside the bucket ("" for the bucket root). */
  location: string;
  endpoint?: string;
  bucket?: string;
  secure?: boolean;
  region?: string;
  accessKey?: string;
  secretKey?: string;
  hashPrefix: string;
  schemaPrefix: string;
  subfolding: number[] | null;
  partitionPattern: string | null;
  filepathPrefix: string | null;
}

/** One object as listed by a store. `path` is relative to the store root (the same space as a reference's `path`). */
export interface ObjectEntry {
  path: string;
  size: number;
  lastModified: Date;
}

export interface DeleteFailure {
  path: string;
  code: string;
  message: string;
}

export interface DeleteOutcome {
  deleted: string[];
  failed: DeleteFailure[];
}

/** One move of an object inside a store: `from` and `to` are paths relative to the store root. */
export interface Move {
  from: string;
  to: string;
}

export interface MoveFailure extends Move {
  /** `Exists`: the destination is taken and was left as it is (the source stays too). */
  code: string;
  message: string;
}

export interface MoveOptions {
  /**
   * Asked once, right before the first source is taken away (on S3: after every copy is made,
   * the sources still readable), with the moves about to complete; returns the sources to leave
   * where they are (their copies are removed). A throw abandons the whole batch.
   */
  lastLook?: (moves: Move[]) => Promise<ReadonlySet<string>>;
}

export interface MoveOutcome {
  moved: Move[];
  /** Left at their source by `lastLook`. */
  kept?: Move[];
  /** The source did not exist (moved or deleted already): nothing done. */
  missing: Move[];
  failed: MoveFailure[];
}

export interface ObjectStore {
  /** Human-readable root, e.g. `s3://bucket/location` or `file:///data/dj`. */
  readonly description: string;
  /**
   * Every object whose path starts with `prefix`, in pages of at most 1000, in ascending
   * byte order of `path`. `startAfter` skips every path <= it. Errors are thrown, never swallowed.
   */
  list(prefix: string, options?: { startAfter?: string }): AsyncIterable<ObjectEntry[]>;
  /** Delete at most 1000 paths. Per-path failures are returned, not thrown; a failure of the whole call throws. */
  deleteBatch(paths: string[]): Promise<DeleteOutcome>;
  /**
   * Move at most 1000 objects, keeping each one's bytes (and, where the store has one, its
   * modification time is not used for anything). Never overwrites: a taken destination is a
   * failure with code `Exists`. Per-move failures are returned; a failure of the whole call throws.
   */
  moveBatch(moves: Move[], options?: MoveOptions): Promise<MoveOutcome>;
  /** The object at `path` as the store sees it now (size, modification time), or null when absent. */
  stat(path: string): Promise<ObjectEntry | null>;
  /**
   * Remove folders left empty below each given path's parent, walking up but never removing
   * a folder in `keep` or any folder above one of them. Only file stores have folders; others do nothing.
   */
  pruneEmptyFolders(paths: string[], keep: string[]): Promise<number>;
  /** Whether deleting leaves the bytes behind (a versioned S3 bucket: a delete adds a marker). */
  versioning(): Promise<'unversioned' | 'enabled' | 'suspended'>;
  /** Requests this store object has sent so far, by billing class; absent for a store that sends none (a directory). */
  requestCounts?(): StoreRequests;
}

/** A column whose comment declares `<codec@store>` (spec §1). */
export interface StorageColumn {
  /** PostgreSQL: the database holding the schema, when the catalog reads several; absent on MySQL. */
  database?: string;
  schema: string;
  table: string;
  column: string;
  codec: string;
  /** Store name as declared; "" means the default store. */
  store: string;
}

/**
 * One reference as stored: `store` null or "" means the default store. `path` is canonical
 * (spec §2: no empty or `.` segments, no leading or trailing `/`, `..` resolved). A value may
 * hold several references (a top-level `path`, nested `path`s, other strings naming a path).
 */
export interface Reference {
  store: string | null;
  path: string;
}

/** Write transactions open at one moment, as the server shows them. */
export interface TransactionSnapshot {
  /** false when the database user may not see other sessions' transactions (the ids are then empty). */
  visible: boolean;
  /** Server-side ids of open transactions that have written or may write (the catalog's own excluded). */
  ids: string[];
  /** Why `visible` is false, naming the privilege to grant. */
  reason?: string;
}

/** The writers of storage tables at one moment, to ask after a re-check what it may have missed. */
export interface WriteHorizon {
  since(): Promise<WritersSince>;
}

export interface WritersSince {
  /** The horizon's writers still open: rows they wrote were invisible to the re-check. */
  writing: string[];
  /** Whether one of them has ended: its rows, if it committed after a statement of the re-check began, were not seen either. */
  ended: boolean;
}

/** What keeps a catalog from reading every reference on the server. */
export interface Readability {
  /** Each problem names what cannot be read and the grant or setting that fixes it. Empty: everything is readable. */
  problems: string[];
}

export interface Catalog {
  readonly backend: 'postgresql' | 'mysql';
  /** Every storage column of every schema on the server, `~` tables excluded. */
  discover(): Promise<StorageColumn[]>;
  /**
   * Stream the references held in one column, reading it once. Throws
   * `MalformedMetadataError` for a value that cannot be read as a reference, and any
   * driver error (e.g. a dropped connection) as is.
   */
  references(column: StorageColumn): AsyncIterable<Reference>;
  /**
   * The same references as `references`, in pages (arrays of any length): a catalog that can read
   * a column in bulk offers this, and marking then takes a step per page instead of per reference.
   */
  referencePages?(column: StorageColumn): AsyncIterable<Reference[]>;
  /**
   * The references in `column` whose path is one of `paths` (re-check before delete). Same errors
   * as `references`. `inFlight` adds, where the server can show them (MySQL and MariaDB: READ
   * UNCOMMITTED), those in rows written by transactions still open; where it cannot (PostgreSQL),
   * the last re-check is repeated until it missed nothing since its `writeHorizon`.
   */
  findReferences(column: StorageColumn, paths: readonly string[], options?: { inFlight?: boolean }): Promise<Reference[]>;
  /** The write transactions open now (re-check: rows they wrote are not visible yet). */
  openWriteTransactions(): Promise<TransactionSnapshot>;
  /**
   * Where `findReferences` cannot read rows in flight (PostgreSQL): the transactions writing
   * storage tables now, to ask after a re-check begun past it what it may have missed. null where
   * rows in flight are read instead, or where the server would not show its transactions.
   */
  writeHorizon(): Promise<WriteHorizon | null>;
  /** Which of `snapshot.ids` are still open now. */
  stillOpen(snapshot: TransactionSnapshot): Promise<string[]>;
  /**
   * Whether this user can read every storage column on the server: MySQL/MariaDB need a global
   * SELECT (a table without a grant is invisible in information_schema); PostgreSQL needs SELECT on
   * every table with a storage column, and every database on the server holding DataJoint schemas
   * is read unless it is in `ignoredDatabases` (a schema in `ignoredSchemas` is left out everywhere).
   */
  checkReadable(options: { ignoredSchemas: string[]; ignoredDatabases?: string[] }): Promise<Readability>;
  close(): Promise<void>;
}

export class MalformedMetadataError extends Error {
  override readonly name = 'MalformedMetadataError';
  constructor(
    readonly where: string,
    readonly detail: string,
  ) {
    super(`${where}: ${detail}`);
  }
}
