import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DataJointWriter } from '../functions/demo/datajoint-writer.js';
import type { StoreSpec } from '../functions/engine/types.js';
import { createBucket, emptyAndDeleteBucket, startS3Proxy, type ProxiedRequest, type S3Proxy } from '../test/support/s3.js';
import { fileStore, filesBelow, s3Store } from '../test/support/engine.js';
import { listAllKeys } from '../test/support/s3.js';

export type StoreKind = 'file' | 's3';

/** S3 request kinds the proxy can fail. */
export type S3RequestKind = 'list' | 'copy' | 'delete' | 'head' | 'other';

export function requestKind(request: ProxiedRequest): S3RequestKind {
  if (request.method === 'GET' && request.url.searchParams.has('list-type')) return 'list';
  if (request.method === 'PUT' && typeof request.headers['x-amz-copy-source'] === 'string') return 'copy';
  if (request.method === 'POST' && request.url.searchParams.has('delete')) return 'delete';
  if (request.method === 'DELETE') return 'delete';
  if (request.method === 'HEAD') return 'head';
  return 'other';
}

/** What the proxy in front of the collector's S3 fails right now: a kind and a fraction of its requests. */
export interface S3FaultSwitch {
  kind: S3RequestKind | null;
  rate: number;
  /** Requests still to fail: keeps the SDK's backoff on a burst from stretching a cycle out. */
  budget: number;
  /** Requests answered with 503 SlowDown, by kind. */
  injected: Record<S3RequestKind, number>;
}

/**
 * The object store of one combination: writers put objects straight into it (as DataJoint does),
 * the checker looks at it directly, and the collector reaches it through `spec` (on S3, by way of
 * a proxy that can fail requests).
 */
export interface StressStore {
  kind: StoreKind;
  writer: DataJointWriter;
  spec: StoreSpec;
  /** The store block of datajoint.json for the djgc command. */
  datajointStore: Record<string, unknown>;
  faults: S3FaultSwitch | null;
  exists(path: string): Promise<boolean>;
  /** Every key below the store root (relative paths). */
  listAll(): Promise<string[]>;
  close(): Promise<void>;
}

/** DataJoint's layout, written with PutObject under the store's location. */
class S3DataJointWriter extends DataJointWriter {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly location: string,
  ) {
    super('');
  }

  override async put(path: string, bytes: Buffer): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: `${this.location}/${path}`, Body: bytes }));
  }
}

async function openFileStore(): Promise<StressStore> {
  const root = await mkdtemp(join(tmpdir(), 'djgc-stress-store-'));
  const location = join(root, 'store');
  return {
    kind: 'file',
    writer: new DataJointWriter(location),
    spec: fileStore(location),
    datajointStore: { protocol: 'file', location },
    faults: null,
    exists: async (path) => {
      try {
        return (await stat(join(location, ...path.split('/')))).isFile();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
        throw error;
      }
    },
    listAll: async () => filesBelow(location).catch(() => []),
    close: () => rm(root, { recursive: true, force: true }),
  };
}

async function openS3Store(): Promise<StressStore> {
  const { bucket, client, endpoint } = await createBucket('djgc-stress');
  const location = 'lab-store';
  const faults: S3FaultSwitch = { kind: null, rate: 0, budget: 0, injected: { list: 0, copy: 0, delete: 0, head: 0, other: 0 } };
  const proxy: S3Proxy = await startS3Proxy(endpoint, {
    emulateCopy: true,
    throttle: (request) => {
      if (faults.kind === null) return false;
      const kind = requestKind(request);
      if (kind !== faults.kind || faults.budget <= 0 || Math.random() >= faults.rate) return false;
      faults.budget--;
      faults.injected[kind]++;
      return true;
    },
  });
  return {
    kind: 's3',
    writer: new S3DataJointWriter(client, bucket, location),
    spec: s3Store(proxy.url, bucket, location),
    datajointStore: {
      protocol: 's3',
      endpoint: proxy.endpoint,
      secure: false,
      bucket,
      location,
      access_key: 'test',
      secret_key: 'test',
    },
    faults,
    exists: async (path) => {
      try {
        await client.send(new HeadObjectCommand({ Bucket: bucket, Key: `${location}/${path}` }));
        return true;
      } catch (error) {
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (status === 404 || (error as Error).name === 'NotFound' || (error as Error).name === 'NoSuchKey') return false;
        throw error;
      }
    },
    listAll: async () => (await listAllKeys(client, bucket, `${location}/`)).map((key) => key.slice(location.length + 1)),
    close: async () => {
      await proxy.close().catch(() => undefined);
      await emptyAndDeleteBucket(client, bucket).catch(() => undefined);
      client.destroy();
    },
  };
}

export function openStressStore(kind: StoreKind): Promise<StressStore> {
  return kind === 'file' ? openFileStore() : openS3Store();
}
