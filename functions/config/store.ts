/**
 * One store's settings (datajoint.json `stores.<name>`, DJ_STORES) checked key by key the way
 * DataJoint 2.3.x's `Config.get_store_spec` checks them, and turned into a StoreSpec.
 */
import { isAbsolute, resolve } from 'node:path';
import type { StoreSpec } from '../engine/types.js';
import { closest, describe, DjConfigError, isObject, type JsonObject } from './values.js';

export interface NormalizeStoreOptions {
  /** What a relative file-store location resolves against. Default: process.cwd(). */
  cwd?: string;
  /** Where the store was configured, for error messages. */
  source?: string;
}

const COMMON_KEYS = ['protocol', 'location', 'subfolding', 'partition_pattern', 'token_length', 'hash_prefix', 'schema_prefix', 'filepath_prefix', 'stage'];

/** The keys DataJoint allows per protocol; it refuses a store with any other key. */
export const STORE_KEYS: Readonly<Record<'file' | 's3', readonly string[]>> = {
  file: COMMON_KEYS,
  s3: [...COMMON_KEYS, 'endpoint', 'bucket', 'access_key', 'secret_key', 'secure', 'proxy_server'],
};

const KEY_HINTS: Record<string, string> = {
  region: 'DataJoint has no store key "region": djgc takes the region from a regional endpoint (s3.<region>.amazonaws.com) or from AWS_REGION.',
};

type Fail = (message: string) => never;

/** A store as configured (snake_case keys, spec §5) turned into a validated StoreSpec with defaults applied. */
export function normalizeStore(name: string, raw: unknown, options: NormalizeStoreOptions = {}): StoreSpec {
  const where = `${options.source ? `${options.source}: ` : ''}store "${name}"`;
  const fail: Fail = (message) => {
    throw new DjConfigError(`${where}: ${message}`);
  };
  if (!isObject(raw)) return fail(`its configuration must be a JSON object, got ${describe(raw)}.`);

  const protocol = readProtocol(raw, fail);
  checkKeys(raw, protocol, fail);
  const str = stringReader(raw, fail);

  const spec: StoreSpec = {
    name,
    protocol,
    location: protocol === 'file' ? fileLocation(str('location'), options.cwd, fail) : (str('location') ?? '').replace(/^\/+|\/+$/g, ''),
    hashPrefix: sectionPrefix(str('hash_prefix'), 'hash_prefix', '_hash', fail),
    schemaPrefix: sectionPrefix(str('schema_prefix'), 'schema_prefix', '_schema', fail),
    subfolding: readSubfolding(raw.subfolding, fail),
    partitionPattern: str('partition_pattern') ?? null,
    filepathPrefix: str('filepath_prefix') || null,
  };
  checkPrefixSeparation(spec, fail);
  readTokenLength(raw.token_length, fail);
  if (protocol === 's3') addS3Settings(spec, raw, str, fail);
  return spec;
}

function readProtocol(raw: JsonObject, fail: Fail): 'file' | 's3' {
  const value = raw.protocol;
  if (value === undefined || value === null || value === '') return fail('"protocol" is missing: set it to "file" or "s3".');
  if (typeof value !== 'string') return fail(`"protocol" must be a string, got ${describe(value)}.`);
  const protocol = value.toLowerCase();
  if (protocol === 'gcs' || protocol === 'azure') {
    return fail(`protocol "${value}" exists in DataJoint but is not supported here: only "file" and "s3" stores can be collected.`);
  }
  if (protocol !== 'file' && protocol !== 's3') return fail(`unknown protocol "${value}": use "file" or "s3".`);
  return protocol;
}

/** DataJoint refuses a store holding a key its protocol does not know ("Invalid key(s) in config.stores[...]"); so does djgc. */
function checkKeys(raw: JsonObject, protocol: 'file' | 's3', fail: Fail): void {
  const known = STORE_KEYS[protocol];
  const unknown = Object.keys(raw).filter((key) => !known.includes(key));
  if (unknown.length === 0) return;
  const details = unknown.map((key) => {
    const hint = KEY_HINTS[key] ?? (closest(key, known) ? `did you mean "${closest(key, known)}"?` : '');
    return `"${key}"${hint ? ` (${hint})` : ''}`;
  });
  fail(
    `unknown key${unknown.length > 1 ? 's' : ''} ${details.join(', ')}. DataJoint refuses a store with ${unknown.length > 1 ? 'these keys' : 'this key'} too. ` +
      `Keys of a ${protocol} store: ${known.join(', ')}. Fix the spelling or remove the key.`,
  );
}

