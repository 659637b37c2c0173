/**
 * Benchmarks: objects/s for scan and collect on generated stores (file and S3), and the peak
 * memory of mark + sweep as the store grows. Prints figures; asserts nothing.
 *
 *   npm run bench                      # default sizes
 *   BENCH_OBJECTS=200000 npm run bench # objects per throughput run
 *   BENCH_MEMORY_SIZES=50000,100000,200000 npm run bench
 */
import { mkdtemp, rm, mkdir, writeFile, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import pg from 'pg';
import pLimit from 'p-limit';
import { CreateBucketCommand, PutObjectCommand, S3Client, ListObjectsV2Command, DeleteObjectsCommand, DeleteBucketCommand } from '@aws-sdk/client-s3';
import { openCatalog } from '../functions/catalog/index.js';
import { normalizeStore } from '../functions/config/datajoint.js';
import { openStore, physicalRoot } from '../functions/stores/index.js';
import { RunFolder } from '../functions/engine/run/run-folder.js';
import { LocalFolderStorage } from '../functions/pipeline/local-folder-storage.js';
import { runLocally } from '../functions/engine/run/local.js';
import { DEFAULT_RUN_OPTIONS, type RunMode } from '../functions/engine/model/options.js';
import { NO_DECLARATIONS } from '../functions/engine/model/plan.js';
import { contentHash } from '../functions/demo/datajoint-writer.js';
import type { StoreSpec } from '../functions/engine/types.js';
import type { RunEvent } from '../functions/engine/model/events.js';
import type { Report } from '../functions/engine/phases/report.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const pgUrl = process.env.DJGC_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const awsEndpoint = process.env.DJGC_TEST_AWS_ENDPOINT;
const objects = Number(process.env.BENCH_OBJECTS ?? 100_000);
const memorySizes = (process.env.BENCH_MEMORY_SIZES ?? '50000,100000,200000').split(',').map(Number);
const OLD = new Date(Date.now() - 7 * 86_400_000);

/** Half the objects are hash objects (subfolded), half schema files, one per row; every third row deleted. */
function dataset(n: number): { paths: string[]; referenced: string[] } {
  const paths: string[] = [];
  const referenced: string[] = [];
  for (let i = 0; i < n; i++) {
    const path =
      i % 2 === 0
        ? (() => {
            const h = contentHash(Buffer.from(`object ${i}`));
            return `_hash/bench/${h.slice(0, 2)}/${h.slice(2, 4)}/${h}`;
          })()
        : `_schema/bench/recording/session=${Math.floor(i / 1000)}/id=${i}/n_${i.toString(36).padStart(8, '0')}.npy`;
    paths.push(path);
    if (i % 3 !== 0) referenced.push(path);
  }
  return { paths, referenced };
}

async function createDatabase(referenced: string[]): Promise<{ name: string; drop: () => Promise<void> }> {
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  const name = `djgc_bench_${process.pid}_${Date.now()}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(pgUrl);
  url.pathname = `/${name}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  await client.query('CREATE SCHEMA bench');
  await client.query('CREATE TABLE bench.recording (id integer PRIMARY KEY, h jsonb, n jsonb)');
  await client.query(`COMMENT ON COLUMN bench.recording.h IS ':<blob@main>:'`);
  await client.query(`COMMENT ON COLUMN bench.recording.n IS ':<npy@main>:'`);
  const hashes = referenced.filter((p) => p.startsWith('_hash/'));
  const files = referenced.filter((p) => p.startsWith('_schema/'));
  const rows = Math.max(hashes.length, files.length);
  for (let start = 0; start < rows; start += 10_000) {
    const ids: number[] = [];
    const h: (string | null)[] = [];
    const n: (string | null)[] = [];
    for (let i = start; i < Math.min(rows, start + 10_000); i++) {
      ids.push(i);
      h.push(hashes[i] ? JSON.stringify({ hash: hashes[i]!.slice(-26), path: hashes[i], schema: 'bench', store: 'main', size: 8 }) : null);
      n.push(files[i] ? JSON.stringify({ path: files[i], store: 'main', dtype: 'float32', shape: [2] }) : null);
    }
    await client.query('INSERT INTO bench.recording SELECT * FROM unnest($1::int[], $2::jsonb[], $3::jsonb[])', [ids, h, n]);
  }
  await client.end();
  return {
    name,
    drop: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

async function writeFiles(root: string, paths: string[]): Promise<void> {
  const made = new Set<string>();
  for (let i = 0; i < paths.length; i += 64) {
    await Promise.all(
      paths.slice(i, i + 64).map(async (p) => {
        const file = join(root, p);
        const folder = dirname(file);
        if (!made.has(folder)) {
          await mkdir(folder, { recursive: true });
          made.add(folder);
        }
        await writeFile(file, 'payload!');
        await utimes(file, OLD, OLD);
      }),
    );
  }
}

function s3Client(): S3Client {
  return new S3Client({ endpoint: awsEndpoint!, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
}

async function uploadObjects(client: S3Client, bucket: string, paths: string[]): Promise<void> {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const limit = pLimit(48);
  await Promise.all(paths.map((p) => limit(() => client.send(new PutObjectCommand({ Bucket: bucket, Key: p, Body: 'payload!' })))));
}

async function dropBucket(client: S3Client, bucket: string): Promise<void> {
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length) await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
    token = page.NextContinuationToken;
  } while (token);
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}

interface Measured {
  seconds: number;
  /** Largest heap still in use right after a full collection: what the run actually holds. */
  peakLiveHeapMiB: number;
  peakRssMiB: number;
}

/** Times `fn`; with `sampleMs`, also samples memory, each sample after a full collection (--expose-gc). */
async function measure(fn: () => Promise<unknown>, sampleMs?: number): Promise<Measured> {
  global.gc?.();
  let peakHeap = 0;
  let peakRss = 0;
  const sample = (): void => {
    global.gc?.();
    const m = process.memoryUsage();
    peakHeap = Math.max(peakHeap, m.heapUsed);
    peakRss = Math.max(peakRss, m.rss);
  };
  const timer = sampleMs ? setInterval(sample, sampleMs) : undefined;
  const start = performance.now();
  try {
    await fn();
  } finally {
    clearInterval(timer);
    if (sampleMs) sample();
  }
  return { seconds: (performance.now() - start) / 1000, peakLiveHeapMiB: peakHeap / 2 ** 20, peakRssMiB: peakRss / 2 ** 20 };
}

async function collectRun(database: string, spec: StoreSpec, mode: RunMode, graceHours: number, maxRefsPerShard = 20_000) {
  const url = new URL(pgUrl);
  const catalog = await openCatalog({
    backend: 'postgresql',
    host: url.hostname,
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username || 'postgres'),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    database,
  });
  const runs = await mkdtemp(join(tmpdir(), 'djgc-bench-runs-'));
  const stopTrace = process.env.BENCH_TRACE ? traceSampler() : () => undefined;
  try {
    return await runLocally(
      {
        catalog,
        stores: { main: spec },
        defaultStore: 'main',
        openStore,
        rootOf: physicalRoot,
        folder: new RunFolder(new LocalFolderStorage(runs)),
        lifecycle: { runTimeoutMinutes: 60, cooldownMinutes: 0, graceFloorHours: 0 },
        declared: NO_DECLARATIONS,
        now: () => new Date(),
        ...(process.env.BENCH_TRACE ? { observe: traceMemory } : {}),
      },
      { options: { ...DEFAULT_RUN_OPTIONS, graceHours, mode, maxRefsPerShard } },
    );
  } finally {
    stopTrace();
    await catalog.close();
    await rm(runs, { recursive: true, force: true });
  }
}

/** BENCH_TRACE=1: the live heap at each phase and shard event, and the most seen since the previous one. */
let peakSinceEvent = 0;
function traceSampler(): () => void {
  const timer = setInterval(() => {
    global.gc?.();
    peakSinceEvent = Math.max(peakSinceEvent, process.memoryUsage().heapUsed);
  }, 100);
  return () => clearInterval(timer);
}
function traceMemory(event: RunEvent): void {
  if (event.type !== 'phase' && event.type !== 'shard-listed' && event.type !== 'shard-done') return;
  global.gc?.();
  const what = event.type === 'phase' ? event.phase : `${event.type} ${event.shard}`;
  const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
  console.log(`    ${what.padEnd(40)} live heap ${mib(process.memoryUsage().heapUsed)} MiB, at most ${mib(peakSinceEvent)} MiB since the previous event`);
  peakSinceEvent = 0;
}

const row = (cells: (string | number)[]): string => cells.map((c) => String(c).padStart(14)).join('');

async function throughput(kind: 'file' | 's3'): Promise<void> {
  const { paths, referenced } = dataset(objects);
  const db = await createDatabase(referenced);
  const root = await mkdtemp(join(tmpdir(), 'djgc-bench-store-'));
  const bucket = `djgc-bench-${Date.now()}`;
  const client = kind === 's3' ? s3Client() : undefined;
  try {
    const prepared = await measure(() => (client ? uploadObjects(client, bucket, paths) : writeFiles(root, paths)));
    const spec =
      kind === 'file'
        ? normalizeStore('main', { protocol: 'file', location: root, subfolding: [2, 2] })
        : normalizeStore('main', { protocol: 's3', endpoint: new URL(awsEndpoint!).host, secure: false, bucket, access_key: 'test', secret_key: 'test', subfolding: [2, 2] });
    // S3 stamps every upload with the time it happened, so the S3 runs use no grace period.
    const graceHours = kind === 'file' ? 1 : 0;
    let scanReport;
    const scan = await measure(async () => {
      scanReport = await collectRun(db.name, spec, 'dry-run', graceHours);
    });
    let collectReport;
    const collect = await measure(async () => {
      collectReport = await collectRun(db.name, spec, 'collect', graceHours);
    });
    console.log(`\n${kind} store: ${objects.toLocaleString('en-US')} objects (${paths.length - referenced.length} orphaned), prepared in ${prepared.seconds.toFixed(1)} s`);
    console.log(row(['phase', 'seconds', 'objects/s', 'orphaned', 'quarantined', 'deleted']));
    for (const [name, m, r] of [
      ['scan', scan, scanReport!],
      ['collect', collect, collectReport!],
    ] as const) {
      const report = r as Report;
      if (report.errors > 0) console.log(`  errors: ${report.scan_errors.join('; ')}`);
      console.log(row([name, m.seconds.toFixed(2), Math.round(report.stored / m.seconds), report.orphaned, report.quarantined, report.deleted]));
    }
  } finally {
    await db.drop();
    await rm(root, { recursive: true, force: true });
    if (client) await dropBucket(client, bucket).catch(() => undefined);
  }
}

async function memory(): Promise<void> {
  console.log('\nMemory of mark + sweep (scan, file store, at most 20 000 references a shard; live heap sampled after a full GC every 250 ms):');
  console.log(row(['objects', 'seconds', 'live heap MiB', 'peak RSS MiB']));
  // The generated path lists are dropped before measuring, so the figures are the run's own.
  const prepare = async (n: number): Promise<{ db: { name: string; drop: () => Promise<void> }; root: string }> => {
    const { paths, referenced } = dataset(n);
    const db = await createDatabase(referenced);
    const root = await mkdtemp(join(tmpdir(), 'djgc-bench-mem-'));
    await writeFiles(root, paths);
    return { db, root };
  };
  for (const n of memorySizes) {
    const { db, root } = await prepare(n);
    try {
      const spec = normalizeStore('main', { protocol: 'file', location: root, subfolding: [2, 2] });
      const m = await measure(() => collectRun(db.name, spec, 'dry-run', 1), 250);
      console.log(row([n, m.seconds.toFixed(2), m.peakLiveHeapMiB.toFixed(1), m.peakRssMiB.toFixed(0)]));
    } finally {
      await db.drop();
      await rm(root, { recursive: true, force: true });
    }
  }
}

const which = new Set((process.env.BENCH ?? 'file,s3,memory').split(','));
if (which.has('file')) await throughput('file');
if (which.has('s3')) {
  if (awsEndpoint) await throughput('s3');
  else console.log('\ns3: skipped, DJGC_TEST_AWS_ENDPOINT is not set (run through `npm run bench`)');
}
if (which.has('memory')) await memory();
