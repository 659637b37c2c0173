/**
 * Contracts shared by the engine, the catalogs (databases) and the object stores.
 * Nothing here knows about AWS Lambda.
 */

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
}

/** A column whose comment declares `<codec@store>` (spec §1). */
export interface StorageColumn {
  schema: string;
  table: string;
  column: string;
  codec: string;
  /** Store name as declared; "" means the default store. */
  store: string;
}

/** One reference as stored: `store` null or "" means the default store. */
export interface Reference {
  store: string | null;
  path: string;
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
  /** The references in `column` whose path is one of `paths` (re-check before delete). Same errors as `references`. */
  findReferences(column: StorageColumn, paths: readonly string[]): Promise<Reference[]>;
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
