/** Store requests by the class S3 bills them in; counted by a store's client (a file store makes none). */
export interface StoreRequests {
  /** ListObjectsV2, ListObjectVersions. */
  list: number;
  /** PutObject, CreateMultipartUpload, UploadPart, CompleteMultipartUpload. */
  put: number;
  /** CopyObject, UploadPartCopy. */
  copy: number;
  /** GetObject and every other read (GetBucketVersioning). */
  get: number;
  /** HeadObject, HeadBucket. */
  head: number;
  /** DeleteObject(s), AbortMultipartUpload: free on S3. */
  delete: number;
}

export const REQUEST_CLASSES = ['list', 'put', 'copy', 'get', 'head', 'delete'] as const satisfies readonly (keyof StoreRequests)[];

export function noRequests(): StoreRequests {
  return { list: 0, put: 0, copy: 0, get: 0, head: 0, delete: 0 };
}

export function addRequests(into: StoreRequests, from: Partial<StoreRequests> | undefined): StoreRequests {
  for (const key of REQUEST_CLASSES) into[key] += from?.[key] ?? 0;
  return into;
}

