/**
 * DataJoint's configuration, read the way DataJoint 2.x reads it (spec §5):
 * environment (DJ_*) > datajoint.json > secrets directory > defaults.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { StoreSpec } from '../engine/types.js';

export const CONFIG_FILENAME = 'datajoint.json';
export const SYSTEM_SECRETS_DIR = '/run/secrets/datajoint';

export type Backend = 'mysql' | 'postgresql';

export interface DjDatabaseConfig {
  backend: Backend;
  host?: string;
  port: number;
  user?: string;
  password?: string;
  databaseName: string;
}

export interface DjConfig {
  /** null when no host is configured anywhere. */
  database: DjDatabaseConfig | null;
  stores: Record<string, StoreSpec>;
  defaultStore: string | null;
  /** Path of datajoint.json, or 'environment', or 'none'. */
  source: string;
}

export interface LoadDjConfigOptions {
  /** Where the search for datajoint.json starts, and what relative file-store locations resolve against. Default: process.cwd(). */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** The system secrets directory used when no `.secrets/` sits beside datajoint.json. Default: /run/secrets/datajoint. */
  secretsDir?: string;
}

export interface NormalizeStoreOptions {
  /** What a relative file-store location resolves against. Default: process.cwd(). */
  cwd?: string;
  /** Where the store was configured, for error messages. */
  source?: string;
}

export class DjConfigError extends Error {
  override readonly name = 'DjConfigError';
}

const DEFAULT_PORTS: Record<Backend, number> = { mysql: 3306, postgresql: 5432 };
const ENV_KEYS = ['DJ_HOST', 'DJ_PORT', 'DJ_USER', 'DJ_PASS', 'DJ_BACKEND', 'DJ_DATABASE_NAME', 'DJ_STORES'] as const;

type JsonObject = Record<string, unknown>;

export function loadDjConfig(options: LoadDjConfigOptions = {}): DjConfig {
  const env = options.env ?? process.env;
  const cwd = resolve(options.cwd ?? process.cwd());
  const ignoreFiles = parseBoolean('DJ_IGNORE_CONFIG_FILE', env.DJ_IGNORE_CONFIG_FILE);

  const configPath = ignoreFiles ? null : findConfigFile(cwd);
  const file = configPath ? readConfigFile(configPath) : {};
  const secretsDir = ignoreFiles ? null : findSecretsDir(configPath, options.secretsDir ?? SYSTEM_SECRETS_DIR);
  const secret = (name: string): string | undefined => (secretsDir ? readSecret(secretsDir, name) : undefined);

  const fileLabel = configPath ?? 'configuration';
  const database = loadDatabase(env, group(file, 'database', fileLabel), secret, fileLabel);

  const envStores = envValue(env, 'DJ_STORES');
  const storesLabel = envStores !== undefined ? 'DJ_STORES' : fileLabel;
  const rawStores = envStores !== undefined ? parseStoresEnv(envStores) : group(file, 'stores', fileLabel);

  const stores: Record<string, StoreSpec> = {};
  let defaultStore: string | null = null;
  for (const [name, raw] of Object.entries(rawStores)) {
    if (name === 'default') {
      if (raw === null) continue;
      if (typeof raw !== 'string' || raw === '') {
        throw new DjConfigError(`${storesLabel}: stores.default must be the name of a store (a string), got ${describe(raw)}.`);
      }
      defaultStore = raw;
      continue;
    }
    stores[name] = normalizeStore(name, withStoreSecrets(name, raw, secret), { cwd, source: storesLabel });
  }
  if (defaultStore !== null && !(defaultStore in stores)) {
    const known = Object.keys(stores);
    throw new DjConfigError(
      `${storesLabel}: stores.default names store "${defaultStore}", which is not configured (configured: ${known.length ? known.map((n) => `"${n}"`).join(', ') : 'none'}). Add the store or fix stores.default.`,
    );
  }

  const fromEnvironment = ENV_KEYS.some((key) => envValue(env, key) !== undefined);
  return { database, stores, defaultStore, source: configPath ?? (fromEnvironment ? 'environment' : 'none') };
}

