import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBucket, emptyAndDeleteBucket, type TestBucket } from '../support/s3.js';
import { S3FolderStorage } from '../../functions/pipeline/s3-folder-storage.js';
import { RunFolder } from '../../functions/engine/run/run-folder.js';
import { acquireRunLock, releaseRunLock } from '../../functions/engine/run/lock.js';

let bucket: TestBucket;
let folder: RunFolder;
const limits = { timeoutMinutes: 60, cooldownMinutes: 30 };
const at = (minutes: number): Date => new Date(Date.UTC(2026, 10, 23, 3, 0) + minutes * 60_000);
const lock = (runId: string, schemas: string[], minutes: number, store?: string) => ({
  runId,
  schemas,
  ...(store ? { store } : {}),
  startedAt: at(minutes).toISOString(),
});

beforeAll(async () => {
  bucket = await createBucket('djgc-locks');
  folder = new RunFolder(new S3FolderStorage(bucket.client, bucket.bucket));
});
afterAll(async () => emptyAndDeleteBucket(bucket.client, bucket.bucket));

describe('run locks in the report bucket', () => {
  it('refuses overlapping scopes while active and during the cooldown, and allows disjoint ones', async () => {
    expect(await acquireRunLock(folder, lock('r1', ['lab'], 0), at(0), limits)).toBeNull();
    expect(await acquireRunLock(folder, lock('r2', [], 1), at(1), limits)).toMatch(/run r1 on an overlapping scope is still active/);
    expect(await acquireRunLock(folder, lock('r3', ['lab', 'other'], 1), at(1), limits)).toMatch(/r1/);
    expect(await acquireRunLock(folder, lock('r4', ['other'], 1), at(1), limits)).toBeNull();
    expect(await acquireRunLock(folder, lock('r5', ['lab'], 1, 'cold'), at(1), limits)).toMatch(/r1/);

    await releaseRunLock(folder, 'r1', at(10));
    expect(await acquireRunLock(folder, lock('r6', ['lab'], 20), at(20), limits)).toMatch(/finished at .*less than the 30-minute cooldown ago/);
    expect(await acquireRunLock(folder, lock('r7', ['lab'], 41), at(41), limits)).toBeNull();
  });

  it('lets a run that outlived its timeout be replaced', async () => {
    expect(await acquireRunLock(folder, lock('s1', ['solo'], 100), at(100), limits)).toBeNull();
    expect(await acquireRunLock(folder, lock('s2', ['solo'], 161), at(161), limits)).toBeNull();
  });

  it('resolves two scanners that passed their checks at once: the earlier run id wins', async () => {
    // Another scanner writes its lock between this one's check and its write.
    const racing = (rival: string): RunFolder => {
      const racer = new RunFolder(new S3FolderStorage(bucket.client, bucket.bucket));
      const write = racer.writeLock.bind(racer);
      let raced = false;
      racer.writeLock = async (wanted) => {
        await write(wanted);
        if (!raced) {
          raced = true;
          await write(lock(rival, ['race', 'race2'], 200));
        }
      };
      return racer;
    };
    expect(await acquireRunLock(racing('u1'), lock('u2', ['race'], 200), at(200), limits)).toMatch(/run u1 on an overlapping scope is still active/);
    expect((await folder.readLocks()).find((l) => l.runId === 'u2')?.finishedAt).toBeDefined();

    expect(await acquireRunLock(racing('v9'), lock('v1', ['race2'], 300), at(300), limits)).toBeNull();
    expect((await folder.readLocks()).find((l) => l.runId === 'v1')?.finishedAt).toBeUndefined();
  });
});
