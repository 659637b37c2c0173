import { describe, expect, it } from 'vitest';
import { normalizeStore } from '../../functions/config/datajoint.js';
import { compareBytes, physicalRoot } from '../../functions/stores/index.js';

const s3 = (name: string, fields: Record<string, unknown>) => normalizeStore(name, { protocol: 's3', ...fields });
const file = (name: string, location: string) => normalizeStore(name, { protocol: 'file', location }, { cwd: '/srv/lab' });

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

describe('compareBytes', () => {
  it('orders like UTF-8 bytes, not UTF-16 code units', () => {
    const names = ['a/x', 'a-b', 'a', '\u{1F600}', '\uFF5E', 'é', 'Z', 'a b'];
    const byBuffer = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));

    expect([...names].sort(compareBytes)).toEqual(byBuffer);
    expect(compareBytes('\u{1F600}', '\uFF5E')).toBeGreaterThan(0);
    expect('\u{1F600}' < '\uFF5E').toBe(true);
  });
});
