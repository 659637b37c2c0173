import { createHash, randomBytes } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, PutBucketVersioningCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeStore } from '../../functions/config/datajoint.js';
import type { StoreSpec } from '../../functions/engine/types.js';
import { S3Store, createS3Client, type S3StoreOptions } from '../../functions/stores/index.js';
import { awsEndpoint } from '../support/env.js';
import { createBucket, emptyAndDeleteBucket, everyNth, isDeleteObjects, isWriteOrHead, listAllKeys, putInParts, startS3Proxy, type S3Proxy, type TestBucket } from '../support/s3.js';

const location = 'dj';
const MIB = 1024 * 1024;
let bucket: TestBucket;

beforeAll(async () => {
  bucket = await createBucket('djgc-s3-moves');
});

afterAll(async () => {
  if (bucket) await emptyAndDeleteBucket(bucket.client, bucket.bucket);
});

function spec(endpoint = awsEndpoint(), fields: Record<string, unknown> = {}): StoreSpec {
  const url = new URL(endpoint.includes('://') ? endpoint : `http://${endpoint}`);
  return normalizeStore('main', { protocol: 's3', endpoint: url.host, secure: false, bucket: bucket.bucket, location, access_key: 'test', secret_key: 'test', ...fields });
}

function storeAt(endpoint?: string, options: S3StoreOptions = {}, maxAttempts?: number): S3Store {
  const s = spec(endpoint);
  return new S3Store(s, createS3Client(s, { env: {}, ...(maxAttempts ? { maxAttempts } : {}) }), options);
}

async function put(path: string, body: string | Buffer = path, extra: { ContentType?: string; Metadata?: Record<string, string> } = {}): Promise<void> {
  if (Buffer.isBuffer(body) && body.length > 10 * MIB) return putInParts(bucket.client, bucket.bucket, `${location}/${path}`, body, extra);
  await bucket.client.send(new PutObjectCommand({ Bucket: bucket.bucket, Key: `${location}/${path}`, Body: body, ...extra }));
}

async function get(path: string): Promise<Buffer | null> {
  try {
    const answer = await bucket.client.send(new GetObjectCommand({ Bucket: bucket.bucket, Key: `${location}/${path}` }));
    return Buffer.from(await answer.Body!.transformToByteArray());
  } catch (error) {
    if ((error as Error).name === 'NoSuchKey') return null;
    throw error;
  }
}

const head = (path: string) => bucket.client.send(new HeadObjectCommand({ Bucket: bucket.bucket, Key: `${location}/${path}` }));
const md5 = (bytes: Buffer | null) => (bytes ? createHash('md5').update(bytes).digest('hex') : null);
const quarantine = (path: string) => `_djgc/quarantine/run-1/${path}`;