/** A store as configured (snake_case keys, spec §5) turned into a validated StoreSpec with defaults applied. */
export function normalizeStore(name: string, raw: unknown, options: NormalizeStoreOptions = {}): StoreSpec {
  const where = `${options.source ? `${options.source}: ` : ''}store "${name}"`;
  const fail = (message: string): never => {
    throw new DjConfigError(`${where}: ${message}`);
  };
  if (!isObject(raw)) return fail(`its configuration must be a JSON object, got ${describe(raw)}.`);

  const str = (field: string): string | undefined => {
    const value = raw[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') return fail(`"${field}" must be a string, got ${describe(value)}.`);
    return value;
  };
  const prefix = (field: string, fallback: string): string => {
    const value = str(field) ?? fallback;
    if (value === '' || value.startsWith('/') || value.endsWith('/') || value.split('/').some((s) => s === '..' || s === '.' || s === '')) {
      return fail(`"${field}" must be a non-empty relative path without leading or trailing "/", "." or ".." segments (default "${fallback}"), got ${describe(value)}.`);
    }
    return value;
  };

  const protocolRaw = str('protocol');
  if (protocolRaw === undefined || protocolRaw === '') return fail('"protocol" is missing: set it to "file" or "s3".');
  const protocol = protocolRaw.toLowerCase();
  if (protocol === 'gcs' || protocol === 'azure') {
    return fail(`protocol "${protocolRaw}" exists in DataJoint but is not supported here: only "file" and "s3" stores can be collected.`);
  }
  if (protocol !== 'file' && protocol !== 's3') return fail(`unknown protocol "${protocolRaw}": use "file" or "s3".`);

  let location = str('location') ?? '';
  let bucket: string | undefined;
  if (protocol === 'file') {
    if (location === '') return fail('"location" is missing: a file store needs the directory that holds its objects.');
    // DataJoint opens file-store paths as given, so a relative location is relative to the working directory.
    location = isAbsolute(location) ? resolve(location) : resolve(options.cwd ?? process.cwd(), location);
  } else {
    bucket = str('bucket');
    if (bucket === undefined || bucket === '') return fail('"bucket" is missing: an s3 store needs the name of its bucket.');
    location = location.replace(/^\/+|\/+$/g, '');
  }

  const secure = raw.secure;
  if (secure !== undefined && secure !== null && typeof secure !== 'boolean') {
    return fail(`"secure" must be true or false, got ${describe(secure)}.`);
  }

  let subfolding: number[] | null = null;
  if (raw.subfolding !== undefined && raw.subfolding !== null) {
    const value = raw.subfolding;
    if (!Array.isArray(value) || !value.every((n) => Number.isInteger(n) && (n as number) > 0)) {
      return fail(`"subfolding" must be an array of positive integers such as [2, 2], or null, got ${describe(value)}.`);
    }
    subfolding = value.length === 0 ? null : (value as number[]);
  }

  const endpoint = str('endpoint');
  const spec: StoreSpec = {
    name,
    protocol,
    location,
    hashPrefix: prefix('hash_prefix', '_hash'),
    schemaPrefix: prefix('schema_prefix', '_schema'),
    subfolding,
    partitionPattern: str('partition_pattern') ?? null,
    filepathPrefix: str('filepath_prefix') ?? null,
  };
  if (bucket !== undefined) spec.bucket = bucket;
  if (endpoint !== undefined && endpoint !== '') spec.endpoint = endpoint;
  if (typeof secure === 'boolean') spec.secure = secure;
  const region = str('region');
  if (region) spec.region = region;
  const accessKey = str('access_key');
  if (accessKey) spec.accessKey = accessKey;
  const secretKey = str('secret_key');
  if (secretKey) spec.secretKey = secretKey;
  return spec;
}

/** datajoint.json in `start` or its parents; the search stops at a directory holding `.git` or `.hg`, or at the filesystem root. */
export function findConfigFile(start: string): string | null {
  let current = resolve(start);
  for (;;) {
    const candidate = join(current, CONFIG_FILENAME);
    if (statOrNull(candidate)?.isFile()) return candidate;
    if (statOrNull(join(current, '.git')) || statOrNull(join(current, '.hg'))) return null;
    const parent = dirname(current);
    if (parent === current) return null;
    current = parent;
  }
}

function loadDatabase(env: NodeJS.ProcessEnv, file: JsonObject, secret: (name: string) => string | undefined, fileLabel: string): DjDatabaseConfig | null {
  const fileString = (field: string): string | undefined => {
    const value = file[field];
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw new DjConfigError(`${fileLabel}: database.${field} must be a string, got ${describe(value)}.`);
    return value;
  };

  const backendRaw = envValue(env, 'DJ_BACKEND') ?? fileString('backend') ?? 'mysql';
  if (backendRaw !== 'mysql' && backendRaw !== 'postgresql') {
    const from = envValue(env, 'DJ_BACKEND') !== undefined ? 'DJ_BACKEND' : `${fileLabel}: database.backend`;
    throw new DjConfigError(`${from} is "${backendRaw}": use "mysql" (MySQL or MariaDB) or "postgresql".`);
  }
  const backend: Backend = backendRaw;

  const hostRaw = envValue(env, 'DJ_HOST') ?? fileString('host');
  if (hostRaw === undefined) return null;
  const hostFrom = envValue(env, 'DJ_HOST') !== undefined ? 'DJ_HOST' : `${fileLabel}: database.host`;
  const { host, port: hostPort } = splitHostPort(hostRaw, hostFrom);

  let port: number | undefined = hostPort;
  if (port === undefined) {
    const envPort = envValue(env, 'DJ_PORT');
    if (envPort !== undefined) port = parsePort(envPort, 'DJ_PORT');
    else if (file.port !== undefined && file.port !== null) port = parsePort(file.port, `${fileLabel}: database.port`);
  }

  const database: DjDatabaseConfig = {
    backend,
    host,
    port: port ?? DEFAULT_PORTS[backend],
    databaseName: envValue(env, 'DJ_DATABASE_NAME') ?? fileString('name') ?? 'postgres',
  };
  const user = envValue(env, 'DJ_USER') ?? fileString('user') ?? secret('database.user');
  if (user !== undefined) database.user = user;
  const password = envValue(env, 'DJ_PASS') ?? fileString('password') ?? secret('database.password');
  if (password !== undefined) database.password = password;
  return database;
}

/** `host`, `host:port` or `[v6addr]:port`. As in DataJoint's connection, a port written in the host wins over a separate port setting. */
function splitHostPort(value: string, from: string): { host: string; port?: number } {
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(value);
  if (bracketed) {
    return bracketed[2] === undefined ? { host: bracketed[1]! } : { host: bracketed[1]!, port: parsePort(bracketed[2], from) };
  }
  const colon = value.indexOf(':');
  if (colon === -1 || colon !== value.lastIndexOf(':')) return { host: value };
  return { host: value.slice(0, colon), port: parsePort(value.slice(colon + 1), from) };
}

function parsePort(value: unknown, from: string): number {
  const port = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new DjConfigError(`${from} has port ${describe(value)}: use a port number between 1 and 65535.`);
  }
  return port;
}

