import type { ObjectStore } from '../types.js';
import type { ShardResult } from '../model/results.js';

/**
 * What the report needs to know about the store a shard worked on, recorded in its result: the
 * requests its client made (for the run's request cost) and the bucket's versioning state (a
 * delete on a versioned bucket frees nothing until the noncurrent version expires). Neither
 * changes what the shard did: a versioning state that cannot be read is recorded as `unknown`.
 */
export async function recordStoreFacts(store: ObjectStore, result: ShardResult): Promise<void> {
  result.storeVersioning = await store.versioning().catch(() => 'unknown' as const);
  const requests = store.requestCounts?.();
  if (requests) result.storeRequests = requests;
}
