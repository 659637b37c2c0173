import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  S3Client,
  UploadPartCopyCommand,
  type CompletedPart,
  type DeleteObjectsCommandOutput,
  type HeadObjectCommandOutput,
  type S3ClientConfig,
  type _Error as S3KeyError,
} from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import type { DeleteFailure, DeleteOutcome, Move, MoveFailure, MoveOptions, MoveOutcome, ObjectEntry, ObjectStore, StoreSpec } from '../engine/types.js';
import { AdaptiveLimit, type AdaptiveLimitState } from './limiter.js';
import { planMoves } from './moves.js';
import { resolveStoreEndpoint } from '../config/endpoint.js';
import { requestMeter, requestsSince } from './request-meter.js';
import type { StoreRequests } from '../engine/model/requests.js';

export const MAX_DELETE_BATCH = 1000;
const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
/** CopyObject copies at most 5 GiB; larger objects need a multipart copy. */
const MAX_SINGLE_COPY_BYTES = 5 * GIB;
const MIN_PART_BYTES = 5 * MIB;
const MAX_PART_BYTES = 5 * GIB;
const MAX_PARTS = 10_000;
const THROTTLING_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
]);
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

/**
 * An S3 client for a store, on the endpoint resolveStoreEndpoint gives: the store's own `endpoint`
 * (http when `secure` is false), else AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL (neither under
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true), else AWS for the region. Path-style addressing for
 * any non-AWS endpoint; static credentials when the store has both keys, else the SDK's default chain.
 *
 * The client itself is told to ignore configured endpoint URLs: every endpoint it may use is
 * resolved here, from `env`, and is the one the store's physical root (in every report) names. One
 * the SDK picked on its own (from process.env or `endpoint_url` in ~/.aws/config) would be invisible
 * to the store's identity, so two names for one bucket could look like two places.
 */