describe('S3Store.moveBatch on fauxqs', () => {
  it('Given small objects with spaces, unicode, "=", "%" and other reserved characters in their keys, when moved, then bytes, type and metadata arrive and the sources are gone', async () => {
    const paths = ['_hash/sch/lvauakv4jmvhnolrtwiraf6fsi', '_schema/sch/t/subject=m%2F1%20x/a b+c/é ü 😀.npy', "_schema/sch/t/id=1/o!'()*~&$@,;:.dat"];
    for (const path of paths) await put(path, `bytes of ${path}`, { ContentType: 'application/x-npy', Metadata: { origin: 'fixture' } });
    const store = storeAt();

    const outcome = await store.moveBatch(paths.map((from) => ({ from, to: quarantine(from) })));

    expect(outcome).toEqual({ moved: paths.map((from) => ({ from, to: quarantine(from) })), missing: [], failed: [] });
    for (const path of paths) {
      expect((await get(quarantine(path)))?.toString()).toBe(`bytes of ${path}`);
      expect(await get(path)).toBeNull();
      const moved = await head(quarantine(path));
      expect(moved.ContentType).toBe('application/x-npy');
      expect(moved.Metadata).toEqual({ origin: 'fixture' });
    }
  });

  it('Given a destination that exists, when moving onto it, then the move fails with Exists and both objects stay', async () => {
    await put('_hash/sch/taken', 'live');
    await put(quarantine('_hash/sch/taken'), 'earlier');

    const outcome = await storeAt().moveBatch([{ from: '_hash/sch/taken', to: quarantine('_hash/sch/taken') }]);

    expect(outcome.moved).toEqual([]);
    expect(outcome.failed).toEqual([
      { from: '_hash/sch/taken', to: quarantine('_hash/sch/taken'), code: 'Exists', message: expect.stringMatching(/destination exists and is never overwritten/) },
    ]);
    expect((await get('_hash/sch/taken'))?.toString()).toBe('live');
    expect((await get(quarantine('_hash/sch/taken')))?.toString()).toBe('earlier');
  });

  it('Given a source that does not exist, when moved, then it is missing and no destination appears', async () => {
    const move = { from: '_hash/sch/never-there', to: quarantine('_hash/sch/never-there') };

    expect(await storeAt().moveBatch([move, { from: '', to: 'x' }])).toEqual({
      moved: [],
      missing: [move],
      failed: [{ from: '', to: 'x', code: 'InvalidPath', message: expect.stringMatching(/source is invalid/) }],
    });
    expect(await get(move.to)).toBeNull();
  });

  it('Given a bucket that does not exist, when moving or stat-ing, then the call throws instead of reporting the objects missing', async () => {
    const s = spec(undefined, { bucket: `${bucket.bucket}-missing` });
    const ghost = new S3Store(s, createS3Client(s, { env: {} }));

    await expect(ghost.moveBatch([{ from: '_hash/sch/x', to: 'q/x' }])).rejects.toThrow(`Bucket "${bucket.bucket}-missing" does not exist at this endpoint`);
    await expect(ghost.stat('_hash/sch/x')).rejects.toThrow(/does not exist at this endpoint/);
  });

  it('Given more than 1000 moves, when moved, then the call throws before any request', async () => {
    const moves = Array.from({ length: 1001 }, (_, i) => ({ from: `a/${i}`, to: `b/${i}` }));

    await expect(storeAt().moveBatch(moves)).rejects.toThrow(/1001 moves; at most 1000/);
  });

  it('Given an endpoint without UploadPartCopy (fauxqs 1.9.2), when a large object is moved, then the move fails and the source stays whole', async () => {
    const bytes = randomBytes(6 * MIB);
    await put('_schema/sch/t/id=9/big.bin', bytes);
    const store = storeAt(undefined, { multipartCopyThresholdBytes: 5 * MIB, multipartPartBytes: 5 * MIB }, 1);

    const outcome = await store.moveBatch([{ from: '_schema/sch/t/id=9/big.bin', to: quarantine('_schema/sch/t/id=9/big.bin') }]);

    expect(outcome.moved).toEqual([]);
    expect(outcome.failed).toHaveLength(1);
    expect(outcome.failed[0]!.code).toBe('PartCopyFailed');
    expect(outcome.failed[0]!.message).toMatch(/may not support UploadPartCopy/);
    expect(md5(await get('_schema/sch/t/id=9/big.bin'))).toBe(md5(bytes));
    expect(await get(quarantine('_schema/sch/t/id=9/big.bin'))).toBeNull();
  });
});

describe('S3Store.moveBatch with S3 copy semantics (proxy emulating UploadPartCopy and copy conditions on fauxqs)', () => {
  let proxy: S3Proxy;
  let replaceSource: ((key: string) => Promise<void>) | undefined;

  beforeAll(async () => {
    proxy = await startS3Proxy(awsEndpoint(), { emulateCopy: true, beforeCopy: async ({ key }) => replaceSource?.(key) });
  });

  afterAll(async () => proxy?.close());

  it('Given a 12 MiB object and 5 MiB parts, when moved, then a three-part copy keeps the bytes, type and metadata', async () => {
    const bytes = randomBytes(12 * MIB);
    const path = '_schema/sch/t/id=7/wave é=1%.npy';
    await put(path, bytes, { ContentType: 'application/x-npy', Metadata: { origin: 'fixture' } });
    const store = storeAt(proxy.endpoint, { multipartCopyThresholdBytes: 5 * MIB, multipartPartBytes: 5 * MIB });
    const before = proxy.counts.partCopies;

    const outcome = await store.moveBatch([{ from: path, to: quarantine(path) }]);

    expect(outcome).toEqual({ moved: [{ from: path, to: quarantine(path) }], missing: [], failed: [] });
    expect(proxy.counts.partCopies - before).toBe(3);
    expect(md5(await get(quarantine(path)))).toBe(md5(bytes));
    expect(await get(path)).toBeNull();
    const moved = await head(quarantine(path));
    expect(moved.ContentType).toBe('application/x-npy');
    expect(moved.Metadata).toEqual({ origin: 'fixture' });
  });

  it('Given a source rewritten between the check and the copy, when moved, then the copy is refused and the new source stays', async () => {
    const path = '_hash/sch/rewritten';
    await put(path, 'old bytes');
    replaceSource = async (key) => {
      if (key === `${location}/${path}`) await put(path, 'new bytes');
    };
    try {
      const outcome = await storeAt(proxy.endpoint).moveBatch([{ from: path, to: quarantine(path) }]);

      expect(outcome.moved).toEqual([]);
      expect(outcome.failed.map((f) => f.code)).toEqual(['SourceChanged']);
      expect((await get(path))?.toString()).toBe('new bytes');
      expect(await get(quarantine(path))).toBeNull();
    } finally {
      replaceSource = undefined;
    }
  });

  it('Given a large source rewritten while its parts are copied, when moved, then the upload is aborted and the source stays', async () => {
    const path = '_schema/sch/t/id=8/big.bin';
    await put(path, randomBytes(11 * MIB));
    let copies = 0;
    replaceSource = async (key) => {
      if (key === `${location}/${path}` && ++copies === 2) await put(path, 'rewritten');
    };
    try {
      const store = storeAt(proxy.endpoint, { multipartCopyThresholdBytes: 5 * MIB, multipartPartBytes: 5 * MIB, multipartConcurrency: 1 });
      const outcome = await store.moveBatch([{ from: path, to: quarantine(path) }]);

      expect(outcome.failed.map((f) => f.code)).toEqual(['SourceChanged']);
      expect((await get(path))?.toString()).toBe('rewritten');
      expect(await get(quarantine(path))).toBeNull();
    } finally {
      replaceSource = undefined;
    }
  });
});

