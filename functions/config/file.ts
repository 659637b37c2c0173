/**
 * datajoint.json read key by key as DataJoint 2.3.x's `Config._update_from_flat_dict` reads it:
 * groups nested (`"database": {...}`) or dotted (`"database.host"`); `stores` merged store by
 * store; `stores.<name>.<key>` as a dotted key. DataJoint silently skips every other key
 * (unknown top-level keys, unknown database keys, `stores.default` written dotted, deeper
 * dotted keys); djgc skips them too, and says so in a warning.
 */
import { readFileSync } from 'node:fs';
import { describe, DjConfigError, isObject, type JsonObject } from './values.js';

/** DataJoint's `DatabaseSettings` fields. */
export const DATABASE_KEYS = ['host', 'user', 'password', 'backend', 'port', 'name', 'reconnect', 'use_tls', 'database_prefix', 'create_tables'];
/** DataJoint's top-level `Config` fields; of these djgc reads only `database` and `stores`. */
const TOP_LEVEL_KEYS = ['database', 'connection', 'display', 'jobs', 'stores', 'loglevel', 'safemode', 'ignore_config_file', 'query_cache', 'download_path'];
const GROUPS = ['database', 'connection', 'display', 'jobs'];

export interface FileSettings {
  database: JsonObject;
  stores: JsonObject;
  warnings: string[];
}

export function readConfigFile(path: string): FileSettings {
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
  return applySettings(parsed, path);
}

/**
 * DataJoint applies the keys in order, a later one overwriting an earlier one. djgc refuses the
 * same setting given twice instead (a dotted key and its group, or a store block and dotted keys
 * of that store: DataJoint would keep whichever came last).
 */
export function applySettings(data: JsonObject, path: string): FileSettings {
  const result: FileSettings = { database: {}, stores: {}, warnings: [] };
  const setBy = new Map<string, string>();
  const claim = (setting: string, key: string, related: (s: string) => boolean = (s) => s === setting): void => {
    const earlier = [...setBy.entries()].find(([s]) => related(s));
    if (earlier) throw new DjConfigError(`${path}: "${key}" and "${earlier[1]}" both set ${setting}; keep one form.`);
    setBy.set(setting, key);
  };
  const skip = (key: string, why: string): void => {
    result.warnings.push(`${path}: "${key}" is ignored (${why}).`);
  };

  for (const [key, value] of Object.entries(data)) {
    if (key === 'stores') applyStoresGroup(value, path, result, claim);
    else if (isObject(value) && GROUPS.includes(key)) applyGroup(key, value, result, claim, skip);
    else applyDotted(key, value, path, result, claim, skip);
  }
  return result;
}

type Claim = (setting: string, key: string, related?: (s: string) => boolean) => void;
type Skip = (key: string, why: string) => void;

function applyStoresGroup(value: unknown, path: string, result: FileSettings, claim: Claim): void {
  if (value === null) return;
  if (!isObject(value)) throw new DjConfigError(`${path}: "stores" must be a JSON object of stores, got ${describe(value)}.`);
  for (const [name, store] of Object.entries(value)) {
    claim(`stores.${name}`, `stores: {"${name}": …}`, (s) => s === `stores.${name}` || s.startsWith(`stores.${name}.`));
    result.stores[name] = store;
  }
}

function applyGroup(group: string, value: JsonObject, result: FileSettings, claim: Claim, skip: Skip): void {
  if (group !== 'database') return;
  for (const [key, v] of Object.entries(value)) {
    if (!DATABASE_KEYS.includes(key)) skip(`database: {"${key}": …}`, `DataJoint has no database setting "${key}"; known: ${DATABASE_KEYS.join(', ')}`);
    else {
      claim(`database.${key}`, `database: {"${key}": …}`);
      result.database[key] = v;
    }
  }
}

function applyDotted(key: string, value: unknown, path: string, result: FileSettings, claim: Claim, skip: Skip): void {
  const parts = key.split('.');
  if (parts.length === 1) {
    if (key === 'database' && value !== null) throw new DjConfigError(`${path}: "database" must be a JSON object, got ${describe(value)}.`);
    if (!TOP_LEVEL_KEYS.includes(key)) skip(key, 'DataJoint has no such setting and skips it');
    return;
  }
  const [group, second, third] = parts as [string, string, string?];
  if (parts.length === 2 && group === 'database') {
    if (!DATABASE_KEYS.includes(second)) return skip(key, `DataJoint has no database setting "${second}"; known: ${DATABASE_KEYS.join(', ')}`);
    claim(key, key);
    result.database[second] = value;
    return;
  }
  if (parts.length === 2 && group === 'stores') {
    return skip(key, `DataJoint reads a dotted store setting only as stores.<name>.<key>; write "${second}" inside the "stores" group`);
  }
  if (parts.length === 3 && group === 'stores') {
    claim(key, key, (s) => s === key || s === `stores.${second}`);
    const store = result.stores[second] ?? {};
    if (!isObject(store)) throw new DjConfigError(`${path}: "${key}" sets a key of stores.${second}, which is ${describe(store)}, not a store.`);
    store[third!] = value;
    result.stores[second] = store;
    return;
  }
  if (parts.length === 2 && GROUPS.includes(group)) return;
  skip(key, 'DataJoint reads dotted keys only as <group>.<setting> or stores.<name>.<key>');
}
