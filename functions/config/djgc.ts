/**
 * djgc's own settings, kept out of datajoint.json: DataJoint's Config model forbids extra keys
 * (`extra="forbid"`; its file loader skips them today, a stricter one would refuse the file), and a
 * djgc key inside a store would make DataJoint refuse that store.
 *
 * djgc.json is found like datajoint.json (this folder and its parents, up to a `.git`/`.hg` root):
 *
 *   {
 *     "foreign_stores":    { "local": "the imaging lab's directory on this server, not ours" },
 *     "ignored_schemas":   { "scratch_tmp": "dropped every night; holds no references" },
 *     "ignored_databases": { "other_lab": "another group's PostgreSQL database" }
 *   }
 *
 * Every name needs a reason: it is printed in every report. DJGC_FOREIGN_STORES,
 * DJGC_IGNORED_SCHEMAS and DJGC_IGNORED_DATABASES (JSON objects of the same shape, for the
 * functions) each replace the file's group of the same name.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import type { DjConfig } from './datajoint.js';
import { findConfigFile } from './datajoint.js';
import { closest, DjConfigError, envValue, quoteList } from './values.js';
import { parsePrices, parsePricesText } from './prices.js';
import type { PriceSettings } from '../engine/phases/cost.js';

export const DJGC_CONFIG_FILENAME = 'djgc.json';

type Group = 'foreignStores' | 'ignoredSchemas' | 'ignoredDatabases';

export interface DjgcConfig {
  /** Store name → why it is not one of this configuration's stores (references to it are read, its objects left alone). */
  foreignStores: Record<string, string>;
  /** Schema name → why its tables are left out of reference reading. */
  ignoredSchemas: Record<string, string>;
  /** PostgreSQL database name → why it is left out. */
  ignoredDatabases: Record<string, string>;
  /** Storage and request prices for the reports' cost lines (`prices`, or DJGC_PRICES); empty: the defaults. */
  prices: PriceSettings;
  /** Path of djgc.json, 'environment' when only the variables are set, or null. */
  source: string | null;
  /** Where each group came from (the file's path or the variable's name), null when not set. */
  origins: Record<Group, string | null>;
}

export interface LoadDjgcConfigOptions {
  /** Where the search for djgc.json starts. Default: process.cwd(). */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** DataJoint's configuration: a foreign store may not also be one of its stores. */
  djConfig?: Pick<DjConfig, 'stores' | 'source'>;
}

const GROUPS: Record<Group, { key: string; variable: string; what: string }> = {
  foreignStores: { key: 'foreign_stores', variable: 'DJGC_FOREIGN_STORES', what: 'why this store is not one of yours' },
  ignoredSchemas: { key: 'ignored_schemas', variable: 'DJGC_IGNORED_SCHEMAS', what: 'why this schema is left out of reference reading' },
  ignoredDatabases: { key: 'ignored_databases', variable: 'DJGC_IGNORED_DATABASES', what: 'why this database is left out' },
};
const FILE_KEYS = [...Object.values(GROUPS).map((g) => g.key), 'prices'];

const reasons = z.record(z.string().min(1), z.string().trim().min(1));
const fileSchema = z.strictObject({
  foreign_stores: reasons.optional(),
  ignored_schemas: reasons.optional(),
  ignored_databases: reasons.optional(),
  prices: z.unknown().optional(),
});

