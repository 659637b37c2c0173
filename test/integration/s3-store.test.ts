import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeStore } from '../../functions/config/datajoint.js';
import type { ObjectEntry, StoreSpec } from '../../functions/engine/types.js';
import { S3Store, createS3Client, openStore } from '../../functions/stores/index.js';
import { awsEndpoint } from '../support/env.js';

const bucket = `djgc-s3-store-${randomBytes(4).toString('hex')}`;
const location = 'proj/dj';
const objectCount = 2100;

let client: S3Client;

function storeSpec(name: string, fields: Record<string, unknown> = {}): StoreSpec {
  const endpoint = new URL(awsEndpoint());
  return normalizeStore(name, {
    protocol: 's3',
    endpoint: endpoint.host,
    secure: endpoint.protocol === 'https:',
    bucket,
    location,
    access_key: 'test',
    secret_key: 'test',
    ...fields,
  });
}

async function putAll(keys: string[]): Promise<void> {
  const limit = pLimit(32);
  await Promise.all(keys.map((key) => limit(() => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key })))));
}

async function allKeys(): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

async function pages(store: S3Store, prefix = '', startAfter?: string): Promise<ObjectEntry[][]> {
  const result: ObjectEntry[][] = [];
  for await (const page of store.list(prefix, startAfter === undefined ? {} : { startAfter })) result.push(page);
  return result;
}

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
const hashPath = (i: number) => `_hash/sch/${i.toString(36).padStart(4, '0')}`;

const expected: string[] = [];
const extras = ['_schema/sch/t/id=3/obj_aB.dat', '_schema/sch/t/id=3/obj_aB/sub/0', '_schema/sch/t/id=3/obj_aB.manifest.json', 'a b/é %2F=1'];

beforeAll(async () => {
  client = createS3Client(storeSpec('setup'));
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  for (let i = 0; i < objectCount; i++) expected.push(hashPath(i));
  expected.push(...extras);
  expected.sort(byteOrder);
  await putAll([...expected.map((p) => `${location}/${p}`), 'proj/dj2/_hash/sch/outside', 'proj/djx', 'at-bucket-root']);
});

afterAll(async () => {
  if (!client) return;
  const keys = await allKeys();
  for (let i = 0; i < keys.length; i += 1000) {
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })) } }));
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  client.destroy();
});

describe('S3Store.list', () => {
  it('lists every key under the location in pages of at most 1000, paths relative to the location', async () => {
    const store = new S3Store(storeSpec('main'));

    const result = await pages(store);

    expect(store.description).toBe(`s3://${bucket}/${location}`);
    expect(result.length).toBeGreaterThanOrEqual(3);
    expect(result.every((page) => page.length > 0 && page.length <= 1000)).toBe(true);
    expect(result.flat().map((e) => e.path)).toEqual(expected);
    const entry = result.flat().find((e) => e.path === 'a b/é %2F=1')!;
    expect(entry.size).toBe(Buffer.byteLength(`${location}/a b/é %2F=1`));
    expect(entry.lastModified).toBeInstanceOf(Date);
  });

  it('lists the whole bucket when the location is empty', async () => {
    const store = openStore(storeSpec('bare', { location: '' }));

    const listed = (await pages(store as S3Store, 'proj/dj')).flat().map((e) => e.path);

    expect(listed).toContain('proj/dj2/_hash/sch/outside');
    expect(listed).toContain('proj/djx');
    expect(listed).toContain(`${location}/${expected[0]}`);
    expect(listed.length).toBe(expected.length + 2);
  });

  it('honours prefix and startAfter, both relative to the location', async () => {
    const store = new S3Store(storeSpec('main'));

    const after = hashPath(1500);
    const rest = (await pages(store, '_hash/sch/', after)).flat().map((e) => e.path);
    const schema = (await pages(store, '_schema/sch/t/id=3/obj_aB')).flat().map((e) => e.path);

    expect(rest).toEqual(expected.filter((p) => p.startsWith('_hash/sch/') && byteOrder(p, after) > 0));
    expect(rest.length).toBe(objectCount - 1501);
    expect(schema).toEqual(['_schema/sch/t/id=3/obj_aB.dat', '_schema/sch/t/id=3/obj_aB.manifest.json', '_schema/sch/t/id=3/obj_aB/sub/0']);
    expect(await pages(store, 'nothing/here/')).toEqual([]);
  });

  it('throws a clear error when the bucket does not exist', async () => {
    const store = new S3Store(storeSpec('ghost', { bucket: `${bucket}-missing` }));

    await expect(pages(store)).rejects.toThrow(`Listing s3://${bucket}-missing/${location}/ failed (NoSuchBucket): bucket "${bucket}-missing" does not exist`);
  });

  it("uses the store's own endpoint over AWS_ENDPOINT_URL, and AWS_ENDPOINT_URL for a store that names none", async () => {
    const env = { AWS_ENDPOINT_URL: awsEndpoint() };
    const unreachable = storeSpec('unreachable', { endpoint: 'unreachable.invalid:1' });
    const own = new S3Store(unreachable, createS3Client(unreachable, { env, maxAttempts: 1 }));
    const fromEnv = normalizeStore('from-env', { protocol: 's3', bucket, location, access_key: 'test', secret_key: 'test' });
    const viaEnv = new S3Store(fromEnv, createS3Client(fromEnv, { env, maxAttempts: 1 }));

    await expect(pages(own, '_schema/')).rejects.toThrow(/Listing s3:\/\/.* failed/);
    expect((await pages(viaEnv, '_schema/')).flat()).toHaveLength(3);
  });
});

describe('S3Store.deleteBatch', () => {
  it('deletes existing keys, counts missing ones as deleted, and leaves the rest', async () => {
    const keys = ['_del/a', '_del/b', '_del/keep'];
    await putAll(keys.map((k) => `${location}/${k}`));
    const store = new S3Store(storeSpec('main'));

    const outcome = await store.deleteBatch(['_del/a', '_del/missing', '_del/b', '']);

    expect(outcome.deleted).toEqual(['_del/a', '_del/missing', '_del/b']);
    expect(outcome.failed).toEqual([{ path: '', code: 'InvalidPath', message: expect.stringMatching(/empty path/) }]);
    expect((await pages(store, '_del/')).flat().map((e) => e.path)).toEqual(['_del/keep']);
    expect(await allKeys()).toContain('at-bucket-root');
  });

  it('refuses more than 1000 keys without calling S3', async () => {
    const keys = Array.from({ length: 1001 }, (_, i) => `_big/${String(i).padStart(4, '0')}`);
    await putAll(keys.slice(0, 5).map((k) => `${location}/${k}`));
    const store = new S3Store(storeSpec('main'));

    await expect(store.deleteBatch(keys)).rejects.toThrow('deleteBatch got 1001 paths; at most 1000 may be deleted per call');
    expect((await pages(store, '_big/')).flat()).toHaveLength(5);
  });

  it('throws a clear error when the whole call fails', async () => {
    const store = new S3Store(storeSpec('ghost', { bucket: `${bucket}-missing` }));

    await expect(store.deleteBatch(['_hash/sch/x'])).rejects.toThrow(`Deleting 1 objects from s3://${bucket}-missing/${location} failed (NoSuchBucket)`);
  });
});
