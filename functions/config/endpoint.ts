/**
 * Which S3 endpoint a store's client talks to. The order is the AWS SDKs' documented one
 * ("Service-specific endpoints", AWS SDKs and Tools Reference Guide): an endpoint given in
 * code wins over configured ones, AWS_ENDPOINT_URL_S3 over AWS_ENDPOINT_URL, and
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true turns the environment's endpoints off. A store's
 * own `endpoint` is the one given in code, so it wins; the environment only fills in for a
 * store that names none.
 */
import type { StoreSpec } from '../engine/types.js';
import { DjConfigError, parseBooleanText } from './values.js';

export type EndpointSource = 'store' | 'AWS_ENDPOINT_URL_S3' | 'AWS_ENDPOINT_URL' | 'aws-default';

export interface StoreEndpoint {
  /** The URL to give the S3 client as `endpoint`; absent: the SDK picks AWS's endpoint for the region. */
  url?: string;
  /** The region a regional AWS endpoint names (s3.eu-west-1.amazonaws.com). */
  region?: string;
  /** An AWS endpoint (virtual-hosted addressing, region redirects) rather than an S3-compatible server (path style). */
  isAws: boolean;
  source: EndpointSource;
  /**
   * True when the client must not read endpoints from the environment or the shared AWS config
   * itself: the store named AWS's global endpoint (so `url` is absent) and that choice must hold.
   */
  ignoreConfiguredEndpointUrls: boolean;
}

/** The effective endpoint of an s3 store under `env` (default process.env). */
export function resolveStoreEndpoint(spec: Pick<StoreSpec, 'name' | 'endpoint' | 'secure'>, env: NodeJS.ProcessEnv = process.env): StoreEndpoint {
  if (spec.endpoint) return fromStore(spec.endpoint, spec.secure, spec.name);
  const ignore = parseBooleanText('AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS) === true;
  for (const source of ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL'] as const) {
    const url = env[source]?.trim();
    if (!ignore && url) return { url, isAws: isAwsHost(hostOf(url, source)), source, ignoreConfiguredEndpointUrls: false };
  }
  return { isAws: true, source: 'aws-default', ignoreConfiguredEndpointUrls: ignore };
}

function fromStore(endpoint: string, secure: boolean | undefined, name: string): StoreEndpoint {
  const url = /^https?:\/\//i.test(endpoint) ? endpoint : `${secure === false ? 'http' : 'https'}://${endpoint}`;
  const host = hostOf(url, `store "${name}": "endpoint"`);
  const base = { source: 'store' as const, ignoreConfiguredEndpointUrls: true };
  if (!isAwsHost(host)) return { ...base, url, isAws: false };
  // The SDK derives the regional AWS endpoint itself; passing the global one would sign for the wrong region.
  if (host === 's3.amazonaws.com') return { ...base, isAws: true };
  const regional = /^s3[.-]([a-z0-9-]+)\.amazonaws\.com$/.exec(host);
  if (regional && !regional[1]!.startsWith('dualstack') && !regional[1]!.startsWith('fips')) {
    return { ...base, region: regional[1]!, isAws: true };
  }
  return { ...base, url, isAws: true };
}

function hostOf(url: string, from: string): string {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch (error) {
    throw new DjConfigError(`${from} is "${url}", which is not a valid URL or host[:port]: write it like "s3.amazonaws.com", "minio.lab:9000" or "http://127.0.0.1:9000".`, { cause: error });
  }
}

function isAwsHost(host: string): boolean {
  return /(^|\.)amazonaws\.com(\.cn)?$/.test(host);
}