export function loadDjgcConfig(options: LoadDjgcConfigOptions = {}): DjgcConfig {
  const env = options.env ?? process.env;
  const path = findConfigFile(resolve(options.cwd ?? process.cwd()), DJGC_CONFIG_FILENAME);
  const file = path ? readDjgcFile(path) : {};
  const config: DjgcConfig = {
    foreignStores: {},
    ignoredSchemas: {},
    ignoredDatabases: {},
    prices: {},
    source: path,
    origins: { foreignStores: null, ignoredSchemas: null, ignoredDatabases: null },
  };
  for (const [group, { key, variable }] of Object.entries(GROUPS) as [Group, (typeof GROUPS)[Group]][]) {
    const text = envValue(env, variable);
    const fromFile = file[key as Exclude<keyof typeof file, 'prices'>];
    if (text !== undefined) {
      config[group] = parseVariable(group, text);
      config.origins[group] = variable;
      config.source ??= 'environment';
    } else if (fromFile !== undefined) {
      config[group] = fromFile;
      config.origins[group] = path;
    }
  }
  const pricesText = envValue(env, 'DJGC_PRICES');
  if (pricesText !== undefined) config.prices = parsePricesText(pricesText, 'DJGC_PRICES');
  else if (file.prices !== undefined) config.prices = parsePrices(file.prices, `${path} (prices)`);
  if (options.djConfig) checkForeignStores(config, options.djConfig);
  return config;
}

/** A store is either one of the configuration's (collected) or another lab's (left alone), never both. */
export function checkForeignStores(config: Pick<DjgcConfig, 'foreignStores' | 'origins'>, dj: Pick<DjConfig, 'stores' | 'source'>): void {
  const both = Object.keys(config.foreignStores).filter((name) => name in dj.stores);
  if (both.length === 0) return;
  const where = config.origins.foreignStores ?? 'djgc configuration';
  throw new DjConfigError(
    `store${both.length > 1 ? 's' : ''} ${quoteList(both)} ${both.length > 1 ? 'are' : 'is'} declared foreign in ${where} (${GROUPS.foreignStores.key}) ` +
      `and also configured as a store in ${dj.source} (stores.${both[0]}): a store is either one of yours, collected, or another lab's, left alone. Remove it from one of the two.`,
  );
}

function readDjgcFile(path: string): z.infer<typeof fileSchema> {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new DjConfigError(`${path} is not a readable JSON file (${(error as Error).message}): fix it or remove it.`, { cause: error });
  }
  const result = fileSchema.safeParse(data);
  if (result.success) return result.data;
  throw new DjConfigError(`${path}: ${result.error.issues.map((issue) => describeIssue(issue, [])).join('; ')}.`);
}

function parseVariable(group: Group, text: string): Record<string, string> {
  const { variable } = GROUPS[group];
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new DjConfigError(`${variable} is not valid JSON (${(error as Error).message}): set it to an object of name → reason, e.g. {"name": "why"}.`, { cause: error });
  }
  const result = reasons.safeParse(data);
  if (result.success) return result.data;
  throw new DjConfigError(`${variable}: ${result.error.issues.map((issue) => describeIssue(issue, [GROUPS[group].key])).join('; ')}.`);
}

function describeIssue(issue: z.core.$ZodIssue, prefix: string[]): string {
  const path = [...prefix, ...issue.path.map(String)];
  if (issue.code === 'unrecognized_keys') {
    return issue.keys
      .map((key) => {
        const guess = closest(key, FILE_KEYS);
        return `unknown key "${key}"${guess ? ` (did you mean "${guess}"?)` : ''}; known keys: ${FILE_KEYS.join(', ')}`;
      })
      .join('; ');
  }
  const group = Object.values(GROUPS).find((g) => g.key === path[0]);
  if (path.length === 0) return `it must hold a JSON object with the keys ${FILE_KEYS.join(', ')}`;
  if (path.length === 1) return `"${path[0]}" must be a JSON object of name → reason, e.g. {"name": "why"}`;
  if (path.length === 2 && issue.code === 'invalid_key') return `"${path[0]}" has an empty name: every entry needs the name of a ${path[0]?.replace(/s$/, '').replace('_', ' ')}`;
  if (path.length === 2) return `${path[0]}.${path[1]}: a reason is required — a non-empty string saying ${group?.what ?? 'why'}`;
  return `${path.join('.') || '(top level)'}: ${issue.message}`;
}