function readConfigFile(path: string): JsonObject {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new DjConfigError(`Cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new DjConfigError(`${path} is not valid JSON (${(error as Error).message}): fix the file, or set DJ_IGNORE_CONFIG_FILE=true to skip it.`, {
      cause: error,
    });
  }
  if (!isObject(parsed)) throw new DjConfigError(`${path} must hold a JSON object, got ${describe(parsed)}.`);
  return expandDottedKeys(parsed, path);
}

/** `{"database.host": "h"}` → `{"database": {"host": "h"}}`, merged with nested groups; a setting given twice is an error. */
function expandDottedKeys(data: JsonObject, path: string): JsonObject {
  const result: JsonObject = {};
  const set = (keys: string[], value: unknown, original: string): void => {
    let target = result;
    for (const key of keys.slice(0, -1)) {
      const next = target[key];
      if (next === undefined) target[key] = {};
      else if (!isObject(next)) throw new DjConfigError(`${path}: "${original}" conflicts with the value of "${key}"; keep one form.`);
      target = target[key] as JsonObject;
    }
    const leaf = keys[keys.length - 1]!;
    const existing = target[leaf];
    if (existing === undefined) target[leaf] = isObject(value) ? { ...value } : value;
    else if (isObject(existing) && isObject(value)) {
      for (const [k, v] of Object.entries(value)) set([...keys, k], v, `${original}.${k}`);
    } else throw new DjConfigError(`${path}: "${original}" is set twice (as a dotted key and inside a group); keep one.`);
  };
  for (const [key, value] of Object.entries(data)) set(key.split('.'), value, key);
  return result;
}

function group(file: JsonObject, name: string, label: string): JsonObject {
  const value = file[name];
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw new DjConfigError(`${label}: "${name}" must be a JSON object, got ${describe(value)}.`);
  return value;
}

function parseStoresEnv(text: string): JsonObject {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new DjConfigError(`DJ_STORES is not valid JSON (${(error as Error).message}): set it to a JSON object like {"default": "main", "main": {...}}.`, {
      cause: error,
    });
  }
  if (!isObject(parsed)) throw new DjConfigError(`DJ_STORES must be a JSON object of stores, got ${describe(parsed)}.`);
  return parsed;
}

function withStoreSecrets(name: string, raw: unknown, secret: (name: string) => string | undefined): unknown {
  if (!isObject(raw)) return raw;
  const filled: JsonObject = { ...raw };
  for (const field of ['access_key', 'secret_key']) {
    if (filled[field] === undefined || filled[field] === null || filled[field] === '') {
      const value = secret(`stores.${name}.${field}`);
      if (value !== undefined) filled[field] = value;
    }
  }
  return filled;
}

/** `.secrets/` beside datajoint.json if it exists, else the system directory if it exists (DataJoint uses the first it finds). */
function findSecretsDir(configPath: string | null, systemDir: string): string | null {
  if (configPath) {
    const project = join(dirname(configPath), '.secrets');
    if (statOrNull(project)?.isDirectory()) return project;
  }
  return statOrNull(systemDir)?.isDirectory() ? systemDir : null;
}

/** Surrounding whitespace (the trailing newline editors add) is stripped, as DataJoint does. */
function readSecret(dir: string, name: string): string | undefined {
  const path = join(dir, name);
  if (!statOrNull(path)?.isFile()) return undefined;
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new DjConfigError(`Cannot read secret ${path}: ${(error as Error).message}`, { cause: error });
  }
}

function envValue(env: NodeJS.ProcessEnv, key: string): string | undefined {
  const value = env[key];
  return value === undefined || value === '' ? undefined : value;
}

function parseBoolean(key: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off', ''].includes(v)) return false;
  throw new DjConfigError(`${key} is "${value}": set it to true or false.`);
}

function statOrNull(path: string): ReturnType<typeof statSync> | null {
  try {
    return statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw error;
  }
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
