import type { S3Client } from '@aws-sdk/client-s3';
import { noRequests, type StoreRequests } from '../engine/model/requests.js';

/** S3 operations by the class S3 bills them in; anything not named here is billed as a GET. */
const CLASS_OF: Record<string, keyof StoreRequests> = {
  ListObjectsV2Command: 'list',
  ListObjectsCommand: 'list',
  ListObjectVersionsCommand: 'list',
  PutObjectCommand: 'put',
  CreateMultipartUploadCommand: 'put',
  UploadPartCommand: 'put',
  CompleteMultipartUploadCommand: 'put',
  PutObjectTaggingCommand: 'put',
  CopyObjectCommand: 'copy',
  UploadPartCopyCommand: 'copy',
  HeadObjectCommand: 'head',
  HeadBucketCommand: 'head',
  DeleteObjectCommand: 'delete',
  DeleteObjectsCommand: 'delete',
  AbortMultipartUploadCommand: 'delete',
};

const meters = new WeakMap<S3Client, StoreRequests>();

/**
 * The requests a client has sent, by billing class, counted once per attempt (a retried request
 * is billed again). The meter is attached once per client; a store reads the difference since it
 * was made, so two stores sharing a client at the same time would count each other's requests.
 */
export function requestMeter(client: S3Client): StoreRequests {
  let counts = meters.get(client);
  if (counts) return counts;
  const meter = noRequests();
  counts = meter;
  meters.set(client, meter);
  client.middlewareStack.add(
    (next, context) => async (args) => {
      meter[CLASS_OF[context.commandName ?? ''] ?? 'get']++;
      return next(args);
    },
    // After the retry middleware (finalizeRequest, high priority): once per attempt.
    { step: 'finalizeRequest', priority: 'low', name: 'djgcRequestMeter' },
  );
  return counts;
}

export function requestsSince(now: StoreRequests, before: StoreRequests): StoreRequests {
  const out = noRequests();
  for (const key of Object.keys(out) as (keyof StoreRequests)[]) out[key] = now[key] - before[key];
  return out;
}
