/**
 * The serverless run end to end on fauxqs (S3, SQS, SNS) and a real PostgreSQL: the scanner is
 * invoked with the scheduler's event, the worker is fed the messages actually received from the
 * work queue, the reporter those of the results and dead-letter queues, and the notification is
 * read from a queue subscribed to the topic.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { PurgeQueueCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SNSClient } from '@aws-sdk/client-sns';
import pg from 'pg';
import { awsEndpoint, postgresUrl } from '../support/env.js';
import { createTestDatabase, loadPostgresFixture } from '../support/postgres.js';
import { createBucket, emptyAndDeleteBucket, listAllKeys, uploadDirectory, type TestBucket } from '../support/s3.js';
import { FIXTURE_DIR, loadGroundTruth } from '../support/fixture.js';
import { createQueue, deleteQueues, lambdaContext, pumpQueue, receiveAll, sqsEvent, testSns, testSqs, topicWithInbox, type TestQueue } from '../support/aws.js';
import { contentHash } from '../../functions/demo/datajoint-writer.js';
import type { Report } from '../../functions/engine/phases/report.js';
import { formatUsd } from '../../functions/engine/phases/cost.js';

type Handler = (event: unknown, context: unknown) => Promise<unknown>;

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let store: TestBucket;
let reports: TestBucket;
let sqs: SQSClient;
let sns: SNSClient;
let work: TestQueue;
let workDlq: TestQueue;
let results: TestQueue;
let topic: Awaited<ReturnType<typeof topicWithInbox>>;
let scanner: Handler;
let worker: Handler;
let reporter: Handler;
const truth = loadGroundTruth('postgres');
const BULK_ORPHANS = 8000;

async function readJson<T>(client: S3Client, bucket: string, key: string): Promise<T> {
  const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return JSON.parse(await response.Body!.transformToString()) as T;
}

const report = (runId: string): Promise<Report> => readJson<Report>(reports.client, reports.bucket, `runs/${runId}/report.json`);
const storeKeys = async (): Promise<string[]> => (await listAllKeys(store.client, store.bucket, 'dj/')).map((k) => k.slice(3)).sort();
const invoke = (handler: Handler, event: unknown, name: string): Promise<unknown> => handler(event, lambdaContext(name));

async function resetStore(): Promise<void> {
  for (const key of await listAllKeys(store.client, store.bucket)) await store.client.send(new DeleteObjectCommand({ Bucket: store.bucket, Key: key }));
  await uploadDirectory(store.client, store.bucket, join(FIXTURE_DIR, 'store-postgres'), 'dj/');
}

async function notifications(): Promise<{ Subject: string; Message: string }[]> {
  const out: { Subject: string; Message: string }[] = [];
  for (let i = 0; i < 20; i++) {
    const messages = await receiveAll(sqs, topic.inbox);
    if (messages.length === 0 && i > 2) break;
    for (const m of messages) out.push(JSON.parse(m.Body!) as { Subject: string; Message: string });
    await new Promise((r) => setTimeout(r, 50));
  }
  return out;
}

/** Run the queues as Lambda's event sources would, until they are empty. */
async function drain(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    const w = await pumpQueue(sqs, work, worker as never, { batchSize: 1, functionName: 'worker' });
    const r = await pumpQueue(sqs, results, reporter as never, { functionName: 'reporter' });
    if (w.processed + r.processed === 0) return;
  }
}

