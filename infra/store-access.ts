import * as iam from 'aws-cdk-lib/aws-iam';
import { acknowledgeScopedWildcards } from './nag.js';
import type { StoreArea, StoreLayout } from './store-sections.js';

/**
 * What the worker may do in the store buckets: list, read, quarantine (copy into the
 * quarantine folder, then delete), restore (copy back) and purge, only inside the
 * hash and schema sections and the quarantine folders of the collected stores.
 * Copies of large objects are multipart (UploadPartCopy needs GetObject on the source
 * and PutObject on the destination; an interrupted one is aborted). CopyObject copies
 * an object's tags, which needs the tagging actions on both ends.
 */
export const STORE_OBJECT_ACTIONS = [
  's3:GetObject',
  's3:PutObject',
  's3:DeleteObject',
  's3:AbortMultipartUpload',
  's3:ListMultipartUploadParts',
  's3:GetObjectTagging',
  's3:PutObjectTagging',
] as const;

const REASON =
  'Limited to the hash and schema sections and the quarantine folder of a configured DataJoint store: the only keys the collector lists, moves or deletes.';

export function grantStoreAccess(role: iam.Role, layout: StoreLayout, partition: string): void {
  const byBucket = new Map<string, StoreArea[]>();
  for (const area of [...layout.sections, ...layout.quarantines]) {
    byBucket.set(area.bucket, [...(byBucket.get(area.bucket) ?? []), area]);
  }
  for (const [bucket, areas] of byBucket) {
    const bucketArn = `arn:${partition}:s3:::${bucket}`;
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucketArn],
        conditions: { StringLike: { 's3:prefix': areas.map((a) => `${a.prefix}/*`) } },
      }),
    );
    // A delete in a versioned bucket only hides the object: the worker reports it.
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetBucketVersioning'], resources: [bucketArn] }));
    const objects = areas.map((a) => `${bucketArn}/${a.prefix}/*`);
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: [...STORE_OBJECT_ACTIONS], resources: objects }));
    acknowledgeScopedWildcards(role, objects, REASON);
  }
}