describe('S3Store.moveBatch when deletes are denied (proxy refusing DeleteObjects)', () => {
  let proxy: S3Proxy;

  beforeAll(async () => {
    proxy = await startS3Proxy(awsEndpoint(), { deny: isDeleteObjects });
  });

  afterAll(async () => proxy?.close());

  it('Given copies made but sources that cannot be deleted, when moved, then the call throws, every source stays and the copies it could not remove are counted', async () => {
    const paths = ['_hash/denied/a', '_hash/denied/b'];
    for (const path of paths) await put(path);

    await expect(storeAt(proxy.endpoint).moveBatch(paths.map((from) => ({ from, to: quarantine(from) })))).rejects.toThrow(
      /Moving objects in .* failed: Deleting from .* was denied: the credentials lack s3:DeleteObject.*\. 2 copies made before the failure are still at their destinations\./,
    );
    expect(proxy.counts.denied).toBeGreaterThan(0);
    for (const path of paths) {
      expect((await get(path))?.toString()).toBe(path);
      expect((await get(quarantine(path)))?.toString()).toBe(path);
    }
  });
});

describe('S3Store.stat and versioning on fauxqs', () => {
  it('Given an object and a missing key, when stat-ed, then the object has its size and time and the key is null', async () => {
    await put('_hash/sch/stat-me', 'hello');
    const store = storeAt();

    const entry = await store.stat('_hash/sch/stat-me');

    expect(entry).toEqual({ path: '_hash/sch/stat-me', size: 5, lastModified: expect.any(Date) });
    expect(await store.stat('_hash/sch/not-here')).toBeNull();
    await expect(store.stat('')).rejects.toThrow(/empty path/);
  });

  it('Given fauxqs 1.9.2, which accepts PutBucketVersioning but keeps no versions, then the bucket reads as unversioned', async () => {
    const store = storeAt();
    expect(await store.versioning()).toBe('unversioned');

    await bucket.client.send(new PutBucketVersioningCommand({ Bucket: bucket.bucket, VersioningConfiguration: { Status: 'Enabled' } }));

    expect(await store.versioning()).toBe('unversioned');
  });

  it('Given a bucket that does not exist, when asked for versioning, then it throws naming the bucket', async () => {
    const s = spec(undefined, { bucket: `${bucket.bucket}-missing` });

    await expect(new S3Store(s, createS3Client(s, { env: {} })).versioning()).rejects.toThrow(`versioning state of bucket "${bucket.bucket}-missing" failed (NoSuchBucket)`);
  });
});

describe('S3Store under throttling (proxy answering every fourth request with 503 SlowDown)', () => {
  let proxy: S3Proxy;

  beforeAll(async () => {
    proxy = await startS3Proxy(awsEndpoint(), { throttle: everyNth(4, isWriteOrHead) });
  });

  afterAll(async () => proxy?.close());

  it('Given a throttled bucket, when moving and deleting, then every object is handled and the concurrency limit went down', async () => {
    const paths = Array.from({ length: 16 }, (_, i) => `_hash/throttled/${String(i).padStart(2, '0')}`);
    for (const path of paths) await put(path);
    const store = storeAt(proxy.endpoint, { maxConcurrency: 8 });

    const moved = await store.moveBatch(paths.slice(0, 8).map((from) => ({ from, to: quarantine(from) })));
    const deleted = await store.deleteBatch(paths.slice(8));

    expect(proxy.counts.throttled).toBeGreaterThan(0);
    expect(moved.moved).toHaveLength(8);
    expect(moved.failed).toEqual([]);
    expect(deleted).toEqual({ deleted: paths.slice(8), failed: [] });
    expect(await listAllKeys(bucket.client, bucket.bucket, `${location}/_hash/throttled/`)).toEqual([]);
    const limit = store.concurrency();
    expect(limit.throttled).toBeGreaterThan(0);
    expect(limit.lowest).toBeLessThan(8);
    expect(limit.max).toBe(8);
  });
});