beforeAll(async () => {
  db = await createTestDatabase('djgc_e2e');
  await loadPostgresFixture(db.url, join(FIXTURE_DIR, 'postgres.sql'));
  store = await createBucket('djgc-e2e-store');
  reports = await createBucket('djgc-e2e-reports');
  sqs = testSqs();
  sns = testSns();
  workDlq = await createQueue(sqs, 'djgc_work_dlq');
  work = await createQueue(sqs, 'djgc_work', { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: workDlq.arn, maxReceiveCount: '2' }) });
  results = await createQueue(sqs, 'djgc_results');
  topic = await topicWithInbox(sns, sqs);

  const endpoint = new URL(awsEndpoint());
  const database = new URL(postgresUrl());
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: awsEndpoint(),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    POWERTOOLS_LOG_LEVEL: 'WARN',
    DJGC_REPORT_BUCKET: reports.bucket,
    DJGC_WORK_QUEUE_URL: work.url,
    DJGC_RESULTS_QUEUE_URL: results.url,
    DJGC_TOPIC_ARN: topic.topicArn,
    DJGC_DB_BACKEND: 'postgresql',
    DJGC_DB_HOST: database.hostname,
    DJGC_DB_PORT: database.port || '5432',
    DJGC_DB_USER: decodeURIComponent(database.username || 'postgres'),
    DJGC_DB_NAME: db.name,
    DJ_STORES: JSON.stringify({ default: 'main', main: { protocol: 's3', endpoint: endpoint.host, secure: false, bucket: store.bucket, location: 'dj' } }),
    DJGC_MODE: 'dry-run',
    DJGC_GRACE_HOURS: '24',
    // The fixture's objects were uploaded a moment ago: these runs collect without a grace period.
    DJGC_GRACE_FLOOR_HOURS: '0',
    DJGC_MAX_RECEIVE_COUNT: '2',
    DJGC_REMOVAL: 'delete',
    DJGC_DB_TLS: 'false',
    DJGC_IGNORED_DATABASES: JSON.stringify({ '*': "the other tests' databases on the shared test server" }),
    DJGC_COOLDOWN_MINUTES: '0',
    DJGC_RETRY_DELAY_SECONDS: '0',
  });
  if (database.password) process.env.DJGC_DB_PASSWORD = decodeURIComponent(database.password);
  scanner = (await import('../../functions/handlers/scanner.js')).handler as unknown as Handler;
  worker = (await import('../../functions/handlers/worker.js')).handler as unknown as Handler;
  reporter = (await import('../../functions/handlers/reporter.js')).handler as unknown as Handler;
});

afterAll(async () => {
  await emptyAndDeleteBucket(store.client, store.bucket).catch(() => undefined);
  await emptyAndDeleteBucket(reports.client, reports.bucket).catch(() => undefined);
  await deleteQueues(sqs, [work, workDlq, results]);
  await topic?.drop();
  await db?.drop();
});

beforeEach(async () => {
  await resetStore();
  for (const q of [work, workDlq, results, topic.inbox]) await sqs.send(new PurgeQueueCommand({ QueueUrl: q.url })).catch(() => undefined);
});

const orphaned = truth.objects.filter((o) => o.status === 'orphaned').map((o) => o.path).sort();
const kept = truth.objects.filter((o) => o.status !== 'orphaned').map((o) => o.path).sort();

describe('the scanner payload', () => {
  it('rejects a malformed console payload naming the field, and starts nothing', async () => {
    await expect(invoke(scanner, { mode: 'delete-everything', graceHours: '2' }, 'scanner')).rejects.toThrow(/invalid scanner payload: mode: .*; graceHours: .*expected number/);
    await expect(invoke(scanner, { schema: ['x'] }, 'scanner')).rejects.toThrow(/Unrecognized key.*"schema"/);
    expect(await receiveAll(sqs, work)).toEqual([]);
    expect(await listAllKeys(reports.client, reports.bucket, 'runs/')).toEqual([]);
  });

  it('refuses a collect whose grace period is below the deployed floor, naming the floor', async () => {
    const { pipelineContext, engineDependencies } = await import('../../functions/pipeline/context.js');
    const { parsePayload, runRequestOf, ScanRequestSchema } = await import('../../functions/pipeline/messages.js');
    const { startRun } = await import('../../functions/engine/run/scanner.js');
    const ctx = pipelineContext({ ...process.env, DJGC_GRACE_FLOOR_HOURS: undefined });
    const request = runRequestOf(parsePayload(ScanRequestSchema, { mode: 'collect', graceHours: 0 }, 'scanner payload'), ctx.settings.defaults);
    await expect(startRun(await engineDependencies(ctx), request)).rejects.toThrow(/grace period of 0 h is below the floor of 24 h/);
    const dry = runRequestOf(parsePayload(ScanRequestSchema, { mode: 'dry-run', graceHours: 0 }, 'scanner payload'), ctx.settings.defaults);
    const started = await startRun(await engineDependencies(ctx), dry);
    expect(started.status).toBe('started');
    await drain();
    expect(await receiveAll(sqs, work)).toEqual([]);
  });
});

