import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DjConfigError, findConfigFile, loadDjConfig, normalizeStore } from '../../functions/config/datajoint.js';

let project: string;
let noSecrets: string;

beforeEach(() => {
  project = mkdtempSync(join(tmpdir(), 'djgc-config-'));
  mkdirSync(join(project, '.git'));
  noSecrets = join(project, 'no-system-secrets');
});

afterEach(() => {
  rmSync(project, { recursive: true, force: true });
});

function write(relative: string, content: unknown): string {
  const path = join(project, relative);
  mkdirSync(resolve(path, '..'), { recursive: true });
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function load(env: NodeJS.ProcessEnv = {}, cwd = project, secretsDir = noSecrets) {
  return loadDjConfig({ cwd, env, secretsDir });
}

describe('finding datajoint.json', () => {
  it('searches the start directory and its parents', () => {
    const path = write('datajoint.json', { 'database.host': 'db.example' });
    const deep = join(project, 'src', 'analysis', 'deep');
    mkdirSync(deep, { recursive: true });

    const config = load({}, deep);

    expect(findConfigFile(deep)).toBe(path);
    expect(config.source).toBe(path);
    expect(config.database?.host).toBe('db.example');
  });

  it('prefers the nearest file', () => {
    write('datajoint.json', { 'database.host': 'outer' });
    const inner = write('sub/datajoint.json', { 'database.host': 'inner' });

    const config = load({}, join(project, 'sub'));

    expect(config.source).toBe(inner);
    expect(config.database?.host).toBe('inner');
  });

  it('stops at a directory holding .git, including that directory', () => {
    write('datajoint.json', { 'database.host': 'outside-the-repo' });
    const repo = join(project, 'repo');
    mkdirSync(join(repo, '.git'), { recursive: true });
    mkdirSync(join(repo, 'src'));

    expect(findConfigFile(join(repo, 'src'))).toBeNull();
    expect(load({}, join(repo, 'src'))).toEqual({ database: null, stores: {}, defaultStore: null, filepathDefault: null, source: 'none', warnings: [] });

    const atRoot = write('repo/datajoint.json', { 'database.host': 'repo-root' });
    expect(findConfigFile(join(repo, 'src'))).toBe(atRoot);
  });

  it('stops at a directory holding .hg', () => {
    write('datajoint.json', { 'database.host': 'outside' });
    mkdirSync(join(project, 'hgrepo', '.hg'), { recursive: true });

    expect(findConfigFile(join(project, 'hgrepo'))).toBeNull();
  });
});

describe('database settings', () => {
  it('reads the nested form with defaults for port by backend', () => {
    write('datajoint.json', { database: { host: 'pg.example', backend: 'postgresql', user: 'u', password: 'p', name: 'lab' } });

    expect(load().database).toEqual({ backend: 'postgresql', host: 'pg.example', port: 5432, user: 'u', password: 'p', databaseName: 'lab', useTls: null });
  });

  it('reads the flat dotted form, defaulting to mysql on 3306 and database name postgres', () => {
    write('datajoint.json', { 'database.host': 'my.example', 'database.user': 'root', safemode: false });

    expect(load().database).toEqual({ backend: 'mysql', host: 'my.example', port: 3306, user: 'root', databaseName: 'postgres', useTls: null });
  });

  it('defaults the host to localhost, as DataJoint does, when datajoint.json has none', () => {
    write('datajoint.json', { database: { user: 'u', port: 1234 } });

    expect(load().database).toEqual({ backend: 'mysql', host: 'localhost', port: 1234, user: 'u', databaseName: 'postgres', useTls: null });
  });

  it('is null only when nothing configures a database', () => {
    expect(load().database).toBeNull();
    expect(load({ DJ_USER: 'u' }).database).toMatchObject({ host: 'localhost', user: 'u' });
  });

  it('lets every DJ_ variable win over the file', () => {
    write('datajoint.json', { database: { host: 'file-host', port: 3307, user: 'fu', password: 'fp', backend: 'mysql', name: 'fdb' } });

    const config = load({
      DJ_HOST: 'env-host',
      DJ_PORT: '15432',
      DJ_USER: 'eu',
      DJ_PASS: 'ep',
      DJ_BACKEND: 'postgresql',
      DJ_DATABASE_NAME: 'edb',
    });

    expect(config.database).toEqual({ backend: 'postgresql', host: 'env-host', port: 15432, user: 'eu', password: 'ep', databaseName: 'edb', useTls: null });
  });

  it('takes the port from DJ_HOST=host:port, and the backend default port otherwise', () => {
    expect(load({ DJ_HOST: 'h.example:6000', DJ_PORT: '7000' }).database).toMatchObject({ host: 'h.example', port: 6000 });
    expect(load({ DJ_HOST: 'h.example', DJ_BACKEND: 'postgresql' }).database).toMatchObject({ host: 'h.example', port: 5432 });
    expect(load({ DJ_HOST: '[::1]:5433' }).database).toMatchObject({ host: '::1', port: 5433 });
  });

  it('reports environment as the source when only variables are set', () => {
    expect(load({ DJ_HOST: 'h' }).source).toBe('environment');
    expect(load({}).source).toBe('none');
  });

  it('rejects a bad backend or port with the variable named', () => {
    expect(() => load({ DJ_HOST: 'h', DJ_BACKEND: 'oracle' })).toThrow(/DJ_BACKEND is "oracle": use "mysql" \(MySQL or MariaDB\) or "postgresql"/);
    expect(() => load({ DJ_HOST: 'h', DJ_PORT: 'abc' })).toThrow(/DJ_PORT has port "abc": use a port number/);
    expect(() => load({ DJ_HOST: 'h:99999' })).toThrow(/DJ_HOST has port "99999"/);
  });
});

describe('stores block', () => {
  const main = { protocol: 'file', location: '/data/dj' };
  const cold = {
    protocol: 's3',
    endpoint: 's3.amazonaws.com',
    bucket: 'b',
    location: 'proj',
    secure: true,
    hash_prefix: 'h',
    schema_prefix: 's',
    subfolding: [2, 2],
    partition_pattern: '{subject}',
    token_length: 8,
  };

  it('normalizes every store and names the default', () => {
    write('datajoint.json', { stores: { default: 'main', main, cold } });

    const config = load();

    expect(config.defaultStore).toBe('main');
    expect(config.stores.main).toEqual({
      name: 'main',
      protocol: 'file',
      location: '/data/dj',
      hashPrefix: '_hash',
      schemaPrefix: '_schema',
      subfolding: null,
      partitionPattern: null,
      filepathPrefix: null,
    });
    expect(config.stores.cold).toEqual({
      name: 'cold',
      protocol: 's3',
      location: 'proj',
      endpoint: 's3.amazonaws.com',
      bucket: 'b',
      secure: true,
      hashPrefix: 'h',
      schemaPrefix: 's',
      subfolding: [2, 2],
      partitionPattern: '{subject}',
      filepathPrefix: null,
    });
  });

  it('accepts store settings as dotted stores.<name>.<key> keys', () => {
    write('datajoint.json', { stores: { default: 'main' }, 'stores.main.protocol': 'file', 'stores.main.location': '/data/dj' });

    const config = load();

    expect(config.defaultStore).toBe('main');
    expect(config.stores.main?.location).toBe('/data/dj');
    expect(config.warnings).toEqual([]);
  });

  it('skips stores.<name> and stores.default written as dotted keys, as DataJoint does, with a warning', () => {
    const path = write('datajoint.json', { 'stores.default': 'main', 'stores.main': main });

    const config = load();

    expect(config.stores).toEqual({});
    expect(config.defaultStore).toBeNull();
    expect(config.warnings).toEqual([
      `${path}: "stores.default" is ignored (DataJoint reads a dotted store setting only as stores.<name>.<key>; write "default" inside the "stores" group).`,
      `${path}: "stores.main" is ignored (DataJoint reads a dotted store setting only as stores.<name>.<key>; write "main" inside the "stores" group).`,
    ]);
  });

  it('resolves a relative file location against the working directory, as DataJoint does', () => {
    write('datajoint.json', { stores: { main: { protocol: 'file', location: 'store' } } });
    const sub = join(project, 'sub');
    mkdirSync(sub);

    expect(load({}, sub).stores.main?.location).toBe(join(sub, 'store'));
  });

  it('replaces the whole stores block with DJ_STORES', () => {
    write('datajoint.json', { stores: { default: 'main', main } });

    const config = load({ DJ_STORES: JSON.stringify({ default: 'envstore', envstore: { protocol: 's3', bucket: 'eb' } }) });

    expect(Object.keys(config.stores)).toEqual(['envstore']);
    expect(config.defaultStore).toBe('envstore');
    expect(config.stores.envstore).toMatchObject({ protocol: 's3', bucket: 'eb', location: '' });
  });

  it('skips the file and all secrets with DJ_IGNORE_CONFIG_FILE=true', () => {
    write('datajoint.json', { 'database.host': 'file-host', stores: { main } });
    write('.secrets/database.password', 'from-secret\n');
    const system = join(project, 'system-secrets');
    mkdirSync(system);
    writeFileSync(join(system, 'database.user'), 'system-user\n');

    const config = load({ DJ_IGNORE_CONFIG_FILE: 'true', DJ_HOST: 'env-host' }, project, system);

    expect(config).toEqual({
      database: { backend: 'mysql', host: 'env-host', port: 3306, databaseName: 'postgres', useTls: null },
      stores: {},
      defaultStore: null,
      filepathDefault: null,
      source: 'environment',
      warnings: [],
    });
  });

  it('rejects a DJ_IGNORE_CONFIG_FILE that is not a boolean', () => {
    expect(() => load({ DJ_IGNORE_CONFIG_FILE: 'maybe' })).toThrow(/DJ_IGNORE_CONFIG_FILE is "maybe": set it to true or false/);
  });
});

describe('secrets', () => {
  it('fills credentials from .secrets/ beside datajoint.json, trimming the trailing newline', () => {
    write('datajoint.json', { 'database.host': 'h', stores: { cold: { protocol: 's3', bucket: 'b' } } });
    write('.secrets/database.user', 'secret-user\n');
    write('.secrets/database.password', 'secret-pass\n');
    write('.secrets/stores.cold.access_key', 'AKIA\n');
    write('.secrets/stores.cold.secret_key', 'SECRET\n');
    write('.secrets/stores.other.access_key', 'unused\n');

    const config = load({}, join(project));

    expect(config.database).toMatchObject({ user: 'secret-user', password: 'secret-pass' });
    expect(config.stores.cold).toMatchObject({ accessKey: 'AKIA', secretKey: 'SECRET' });
    expect(Object.keys(config.stores)).toEqual(['cold']);
  });

  it('lets the file and the environment win over secrets', () => {
    write('datajoint.json', { 'database.host': 'h', 'database.user': 'file-user', stores: { cold: { protocol: 's3', bucket: 'b', access_key: 'FILEKEY' } } });
    write('.secrets/database.user', 'secret-user\n');
    write('.secrets/database.password', 'secret-pass\n');
    write('.secrets/stores.cold.access_key', 'SECRETKEYID\n');
    write('.secrets/stores.cold.secret_key', 'SECRET\n');

    const config = load({ DJ_PASS: 'env-pass' });

    expect(config.database).toMatchObject({ user: 'file-user', password: 'env-pass' });
    expect(config.stores.cold).toMatchObject({ accessKey: 'FILEKEY', secretKey: 'SECRET' });
  });

  it('uses the system secrets directory when there is no .secrets/ beside the file, also for DJ_STORES', () => {
    const system = join(project, 'system-secrets');
    mkdirSync(system);
    writeFileSync(join(system, 'database.password'), 'sys-pass\n');
    writeFileSync(join(system, 'stores.cold.access_key'), 'sys-key\n');
    writeFileSync(join(system, 'stores.cold.secret_key'), 'sys-secret\n');

    const config = load({ DJ_HOST: 'h', DJ_STORES: JSON.stringify({ cold: { protocol: 's3', bucket: 'b' } }) }, project, system);

    expect(config.database?.password).toBe('sys-pass');
    expect(config.stores.cold?.secretKey).toBe('sys-secret');
  });
});

describe('validation errors', () => {
  function storesError(stores: unknown): string {
    write('datajoint.json', { stores });
    try {
      load();
    } catch (error) {
      expect(error).toBeInstanceOf(DjConfigError);
      return (error as Error).message;
    }
    throw new Error('expected loadDjConfig to throw');
  }

  it('names the unsupported protocols gcs and azure', () => {
    expect(storesError({ g: { protocol: 'gcs', bucket: 'b', location: 'x' } })).toMatch(
      /store "g": protocol "gcs" exists in DataJoint but is not supported here: only "file" and "s3"/,
    );
    expect(storesError({ a: { protocol: 'azure', container: 'c', location: 'x' } })).toMatch(/store "a": protocol "azure" exists in DataJoint but is not supported/);
  });

  it('names an unknown or missing protocol', () => {
    expect(storesError({ x: { protocol: 'ftp', location: '/d' } })).toMatch(/store "x": unknown protocol "ftp": use "file" or "s3"/);
    expect(storesError({ x: { location: '/d' } })).toMatch(/store "x": "protocol" is missing/);
  });

  it('names the datajoint.json file in store errors', () => {
    expect(storesError({ x: { protocol: 'ftp' } })).toContain(join(project, 'datajoint.json'));
  });

  it('requires a location for file stores and a bucket for s3 stores', () => {
    expect(storesError({ f: { protocol: 'file' } })).toMatch(/store "f": "location" is missing: a file store needs the directory/);
    expect(storesError({ s: { protocol: 's3', endpoint: 'e', location: 'l' } })).toMatch(/store "s": "bucket" is missing/);
  });

  it('requires subfolding to be an array of positive integers', () => {
    for (const subfolding of ['2,2', [2, 0], [2, 1.5], [-1], { a: 1 }]) {
      expect(storesError({ f: { protocol: 'file', location: '/d', subfolding } })).toMatch(/store "f": "subfolding" must be an array of positive integers/);
    }
  });

  it('rejects a default naming a store that does not exist', () => {
    expect(storesError({ default: 'missing', main: { protocol: 'file', location: '/d' } })).toMatch(
      /stores.default names store "missing", which is not configured \(configured: "main"\)/,
    );
  });

  it('rejects a store that is not an object, and bad prefixes', () => {
    expect(storesError({ x: 'file:///d' })).toMatch(/store "x": its configuration must be a JSON object/);
    expect(storesError({ x: { protocol: 'file', location: '/d', hash_prefix: '' } })).toMatch(/store "x": "hash_prefix" must be a non-empty relative path/);
    expect(storesError({ x: { protocol: 'file', location: '/d', schema_prefix: '../up' } })).toMatch(/store "x": "schema_prefix" must be/);
    expect(storesError({ x: { protocol: 's3', bucket: 'b', secure: 'yes' } })).toMatch(/store "x": "secure" must be true or false/);
  });

  it('names the file when datajoint.json is not valid JSON', () => {
    const path = write('datajoint.json', '{"database.host": ');

    expect(() => load()).toThrow(`${path} is not valid JSON`);
  });

  it('names DJ_STORES when it is not valid JSON or not an object', () => {
    expect(() => load({ DJ_STORES: '{main: ' })).toThrow(/DJ_STORES is not valid JSON/);
    expect(() => load({ DJ_STORES: '[1]' })).toThrow(/DJ_STORES must be a JSON object of stores/);
    expect(() => load({ DJ_STORES: JSON.stringify({ x: { protocol: 'file' } }) })).toThrow(/DJ_STORES: store "x": "location" is missing/);
  });

  it('rejects a setting given both as a dotted key and inside its group', () => {
    write('datajoint.json', { database: { host: 'a' }, 'database.host': 'b' });

    expect(() => load()).toThrow(/"database.host" and "database: \{"host": …\}" both set database.host; keep one form/);
  });
});

describe('normalizeStore', () => {
  it('applies the defaults and keeps credentials', () => {
    expect(normalizeStore('s', { protocol: 'S3', bucket: 'b', location: '/p/q/', access_key: 'k', secret_key: 's', secure: false })).toEqual({
      name: 's',
      protocol: 's3',
      location: 'p/q',
      bucket: 'b',
      accessKey: 'k',
      secretKey: 's',
      secure: false,
      hashPrefix: '_hash',
      schemaPrefix: '_schema',
      subfolding: null,
      partitionPattern: null,
      filepathPrefix: null,
    });
  });

  it('resolves a relative file location against the given directory', () => {
    expect(normalizeStore('f', { protocol: 'file', location: 'data' }, { cwd: '/base' }).location).toBe('/base/data');
  });
});
