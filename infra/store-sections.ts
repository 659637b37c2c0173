/**
 * The DataJoint `stores` block as the stack receives it, and the S3 sections the
 * collector may list and delete in. Only the hash and schema sections of a store are
 * ever touched (spec §5): everything IAM grants is derived from them.
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

/** The DataJoint `stores` block: `default` names the default store, every other key is a store. */
export interface DataJointStores {
  readonly default?: string;
  readonly [name: string]: DataJointStoreConfig | string | undefined;
}

/** One hash or schema section of an S3 store: objects under `bucket/prefix/`. */
export interface StoreSection {
  readonly store: string;
  readonly bucket: string;
  /** Key prefix without a trailing slash, e.g. `proj/_hash`. */
  readonly prefix: string;
}

export class StoreConfigError extends Error {
  override readonly name = 'StoreConfigError';
}

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

/** The store names of the block (every key but `default`). */
export function storeNames(stores: DataJointStores): string[] {
  return Object.keys(stores).filter((name) => name !== 'default');
}

/**
 * Validate the `stores` block for the serverless deployment and return the sections
 * of every store, deduplicated by (bucket, prefix). Throws `StoreConfigError` naming
 * the store and field for anything the deployment cannot serve safely.
 */
export function storeSections(stores: DataJointStores): StoreSection[] {
  if (!isPlainObject(stores)) {
    throw new StoreConfigError(
      `stores must be a JSON object like {"default": "main", "main": {"protocol": "s3", "bucket": "…"}}, got ${JSON.stringify(stores)}.`,
    );
  }
  const names = storeNames(stores);
  const defaultStore = stores.default;
  if (defaultStore !== undefined && (typeof defaultStore !== 'string' || !names.includes(defaultStore))) {
    throw new StoreConfigError(
      `stores.default is ${JSON.stringify(defaultStore)} but the stores block defines ${names.length ? names.map((n) => `"${n}"`).join(', ') : 'no store'}: name one of them.`,
    );
  }
  const sections = new Map<string, StoreSection>();
  for (const name of names) {
    const store = stores[name];
    if (!isPlainObject(store)) {
      throw new StoreConfigError(`stores.${name} must be an object with "protocol", "bucket", …, got ${JSON.stringify(store)}.`);
    }
    if (store.protocol !== 's3') {
      throw new StoreConfigError(
        `stores.${name} uses protocol ${JSON.stringify(store.protocol)}: the AWS deployment can only reach "s3" stores. Remove it from the stores given to the stack, or collect it with the local djgc command.`,
      );
    }
    for (const key of CREDENTIAL_KEYS) {
      if (key in store) {
        throw new StoreConfigError(
          `stores.${name}.${key} is set: the functions reach S3 through their IAM role and the stores block is stored in plain Lambda environment variables. Remove access_key/secret_key from the stores given to the stack.`,
        );
      }
    }
    if (typeof store.bucket !== 'string' || !BUCKET_NAME.test(store.bucket)) {
      throw new StoreConfigError(`stores.${name}.bucket must be an S3 bucket name, got ${JSON.stringify(store.bucket)}.`);
    }
    if (store.endpoint !== undefined && (typeof store.endpoint !== 'string' || !AWS_S3_ENDPOINT.test(store.endpoint))) {
      throw new StoreConfigError(
        `stores.${name}.endpoint ${JSON.stringify(store.endpoint)} is not an Amazon S3 endpoint: the stack grants access through IAM, which only Amazon S3 honours. Use s3.amazonaws.com (or leave endpoint out) or run the local djgc command against other S3-compatible services.`,
      );
    }
    const location = checkedSegment(name, 'location', store.location, '');
    const hashPrefix = checkedSegment(name, 'hash_prefix', store.hash_prefix, '_hash');
    const schemaPrefix = checkedSegment(name, 'schema_prefix', store.schema_prefix, '_schema');
    if (!hashPrefix || !schemaPrefix) {
      throw new StoreConfigError(`stores.${name}: hash_prefix and schema_prefix must not be empty (DataJoint's defaults are "_hash" and "_schema").`);
    }
    if (hashPrefix === schemaPrefix) {
      throw new StoreConfigError(`stores.${name}: hash_prefix and schema_prefix are both "${hashPrefix}"; they must name different sections.`);
    }
    for (const section of [hashPrefix, schemaPrefix]) {
      const prefix = location ? `${location}/${section}` : section;
      sections.set(`${store.bucket}/${prefix}`, { store: name, bucket: store.bucket, prefix });
    }
  }
  return [...sections.values()];
}