describe('a scheduled run', () => {
  it('reports the fixture’s orphans in S3, notifies once, refuses a second run meanwhile, and an approval deletes them', async () => {
    const emitted: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      emitted.push(String(chunk));
      return write(chunk, ...rest);
    }) as typeof process.stdout.write;
    const started = (await invoke(scanner, { source: 'schedule', mode: 'dry-run', graceHours: 0 }, 'scanner')) as { status: string; runId: string; shards: number };
    expect(started).toMatchObject({ status: 'started', shards: 2 });
    expect(await invoke(scanner, {}, 'scanner')).toMatchObject({ status: 'refused', reason: expect.stringMatching(/still active/) });

    await drain();
    process.stdout.write = write;
    const dry = await report(started.runId);
    // One embedded-metric-format record for the run, with the figures of its report.
    const metrics = emitted.flatMap((text) => text.split('\n')).filter((line) => line.includes('"CloudWatchMetrics"')).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(metrics).toHaveLength(1);
    expect(metrics[0]).toMatchObject({ RunsFinished: 1, RunsPartial: 0, RunsFailed: 0, Orphaned: 27, Deleted: 0, service: 'djgc' });
    expect((metrics[0]!._aws as { CloudWatchMetrics: { Namespace: string }[] }).CloudWatchMetrics[0]!.Namespace).toBe('djgc');
    expect(dry).toMatchObject({ dry_run: true, complete: true, errors: 0, hash_orphaned: 2, schema_paths_orphaned: 25, orphaned: 27, referenced: 36, deleted: 0 });
    expect(await storeKeys()).toEqual(truth.objects.map((o) => o.path).sort());
    const latest = await readJson<{ run_id: string }>(reports.client, reports.bucket, 'latest.json');
    expect(latest.run_id).toBe(started.runId);
    const page = await reports.client.send(new GetObjectCommand({ Bucket: reports.bucket, Key: `runs/${started.runId}/report.html` }));
    expect(await page.Body!.transformToString()).toContain('<svg');
    const sent = await notifications();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.Subject).toBe('djgc OK: 27 orphaned (2.3 KiB), dry run');
    expect(sent[0]!.Message).toContain(`"approveRun": "${started.runId}"`);

    // The notice's links open without AWS credentials: the report and the history through presigned GETs, the folder in the console.
    const message = sent[0]!.Message;
    const reportLink = /^Report \(link valid until ([^)]+)\): (\S+)$/m.exec(message);
    expect(reportLink, message).not.toBeNull();
    const link = new URL(reportLink![2]!);
    expect(link.pathname).toBe(`/${reports.bucket}/runs/${started.runId}/report.html`);
    expect(link.searchParams.get('X-Amz-Expires')).toBe('604800');
    expect(link.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(new Date(reportLink![1]!).getTime() - Date.now()).toBeGreaterThan(6.9 * 24 * 3600_000);
    const opened = await fetch(link);
    expect(opened.status).toBe(200);
    expect(opened.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await opened.text();
    expect(html).toContain(`Run <code>${started.runId}</code>`);
    expect(html).toContain('<h2>Cost</h2>');
    expect(html).toContain('<a href="../../history.html">Run history</a>');
    const historyLink = /^Run history: (\S+)$/m.exec(message)![1]!;
    expect(new URL(historyLink).pathname).toBe(`/${reports.bucket}/history.html`);
    const historyPage = await (await fetch(historyLink)).text();
    expect(historyPage).toContain(`<a href="runs/${started.runId}/report.html"><code>${started.runId}</code></a>`);
    expect(message).toContain(
      `Run folder in the S3 console: https://console.aws.amazon.com/s3/buckets/${reports.bucket}?region=us-east-1&bucketType=general&prefix=runs%2F${started.runId}%2F&showversions=false`,
    );
    // Cost lines: S3 Standard prices by default, and the store requests this run made (listing pages, the versioning state).
    expect(dry.cost.by_store).toEqual([expect.objectContaining({ store: 'main', price_per_gb_month: 0.023, orphaned_bytes: dry.orphaned_bytes })]);
    expect(dry.cost.orphaned_per_month).toBeCloseTo((dry.orphaned_bytes / 2 ** 30) * 0.023, 12);
    expect(dry.requests.store).toMatchObject({ list: dry.requests.list, put: 0, copy: 0, delete: 0, get: 2 });
    expect(dry.cost.requests_total).toBeCloseTo((dry.requests.list * 0.005 + 2 * 0.0004) / 1000, 12);
    expect(dry.store_versioning).toEqual({ main: 'unversioned' });
    expect(message).toContain(`Orphaned bytes:  ${formatUsd(dry.cost.orphaned_per_month)}/month`);
    const entry = await readJson<{ run_id: string; status: string }>(reports.client, reports.bucket, `index/${started.runId}.json`);
    expect(entry).toMatchObject({ run_id: started.runId, status: 'complete', dry_run: true, orphaned: 27 });

    const approval = (await invoke(scanner, { approveRun: started.runId }, 'scanner')) as { status: string; runId: string };
    expect(approval).toMatchObject({ status: 'started', approvedRun: started.runId, dryRun: false });
    await drain();
    const approved = await report(approval.runId);
    expect(approved).toMatchObject({ dry_run: false, complete: true, errors: 0, orphaned: 27, deleted: 27, approved_run: started.runId });
    expect(approved.requests.list).toBe(0);
    expect(await storeKeys()).toEqual(kept);
    // The approval deleted in batches (DELETE, free) after checking each listed object (HEAD), and freed what it deleted.
    expect(approved.requests.store.delete).toBeGreaterThan(0);
    expect(approved.requests.store.head).toBeGreaterThanOrEqual(27);
    expect(approved.bytes_freed).toBe(dry.orphaned_bytes);
    expect(approved.cost.freed_per_month).toBeCloseTo((dry.orphaned_bytes / 2 ** 30) * 0.023, 12);
    const history = await (await reports.client.send(new GetObjectCommand({ Bucket: reports.bucket, Key: 'history.html' }))).Body!.transformToString();
    expect(history).toContain(approval.runId);
    expect(history).toContain(started.runId);
  });

  it('counts right when a shard message is delivered twice', async () => {
    const started = (await invoke(scanner, { mode: 'collect', graceHours: 0 }, 'scanner')) as { runId: string; shards: number };
    const messages = await receiveAll(sqs, work);
    expect(messages).toHaveLength(started.shards);
    for (const message of messages) {
      await invoke(worker, sqsEvent(work, [message]), 'worker');
      await invoke(worker, sqsEvent(work, [message]), 'worker');
    }
    await pumpQueue(sqs, results, reporter as never);
    const collected = await report(started.runId);
    expect(collected).toMatchObject({ complete: true, errors: 0, orphaned: 27, deleted: 27, referenced: 36 });
    expect(await storeKeys()).toEqual(kept);
    expect(await notifications()).toHaveLength(1);
  });

  it('reports a shard that always fails as partial, naming it, after it reaches the dead-letter queue', async () => {
    const started = (await invoke(scanner, { mode: 'collect', graceHours: 0 }, 'scanner')) as { runId: string };
    const refs = await listAllKeys(reports.client, reports.bucket, `runs/${started.runId}/refs/`);
    const broken = refs.find((k) => k.includes('~schema~'))!;
    await reports.client.send(new DeleteObjectCommand({ Bucket: reports.bucket, Key: broken }));
    await drain();
    const partial = await report(started.runId);
    const shardId = broken.split('/').pop()!.replace(/\.jsonl$/, '');
    expect(partial.complete).toBe(false);
    expect(partial.failed_shards).toEqual([shardId]);
    expect(partial.scan_errors.join('\n')).toMatch(/failed on every one of 2 deliveries/);
    // The message stays in the dead-letter queue, for the alarm and a redrive once fixed.
    expect((await receiveAll(sqs, workDlq)).map((m) => JSON.parse(m.Body!) as { shardId: string })).toEqual([expect.objectContaining({ shardId })]);
    expect(partial).toMatchObject({ hash_orphaned: 2, deleted: 2 });
    expect(await storeKeys()).toEqual([...kept, ...orphaned.filter((p) => p.startsWith('_schema/'))].sort());
    const sent = await notifications();
    expect(sent.map((n) => n.Subject)).toEqual([expect.stringMatching(/^djgc PARTIAL: 2 deleted/)]);
  });
});

