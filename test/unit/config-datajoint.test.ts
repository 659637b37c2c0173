/**
 * datajoint.json read as DataJoint 2.3.x reads it (settings.py): the files its save_template
 * writes, DataJoint's defaults, use_tls, stores.filepath_default, and the store keys it refuses.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DjConfigError, loadDjConfig, normalizeStore, toDatabaseConnection } from '../../functions/config/datajoint.js';
import { FIXTURE_DIR } from '../support/fixture.js';

/** `dj.config.save_template("datajoint.json", minimal=False)` of DataJoint 2.3.2, byte for byte. */
const FULL_TEMPLATE = `{
  "database": {
    "host": "localhost",
    "port": 3306,
    "reconnect": true,
    "use_tls": null
  },
  "connection": {
    "charset": ""
  },
  "display": {
    "limit": 12,
    "width": 14,
    "show_tuple_count": true
  },
  "stores": {
    "default": "main",
    "filepath_default": "raw_data",
    "main": {
      "protocol": "file",
      "location": "/data/my-project/main",
      "partition_pattern": null,
      "token_length": 8,
      "subfolding": null
    },
    "raw_data": {
      "protocol": "file",
      "location": "/data/my-project/raw"
    }
  },
  "loglevel": "INFO",
  "safemode": true,
  "query_cache": null,
  "download_path": "."
}
`;

/** `save_template(minimal=True)`. */
const MINIMAL_TEMPLATE = `{
  "database": {
    "host": "localhost",
    "port": 3306
  }
}
`;

/** The .secrets/ folder save_template creates beside the file. */
const TEMPLATE_SECRETS: Record<string, string> = {
  'database.user': 'your_username',
  'database.password': 'your_password',
  '.gitignore': '# Never commit secrets\n*\n!.gitignore\n',
};

let project: string;
const noSecrets = (): string => join(project, 'no-system-secrets');

