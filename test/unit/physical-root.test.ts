import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeStore } from '../../functions/config/datajoint.js';
import type { StoreSpec } from '../../functions/engine/types.js';
import { compareBytes, physicalRoot as physicalRootIn } from '../../functions/stores/index.js';

const s3 = (name: string, fields: Record<string, unknown>) => normalizeStore(name, { protocol: 's3', ...fields });
const file = (name: string, location: string) => normalizeStore(name, { protocol: 'file', location }, { cwd: '/srv/lab' });
/** A file store whose location is exactly as given (configuration loading would already normalize it lexically). */
const rawFile = (location: string): StoreSpec => ({ ...normalizeStore('raw', { protocol: 'file', location: '/' }), location });
/** Identity with no endpoint override in the environment. */
const physicalRoot = (spec: StoreSpec) => physicalRootIn(spec, {});

describe('physicalRoot', () => {
  it('gives aliases of one S3 root the same identity', () => {
    const a = s3('main', { endpoint: 'S3.AmazonAWS.com', bucket: 'lab', location: 'proj/dj' });
    const b = s3('alias', { endpoint: 'https://s3.amazonaws.com/', bucket: 'lab', location: '/proj/dj/' });
    const c = s3('regional', { endpoint: 's3.eu-west-1.amazonaws.com:443', bucket: 'lab', location: 'proj/dj' });
    const d = s3('noendpoint', { bucket: 'lab', location: 'proj/dj' });

    expect(physicalRoot(a)).toBe('s3://s3.amazonaws.com/lab/proj/dj');
    expect(physicalRoot(b)).toBe(physicalRoot(a));
    expect(physicalRoot(c)).toBe(physicalRoot(a));
    expect(physicalRoot(d)).toBe(physicalRoot(a));
  });

  it('keeps the port of a non-AWS endpoint and drops only the default one', () => {
    const a = s3('a', { endpoint: '127.0.0.1:54566', bucket: 'b', secure: false });
    const b = s3('b', { endpoint: 'http://127.0.0.1:54566', bucket: 'b' });
    const c = s3('c', { endpoint: 'MinIO.lab:80', bucket: 'b', secure: false });

    expect(physicalRoot(a)).toBe('s3://127.0.0.1:54566/b');
    expect(physicalRoot(b)).toBe(physicalRoot(a));
    expect(physicalRoot(c)).toBe('s3://minio.lab/b');
  });

  it('tells apart different buckets, locations and endpoints', () => {
    const base = physicalRoot(s3('a', { endpoint: 'minio:9000', bucket: 'b', location: 'x' }));

    expect(physicalRoot(s3('b', { endpoint: 'minio:9000', bucket: 'other', location: 'x' }))).not.toBe(base);
    expect(physicalRoot(s3('c', { endpoint: 'minio:9000', bucket: 'b', location: 'x/y' }))).not.toBe(base);
    expect(physicalRoot(s3('d', { endpoint: 'minio:9000', bucket: 'b', location: '' }))).not.toBe(base);
    expect(physicalRoot(s3('e', { endpoint: 'minio:9001', bucket: 'b', location: 'x' }))).not.toBe(base);
  });

  it('gives file stores an absolute resolved path without trailing slash', () => {
    expect(physicalRoot(file('a', '/data/dj/'))).toBe('file:///data/dj');
    expect(physicalRoot(file('b', '/data/x/../dj'))).toBe('file:///data/dj');
    expect(physicalRoot(file('c', 'store'))).toBe('file:///srv/lab/store');
    expect(physicalRoot(file('d', '/data/dj2'))).not.toBe(physicalRoot(file('a', '/data/dj')));
    expect(physicalRoot(file('root', '/'))).toBe('file:///');
  });
});

