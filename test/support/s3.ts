import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { awsEndpoint } from './env.js';
import { uniqueName } from './names.js';

export interface TestBucket {
  bucket: string;
  client: S3Client;
  endpoint: string;
}

/** An S3 client for the test endpoint (fauxqs): path-style, us-east-1, dummy credentials. */
export function testS3Client(endpoint = awsEndpoint()): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
}

/** A new, uniquely named bucket; `prefix` is lowercase letters, digits and `-`. */
export async function createBucket(prefix: string): Promise<TestBucket> {
  if (!/^[a-z][a-z0-9-]*$/.test(prefix)) {
    throw new Error(`invalid bucket prefix ${JSON.stringify(prefix)}: use lowercase letters, digits and - starting with a letter`);
  }
  const bucket = uniqueName(prefix.replaceAll('-', '_')).replaceAll('_', '-');
  const endpoint = awsEndpoint();
  const client = testS3Client(endpoint);
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return { bucket, client, endpoint };
}

async function* walkFiles(dir: string, relative: string[] = []): AsyncGenerator<string[]> {
  const entries = await readdir(join(dir, ...relative), { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const parts = [...relative, entry.name];
    if (entry.isDirectory()) yield* walkFiles(dir, parts);
    else if (entry.isFile()) yield parts;
    else throw new Error(`cannot upload ${join(dir, ...parts)}: only regular files and directories are supported`);
  }
}

/**
 * Upload every file under `localDir`; a file's key is its path relative to `localDir`
 * joined with `/`, after `keyPrefix` (a `/` is added to a non-empty prefix that lacks one).
 * Returns the number of objects uploaded.
 */
export async function uploadDirectory(client: S3Client, bucket: string, localDir: string, keyPrefix = ''): Promise<number> {
  const prefix = keyPrefix === '' || keyPrefix.endsWith('/') ? keyPrefix : `${keyPrefix}/`;
  const limit = pLimit(16);
  const uploads: Promise<unknown>[] = [];
  for await (const parts of walkFiles(localDir)) {
    uploads.push(
      limit(async () =>
        client.send(new PutObjectCommand({ Bucket: bucket, Key: prefix + parts.join('/'), Body: await readFile(join(localDir, ...parts)) })),
      ),
    );
  }
  await Promise.all(uploads);
  return uploads.length;
}

/** Every key in the bucket (under `prefix`), in the order S3 lists them. */
export async function listAllKeys(client: S3Client, bucket: string, prefix?: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const object of page.Contents ?? []) {
      if (object.Key === undefined) throw new Error(`ListObjectsV2 on ${bucket} returned an object without a key`);
      keys.push(object.Key);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** Delete every object in the bucket, then the bucket. */
export async function emptyAndDeleteBucket(client: S3Client, bucket: string): Promise<void> {
  const keys = await listAllKeys(client, bucket);
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000);
    const result = await client.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
    );
    if (result.Errors?.length) {
      const first = result.Errors[0]!;
      throw new Error(`emptying bucket ${bucket}: ${result.Errors.length} keys not deleted, e.g. ${first.Key}: ${first.Code} ${first.Message}`);
    }
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}
