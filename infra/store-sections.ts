/**
 * The DataJoint `stores` block as the stack receives it, and the S3 areas the
 * collector may touch: the hash and schema sections of a store (spec §5), where it
 * lists, quarantines from and restores to, and the store's quarantine folder
 * `<location>/_djgc/quarantine/`. Everything IAM grants on a store is derived from them.
 */

/** One store of the DataJoint `stores` block (keys as DataJoint writes them). */
export interface DataJointStoreConfig {
  readonly protocol: string;
  readonly bucket?: string;
  readonly location?: string;
  readonly endpoint?: string;
  readonly hash_prefix?: string;
  readonly schema_prefix?: string;
  readonly [key: string]: unknown;
}

/**
 * The DataJoint `stores` block: `default` and `filepath_default` name stores, every
 * other key is a store.
 */
export interface DataJointStores {
  readonly default?: string;
  readonly filepath_default?: string;
  readonly [name: string]: DataJointStoreConfig | string | undefined;
}

/** Objects under `bucket/prefix/`. */
export interface StoreArea {
  readonly store: string;
  readonly bucket: string;
  /** Key prefix without a trailing slash, e.g. `proj/_hash`. */
  readonly prefix: string;
}

/** A hash or schema section of an S3 store. */
export type StoreSection = StoreArea;

export interface StoreLayout {
  /** Hash and schema sections of the collected stores, deduplicated by (bucket, prefix). */
  readonly sections: StoreArea[];
  /** Quarantine folders of the collected stores, deduplicated by (bucket, prefix). */
  readonly quarantines: StoreArea[];
}

export class StoreConfigError extends Error {
  override readonly name = 'StoreConfigError';
}

/** Keys of the block that name a store rather than define one. */
export const STORE_POINTER_KEYS = ['default', 'filepath_default'] as const;
/** The folder, under a store's location, that quarantined objects are moved to. */
export const QUARANTINE_FOLDER = '_djgc/quarantine';

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const AWS_S3_ENDPOINT = /^(https?:\/\/)?s3([.-][a-z0-9-]+)*\.amazonaws\.com(\.cn)?\/?$/;
const CREDENTIAL_KEYS = ['access_key', 'secret_key'];

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function trimSlashes(value: string): string {
  return value.replace(/^\/+|\/+$/g, '');
}

function checkedSegment(store: string, field: string, raw: unknown, fallback: string): string {
  if (raw === undefined) return fallback;
  if (typeof raw !== 'string') {
    throw new StoreConfigError(`stores.${store}.${field} must be a string, got ${JSON.stringify(raw)}.`);
  }
  const value = trimSlashes(raw);
  if (/[*?]/.test(value) || value.split('/').includes('..')) {
    throw new StoreConfigError(
      `stores.${store}.${field} ${JSON.stringify(raw)} contains "*", "?" or "..": IAM would read it as a pattern; use the literal prefix DataJoint writes.`,
    );
  }
  return value;
}

const within = (a: string, b: string): boolean => a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);

/** The store names of the block (every key but `default` and `filepath_default`). */
export function storeNames(stores: DataJointStores): string[] {
  return Object.keys(stores).filter((name) => !(STORE_POINTER_KEYS as readonly string[]).includes(name));
}

/** The block as the functions receive it: foreign stores lose any credentials (they are never opened). */
export function deployedStores(stores: DataJointStores, foreign: ReadonlySet<string>): DataJointStores {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(stores)) {
    out[name] =
      foreign.has(name) && isPlainObject(value)
        ? Object.fromEntries(Object.entries(value).filter(([key]) => !CREDENTIAL_KEYS.includes(key)))
        : value;
  }
  return out as DataJointStores;
}

