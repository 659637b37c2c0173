import { realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve, sep } from 'node:path';
import type { ObjectStore, StoreSpec } from '../engine/types.js';
import { FileStore } from './file.js';
import { S3Store } from './s3.js';
import { resolveStoreEndpoint } from '../config/endpoint.js';

export { FileStore, type FileStoreOptions } from './file.js';
export { S3Store, createS3Client, type S3ClientOptions, type S3StoreOptions } from './s3.js';
export { AdaptiveLimit, type AdaptiveLimitOptions, type AdaptiveLimitState } from './limiter.js';
export { MAX_MOVE_BATCH } from './moves.js';
export { compareBytes } from './byte-order.js';

export function openStore(spec: StoreSpec): ObjectStore {
  switch (spec.protocol) {
    case 'file':
      return new FileStore(spec);
    case 's3':
      return new S3Store(spec);
    default:
      throw new Error(`Store "${(spec as StoreSpec).name}" has protocol "${(spec as StoreSpec).protocol}": only "file" and "s3" are supported.`);
  }
}

/**
 * Identity of the place a store's objects live (spec §2, §5): two store names with the same
 * physical root name the same objects. `file:///abs/path` or `s3://host[:port]/bucket[/location]`.
 *
 * When in doubt two roots are made equal, never different: treating two places as one only
 * protects more objects, while treating one place as two would let a reference through one name
 * fail to protect the object listed through the other.
 *
 * file: the location with symbolic links, `..` and trailing slashes resolved (a location that does
 * not exist yet: its nearest existing ancestor resolved, the rest appended).
 * s3: the endpoint the client really talks to (resolveStoreEndpoint, as in createS3Client: the
 * store's own endpoint, else AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL) without scheme, default port
 * or trailing slash, in lower case; every AWS S3 endpoint maps to its partition's single bucket namespace; then the bucket and the
 * location with empty segments collapsed.
 */
export function physicalRoot(spec: StoreSpec, env: NodeJS.ProcessEnv = process.env): string {
  if (spec.protocol === 'file') return `file://${realLocation(spec.location)}`;
  const bucket = spec.bucket?.trim().toLowerCase();
  if (!bucket) throw new Error(`Store "${spec.name}" has no bucket: set "bucket" in the store's configuration.`);
  const location = spec.location
    .split('/')
    .filter((segment) => segment !== '')
    .join('/');
  return `s3://${normalizeEndpoint(spec, env)}/${bucket}${location === '' ? '' : `/${location}`}`;
}

/** `location` made absolute and resolved through the filesystem as far as it exists. */
function realLocation(location: string): string {
  const absolute = isAbsolute(location) ? location : `${process.cwd()}${sep}${location}`;
  let existing = absolute;
  const rest: string[] = [];
  for (;;) {
    try {
      return resolve(realpathSync(existing), ...rest);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
      const parent = dirname(existing);
      if (parent === existing) return resolve(absolute);
      rest.unshift(basename(existing));
      existing = parent;
    }
  }
}

const AWS_PARTITIONS: { suffix: RegExp; namespace: string }[] = [
  { suffix: /\.amazonaws\.com\.cn$/, namespace: 's3.amazonaws.com.cn' },
  { suffix: /(^|[.-])us-gov-[a-z0-9-]+\.amazonaws\.com$/, namespace: 's3.us-gov.amazonaws.com' },
  { suffix: /(^|\.)amazonaws\.com$/, namespace: 's3.amazonaws.com' },
];

function normalizeEndpoint(spec: StoreSpec, env: NodeJS.ProcessEnv): string {
  // The endpoint createS3Client gives the client, resolved the same way.
  const endpoint = resolveStoreEndpoint(spec, env);
  if (endpoint.url === undefined) return awsNamespace(spec.region ?? endpoint.region);
  const url = new URL(endpoint.url);
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  const partition = AWS_PARTITIONS.find((p) => p.suffix.test(host));
  if (partition) return partition.namespace;
  const port = url.port === '' ? '' : `:${url.port}`;
  const path = url.pathname.replace(/\/+$/, '');
  return `${host}${port}${path}`;
}

function awsNamespace(region: string | undefined): string {
  if (region?.startsWith('cn-')) return 's3.amazonaws.com.cn';
  if (region?.startsWith('us-gov-')) return 's3.us-gov.amazonaws.com';
  return 's3.amazonaws.com';
}
