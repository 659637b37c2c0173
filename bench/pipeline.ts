/**
 * The serverless run end to end at size: the real scanner, worker and reporter handlers on fauxqs
 * (S3, SQS, SNS) and a real PostgreSQL, fed the messages really received from the queues, as the
 * e2e test drives them. Prints, for a dry run and then a collect: wall time per phase (scanner,
 * workers, reporter), AWS requests by kind (every S3, SQS and SNS call, run folder included), the
 * database's queries (sequential and index scans) and rows read, and the process's peak memory.
 *
 *   npm run bench:pipeline                                    # 20 000 objects, 6 000 references
 *   BENCH_PIPELINE_OBJECTS=1000000 BENCH_PIPELINE_REFS=300000 npm run bench:pipeline   # the full size (long)
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SNSClient } from '@aws-sdk/client-sns';
import pg from 'pg';
import pLimit from 'p-limit';
import { awsEndpoint, postgresUrl } from '../test/support/env.js';
import { createTestDatabase } from '../test/support/postgres.js';
import { createBucket, emptyAndDeleteBucket } from '../test/support/s3.js';
import { createQueue, deleteQueues, lambdaContext, pumpQueue, testSns, testSqs, topicWithInbox } from '../test/support/aws.js';
import { contentHash } from '../functions/demo/datajoint-writer.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const OBJECTS = Number(process.env.BENCH_PIPELINE_OBJECTS ?? 20_000);
const REFS = Number(process.env.BENCH_PIPELINE_REFS ?? Math.round(OBJECTS * 0.3));
type Handler = (event: unknown, context: unknown) => Promise<unknown>;

/** Every AWS call of this process, by client and command. */
const requests = new Map<string, number>();
for (const Client of [S3Client, SQSClient, SNSClient]) {
  const send = Client.prototype.send as (...args: unknown[]) => Promise<unknown>;
  Object.defineProperty(Client.prototype, 'send', {
    value: function (this: unknown, command: { constructor: { name: string } }, ...rest: unknown[]) {
      const kind = command.constructor.name.replace(/Command$/, '');
      requests.set(kind, (requests.get(kind) ?? 0) + 1);
      return send.call(this, command, ...rest);
    },
  });
}

let peakRss = 0;
let peakHeap = 0;
const sampler = setInterval(() => {
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  peakHeap = Math.max(peakHeap, m.heapUsed);
}, 100);