export function createS3Client(spec: StoreSpec, options: S3ClientOptions = {}): S3Client {
  const env = options.env ?? process.env;
  if (Boolean(spec.accessKey) !== Boolean(spec.secretKey)) {
    throw new Error(
      `Store "${spec.name}" has ${spec.accessKey ? 'access_key but no secret_key' : 'secret_key but no access_key'}: give both (in datajoint.json, DJ_STORES or .secrets/stores.${spec.name}.*) or neither to use the default AWS credential chain.`,
    );
  }
  const endpoint = resolveStoreEndpoint(spec, env);
  const config: S3ClientConfig = {
    region: spec.region ?? endpoint.region ?? nonEmpty(env.AWS_REGION) ?? 'us-east-1',
    retryMode: 'adaptive',
    maxAttempts: options.maxAttempts ?? maxAttemptsFromEnv(env) ?? DEFAULT_MAX_ATTEMPTS,
    ignoreConfiguredEndpointUrls: true,
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

export interface S3StoreOptions {
  /** Objects larger than this are moved by a multipart copy (default and maximum 5 GiB, what CopyObject allows). */
  multipartCopyThresholdBytes?: number;
  /** Part size of a multipart copy (default 512 MiB; 5 MiB to 5 GiB; raised when an object would need more than 10 000 parts). */
  multipartPartBytes?: number;
  /** Parts of one object copied at once (default 8). */
  multipartConcurrency?: number;
  /** Highest number of delete/move/stat requests in flight per store (default 32), also the starting one. */
  maxConcurrency?: number;
  /** Lowest number the limit shrinks to when S3 throttles (default 1). */
  minConcurrency?: number;
}

type Copied = { kind: 'copied'; move: Move };
type CopyResult = Copied | { kind: 'missing'; move: Move } | { kind: 'failed'; failure: MoveFailure } | { kind: 'fatal'; error: Error };

/**
 * An `s3` store: objects are the keys under `location/` in the bucket (the whole bucket when location is "").
 *
 * Every delete, move and stat request passes through one adaptive concurrency limit per store: a
 * request that S3 throttled (`SlowDown`, 503, any 5xx, or one the SDK had to retry) halves the
 * limit, each clean one raises it by one, so a throttled bucket slows the run down rather than failing it.
 */
export class S3Store implements ObjectStore {
  readonly description: string;
  readonly bucket: string;
  /** Key prefix of the store root: "" or `location/`. */
  readonly base: string;
  readonly client: S3Client;
  private readonly limit: AdaptiveLimit;
  private readonly multipartThreshold: number;
  private readonly partBytes: number;
  private readonly partConcurrency: number;
  private bucketConfirmed = false;
  private readonly meter: StoreRequests;
  private readonly meterAtStart: StoreRequests;

  constructor(spec: StoreSpec, client?: S3Client, options: S3StoreOptions = {}) {
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
    this.meter = requestMeter(this.client);
    this.meterAtStart = { ...this.meter };
    this.limit = new AdaptiveLimit({ min: options.minConcurrency ?? 1, max: options.maxConcurrency ?? 32 });
    this.multipartThreshold = checkedBytes('multipartCopyThresholdBytes', options.multipartCopyThresholdBytes ?? MAX_SINGLE_COPY_BYTES, 1, MAX_SINGLE_COPY_BYTES);
    this.partBytes = checkedBytes('multipartPartBytes', options.multipartPartBytes ?? 512 * MIB, MIN_PART_BYTES, MAX_PART_BYTES);
    this.partConcurrency = options.multipartConcurrency ?? 8;
    if (!Number.isInteger(this.partConcurrency) || this.partConcurrency < 1) {
      throw new Error(`multipartConcurrency is ${this.partConcurrency}: use an integer of at least 1.`);
    }
  }

  /** Requests sent through this store's client since the store was made, by billing class. */
  requestCounts(): StoreRequests {
    return requestsSince(this.meter, this.meterAtStart);
  }

  /** The adaptive request limit as it stands (for reports and tests). */
  concurrency(): AdaptiveLimitState {
    return this.limit.state();
  }

  /**
   * Pages of the listing, each next page requested as soon as the previous one has arrived, so
   * that the request is under way while the caller decides the page it has (the SDK's own retry
   * policy applies to each request). A request started for a caller that stops early is let go.
   */
  async *list(prefix: string, options: { startAfter?: string } = {}): AsyncIterable<ObjectEntry[]> {
    const request = (continuationToken: string | undefined, first: boolean): Promise<ListObjectsV2CommandOutput> => {
      const sent = this.client
        .send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.base + prefix,
            MaxKeys: 1000,
            ContinuationToken: continuationToken,
            StartAfter: first && options.startAfter !== undefined ? this.base + options.startAfter : undefined,
          }),
        )
        .catch((error: unknown) => {
          throw this.listError(prefix, error);
        });
      // Awaited below; this only keeps a request nobody waits for any more from being an unhandled rejection.
      sent.catch(() => undefined);
      return sent;
    };
    let next: Promise<ListObjectsV2CommandOutput> | undefined = request(undefined, true);
    while (next) {
      const response: ListObjectsV2CommandOutput = await next;
      const continuationToken = response.IsTruncated ? response.NextContinuationToken : undefined;
      if (response.IsTruncated && !continuationToken) {
        throw new Error(`Listing ${this.description}/${prefix} was truncated without a continuation token; cannot list the rest safely.`);
      }
      next = continuationToken ? request(continuationToken, false) : undefined;
      const contents = response.Contents ?? [];
      const page: ObjectEntry[] = new Array(contents.length);
      const base = this.base;
      for (let i = 0; i < contents.length; i++) {
        const object = contents[i]!;
        if (object.Key === undefined || object.Size === undefined || object.LastModified === undefined) {
          throw new Error(`Listing ${this.description}/${prefix} returned an entry without Key, Size or LastModified (${JSON.stringify(object)}); the S3 endpoint is not behaving like S3.`);
        }
        if (!object.Key.startsWith(base)) {
          throw new Error(`Listing ${this.description}/${prefix} returned key "${object.Key}" outside the store's location; the S3 endpoint is not honouring Prefix.`);
        }
        page[i] = { path: base === '' ? object.Key : object.Key.slice(base.length), size: object.Size, lastModified: object.LastModified };
      }
      if (page.length > 0) yield page;
    }
  }

  async deleteBatch(paths: string[]): Promise<DeleteOutcome> {
    if (paths.length > MAX_DELETE_BATCH) {
      throw new Error(`deleteBatch got ${paths.length} paths; at most ${MAX_DELETE_BATCH} may be deleted per call: split the batch.`);
    }
    const unique = [...new Set(paths)];
    const failures = new Map<string, DeleteFailure>();
    const valid: string[] = [];
    for (const path of unique) {
      if (path === '') failures.set(path, { path, code: 'InvalidPath', message: 'Refused to delete an empty path: it would name the store root.' });
      else valid.push(path);
    }
    for (const [path, failure] of await this.deletePaths(valid)) failures.set(path, failure);

    return {
      deleted: unique.filter((path) => !failures.has(path)),
      failed: unique.flatMap((path) => failures.get(path) ?? []),
    };
  }

  /** Delete keys (relative to the root), retrying per-key throttling; returns the failures by path. */
  private async deletePaths(paths: string[]): Promise<Map<string, DeleteFailure>> {
    const failures = new Map<string, DeleteFailure>();
    let pending = paths;
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
    return failures;
  }

  private async deleteObjects(paths: string[]): Promise<S3KeyError[]> {
    try {
      const response = await this.limit.run(
        () =>
          this.client.send(
            new DeleteObjectsCommand({
              Bucket: this.bucket,
              Delete: { Objects: paths.map((path) => ({ Key: this.base + path })), Quiet: true },
            }),
          ),
        (outcome) => pushedBack(outcome) || keysThrottled(outcome.value),
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

  /**
   * Move objects by copy, then delete of the copied sources. Per move: HeadObject on the source
   * (absent: `missing`) and on the destination (present: `Exists`, nothing done), then a copy
   * conditional on the source's ETag, so a source rewritten meanwhile is not moved (`SourceChanged`).
   *
   * The destination check and the copy are two requests, not one atomic step: a writer could create
   * the destination in between and the copy would replace it. That is acceptable here because no
   * one else writes where moves go: quarantine paths include the run id, and a restore goes back to
   * a path the engine has just found empty (a collision there is still reported as `Exists`).
   *
   * A source whose delete fails after its copy is a failure; the copy is then removed again so the
   * object stays in one place.
   */
  async moveBatch(moves: Move[], options: MoveOptions = {}): Promise<MoveOutcome> {
    const plan = planMoves(moves, (path) => (path === '' ? 'the path is empty and would name the store root' : undefined));
    const results = await Promise.all(plan.moves.map((move) => this.copyOne(move)));
    let copied = results.filter((r): r is Copied => r.kind === 'copied');

    const fatal = results.find((r): r is { kind: 'fatal'; error: Error } => r.kind === 'fatal');
    if (fatal) throw await this.abandon(copied, fatal.error);

    const kept: Move[] = [];
    if (options.lastLook && copied.length > 0) {
      let keep: ReadonlySet<string>;
      try {
        keep = await options.lastLook(copied.map((c) => c.move));
      } catch (error) {
        throw await this.abandon(copied, error instanceof Error ? error : new Error(String(error)));
      }
      const keptCopies = copied.filter((c) => keep.has(c.move.from));
      const left = await this.removeCopies(keptCopies);
      if (left.size > 0) throw new Error(`Moving objects in ${this.description}: ${left.size} copies of objects kept at their source could not be removed (${[...left].slice(0, 3).join(', ')}).`);
      kept.push(...keptCopies.map((c) => c.move));
      copied = copied.filter((c) => !keep.has(c.move.from));
    }

    let sourceFailures: Map<string, DeleteFailure>;
    try {
      sourceFailures = await this.deletePaths(copied.map((c) => c.move.from));
    } catch (error) {
      throw await this.abandon(copied, error instanceof Error ? error : new Error(String(error)));
    }
    const rollbackFailures = await this.removeCopies(copied.filter((c) => sourceFailures.has(c.move.from)));

    const outcome: MoveOutcome = { moved: [], missing: [], failed: [], ...(options.lastLook ? { kept } : {}) };
    const keptSources = new Set(kept.map((m) => m.from));
    for (const result of results) {
      if (result.kind === 'missing') outcome.missing.push(result.move);
      else if (result.kind === 'failed') outcome.failed.push(result.failure);
      else if (result.kind === 'copied' && !keptSources.has(result.move.from)) {
        const failure = sourceFailures.get(result.move.from);
        if (!failure) outcome.moved.push(result.move);
        else outcome.failed.push(this.sourceDeleteFailure(result.move, failure, rollbackFailures.has(result.move.to)));
      }
    }
    outcome.failed.push(...plan.refused);
    return outcome;
  }

  async stat(path: string): Promise<ObjectEntry | null> {
    if (path === '') throw new Error(`Cannot stat an empty path in ${this.description}: it would name the store root.`);
    const head = await this.head(path);
    if (!head) {
      await this.confirmBucket();
      return null;
    }
    if (head.ContentLength === undefined || head.LastModified === undefined) {
      throw new Error(`HeadObject on ${this.description}/${path} returned no Content-Length or Last-Modified; the S3 endpoint is not behaving like S3.`);
    }
    return { path, size: head.ContentLength, lastModified: head.LastModified };
  }

  /** S3 has no folders: nothing to prune. */
  async pruneEmptyFolders(_paths: string[], _keep: string[]): Promise<number> {
    return 0;
  }

  async versioning(): Promise<'unversioned' | 'enabled' | 'suspended'> {
    let status: string | undefined;
    try {
      status = (await this.client.send(new GetBucketVersioningCommand({ Bucket: this.bucket }))).Status;
    } catch (error) {
      const code = errorName(error);
      const hint = isDenied(code) ? `the credentials lack s3:GetBucketVersioning on bucket "${this.bucket}"` : messageOf(error);
      throw new Error(`Reading the versioning state of bucket "${this.bucket}" failed (${code}): ${hint}.`, { cause: error });
    }
    if (status === 'Enabled') return 'enabled';
    if (status === 'Suspended') return 'suspended';
    return 'unversioned';
  }

  private async copyOne(move: Move): Promise<CopyResult> {
    const fail = (code: string, why: string): CopyResult => ({
      kind: 'failed',
      failure: { ...move, code, message: `Could not move "${move.from}" to "${move.to}" in ${this.description}: ${sentence(why)}.` },
    });
    try {
      const source = await this.head(move.from);
      if (!source) {
        await this.confirmBucket();
        return { kind: 'missing', move };
      }
      if (await this.head(move.to)) return fail('Exists', 'the destination exists and is never overwritten; both were left as they are');
      if (!source.ETag) return fail('NoETag', 'HeadObject returned no ETag for the source, so the copy cannot be made conditional');
      const size = source.ContentLength ?? 0;
      if (size > this.multipartThreshold) await this.multipartCopy(move, source, size);
      else await this.singleCopy(move, source);
      return { kind: 'copied', move };
    } catch (error) {
      const code = errorName(error);
      if (error instanceof NoSuchBucketError) return { kind: 'fatal', error };
      if (code === 'NoSuchBucket') return { kind: 'fatal', error: this.noSuchBucket(error) };
      if (code === 'NoSuchKey') return { kind: 'missing', move };
      if (code === 'PreconditionFailed') return fail('SourceChanged', 'the source was replaced while it was being copied; it was left as it is');
      if (isDenied(code)) return fail(code, `access denied: the credentials need s3:GetObject, s3:PutObject and s3:DeleteObject on bucket "${this.bucket}" under "${this.base}"`);
      return fail(code, messageOf(error));
    }
  }

  private async singleCopy(move: Move, source: HeadObjectCommandOutput): Promise<void> {
    await this.limited(() =>
      this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: this.base + move.to,
          CopySource: copySource(this.bucket, this.base + move.from),
          CopySourceIfMatch: source.ETag,
          MetadataDirective: 'COPY',
          ...keptAttributes(source, false),
        }),
      ),
    );
  }

  /** UploadPartCopy in parallel parts, each conditional on the source's ETag; the upload is aborted on any failure. */
  private async multipartCopy(move: Move, source: HeadObjectCommandOutput, size: number): Promise<void> {
    const key = this.base + move.to;
    const created = await this.limited(() =>
      this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ...keptAttributes(source, true) })),
    );
    const uploadId = created.UploadId;
    if (!uploadId) throw new Error(`CreateMultipartUpload for "${key}" returned no UploadId; the S3 endpoint is not behaving like S3.`);
    try {
      const parts = await this.copyParts(move, source.ETag!, size, key, uploadId);
      await this.limited(() =>
        this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } })),
      );
    } catch (error) {
      await this.limited(() => this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }))).catch(() => undefined);
      throw error;
    }
    const copy = await this.head(move.to);
    if (copy?.ContentLength !== size) {
      await this.deletePaths([move.to]);
      throw new Error(`the multipart copy has ${copy?.ContentLength ?? 'no'} bytes instead of ${size}; it was removed and the source kept`);
    }
  }

  private async copyParts(move: Move, etag: string, size: number, key: string, uploadId: string): Promise<CompletedPart[]> {
    const partSize = Math.max(this.partBytes, Math.ceil(size / MAX_PARTS));
    const partLimit = pLimit(this.partConcurrency);
    const settled = await Promise.allSettled(
      Array.from({ length: Math.ceil(size / partSize) }, (_, i) => {
        const range = { number: i + 1, start: i * partSize, end: Math.min(size, (i + 1) * partSize) - 1 };
        return partLimit(() => this.copyPart(move, etag, key, uploadId, range));
      }),
    );
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.map((r) => (r as PromiseFulfilledResult<CompletedPart>).value);
  }

  private async copyPart(move: Move, etag: string, key: string, uploadId: string, part: { number: number; start: number; end: number }): Promise<CompletedPart> {
    let answer;
    try {
      answer = await this.limited(() =>
        this.client.send(
          new UploadPartCopyCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: part.number,
            CopySource: copySource(this.bucket, this.base + move.from),
            CopySourceRange: `bytes=${part.start}-${part.end}`,
            CopySourceIfMatch: etag,
          }),
        ),
      );
    } catch (error) {
      // A response that is neither S3's answer nor an S3 error: an endpoint without UploadPartCopy.
      if (errorName(error) === 'Error' && statusOf(error) !== undefined) throw new PartCopyError(part.number, error);
      throw error;
    }
    const partETag = answer.CopyPartResult?.ETag;
    if (!partETag) throw new PartCopyError(part.number, new Error('the answer has no ETag'));
    return { ETag: partETag, PartNumber: part.number };
  }

  /** HeadObject on a path; null when S3 answers 404. */
  private async head(path: string): Promise<HeadObjectCommandOutput | null> {
    try {
      return await this.limited(() => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.base + path })));
    } catch (error) {
      if (statusOf(error) === 404 || errorName(error) === 'NotFound' || errorName(error) === 'NoSuchKey') return null;
      throw error;
    }
  }

  /** A 404 from HeadObject does not tell a missing key from a missing bucket; this does, once per store. */
  private async confirmBucket(): Promise<void> {
    if (this.bucketConfirmed) return;
    try {
      await this.limited(() => this.client.send(new HeadBucketCommand({ Bucket: this.bucket })));
    } catch (error) {
      if (statusOf(error) === 404 || errorName(error) === 'NotFound' || errorName(error) === 'NoSuchBucket') throw this.noSuchBucket(error);
      throw error;
    }
    this.bucketConfirmed = true;
  }

  /** After a whole-batch failure: remove the copies whose sources are still there, then report. */
  private async abandon(copied: Copied[], cause: Error): Promise<Error> {
    const left = (await this.removeCopies(copied)).size;
    const residue = left === 0 ? '' : ` ${left} copies made before the failure are still at their destinations.`;
    return new Error(`Moving objects in ${this.description} failed: ${sentence(cause.message)}.${residue}`, { cause });
  }

  /**
   * Undo copies: a copy is removed only once its source is seen again, since a delete call that
   * failed may still have deleted some sources. Returns the destinations left in place.
   */
  private async removeCopies(copied: Copied[]): Promise<Set<string>> {
    const left = new Set(copied.map((c) => c.move.to));
    try {
      const heads = await Promise.all(copied.map((c) => this.head(c.move.from).catch(() => null)));
      const removable = copied.filter((_, i) => heads[i] !== null).map((c) => c.move.to);
      const failures = await this.deletePaths(removable);
      for (const path of removable) if (!failures.has(path)) left.delete(path);
    } catch {
      // Nothing more can be undone; `left` names what stays.
    }
    return left;
  }

  private sourceDeleteFailure(move: Move, failure: DeleteFailure, rollbackFailed: boolean): MoveFailure {
    const where = rollbackFailed
      ? `the object is now at both paths (removing the copy failed too)`
      : 'the copy was removed again, so the object is only at the source';
    return { ...move, code: failure.code, message: `Could not move "${move.from}" to "${move.to}" in ${this.description}: the source could not be deleted after copying (${failure.message}); ${where}.` };
  }

  private noSuchBucket(cause: unknown): Error {
    return new NoSuchBucketError(`Bucket "${this.bucket}" does not exist at this endpoint: check the store's "bucket" and "endpoint"`, { cause });
  }

  private limited<T extends { $metadata?: { attempts?: number } }>(send: () => Promise<T>): Promise<T> {
    return this.limit.run(send, pushedBack);
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

class PartCopyError extends Error {
  override readonly name = 'PartCopyFailed';
  constructor(part: number, cause: unknown) {
    super(
      `UploadPartCopy of part ${part} got an answer that is not S3's (${sentence(messageOf(cause))}); the endpoint may not support UploadPartCopy: raise multipartCopyThresholdBytes (at most 5 GiB) to copy in one request`,
      { cause },
    );
  }
}

/** A message as one line without its closing full stop, to be embedded in another. */
function sentence(message: string): string {
  return message.replace(/\s+/g, ' ').trim().replace(/\.+$/, '');
}

class NoSuchBucketError extends Error {
  override readonly name = 'NoSuchBucketError';
}

/** Whether S3 pushed back: a throttling or server error, or a response the SDK got only after retrying. */
function pushedBack(outcome: { value?: { $metadata?: { attempts?: number } }; error?: unknown }): boolean {
  if ('error' in outcome) {
    const status = statusOf(outcome.error) ?? 0;
    return THROTTLING_CODES.has(errorName(outcome.error)) || status === 429 || status >= 500 || attemptsOf(outcome.error) > 1;
  }
  return (outcome.value?.$metadata?.attempts ?? 1) > 1;
}

function keysThrottled(response: DeleteObjectsCommandOutput | undefined): boolean {
  return (response?.Errors ?? []).some((e) => e.Code !== undefined && RETRYABLE_KEY_ERRORS.has(e.Code));
}

/**
 * The object's attributes a copy must carry over explicitly: storage class and encryption always
 * (CopyObject would otherwise reset them to the defaults); for a multipart upload, which starts
 * empty, also content type and metadata (CopyObject keeps those itself with MetadataDirective COPY).
 */
function keptAttributes(source: HeadObjectCommandOutput, multipart: boolean) {
  return {
    ...(source.StorageClass && source.StorageClass !== 'STANDARD' ? { StorageClass: source.StorageClass } : {}),
    ...(source.ServerSideEncryption ? { ServerSideEncryption: source.ServerSideEncryption } : {}),
    ...(source.SSEKMSKeyId ? { SSEKMSKeyId: source.SSEKMSKeyId } : {}),
    ...(source.BucketKeyEnabled !== undefined ? { BucketKeyEnabled: source.BucketKeyEnabled } : {}),
    ...(multipart
      ? {
          ContentType: source.ContentType,
          Metadata: source.Metadata,
          CacheControl: source.CacheControl,
          ContentDisposition: source.ContentDisposition,
          ContentEncoding: source.ContentEncoding,
          ContentLanguage: source.ContentLanguage,
        }
      : {}),
  };
}

/** The CopySource header: `bucket/key` with every byte of the key outside A-Z a-z 0-9 - _ . ~ / percent-encoded. */
export function copySource(bucket: string, key: string): string {
  const encoded = key
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
  return `${bucket}/${encoded}`;
}

function checkedBytes(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} is ${value}: use a whole number of bytes from ${min} to ${max}.`);
  }
  return value;
}

function isDenied(code: string): boolean {
  return code === 'AccessDenied' || code === 'AccessDeniedException';
}

function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null || !('$metadata' in error)) return undefined;
  const metadata = (error as { $metadata?: { httpStatusCode?: number } }).$metadata;
  return metadata?.httpStatusCode;
}

function attemptsOf(error: unknown): number {
  if (typeof error !== 'object' || error === null || !('$metadata' in error)) return 1;
  return (error as { $metadata?: { attempts?: number } }).$metadata?.attempts ?? 1;
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