beforeEach(() => {
  project = mkdtempSync(join(tmpdir(), 'djgc-config-dj-'));
  mkdirSync(join(project, '.git'));
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

function writeTemplate(text: string): string {
  for (const [name, content] of Object.entries(TEMPLATE_SECRETS)) write(`.secrets/${name}`, content);
  return write('datajoint.json', text);
}

function load(env: NodeJS.ProcessEnv = {}) {
  return loadDjConfig({ cwd: project, env, secretsDir: noSecrets() });
}

function loadError(env: NodeJS.ProcessEnv = {}): string {
  try {
    load(env);
  } catch (error) {
    expect(error).toBeInstanceOf(DjConfigError);
    return (error as Error).message;
  }
  throw new Error('expected loadDjConfig to throw');
}

describe("DataJoint 2.3.2's own template", () => {
  it.skipIf(!existsSync(join(FIXTURE_DIR, 'config-template')))('is the copy in the fixture folder', () => {
    expect(readFileSync(join(FIXTURE_DIR, 'config-template/full/datajoint.json'), 'utf8')).toBe(FULL_TEMPLATE);
    expect(readFileSync(join(FIXTURE_DIR, 'config-template/minimal/datajoint.json'), 'utf8')).toBe(MINIMAL_TEMPLATE);
  });

  it('loads the full template unchanged, with its secrets and filepath_default', () => {
    const path = writeTemplate(FULL_TEMPLATE);

    const config = load();

    expect(config.source).toBe(path);
    expect(config.warnings).toEqual([]);
    expect(config.database).toEqual({
      backend: 'mysql',
      host: 'localhost',
      port: 3306,
      user: 'your_username',
      password: 'your_password',
      databaseName: 'postgres',
      useTls: null,
    });
    expect(config.defaultStore).toBe('main');
    expect(config.filepathDefault).toBe('raw_data');
    expect(Object.keys(config.stores)).toEqual(['main', 'raw_data']);
    expect(config.stores.main).toEqual({
      name: 'main',
      protocol: 'file',
      location: '/data/my-project/main',
      hashPrefix: '_hash',
      schemaPrefix: '_schema',
      subfolding: null,
      partitionPattern: null,
      filepathPrefix: null,
    });
    expect(config.stores.raw_data?.location).toBe('/data/my-project/raw');
  });

  it('loads the minimal template: a database on localhost and no stores', () => {
    writeTemplate(MINIMAL_TEMPLATE);

    const config = load();

    expect(config.database).toMatchObject({ host: 'localhost', port: 3306, user: 'your_username', useTls: null });
    expect(config).toMatchObject({ stores: {}, defaultStore: null, filepathDefault: null, warnings: [] });
  });

  it('reads filepath_default from DJ_STORES too', () => {
    const stores = { default: 'main', filepath_default: 'raw', main: { protocol: 'file', location: '/m' }, raw: { protocol: 'file', location: '/r' } };

    const config = load({ DJ_STORES: JSON.stringify(stores) });

    expect(config).toMatchObject({ defaultStore: 'main', filepathDefault: 'raw' });
    expect(Object.keys(config.stores)).toEqual(['main', 'raw']);
  });

  it('warns, without failing, when filepath_default names no configured store (DataJoint checks it only on use)', () => {
    write('datajoint.json', { stores: { filepath_default: 'gone', main: { protocol: 'file', location: '/m' } } });

    const config = load();

    expect(config.filepathDefault).toBe('gone');
    expect(config.warnings).toEqual([expect.stringContaining('stores.filepath_default names store "gone", which is not configured (configured: "main")')]);
  });

  it('refuses a filepath_default that is not a store name', () => {
    write('datajoint.json', { stores: { filepath_default: { protocol: 'file', location: '/r' } } });

    expect(loadError()).toMatch(/stores.filepath_default must be the name of a store \(a string\)/);
  });
});

describe('database defaults', () => {
  it('uses localhost and the backend port when the database block has no host', () => {
    write('datajoint.json', { database: { backend: 'postgresql' } });

    expect(load().database).toMatchObject({ host: 'localhost', port: 5432, backend: 'postgresql', databaseName: 'postgres' });
  });

  it('has a database, on localhost:3306, as soon as a datajoint.json exists', () => {
    write('datajoint.json', { stores: { main: { protocol: 'file', location: '/m' } } });

    expect(load().database).toEqual({ backend: 'mysql', host: 'localhost', port: 3306, databaseName: 'postgres', useTls: null });
  });

  it('has a database when only a database secret configures it', () => {
    const system = join(project, 'system');
    mkdirSync(system);
    writeFileSync(join(system, 'database.user'), 'svc\n');

    expect(loadDjConfig({ cwd: project, env: {}, secretsDir: system }).database).toMatchObject({ host: 'localhost', user: 'svc' });
  });

  it('leaves the user unset when nothing names one (DataJoint would ask)', () => {
    write('datajoint.json', { database: { host: 'h' } });

    expect(load().database?.user).toBeUndefined();
    expect(() => toDatabaseConnection(load().database!)).toThrow(/no database user configured: set DJ_USER/);
  });
});

describe('use_tls', () => {
  it('reads true and false from the file', () => {
    write('datajoint.json', { database: { host: 'h', use_tls: true } });
    expect(load().database?.useTls).toBe(true);

    write('datajoint.json', { database: { host: 'h', use_tls: false } });
    expect(load().database?.useTls).toBe(false);
  });

  it('reads the dotted form', () => {
    write('datajoint.json', { 'database.use_tls': false });

    expect(load().database?.useTls).toBe(false);
  });

  it('is null, DataJoint\'s default, when absent or null', () => {
    write('datajoint.json', { database: { host: 'h' } });
    expect(load().database?.useTls).toBeNull();

    write('datajoint.json', { database: { host: 'h', use_tls: null } });
    expect(load().database?.useTls).toBeNull();
  });

  it('takes DJ_USE_TLS over the file, both ways', () => {
    write('datajoint.json', { database: { host: 'h', use_tls: null } });
    expect(load({ DJ_USE_TLS: 'true' }).database?.useTls).toBe(true);
    expect(load({ DJ_USE_TLS: 'False' }).database?.useTls).toBe(false);

    write('datajoint.json', { database: { host: 'h', use_tls: true } });
    expect(load({ DJ_USE_TLS: '0' }).database?.useTls).toBe(false);
  });

  it('configures a database from DJ_USE_TLS alone, and refuses a value that is not a boolean', () => {
    expect(load({ DJ_USE_TLS: 'yes' }).database).toMatchObject({ host: 'localhost', useTls: true });
    expect(loadError({ DJ_USE_TLS: 'maybe' })).toMatch(/DJ_USE_TLS is "maybe": set it to true or false/);

    const path = write('datajoint.json', { database: { use_tls: 'required' } });
    expect(loadError()).toContain(`${path}: database.use_tls is "required": set it to true or false`);
    write('datajoint.json', { database: { use_tls: 1 } });
    expect(loadError()).toMatch(/database.use_tls is 1: set it to true \(TLS required\), false \(no TLS\) or null/);
  });

  it('becomes the connection\'s tls setting, absent for DataJoint\'s default', () => {
    write('datajoint.json', { database: { host: 'h', user: 'u', backend: 'postgresql', name: 'lab' } });
    expect(toDatabaseConnection(load().database!)).toEqual({ backend: 'postgresql', host: 'h', port: 5432, user: 'u', database: 'lab' });
    expect(toDatabaseConnection(load({ DJ_USE_TLS: 'true' }).database!)).toMatchObject({ tls: true });
    expect(toDatabaseConnection(load({ DJ_USE_TLS: 'false', DJ_BACKEND: 'mysql' }).database!)).toEqual({ backend: 'mysql', host: 'h', port: 3306, user: 'u', tls: false });
  });
});

describe('keys DataJoint skips', () => {
  it('skips unknown top-level keys and unknown database keys with a warning, as DataJoint skips them', () => {
    const path = write('datajoint.json', { database: { host: 'h', hots: 'x' }, 'database.usr': 'u', djgc: { foreign: 1 }, safemode: true, 'a.b.c.d': 1 });

    const config = load();

    expect(config.database).toMatchObject({ host: 'h' });
    expect(config.database?.user).toBeUndefined();
    expect(config.warnings).toEqual([
      expect.stringContaining(`${path}: "database: {"hots": …}" is ignored (DataJoint has no database setting "hots"`),
      expect.stringContaining(`${path}: "database.usr" is ignored (DataJoint has no database setting "usr"`),
      `${path}: "djgc" is ignored (DataJoint has no such setting and skips it).`,
      expect.stringContaining(`${path}: "a.b.c.d" is ignored`),
    ]);
  });

  it('accepts the groups djgc does not use without a warning', () => {
    write('datajoint.json', { display: { limit: 3 }, 'display.width': 20, jobs: { keep_completed: true }, connection: { charset: '' }, loglevel: 'DEBUG' });

    expect(load().warnings).toEqual([]);
  });

  it('refuses one store given both as a block and as dotted keys (DataJoint would keep whichever came last)', () => {
    write('datajoint.json', { stores: { main: { protocol: 'file', location: '/a' } }, 'stores.main.location': '/b' });

    expect(loadError()).toMatch(/"stores.main.location" and "stores: \{"main": …\}" both set stores.main.location; keep one form/);
  });
});

describe('store keys', () => {
  const file = { protocol: 'file', location: '/d' };

  it('refuses a misspelt key, naming the key, the store, the known keys and a guess', () => {
    const path = write('datajoint.json', { stores: { main: { ...file, subfoldng: [2, 2] } } });

    const message = loadError();

    expect(message).toContain(`${path}: store "main": unknown key "subfoldng" (did you mean "subfolding"?)`);
    expect(message).toContain('DataJoint refuses a store with this key too');
    expect(message).toContain('Keys of a file store: protocol, location, subfolding, partition_pattern, token_length, hash_prefix, schema_prefix, filepath_prefix, stage');
  });

  it('refuses misspelt keys in DJ_STORES, naming all of them', () => {
    const message = loadError({ DJ_STORES: JSON.stringify({ s: { protocol: 's3', bucket: 'b', endpont: 'e', acess_key: 'k' } }) });

    expect(message).toMatch(/^DJ_STORES: store "s": unknown keys "endpont" \(did you mean "endpoint"\?\), "acess_key" \(did you mean "access_key"\?\)/);
    expect(message).toContain('Keys of a s3 store: protocol, location');
  });

  it('refuses keys of another protocol and djgc-only keys DataJoint does not know', () => {
    expect(() => normalizeStore('f', { ...file, bucket: 'b' })).toThrow(/store "f": unknown key "bucket"/);
    expect(() => normalizeStore('f', { ...file, secure: true })).toThrow(/store "f": unknown key "secure"/);
    expect(() => normalizeStore('s', { protocol: 's3', bucket: 'b', region: 'eu-west-1' })).toThrow(
      /unknown key "region" \(DataJoint has no store key "region": djgc takes the region from a regional endpoint \(s3.<region>.amazonaws.com\) or from AWS_REGION.\)/,
    );
  });

  it('accepts every key DataJoint allows', () => {
    const s3 = {
      protocol: 's3', endpoint: 'minio:9000', bucket: 'b', access_key: 'k', secret_key: 's', location: 'l', secure: false,
      subfolding: [2, 2], partition_pattern: '{subject}', token_length: 8, hash_prefix: 'h', schema_prefix: 'sc', filepath_prefix: 'raw', stage: '/tmp/stage', proxy_server: null,
    };
    expect(normalizeStore('s', s3)).toMatchObject({ endpoint: 'minio:9000', bucket: 'b', accessKey: 'k', secretKey: 's', filepathPrefix: 'raw', subfolding: [2, 2] });
    expect(normalizeStore('f', { ...file, stage: null, token_length: null, filepath_prefix: null })).toMatchObject({ filepathPrefix: null });
  });

  it('refuses overlapping section prefixes, as DataJoint does', () => {
    expect(() => normalizeStore('f', { ...file, filepath_prefix: '_hash/user' })).toThrow(/store "f": hash_prefix "_hash" and filepath_prefix "_hash\/user" overlap/);
    expect(() => normalizeStore('f', { ...file, hash_prefix: 'data', schema_prefix: 'data/schema' })).toThrow(/hash_prefix "data" and schema_prefix "data\/schema" overlap/);
    expect(normalizeStore('f', { ...file, hash_prefix: 'data', schema_prefix: 'database' }).schemaPrefix).toBe('database');
  });

  it('refuses a bad token_length', () => {
    expect(() => normalizeStore('f', { ...file, token_length: 0 })).toThrow(/"token_length" must be a positive integer/);
  });

  it('needs both s3 keys or neither; neither means the default AWS credential chain', () => {
    expect(() => normalizeStore('s', { protocol: 's3', bucket: 'b', access_key: 'k' })).toThrow(/store "s": it has access_key but no secret_key: give both/);
    const ambient = normalizeStore('s', { protocol: 's3', bucket: 'b', access_key: '', secret_key: '' });
    expect(ambient.accessKey).toBeUndefined();
    expect(ambient.secretKey).toBeUndefined();
  });
});

describe('store secrets', () => {
  it('fills any stores.<name>.<key> the store lacks, and checks it like a key in the file', () => {
    write('datajoint.json', { stores: { s: { protocol: 's3', bucket: 'b' }, f: { protocol: 'file', location: '/d' } } });
    write('.secrets/stores.s.access_key', 'AK\n');
    write('.secrets/stores.s.secret_key', 'SK\n');
    write('.secrets/stores.s.endpoint', 'minio.lab:9000\n');
    expect(load().stores.s).toMatchObject({ accessKey: 'AK', secretKey: 'SK', endpoint: 'minio.lab:9000' });

    write('.secrets/stores.f.access_key', 'AK\n');
    expect(loadError()).toMatch(/store "f": unknown key "access_key"/);
  });

  it('does not let a secret replace a key the store has, even a null one', () => {
    write('datajoint.json', { stores: { s: { protocol: 's3', bucket: 'b', endpoint: null } } });
    write('.secrets/stores.s.endpoint', 'from-secret\n');

    expect(load().stores.s?.endpoint).toBeUndefined();
  });

  it('skips a secret for a store no configuration names, with a warning', () => {
    write('datajoint.json', { stores: {} });
    const secret = write('.secrets/stores.old.secret_key', 'x');
    write('.secrets/.stores.hidden.key', 'x');

    const config = load();

    expect(config.stores).toEqual({});
    expect(config.warnings).toEqual([`${secret} is ignored: no store "old" is configured.`]);
  });
});
