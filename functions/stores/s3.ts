import { DeleteObjectsCommand, ListObjectsV2Command, S3Client, type S3ClientConfig, type _Error as S3KeyError } from '@aws-sdk/client-s3';
import type { DeleteFailure, DeleteOutcome, ObjectEntry, ObjectStore, StoreSpec } from '../engine/types.js';

export const MAX_DELETE_BATCH = 1000;
const DEFAULT_MAX_ATTEMPTS = 8;
/** Per-key errors DeleteObjects can report inside a successful response; the SDK retries only whole calls. */
const RETRYABLE_KEY_ERRORS = new Set(['SlowDown', 'InternalError', 'ServiceUnavailable', 'RequestTimeout']);
const KEY_RETRY_ROUNDS = 4;
const KEY_RETRY_BASE_MS = 200;

export interface S3ClientOptions {
  /** Environment to read AWS_ENDPOINT_URL(_S3), AWS_REGION and AWS_MAX_ATTEMPTS from; defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Attempts per request, including the first (adaptive retry mode: throttling such as `SlowDown` is retried). */
  maxAttempts?: number;
}

interface Endpoint {
  url?: string;
  region?: string;
  isAws: boolean;
}

/**
 * An S3 client for a store: the store's endpoint (http when `secure` is false) unless
 * AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL is set; path-style addressing for any non-AWS
 * endpoint; static credentials when the store has both keys, else the SDK's default chain.
 */
export function createS3Client(spec: StoreSpec, options: S3ClientOptions = {}): S3Client {
  const env = options.env ?? process.env;
  if (Boolean(spec.accessKey) !== Boolean(spec.secretKey)) {
    throw new Error(
      `Store "${spec.name}" has ${spec.accessKey ? 'access_key but no secret_key' : 'secret_key but no access_key'}: give both (in datajoint.json, DJ_STORES or .secrets/stores.${spec.name}.*) or neither to use the default AWS credential chain.`,
    );
  }
  const endpoint = resolveEndpoint(spec, env);
  const config: S3ClientConfig = {
    region: spec.region ?? endpoint.region ?? nonEmpty(env.AWS_REGION) ?? 'us-east-1',
    retryMode: 'adaptive',
    maxAttempts: options.maxAttempts ?? maxAttemptsFromEnv(env) ?? DEFAULT_MAX_ATTEMPTS,
  };
  if (endpoint.url) config.endpoint = endpoint.url;
  if (endpoint.isAws) {
    config.followRegionRedirects = true;
  } else {
    config.forcePathStyle = true;
    config.requestChecksumCalculation = 'WHEN_REQUIRED';
    config.responseChecksumValidation = 'WHEN_REQUIRED';
  }
  if (spec.accessKey && spec.secretKey) {
    config.credentials = { accessKeyId: spec.accessKey, secretAccessKey: spec.secretKey };
  }
  return new S3Client(config);
}

function resolveEndpoint(spec: StoreSpec, env: NodeJS.ProcessEnv): Endpoint {
  const fromEnv = nonEmpty(env.AWS_ENDPOINT_URL_S3) ?? nonEmpty(env.AWS_ENDPOINT_URL);
  if (fromEnv) return { url: fromEnv, isAws: isAwsHost(hostOf(fromEnv)) };
  if (!spec.endpoint) return { isAws: true };

  const url = /^https?:\/\//i.test(spec.endpoint) ? spec.endpoint : `${spec.secure === false ? 'http' : 'https'}://${spec.endpoint}`;
  const host = hostOf(url);
  if (!isAwsHost(host)) return { url, isAws: false };
  // The SDK derives the regional AWS endpoint itself; passing the global one would sign for the wrong region.
  if (host === 's3.amazonaws.com') return { isAws: true };
  const regional = /^s3[.-]([a-z0-9-]+)\.amazonaws\.com$/.exec(host);
  if (regional && !regional[1]!.startsWith('dualstack') && !regional[1]!.startsWith('fips')) {
    return { region: regional[1], isAws: true };
  }
  return { url, isAws: true };
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch (error) {
    throw new Error(`S3 endpoint "${url}" is not a valid URL or host[:port]: fix the store's "endpoint" or AWS_ENDPOINT_URL.`, { cause: error });
  }
}

function isAwsHost(host: string): boolean {
  return /(^|\.)amazonaws\.com(\.cn)?$/.test(host);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function maxAttemptsFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const raw = nonEmpty(env.AWS_MAX_ATTEMPTS);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`AWS_MAX_ATTEMPTS is "${raw}": set it to a positive integer or unset it.`);
  }
  return value;
}

/** An `s3` store: objects are the keys under `location/` in the bucket (the whole bucket when location is ""). */
export class S3Store implements ObjectStore {
  readonly description: string;
  readonly bucket: string;
  /** Key prefix of the store root: "" or `location/`. */
  readonly base: string;
  readonly client: S3Client;

  constructor(spec: StoreSpec, client?: S3Client) {
    if (spec.protocol !== 's3') {
      throw new Error(`Store "${spec.name}" has protocol "${spec.protocol}"; S3Store needs protocol "s3".`);
    }
    if (!spec.bucket) {
      throw new Error(`Store "${spec.name}" has no bucket: set "bucket" in the store's configuration.`);
    }
    this.bucket = spec.bucket;
    const location = spec.location.replace(/^\/+|\/+$/g, '');
    this.base = location === '' ? '' : `${location}/`;
    this.description = `s3://${this.bucket}/${location}`.replace(/\/$/, '');
    this.client = client ?? createS3Client(spec);
  }

