import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DjConfigError, loadDjConfig } from '../../functions/config/datajoint.js';
import { checkForeignStores, loadDjgcConfig } from '../../functions/config/djgc.js';

let project: string;

beforeEach(() => {
  project = mkdtempSync(join(tmpdir(), 'djgc-config-own-'));
  mkdirSync(join(project, '.git'));
});

afterEach(() => {
  rmSync(project, { recursive: true, force: true });
});

function write(name: string, content: unknown): string {
  const path = join(project, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function loadError(env: NodeJS.ProcessEnv = {}, cwd = project): string {
  try {
    loadDjgcConfig({ cwd, env });
  } catch (error) {
    expect(error).toBeInstanceOf(DjConfigError);
    return (error as Error).message;
  }
  throw new Error('expected loadDjgcConfig to throw');
}

const valid = {
  foreign_stores: { local: "the imaging lab's directory on this server" },
  ignored_schemas: { scratch: 'dropped every night' },
  ignored_databases: { other_lab: "another group's database" },
};

describe('djgc.json', () => {
  it('is found beside datajoint.json by the same upward search, and read', () => {
    const path = write('djgc.json', valid);
    write('datajoint.json', { database: { host: 'h' } });
    const deep = join(project, 'src', 'analysis');
    mkdirSync(deep, { recursive: true });

    expect(loadDjgcConfig({ cwd: deep, env: {} })).toEqual({
      foreignStores: valid.foreign_stores,
      ignoredSchemas: valid.ignored_schemas,
      ignoredDatabases: valid.ignored_databases,
      source: path,
      prices: {},
      origins: { foreignStores: path, ignoredSchemas: path, ignoredDatabases: path },
    });
  });

  it('is empty with no file and no variables', () => {
    expect(loadDjgcConfig({ cwd: project, env: {} })).toMatchObject({ foreignStores: {}, ignoredSchemas: {}, ignoredDatabases: {}, source: null });
  });

  it('keeps datajoint.json as DataJoint wants it: djgc settings there are not read', () => {
    write('datajoint.json', { database: { host: 'h' }, djgc: valid });

    expect(loadDjgcConfig({ cwd: project, env: {} }).foreignStores).toEqual({});
  });

  it('trims reasons and refuses a missing or empty one, naming the entry', () => {
    const path = write('djgc.json', { foreign_stores: { local: '   ' } });
    expect(loadError()).toBe(`${path}: foreign_stores.local: a reason is required — a non-empty string saying why this store is not one of yours.`);

    write('djgc.json', { ignored_schemas: { scratch: null } });
    expect(loadError()).toMatch(/ignored_schemas.scratch: a reason is required — a non-empty string saying why this schema is left out of reference reading/);

    write('djgc.json', { ignored_databases: { x: 3 } });
    expect(loadError()).toMatch(/ignored_databases.x: a reason is required/);

    write('djgc.json', { foreign_stores: { local: '  lab B  ' } });
    expect(loadDjgcConfig({ cwd: project, env: {} }).foreignStores).toEqual({ local: 'lab B' });
  });

  it('refuses a list instead of name → reason', () => {
    write('djgc.json', { ignored_schemas: ['scratch'] });

    expect(loadError()).toMatch(/"ignored_schemas" must be a JSON object of name → reason, e.g. \{"name": "why"\}/);
  });

  it('refuses an unknown key, naming it and the known keys', () => {
    const path = write('djgc.json', { foreign_store: { local: 'x' } });

    expect(loadError()).toBe(`${path}: unknown key "foreign_store" (did you mean "foreign_stores"?); known keys: foreign_stores, ignored_schemas, ignored_databases, prices.`);
  });

  it('refuses a file that is not JSON or not an object', () => {
    const path = write('djgc.json', '{"foreign_stores": ');
    expect(loadError()).toContain(`${path} is not a readable JSON file`);

    write('djgc.json', '[]');
    expect(loadError()).toMatch(/it must hold a JSON object with the keys foreign_stores, ignored_schemas, ignored_databases/);
  });
});

describe('DJGC_FOREIGN_STORES, DJGC_IGNORED_SCHEMAS, DJGC_IGNORED_DATABASES', () => {
  it('read name → reason objects, each replacing the file group of the same name', () => {
    const path = write('djgc.json', valid);

    const config = loadDjgcConfig({
      cwd: project,
      env: { DJGC_FOREIGN_STORES: '{"shared": "core facility bucket"}', DJGC_IGNORED_DATABASES: '{}' },
    });

    expect(config).toEqual({
      foreignStores: { shared: 'core facility bucket' },
      ignoredSchemas: valid.ignored_schemas,
      ignoredDatabases: {},
      source: path,
      prices: {},
      origins: { foreignStores: 'DJGC_FOREIGN_STORES', ignoredSchemas: path, ignoredDatabases: 'DJGC_IGNORED_DATABASES' },
    });
  });

  it('report the environment as the source when there is no file', () => {
    expect(loadDjgcConfig({ cwd: project, env: { DJGC_IGNORED_SCHEMAS: '{"tmp": "scratch"}' } })).toMatchObject({
      ignoredSchemas: { tmp: 'scratch' },
      source: 'environment',
    });
  });

  it('name the variable and the entry when a reason is missing or the JSON is bad', () => {
    expect(loadError({ DJGC_FOREIGN_STORES: '{"local": ""}' })).toBe(
      'DJGC_FOREIGN_STORES: foreign_stores.local: a reason is required — a non-empty string saying why this store is not one of yours.',
    );
    expect(loadError({ DJGC_IGNORED_SCHEMAS: '["tmp"]' })).toMatch(/^DJGC_IGNORED_SCHEMAS: "ignored_schemas" must be a JSON object of name → reason/);
    expect(loadError({ DJGC_IGNORED_DATABASES: '{x' })).toMatch(/^DJGC_IGNORED_DATABASES is not valid JSON/);
    expect(loadError({ DJGC_IGNORED_SCHEMAS: '{"": "why"}' })).toMatch(/"ignored_schemas" has an empty name/);
  });
});

describe('a foreign store that is also configured', () => {
  it('is refused, naming both places', () => {
    const own = write('djgc.json', { foreign_stores: { main: 'lab B' } });
    const dj = write('datajoint.json', { stores: { main: { protocol: 'file', location: '/m' } } });
    const djConfig = loadDjConfig({ cwd: project, env: {}, secretsDir: join(project, 'none') });

    expect(() => loadDjgcConfig({ cwd: project, env: {}, djConfig })).toThrow(
      `store "main" is declared foreign in ${own} (foreign_stores) and also configured as a store in ${dj} (stores.main): a store is either one of yours, collected, or another lab's, left alone. Remove it from one of the two.`,
    );
  });

  it('is refused when declared in the environment against DJ_STORES', () => {
    const djConfig = loadDjConfig({ cwd: project, env: { DJ_STORES: '{"a": {"protocol": "file", "location": "/a"}, "b": {"protocol": "file", "location": "/b"}}' }, secretsDir: join(project, 'none') });
    const own = loadDjgcConfig({ cwd: project, env: { DJGC_FOREIGN_STORES: '{"a": "x", "b": "y", "c": "z"}' } });

    expect(() => checkForeignStores(own, djConfig)).toThrow(/stores "a", "b" are declared foreign in DJGC_FOREIGN_STORES \(foreign_stores\) and also configured as a store in environment/);
  });

  it('is fine when the names differ', () => {
    write('djgc.json', { foreign_stores: { local: 'lab B' } });
    const djConfig = loadDjConfig({ cwd: project, env: { DJ_STORES: '{"main": {"protocol": "file", "location": "/m"}}' }, secretsDir: join(project, 'none') });

    expect(loadDjgcConfig({ cwd: project, env: {}, djConfig }).foreignStores).toEqual({ local: 'lab B' });
  });
});

describe('prices for the cost lines', () => {
  it('are read from "prices" in djgc.json, replaced by DJGC_PRICES, and a wrong price is refused naming it', () => {
    const path = write('djgc.json', { prices: { storage: { main: 0.0125, local: 0 }, requests: { list: 0.0054 } } });
    expect(loadDjgcConfig({ cwd: project, env: {} }).prices).toEqual({ storage: { main: 0.0125, local: 0 }, requests: { list: 0.0054 } });
    expect(loadDjgcConfig({ cwd: project, env: { DJGC_PRICES: '{"storage": {"main": 0.02}}' } }).prices).toEqual({ storage: { main: 0.02 } });

    write('djgc.json', { prices: { storage: { main: -1 } } });
    expect(loadError()).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(prices\\): prices\\.storage\\.main: `));
    write('djgc.json', { prices: { requests: { lists: 1 } } });
    expect(loadError()).toMatch(/prices\.requests: Unrecognized key: "lists"/);
    expect(loadError({ DJGC_PRICES: '{"storage": ' })).toMatch(/^DJGC_PRICES is not valid JSON/);
  });
});