function checkS3Store(name: string, store: Record<string, unknown>): void {
  const declareForeign = `, or declare it in foreignStores (with the reason) if it belongs to someone else and must never be collected`;
  if (store.protocol !== 's3') {
    throw new StoreConfigError(
      `stores.${name} uses protocol ${JSON.stringify(store.protocol)}: the AWS deployment can only reach "s3" stores. Remove it from the stores given to the stack, collect it with the local djgc command${declareForeign}.`,
    );
  }
  for (const key of CREDENTIAL_KEYS) {
    if (key in store) {
      throw new StoreConfigError(
        `stores.${name}.${key} is set: the functions reach S3 through their IAM role and the stores block is stored in plain Lambda environment variables. Remove access_key/secret_key from the stores given to the stack${declareForeign}.`,
      );
    }
  }
  if (typeof store.bucket !== 'string' || !BUCKET_NAME.test(store.bucket)) {
    throw new StoreConfigError(`stores.${name}.bucket must be an S3 bucket name, got ${JSON.stringify(store.bucket)}.`);
  }
  if (store.endpoint !== undefined && (typeof store.endpoint !== 'string' || !AWS_S3_ENDPOINT.test(store.endpoint))) {
    throw new StoreConfigError(
      `stores.${name}.endpoint ${JSON.stringify(store.endpoint)} is not an Amazon S3 endpoint: the stack grants access through IAM, which only Amazon S3 honours. Use s3.amazonaws.com (or leave endpoint out), run the local djgc command against other S3-compatible services${declareForeign}.`,
    );
  }
}

/**
 * Validate the `stores` block for the serverless deployment and return the areas of
 * every store that is not foreign. Throws `StoreConfigError` naming the store and
 * field for anything the deployment cannot serve safely. A foreign store may be
 * anything DataJoint accepts: it is never opened and gets no grants.
 */
export function storeLayout(stores: DataJointStores, foreign: ReadonlySet<string> = new Set()): StoreLayout {
  if (!isPlainObject(stores)) {
    throw new StoreConfigError(
      `stores must be a JSON object like {"default": "main", "main": {"protocol": "s3", "bucket": "…"}}, got ${JSON.stringify(stores)}.`,
    );
  }
  const names = storeNames(stores);
  for (const pointer of STORE_POINTER_KEYS) {
    const named = stores[pointer];
    if (named !== undefined && (typeof named !== 'string' || !names.includes(named))) {
      throw new StoreConfigError(
        `stores.${pointer} is ${JSON.stringify(named)} but the stores block defines ${names.length ? names.map((n) => `"${n}"`).join(', ') : 'no store'}: name one of them.`,
      );
    }
  }
  const sections = new Map<string, StoreArea>();
  const quarantines = new Map<string, StoreArea>();
  for (const name of names) {
    const store = stores[name];
    if (!isPlainObject(store)) {
      throw new StoreConfigError(`stores.${name} must be an object with "protocol", "bucket", …, got ${JSON.stringify(store)}.`);
    }
    if (foreign.has(name)) continue;
    checkS3Store(name, store);
    const bucket = store.bucket as string;
    const location = checkedSegment(name, 'location', store.location, '');
    const hashPrefix = checkedSegment(name, 'hash_prefix', store.hash_prefix, '_hash');
    const schemaPrefix = checkedSegment(name, 'schema_prefix', store.schema_prefix, '_schema');
    if (!hashPrefix || !schemaPrefix) {
      throw new StoreConfigError(`stores.${name}: hash_prefix and schema_prefix must not be empty (DataJoint's defaults are "_hash" and "_schema").`);
    }
    if (hashPrefix === schemaPrefix) {
      throw new StoreConfigError(`stores.${name}: hash_prefix and schema_prefix are both "${hashPrefix}"; they must name different sections.`);
    }
    const under = (p: string): string => (location ? `${location}/${p}` : p);
    for (const section of [hashPrefix, schemaPrefix]) {
      sections.set(`${bucket}/${under(section)}`, { store: name, bucket, prefix: under(section) });
    }
    quarantines.set(`${bucket}/${under(QUARANTINE_FOLDER)}`, { store: name, bucket, prefix: under(QUARANTINE_FOLDER) });
  }
  for (const q of quarantines.values()) {
    for (const s of sections.values()) {
      if (s.bucket === q.bucket && within(s.prefix, q.prefix)) {
        throw new StoreConfigError(
          `stores.${s.store}: its section "${s.prefix}/" and the quarantine folder "${q.prefix}/" of store "${q.store}" overlap in bucket ${q.bucket}; choose a location or prefix outside "${QUARANTINE_FOLDER}".`,
        );
      }
    }
  }
  return { sections: [...sections.values()], quarantines: [...quarantines.values()] };
}

/** The hash and schema sections of every store that is not foreign. */
export function storeSections(stores: DataJointStores, foreign: ReadonlySet<string> = new Set()): StoreSection[] {
  return storeLayout(stores, foreign).sections;
}