describe('physicalRoot of AWS endpoints', () => {
  const aws = physicalRoot(s3('global', { endpoint: 's3.amazonaws.com', bucket: 'lab', location: 'dj' }));

  it.each([
    's3.us-west-2.amazonaws.com',
    's3-us-west-2.amazonaws.com',
    's3.dualstack.us-west-2.amazonaws.com',
    's3-fips.us-east-2.amazonaws.com',
    's3-external-1.amazonaws.com',
    'https://S3.EU-Central-1.AmazonAWS.com:443/',
    's3.amazonaws.com.',
  ])('Given the endpoint %s, then it is the commercial AWS namespace', (endpoint) => {
    expect(physicalRoot(s3('alias', { endpoint, bucket: 'lab', location: 'dj' }))).toBe(aws);
  });

  it('Given China and GovCloud endpoints, then each partition is its own namespace', () => {
    const china = physicalRoot(s3('cn', { endpoint: 's3.cn-north-1.amazonaws.com.cn', bucket: 'lab', location: 'dj' }));
    const gov = physicalRoot(s3('gov', { endpoint: 's3.us-gov-west-1.amazonaws.com', bucket: 'lab', location: 'dj' }));

    expect(china).toBe('s3://s3.amazonaws.com.cn/lab/dj');
    expect(physicalRoot(s3('cn2', { endpoint: 's3.dualstack.cn-northwest-1.amazonaws.com.cn', bucket: 'lab', location: 'dj' }))).toBe(china);
    expect(gov).toBe('s3://s3.us-gov.amazonaws.com/lab/dj');
    expect(physicalRoot(s3('gov2', { endpoint: 's3-fips.us-gov-east-1.amazonaws.com', bucket: 'lab', location: 'dj' }))).toBe(gov);
    expect(new Set([aws, china, gov]).size).toBe(3);
  });

  it('Given doubled, leading and trailing slashes in the location and a bucket in capitals, then they are collapsed', () => {
    expect(physicalRoot(s3('a', { endpoint: 's3.amazonaws.com', bucket: 'Lab', location: '//dj//' }))).toBe(aws);
    expect(physicalRoot(s3('b', { endpoint: 'minio:9000', bucket: 'b', location: 'x//y/' }))).toBe('s3://minio:9000/b/x/y');
  });

  it("Given AWS_ENDPOINT_URL, then a store's own endpoint still names its root, and a store without one is at the variable's endpoint", () => {
    const env = { AWS_ENDPOINT_URL: 'http://127.0.0.1:4566/' };

    expect(physicalRootIn(s3('a', { endpoint: 's3.amazonaws.com', bucket: 'b' }), env)).toBe('s3://s3.amazonaws.com/b');
    expect(physicalRootIn(s3('b', { endpoint: 'minio:9000', bucket: 'b' }), env)).toBe('s3://minio:9000/b');
    expect(physicalRootIn(s3('c', { bucket: 'b' }), env)).toBe('s3://127.0.0.1:4566/b');
    expect(physicalRootIn(s3('d', { bucket: 'b' }), { ...env, AWS_ENDPOINT_URL_S3: 'http://s3only:9000' })).toBe('s3://s3only:9000/b');
    expect(physicalRootIn(s3('e', { bucket: 'b' }), { AWS_ENDPOINT_URL_S3: 'https://s3.eu-west-1.amazonaws.com' })).toBe('s3://s3.amazonaws.com/b');
    expect(physicalRootIn(s3('f', { bucket: 'b' }), { ...env, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' })).toBe('s3://s3.amazonaws.com/b');
  });
});

describe('physicalRoot of file stores on disk', () => {
  let sandbox: string;
  let real: string;

  beforeAll(() => {
    sandbox = realpathSync(mkdtempSync(join(tmpdir(), 'djgc-physical-root-')));
    real = join(sandbox, 'real');
    mkdirSync(join(real, 'sub'), { recursive: true });
    symlinkSync(real, join(sandbox, 'link'));
  });

  afterAll(() => rmSync(sandbox, { recursive: true, force: true }));

  it('Given a symbolic link to the store root, then its identity is the real directory', () => {
    expect(physicalRoot(rawFile(join(sandbox, 'link')))).toBe(`file://${real}`);
    expect(physicalRoot(file('linked', join(sandbox, 'link')))).toBe(physicalRoot(file('plain', real)));
  });

  it('Given a root written with "..", "." or a trailing slash, then it equals the plain one', () => {
    expect(physicalRoot(rawFile(`${real}/sub/..`))).toBe(`file://${real}`);
    expect(physicalRoot(rawFile(`${real}/./`))).toBe(`file://${real}`);
    expect(physicalRoot(rawFile(`${sandbox}/link/sub/../`))).toBe(`file://${real}`);
  });

  it('Given a root that does not exist yet, then its nearest existing ancestor is resolved and the rest appended', () => {
    expect(physicalRoot(rawFile(`${sandbox}/link/new/store/`))).toBe(`file://${real}/new/store`);
    expect(physicalRoot(rawFile(`${sandbox}/link/new/../other`))).toBe(`file://${real}/other`);
  });
});

describe('compareBytes', () => {
  it('orders like UTF-8 bytes, not UTF-16 code units', () => {
    const names = ['a/x', 'a-b', 'a', '\u{1F600}', '\uFF5E', 'é', 'Z', 'a b'];
    const byBuffer = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));

    expect([...names].sort(compareBytes)).toEqual(byBuffer);
    expect(compareBytes('\u{1F600}', '\uFF5E')).toBeGreaterThan(0);
    expect('\u{1F600}' < '\uFF5E').toBe(true);
  });
});