function stringReader(raw: JsonObject, fail: Fail): (field: string) => string | undefined {
  return (field) => {
    const value = raw[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') return fail(`"${field}" must be a string, got ${describe(value)}.`);
    return value;
  };
}

/** DataJoint opens file-store paths as given, so a relative location is relative to the working directory. */
function fileLocation(location: string | undefined, cwd: string | undefined, fail: Fail): string {
  if (location === undefined || location === '') return fail('"location" is missing: a file store needs the directory that holds its objects.');
  return isAbsolute(location) ? resolve(location) : resolve(cwd ?? process.cwd(), location);
}

function sectionPrefix(value: string | undefined, field: string, fallback: string, fail: Fail): string {
  const prefix = value ?? fallback;
  if (prefix === '' || prefix.startsWith('/') || prefix.endsWith('/') || prefix.split('/').some((s) => s === '..' || s === '.' || s === '')) {
    return fail(`"${field}" must be a non-empty relative path without leading or trailing "/", "." or ".." segments (default "${fallback}"), got ${describe(prefix)}.`);
  }
  return prefix;
}

/** As DataJoint: no section prefix may contain another (compared without surrounding "/", segment-wise). */
function checkPrefixSeparation(spec: StoreSpec, fail: Fail): void {
  const prefixes: [string, string][] = [
    ['hash_prefix', spec.hashPrefix],
    ['schema_prefix', spec.schemaPrefix],
  ];
  if (spec.filepathPrefix) prefixes.push(['filepath_prefix', spec.filepathPrefix]);
  const normal = (p: string): string => `${p.replace(/^\/+|\/+$/g, '')}/`;
  for (let i = 0; i < prefixes.length; i++) {
    for (let j = i + 1; j < prefixes.length; j++) {
      const [n1, p1] = prefixes[i]!;
      const [n2, p2] = prefixes[j]!;
      if (normal(p1).startsWith(normal(p2)) || normal(p2).startsWith(normal(p1))) {
        fail(`${n1} "${p1}" and ${n2} "${p2}" overlap: the sections must not contain one another (DataJoint refuses this store too). Give them separate prefixes.`);
      }
    }
  }
}

function readSubfolding(value: unknown, fail: Fail): number[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value) || !value.every((n) => Number.isInteger(n) && (n as number) > 0)) {
    return fail(`"subfolding" must be an array of positive integers such as [2, 2], or null, got ${describe(value)}.`);
  }
  return value.length === 0 ? null : (value as number[]);
}

/** Only object names depend on it, and djgc never builds names; still a wrong value is a typo worth reporting. */
function readTokenLength(value: unknown, fail: Fail): void {
  if (value === undefined || value === null) return;
  if (!Number.isInteger(value) || (value as number) < 1) fail(`"token_length" must be a positive integer (default 8), got ${describe(value)}.`);
}

function addS3Settings(spec: StoreSpec, raw: JsonObject, str: (field: string) => string | undefined, fail: Fail): void {
  const bucket = str('bucket');
  if (bucket === undefined || bucket === '') fail('"bucket" is missing: an s3 store needs the name of its bucket.');
  spec.bucket = bucket!;
  const endpoint = str('endpoint');
  if (endpoint) spec.endpoint = endpoint;
  const secure = raw.secure;
  if (secure !== undefined && secure !== null && typeof secure !== 'boolean') fail(`"secure" must be true or false, got ${describe(secure)}.`);
  if (typeof secure === 'boolean') spec.secure = secure;
  str('proxy_server');
  const accessKey = str('access_key');
  const secretKey = str('secret_key');
  // As DataJoint after 2.3.2: both keys, or neither for the default AWS credential chain; an empty key counts as none.
  if (Boolean(accessKey) !== Boolean(secretKey)) {
    fail(`it has ${accessKey ? 'access_key but no secret_key' : 'secret_key but no access_key'}: give both (in the store, DJ_STORES or .secrets/stores.${spec.name}.*) or neither to use the default AWS credential chain.`);
  }
  if (accessKey) spec.accessKey = accessKey;
  if (secretKey) spec.secretKey = secretKey;
}
