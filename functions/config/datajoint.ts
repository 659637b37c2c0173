/**
 * DataJoint's configuration, read the way DataJoint 2.3.x's settings.py reads it (spec §5):
 * environment (DJ_*) > datajoint.json > secrets directory > DataJoint's defaults.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { DatabaseConnection } from '../catalog/index.js';
import type { StoreSpec } from '../engine/types.js';
import { readConfigFile, type FileSettings } from './file.js';
import { normalizeStore } from './store.js';
import { describe, DjConfigError, envValue, isObject, parseBooleanText, quoteList, statOrNull, type JsonObject } from './values.js';

export { DjConfigError } from './values.js';
export { normalizeStore, STORE_KEYS, type NormalizeStoreOptions } from './store.js';
export { resolveStoreEndpoint, type EndpointSource, type StoreEndpoint } from './endpoint.js';

export const CONFIG_FILENAME = 'datajoint.json';
export const SYSTEM_SECRETS_DIR = '/run/secrets/datajoint';

export type Backend = 'mysql' | 'postgresql';

export interface DjDatabaseConfig {
  backend: Backend;
  /** DataJoint's default is localhost. */
  host: string;
  port: number;
  user?: string;
  password?: string;
  databaseName: string;
  /**
   * `database.use_tls` / DJ_USE_TLS. null is DataJoint's default: try TLS (certificate not
   * checked) and fall back to a plain connection; true: TLS required; false: no TLS.
   */
  useTls: boolean | null;
}

export interface DjConfig {
  /** null only when nothing configures a database: no datajoint.json, no DJ_ database variable, no database secret. */
  database: DjDatabaseConfig | null;
  stores: Record<string, StoreSpec>;
  /** `stores.default`: the store of `<blob@>`, `<object@>` and the other codecs written without a store name. */
  defaultStore: string | null;
  /** `stores.filepath_default`: the store of `<filepath@>` columns written without a store name. A store name, not a store. */
  filepathDefault: string | null;
  /** Path of datajoint.json, or 'environment', or 'none'. */
  source: string;
  /** Settings DataJoint skips (unknown or misplaced keys), which djgc skips too. */
  warnings: string[];
}

export interface LoadDjConfigOptions {
  /** Where the search for datajoint.json starts, and what relative file-store locations resolve against. Default: process.cwd(). */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** The system secrets directory used when no `.secrets/` sits beside datajoint.json. Default: /run/secrets/datajoint. */
  secretsDir?: string;
}

const DEFAULT_PORTS: Record<Backend, number> = { mysql: 3306, postgresql: 5432 };
const DATABASE_ENV = ['DJ_HOST', 'DJ_PORT', 'DJ_USER', 'DJ_PASS', 'DJ_BACKEND', 'DJ_DATABASE_NAME', 'DJ_USE_TLS'] as const;
/** Names inside the stores block that are settings, not stores. */
const STORE_SETTINGS = ['default', 'filepath_default'];

type Secret = (name: string) => string | undefined;

export function loadDjConfig(options: LoadDjConfigOptions = {}): DjConfig {
  const env = options.env ?? process.env;
  const cwd = resolve(options.cwd ?? process.cwd());
  const ignoreFiles = parseBooleanText('DJ_IGNORE_CONFIG_FILE', envValue(env, 'DJ_IGNORE_CONFIG_FILE')) ?? false;

  const configPath = ignoreFiles ? null : findConfigFile(cwd);
  const file: FileSettings = configPath ? readConfigFile(configPath) : { database: {}, stores: {}, warnings: [] };
  const secretsDir = ignoreFiles ? null : findSecretsDir(configPath, options.secretsDir ?? SYSTEM_SECRETS_DIR);
  const secret: Secret = (name) => (secretsDir ? readSecret(secretsDir, name) : undefined);
  const fileLabel = configPath ?? 'configuration';
  const warnings = [...file.warnings];

  const databaseConfigured = configPath !== null || DATABASE_ENV.some((key) => envValue(env, key) !== undefined) || ['database.user', 'database.password'].some((n) => secret(n) !== undefined);
  const database = databaseConfigured ? loadDatabase(env, file.database, secret, fileLabel) : null;

  const envStores = envValue(env, 'DJ_STORES');
  const storesLabel = envStores !== undefined ? 'DJ_STORES' : fileLabel;
  const rawStores = envStores !== undefined ? parseStoresEnv(envStores) : file.stores;
  if (secretsDir) warnings.push(...fillStoreSecrets(rawStores, secretsDir));
  const { warnings: storeWarnings, ...stores } = loadStores(rawStores, storesLabel, cwd);

  const fromEnvironment = [...DATABASE_ENV, 'DJ_STORES'].some((key) => envValue(env, key) !== undefined);
  return { database, ...stores, source: configPath ?? (fromEnvironment ? 'environment' : 'none'), warnings: [...warnings, ...storeWarnings] };
}