async function dbCounters(url: string): Promise<{ seqScans: number; idxScans: number; rowsRead: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ s: string; i: string; r: string }>(
      `SELECT coalesce(sum(seq_scan), 0) s, coalesce(sum(idx_scan), 0) i, coalesce(sum(seq_tup_read + coalesce(idx_tup_fetch, 0)), 0) r FROM pg_stat_user_tables`,
    );
    return { seqScans: Number(rows[0]!.s), idxScans: Number(rows[0]!.i), rowsRead: Number(rows[0]!.r) };
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  const db = await createTestDatabase('djgc_bench_pipeline');
  const store = await createBucket('djgc-bench-store');
  const reports = await createBucket('djgc-bench-reports');
  const sqs = testSqs();
  const work = await createQueue(sqs, 'djgc_bench_work');
  const results = await createQueue(sqs, 'djgc_bench_results');
  const topic = await topicWithInbox(testSns(), sqs);
  try {
    console.log(`bench:pipeline: ${OBJECTS} objects (half hash, half schema files), ${REFS} referenced rows`);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query('CREATE SCHEMA bench; CREATE TABLE bench.recording (id integer PRIMARY KEY, h jsonb, n jsonb)');
    await client.query(`COMMENT ON COLUMN bench.recording.h IS ':<blob@main>:'; COMMENT ON COLUMN bench.recording.n IS ':<npy@main>:'`);
    const paths: string[] = [];
    for (let i = 0; i < OBJECTS; i++) {
      const h = contentHash(Buffer.from(`object ${i}`));
      paths.push(i % 2 === 0 ? `_hash/bench/${h.slice(0, 2)}/${h.slice(2, 4)}/${h}` : `_schema/bench/recording/id=${i}/n.npy`);
    }
    // The first REFS objects are referenced, one per column value, two per row.
    for (let start = 0; start < REFS; start += 20_000) {
      const ids: number[] = [];
      const h: (string | null)[] = [];
      const n: (string | null)[] = [];
      for (let i = start; i < Math.min(REFS, start + 20_000); i += 2) {
        ids.push(i);
        h.push(JSON.stringify({ path: paths[i], store: 'main', hash: paths[i]!.slice(-26), size: 8 }));
        n.push(i + 1 < REFS ? JSON.stringify({ path: paths[i + 1], store: 'main' }) : null);
      }
      await client.query('INSERT INTO bench.recording SELECT * FROM unnest($1::int[], $2::jsonb[], $3::jsonb[])', [ids, h, n]);
    }
    await client.end();
    const limit = pLimit(48);
    await Promise.all(paths.map((key) => limit(() => store.client.send(new PutObjectCommand({ Bucket: store.bucket, Key: `dj/${key}`, Body: 'payload!' })))));

    const endpoint = new URL(awsEndpoint());
    const database = new URL(postgresUrl());
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: awsEndpoint(),
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      POWERTOOLS_METRICS_DISABLED: 'true',
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
      DJGC_GRACE_FLOOR_HOURS: '0',
      DJGC_REMOVAL: 'quarantine',
      DJGC_DB_TLS: 'false',
      DJGC_IGNORED_DATABASES: JSON.stringify({ '*': 'other databases of the shared server' }),
      DJGC_COOLDOWN_MINUTES: '0',
      DJGC_RETRY_DELAY_SECONDS: '0',
    });
    if (database.password) process.env.DJGC_DB_PASSWORD = decodeURIComponent(database.password);
    const scanner = (await import('../functions/handlers/scanner.js')).handler as unknown as Handler;
    const worker = (await import('../functions/handlers/worker.js')).handler as unknown as Handler;
    const reporter = (await import('../functions/handlers/reporter.js')).handler as unknown as Handler;

    for (const mode of ['dry-run', 'collect'] as const) {
      requests.clear();
      peakRss = peakHeap = 0;
      const before = await dbCounters(db.url);
      const t0 = performance.now();
      const started = (await scanner({ mode, graceHours: 0, maxOrphanFraction: 1 }, lambdaContext('scanner'))) as { runId: string; shards: number };
      const t1 = performance.now();
      let workerMs = 0;
      let reporterMs = 0;
      for (let round = 0; round < 100; round++) {
        let t = performance.now();
        const w = await pumpQueue(sqs, work, worker as never, { batchSize: 1, functionName: 'worker' });
        workerMs += performance.now() - t;
        t = performance.now();
        const r = await pumpQueue(sqs, results, reporter as never, { functionName: 'reporter' });
        reporterMs += performance.now() - t;
        if (w.processed + r.processed === 0) break;
      }
      const total = performance.now() - t0;
      const after = await dbCounters(db.url);
      const kinds = [...requests].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ${v}`).join(', ');
      console.log(`\n${mode}: run ${started.runId}, ${started.shards} shards`);
      console.log(`  wall: scanner (plan + mark + queue) ${((t1 - t0) / 1000).toFixed(1)} s, workers ${(workerMs / 1000).toFixed(1)} s, reporter ${(reporterMs / 1000).toFixed(1)} s, total ${(total / 1000).toFixed(1)} s`);
      console.log(`  requests: ${kinds}`);
      console.log(`  database: ${after.seqScans - before.seqScans} sequential scans, ${after.idxScans - before.idxScans} index scans, ${after.rowsRead - before.rowsRead} rows read (pg_stat_user_tables, as reported by then)`);
      console.log(`  peak memory: RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB, heap ${(peakHeap / 2 ** 20).toFixed(0)} MiB (all three handlers in this process)`);
    }
  } finally {
    clearInterval(sampler);
    await topic.drop().catch(() => undefined);
    await deleteQueues(sqs, [work, results]).catch(() => undefined);
    await emptyAndDeleteBucket(store.client, store.bucket).catch(() => undefined);
    await emptyAndDeleteBucket(reports.client, reports.bucket).catch(() => undefined);
    await db.drop();
  }
}

await main();
process.exit(0);