describe('a run that never finishes', () => {
  it('is reported as partial by the scheduled finalize-overdue call, and frees its scope', async () => {
    const started = (await invoke(scanner, { mode: 'collect', graceHours: 0 }, 'scanner')) as { runId: string; shards: number };
    expect(await invoke(reporter, { action: 'finalize-overdue' }, 'reporter')).toEqual({ reported: [] });

    const { pipelineContext, reporterDependencies } = await import('../../functions/pipeline/context.js');
    const { finalizeOverdue } = await import('../../functions/engine/run/reporter.js');
    const later = pipelineContext();
    later.now = () => new Date(Date.now() + 2 * 3600_000);
    const finalized = await finalizeOverdue(reporterDependencies(later));
    expect(finalized.map((r) => r.run_id)).toEqual([started.runId]);
    const partial = await report(started.runId);
    expect(partial).toMatchObject({ complete: false, deleted: 0 });
    expect(partial.failed_shards).toHaveLength(started.shards);
    expect(partial.scan_errors.join('\n')).toMatch(/did not finish within 90 minutes/);
    expect((await notifications()).map((n) => n.Subject)).toEqual([expect.stringMatching(/^djgc PARTIAL/)]);

    // The late shard messages find the run reported and sweep nothing.
    await drain();
    expect(await storeKeys()).toEqual(truth.objects.map((o) => o.path).sort());
    expect(await invoke(reporter, { action: 'cleanup' }, 'reporter').catch((e: Error) => e.message)).toMatch(/invalid reporter payload: action/);
    const next = (await invoke(scanner, { graceHours: 0 }, 'scanner')) as { status: string; runId: string };
    expect(next.status).toBe('started');
    await drain();
    expect(await report(next.runId)).toMatchObject({ complete: true, orphaned: 27 });
  });
});

