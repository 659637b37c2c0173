import { readdir, readFile } from 'node:fs/promises';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
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

/**
 * Upload `body` as a multipart upload of `partBytes` parts: fauxqs 1.9.2 refuses request bodies
 * over 11 MiB, so larger test objects must go up in parts.
 */
export async function putInParts(
  client: S3Client,
  bucket: string,
  key: string,
  body: Buffer,
  attributes: { ContentType?: string; Metadata?: Record<string, string> } = {},
  partBytes = 5 * 1024 * 1024,
): Promise<void> {
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ...attributes }));
  try {
    const parts = [];
    for (let start = 0, number = 1; start < body.length; start += partBytes, number++) {
      const answer = await client.send(
        new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: number, Body: body.subarray(start, start + partBytes) }),
      );
      parts.push({ ETag: answer.ETag, PartNumber: number });
    }
    await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
  } catch (error) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId })).catch(() => undefined);
    throw error;
  }
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

/** One request as the proxy sees it. */
export interface ProxiedRequest {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
}

export interface S3ProxyOptions {
  /** Answer the request with 503 SlowDown instead of forwarding it. */
  throttle?: (request: ProxiedRequest) => boolean;
  /** Answer the request with 403 AccessDenied, as S3 does when a policy denies it. */
  deny?: (request: ProxiedRequest) => boolean;
  /**
   * Implement on top of the target what fauxqs 1.9.2 lacks and S3 has: UploadPartCopy (ranged GET of
   * the source, then UploadPart), and the `x-amz-copy-source-if-match` condition on copies.
   */
  emulateCopy?: boolean;
  /** Called before a copy's condition is checked (emulateCopy): lets a test change the source in between. */
  beforeCopy?: (source: { bucket: string; key: string }) => Promise<void>;
}

export interface S3Proxy {
  /** `127.0.0.1:port`, for a store's `endpoint` (with `secure: false`). */
  endpoint: string;
  /** `http://127.0.0.1:port`, for a client. */
  url: string;
  counts: { forwarded: number; throttled: number; denied: number; partCopies: number; preconditionFailures: number };
  close(): Promise<void>;
}

/** Throttle every `n`-th request that `matches` (all requests by default). */
export function everyNth(n: number, matches: (request: ProxiedRequest) => boolean = () => true): (request: ProxiedRequest) => boolean {
  let seen = 0;
  return (request) => matches(request) && ++seen % n === 0;
}

/** A DeleteObjects request. */
export const isDeleteObjects = (request: ProxiedRequest): boolean => request.method === 'POST' && request.url.searchParams.has('delete');

/** An S3 request is a move or delete request (not a listing or bucket-level read). */
export const isWriteOrHead = (request: ProxiedRequest): boolean =>
  request.method === 'HEAD' || request.method === 'PUT' || (request.method === 'POST' && request.url.searchParams.has('delete'));

/** A proxy in front of an S3 endpoint (fauxqs): forwards requests, throttling or emulating some as told. */
export async function startS3Proxy(target: string, options: S3ProxyOptions = {}): Promise<S3Proxy> {
  const upstream = new URL(target);
  const counts = { forwarded: 0, throttled: 0, denied: 0, partCopies: 0, preconditionFailures: 0 };
  const server: Server = createServer((req, res) => {
    const seen: ProxiedRequest = { method: req.method ?? 'GET', url: new URL(req.url ?? '/', 'http://proxy'), headers: req.headers };
    if (options.throttle?.(seen)) {
      counts.throttled++;
      req.resume();
      s3Error(res, seen.method, 503, 'SlowDown', 'Please reduce your request rate.');
      return;
    }
    if (options.deny?.(seen)) {
      counts.denied++;
      req.resume();
      s3Error(res, seen.method, 403, 'AccessDenied', 'Access Denied');
      return;
    }
    const copySourceHeader = req.headers['x-amz-copy-source'];
    const handle =
      options.emulateCopy && seen.method === 'PUT' && typeof copySourceHeader === 'string'
        ? emulateCopy(upstream, req, res, seen, copySourceHeader, options, counts)
        : forward(upstream, req, res).then(() => void counts.forwarded++);
    handle.catch((error: Error) => {
      if (!res.headersSent) s3Error(res, seen.method, 502, 'ProxyError', error.message);
      else res.destroy(error);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    counts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function emulateCopy(
  upstream: URL,
  req: IncomingMessage,
  res: ServerResponse,
  seen: ProxiedRequest,
  header: string,
  options: S3ProxyOptions,
  counts: S3Proxy['counts'],
): Promise<void> {
  const decoded = decodeURIComponent(header).replace(/^\//, '');
  const slash = decoded.indexOf('/');
  const source = { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1) };
  const sourcePath = `/${source.bucket}/${source.key.split('/').map(encodeURIComponent).join('/')}`;
  await options.beforeCopy?.(source);

  const ifMatch = req.headers['x-amz-copy-source-if-match'];
  if (typeof ifMatch === 'string') {
    const head = await upstreamRequest(upstream, 'HEAD', sourcePath, {});
    if (head.status === 404) return void (req.resume(), s3Error(res, 'PUT', 404, 'NoSuchKey', 'The specified key does not exist.'));
    if (head.headers.etag !== ifMatch) {
      counts.preconditionFailures++;
      req.resume();
      return s3Error(res, 'PUT', 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
    }
  }

  if (!(seen.url.searchParams.has('uploadId') && seen.url.searchParams.has('partNumber'))) {
    delete req.headers['x-amz-copy-source-if-match'];
    await forward(upstream, req, res);
    counts.forwarded++;
    return;
  }

  req.resume();
  const range = req.headers['x-amz-copy-source-range'];
  const part = await upstreamRequest(upstream, 'GET', sourcePath, typeof range === 'string' ? { range } : {});
  if (part.status === 404) return s3Error(res, 'PUT', 404, 'NoSuchKey', 'The specified key does not exist.');
  if (part.status !== 200 && part.status !== 206) return s3Error(res, 'PUT', part.status, 'ProxyError', `source GET answered ${part.status}`);
  const put = await upstreamRequest(upstream, 'PUT', seen.url.pathname + seen.url.search, { 'content-length': String(part.body.length) }, part.body);
  if (put.status !== 200) return s3Error(res, 'PUT', put.status, 'ProxyError', `UploadPart answered ${put.status}: ${put.body.toString()}`);
  counts.partCopies++;
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<CopyPartResult><ETag>${String(put.headers.etag)}</ETag><LastModified>${new Date().toISOString()}</LastModified></CopyPartResult>`;
  res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) });
  res.end(xml);
}

function forward(upstream: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on('end', resolve);
        answer.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    req.pipe(outgoing);
  });
}

function upstreamRequest(
  upstream: URL,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ hostname: upstream.hostname, port: upstream.port, method, path, headers }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (chunk: Buffer) => chunks.push(chunk));
      answer.on('end', () => resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(chunks) }));
      answer.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

function s3Error(res: ServerResponse, method: string, status: number, code: string, message: string): void {
  const body =
    method === 'HEAD'
      ? ''
      : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message.replace(/[<&>]/g, ' ')}</Message><RequestId>PROXY</RequestId><HostId>proxy</HostId></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), 'x-amz-request-id': 'PROXY' });
  res.end(body);
}