  async *list(prefix: string, options: { startAfter?: string } = {}): AsyncIterable<ObjectEntry[]> {
    let continuationToken: string | undefined;
    let first = true;
    do {
      const request = new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: this.base + prefix,
        MaxKeys: 1000,
        ContinuationToken: continuationToken,
        StartAfter: first && options.startAfter !== undefined ? this.base + options.startAfter : undefined,
      });
      first = false;
      let response;
      try {
        response = await this.client.send(request);
      } catch (error) {
        throw this.listError(prefix, error);
      }
      const page: ObjectEntry[] = [];
      for (const object of response.Contents ?? []) {
        if (object.Key === undefined || object.Size === undefined || object.LastModified === undefined) {
          throw new Error(`Listing ${this.description}/${prefix} returned an entry without Key, Size or LastModified (${JSON.stringify(object)}); the S3 endpoint is not behaving like S3.`);
        }
        if (!object.Key.startsWith(this.base)) {
          throw new Error(`Listing ${this.description}/${prefix} returned key "${object.Key}" outside the store's location; the S3 endpoint is not honouring Prefix.`);
        }
        page.push({ path: object.Key.slice(this.base.length), size: object.Size, lastModified: object.LastModified });
      }
      if (page.length > 0) yield page;
      continuationToken = response.IsTruncated ? response.NextContinuationToken : undefined;
      if (response.IsTruncated && !continuationToken) {
        throw new Error(`Listing ${this.description}/${prefix} was truncated without a continuation token; cannot list the rest safely.`);
      }
    } while (continuationToken);
  }

  async deleteBatch(paths: string[]): Promise<DeleteOutcome> {
    if (paths.length > MAX_DELETE_BATCH) {
      throw new Error(`deleteBatch got ${paths.length} paths; at most ${MAX_DELETE_BATCH} may be deleted per call: split the batch.`);
    }
    const unique = [...new Set(paths)];
    const failures = new Map<string, DeleteFailure>();
    let pending: string[] = [];
    for (const path of unique) {
      if (path === '') failures.set(path, { path, code: 'InvalidPath', message: 'Refused to delete an empty path: it would name the store root.' });
      else pending.push(path);
    }

    for (let round = 0; pending.length > 0; round++) {
      const errors = await this.deleteObjects(pending);
      const retry: string[] = [];
      for (const error of errors) {
        const path = error.Key !== undefined && error.Key.startsWith(this.base) ? error.Key.slice(this.base.length) : (error.Key ?? '');
        if (error.Code && RETRYABLE_KEY_ERRORS.has(error.Code) && round + 1 < KEY_RETRY_ROUNDS) retry.push(path);
        else failures.set(path, this.keyFailure(path, error));
      }
      pending = retry;
      if (pending.length > 0) await sleep(KEY_RETRY_BASE_MS * 2 ** round);
    }

    return {
      deleted: unique.filter((path) => !failures.has(path)),
      failed: unique.flatMap((path) => failures.get(path) ?? []),
    };
  }

  private async deleteObjects(paths: string[]): Promise<S3KeyError[]> {
    try {
      const response = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: paths.map((path) => ({ Key: this.base + path })), Quiet: true },
        }),
      );
      return response.Errors ?? [];
    } catch (error) {
      const code = errorName(error);
      if (code === 'AccessDenied' || code === 'AccessDeniedException') {
        throw new Error(`Deleting from ${this.description} was denied: the credentials lack s3:DeleteObject on bucket "${this.bucket}" for keys under "${this.base}". Grant it, or run without deleting.`, { cause: error });
      }
      throw new Error(`Deleting ${paths.length} objects from ${this.description} failed (${code}): ${messageOf(error)}`, { cause: error });
    }
  }

  private keyFailure(path: string, error: S3KeyError): DeleteFailure {
    const code = error.Code ?? 'Unknown';
    const message =
      code === 'AccessDenied'
        ? `Access denied deleting "${path}": the credentials lack s3:DeleteObject on bucket "${this.bucket}" for keys under "${this.base}".`
        : `Could not delete "${path}" from ${this.description}: ${code}${error.Message ? `: ${error.Message}` : ''}`;
    return { path, code, message };
  }

  private listError(prefix: string, error: unknown): Error {
    const code = errorName(error);
    const where = `s3://${this.bucket}/${this.base}${prefix}`;
    let hint: string;
    if (code === 'NoSuchBucket') hint = `bucket "${this.bucket}" does not exist at this endpoint: check the store's "bucket" and "endpoint"`;
    else if (code === 'AccessDenied' || code === 'AccessDeniedException') hint = `the credentials lack s3:ListBucket on bucket "${this.bucket}"`;
    else hint = messageOf(error);
    return new Error(`Listing ${where} failed (${code}): ${hint}.`, { cause: error });
  }
}

function errorName(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    if ('Code' in error && typeof error.Code === 'string') return error.Code;
    if ('name' in error && typeof error.name === 'string') return error.name;
  }
  return 'Error';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