describe('a worker that dies in the middle of a shard', () => {
  it('is retried without double counting or deleting anything referenced', async () => {
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    const live: string[] = [];
    try {
      await sql.query(`CREATE SCHEMA bulk; CREATE TABLE bulk.t (id int PRIMARY KEY, h jsonb); COMMENT ON COLUMN bulk.t.h IS ':<blob@main>:'`);
      const paths: string[] = [];
      for (let i = 0; i < BULK_ORPHANS + 50; i++) {
        const h = contentHash(Buffer.from(`bulk ${i}`));
        paths.push(`_hash/bulk/${h}`);
        if (i >= BULK_ORPHANS) {
          live.push(`_hash/bulk/${h}`);
          await sql.query('INSERT INTO bulk.t VALUES ($1, $2)', [i, JSON.stringify({ hash: h, path: `_hash/bulk/${h}`, schema: 'bulk', store: 'main', size: 1 })]);
        }
      }
      const { PutObjectCommand } = await import('@aws-sdk/client-s3');
      const pLimit = (await import('p-limit')).default;
      const limit = pLimit(32);
      await Promise.all(paths.map((p) => limit(() => store.client.send(new PutObjectCommand({ Bucket: store.bucket, Key: `dj/${p}`, Body: 'x' })))));

      const started = (await invoke(scanner, { mode: 'collect', graceHours: 0, schemas: ['bulk'], maxOrphanFraction: 1 }, 'scanner')) as { runId: string };
      const messages = await receiveAll(sqs, work);
      const hashShard = messages.find((m) => m.Body!.includes('~hash~bulk'))!;
      const shardId = (JSON.parse(hashShard.Body!) as { shardId: string }).shardId;

      // A worker in its own process that kills itself once its first delete batch is journaled.
      const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'worker-child.ts'), JSON.stringify(sqsEvent(work, [hashShard]))], {
        env: process.env,
        stdio: 'ignore',
      });
      const signal = await new Promise((resolve) => child.once('exit', (_code, killedBy) => resolve(killedBy)));
      expect(signal).toBe('SIGKILL');
      const resultKey = `runs/${started.runId}/shards/${shardId}.json`;
      const finished = await reports.client.send(new ListObjectsV2Command({ Bucket: reports.bucket, Prefix: resultKey }));
      expect(finished.KeyCount ?? 0, 'the worker finished before it could be killed').toBe(0);
      const remaining = (await storeKeys()).filter((k) => k.startsWith('_hash/bulk/')).length;
      expect(remaining).toBeLessThan(BULK_ORPHANS + 50);
      expect(remaining).toBeGreaterThan(50);

      // SQS delivers the unfinished messages again.
      for (const message of messages) await invoke(worker, sqsEvent(work, [message]), 'worker');
      await pumpQueue(sqs, results, reporter as never);
      const collected = await report(started.runId);
      expect(collected).toMatchObject({ complete: true, errors: 0, orphaned: BULK_ORPHANS, deleted: BULK_ORPHANS, referenced: 50 });
      expect((await storeKeys()).filter((k) => k.startsWith('_hash/bulk/'))).toEqual(live.sort());
    } finally {
      await sql.query('DROP SCHEMA IF EXISTS bulk CASCADE');
      await sql.end();
    }
    // Generous: the case loads 8000 objects and runs a worker process; on a busy machine that takes long, and no result depends on it.
  }, 300_000);
});