import { resolve } from 'node:path';
import type { ObjectStore, StoreSpec } from '../engine/types.js';
import { FileStore } from './file.js';
import { S3Store } from './s3.js';

export { FileStore } from './file.js';
export { S3Store, createS3Client, type S3ClientOptions } from './s3.js';
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
 * Every AWS S3 endpoint is one namespace (bucket names are global), so all map to `s3.amazonaws.com`.
 */
export function physicalRoot(spec: StoreSpec): string {
  if (spec.protocol === 'file') {
    const path = resolve(spec.location).replace(/\/+$/, '');
    return `file://${path === '' ? '/' : path}`;
  }
  if (!spec.bucket) throw new Error(`Store "${spec.name}" has no bucket: set "bucket" in the store's configuration.`);
  const location = spec.location.replace(/^\/+|\/+$/g, '');
  return `s3://${normalizeEndpoint(spec)}/${spec.bucket}${location === '' ? '' : `/${location}`}`;
}

function normalizeEndpoint(spec: StoreSpec): string {
  let endpoint = (spec.endpoint ?? 's3.amazonaws.com').trim().toLowerCase();
  let secure = spec.secure !== false;
  const scheme = /^(https?):\/\//.exec(endpoint);
  if (scheme) {
    secure = scheme[1] === 'https';
    endpoint = endpoint.slice(scheme[0].length);
  }
  endpoint = endpoint.replace(/\/+$/, '');
  const defaultPort = secure ? ':443' : ':80';
  if (endpoint.endsWith(defaultPort)) endpoint = endpoint.slice(0, -defaultPort.length);
  if (/(^|\.)amazonaws\.com$/.test(endpoint.replace(/:\d+$/, ''))) return 's3.amazonaws.com';
  return endpoint;
}