/** The connection `openCatalog` takes, from a loaded database configuration. */
export function toDatabaseConnection(db: DjDatabaseConfig): DatabaseConnection {
  if (!db.user) {
    throw new DjConfigError('no database user configured: set DJ_USER, "database.user" in datajoint.json, or the secret file .secrets/database.user.');
  }
  return {
    backend: db.backend,
    host: db.host,
    port: db.port,
    user: db.user,
    ...(db.password !== undefined ? { password: db.password } : {}),
    ...(db.backend === 'postgresql' ? { database: db.databaseName } : {}),
    ...(db.useTls !== null ? { tls: db.useTls } : {}),
  };
}

/** datajoint.json in `start` or its parents; the search stops at a directory holding `.git` or `.hg`, or at the filesystem root. */
export function findConfigFile(start: string, filename: string = CONFIG_FILENAME): string | null {
  let current = resolve(start);
  for (;;) {
    const candidate = join(current, filename);
    if (statOrNull(candidate)?.isFile()) return candidate;
    if (statOrNull(join(current, '.git')) || statOrNull(join(current, '.hg'))) return null;
    const parent = dirname(current);
    if (parent === current) return null;
    current = parent;
  }
}

function loadStores(raw: JsonObject, label: string, cwd: string): Pick<DjConfig, 'stores' | 'defaultStore' | 'filepathDefault' | 'warnings'> {
  const stores: Record<string, StoreSpec> = {};
  for (const [name, spec] of Object.entries(raw)) {
    if (!STORE_SETTINGS.includes(name)) stores[name] = normalizeStore(name, spec, { cwd, source: label });
  }
  const defaultStore = storeName(raw.default, 'default', label);
  if (defaultStore !== null && !(defaultStore in stores)) {
    throw new DjConfigError(
      `${label}: stores.default names store "${defaultStore}", which is not configured (configured: ${quoteList(Object.keys(stores))}). Add the store or fix stores.default.`,
    );
  }
  const filepathDefault = storeName(raw.filepath_default, 'filepath_default', label);
  const warnings: string[] = [];
  // DataJoint checks it only when a <filepath@> value is written; nothing djgc deletes depends on it.
  if (filepathDefault !== null && !(filepathDefault in stores)) {
    warnings.push(`${label}: stores.filepath_default names store "${filepathDefault}", which is not configured (configured: ${quoteList(Object.keys(stores))}).`);
  }
  return { stores, defaultStore, filepathDefault, warnings };
}

function storeName(value: unknown, key: string, label: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value === '') {
    throw new DjConfigError(`${label}: stores.${key} must be the name of a store (a string), got ${describe(value)}.`);
  }
  return value;
}

function loadDatabase(env: NodeJS.ProcessEnv, file: JsonObject, secret: Secret, fileLabel: string): DjDatabaseConfig {
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

  const hostFrom = envValue(env, 'DJ_HOST') !== undefined ? 'DJ_HOST' : `${fileLabel}: database.host`;
  const { host, port: hostPort } = splitHostPort(envValue(env, 'DJ_HOST') ?? fileString('host') ?? 'localhost', hostFrom);

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
    useTls: readUseTls(env, file.use_tls, fileLabel),
  };
  const user = envValue(env, 'DJ_USER') ?? fileString('user') ?? secret('database.user');
  if (user !== undefined) database.user = user;
  const password = envValue(env, 'DJ_PASS') ?? fileString('password') ?? secret('database.password');
  if (password !== undefined) database.password = password;
  return database;
}

/**
 * DJ_USE_TLS wins over the file, as every other DJ_ variable. (DataJoint 2.3.2 lets the file's
 * `use_tls`, even the template's `null`, overwrite DJ_USE_TLS: the variable is missing from its
 * ENV_VAR_MAPPING. djgc follows the documented precedence instead.)
 */
function readUseTls(env: NodeJS.ProcessEnv, fileValue: unknown, fileLabel: string): boolean | null {
  const fromEnv = parseBooleanText('DJ_USE_TLS', envValue(env, 'DJ_USE_TLS'));
  if (fromEnv !== undefined) return fromEnv;
  if (fileValue === undefined || fileValue === null) return null;
  if (typeof fileValue === 'boolean') return fileValue;
  if (typeof fileValue === 'string') return parseBooleanText(`${fileLabel}: database.use_tls`, fileValue) ?? null;
  throw new DjConfigError(`${fileLabel}: database.use_tls is ${describe(fileValue)}: set it to true (TLS required), false (no TLS) or null (DataJoint's default: TLS when the server offers it).`);
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

/**
 * As DataJoint: every secret file `stores.<name>.<key>` sets that key of the store unless the
 * store already has it (the file and DJ_STORES win). DataJoint would create a store from a secret
 * alone; djgc skips a secret for a store no configuration names, with a warning.
 */
function fillStoreSecrets(stores: JsonObject, dir: string): string[] {
  const warnings: string[] = [];
  for (const file of readdirSync(dir).sort()) {
    const parts = file.split('.');
    if (file.startsWith('.') || parts.length !== 3 || parts[0] !== 'stores') continue;
    const [, name, key] = parts as [string, string, string];
    const value = readSecret(dir, file);
    if (value === undefined) continue;
    const store = stores[name];
    if (store === undefined) warnings.push(`${join(dir, file)} is ignored: no store "${name}" is configured.`);
    else if (isObject(store) && !(key in store)) stores[name] = { ...store, [key]: value };
  }
  return warnings;
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
