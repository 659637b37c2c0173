/**
 * The benchmark: djgc beside its floor, on the same generated data in the same run. Prints
 * figures; asserts nothing.
 *
 *   npm run bench                        # 250 000 objects: file store and S3 (fauxqs), PostgreSQL and MariaDB
 *   BENCH_OBJECTS=1000000 npm run bench  # any size
 *   BENCH=file-pg,file-mariadb,s3-pg     # which combinations (default: all three)
 *   BENCH_S3_OBJECTS=25000               # objects in the S3 bucket (default 25 000: the emulator's listing is quadratic)
 *   BENCH_REPEATS=2                      # each measurement's best of this many
 *
 * Floors (each in a child process of its own, as every djgc run is):
 *   walk   readdir with file types and an lstat of every file (size, mtime), no sorting
 *   list   a bare ListObjectsV2 loop, one page after the other
 *   copy   `COPY bench.recording (h, a, n) TO STDOUT` (PostgreSQL)
 *   select a plain streamed SELECT of the same columns with mysql2 (MariaDB)
 * A djgc phase's ratio is its floor's time ÷ djgc's time (1 = as fast as the floor): mark
 * against copy/select, sweep (listing and deciding) against walk/list, the whole scan against
 * their sum. Peak RSS is the child process's.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMariadb, createPostgres, databaseUrl, dataset, dropBucket, s3Client, uploadObjects, writeFileStore, type Database } from './data.js';
import { runTask, type TaskResult } from './task.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const pgUrl = process.env.DJGC_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const mysqlUrl = process.env.DJGC_TEST_MYSQL_URL;
const awsEndpoint = process.env.DJGC_TEST_AWS_ENDPOINT;
const objects = Number(process.env.BENCH_OBJECTS ?? 250_000);
/** Objects in the S3 bucket (see below why not `BENCH_OBJECTS`). */
const s3Objects = Math.min(objects, Number(process.env.BENCH_S3_OBJECTS ?? 25_000));
const which = new Set((process.env.BENCH ?? 'file-pg,file-mariadb,s3-pg').split(','));
/** Each measurement is taken this often; the fastest is shown (timings on a shared machine are noisy). */
const repeats = Math.max(1, Number(process.env.BENCH_REPEATS ?? 2));

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const s = (ms: number): string => (ms / 1000).toFixed(2);
const ratio = (floor: number, ms: number): string => `${(floor / ms).toFixed(2)}×`;

async function best(task: Parameters<typeof runTask>[0]): Promise<TaskResult> {
  let fastest: TaskResult | undefined;
  for (let i = 0; i < repeats; i++) {
    const r = await runTask(task);
    if (!fastest || r.ms < fastest.ms) fastest = { ...r, maxRssMiB: Math.max(r.maxRssMiB, fastest?.maxRssMiB ?? 0) };
    else fastest.maxRssMiB = Math.max(fastest.maxRssMiB, r.maxRssMiB);
  }
  return fastest!;
}

function print(title: string, listing: { name: string; floor: TaskResult }, marking: { name: string; floor: TaskResult }, scan: TaskResult, collect: TaskResult | undefined): void {
  const r = scan.report!;
  const floorAll = listing.floor.ms + marking.floor.ms;
  console.log(`\n${title}: ${fmt(r.stored)} objects stored, ${fmt(r.references)} references read, ${fmt(r.orphaned)} orphaned${r.errors ? `, ERRORS: ${r.scan_errors.join('; ')}` : ''}`);
  const row = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(22) : c.padStart(12))).join('');
  console.log(row(['', 'floor s', 'djgc s', 'ratio', 'objects/s', 'refs/s', 'peak RSS MiB']));
  console.log(row([`mark vs ${marking.name}`, s(marking.floor.ms), s(scan.phases!.mark), ratio(marking.floor.ms, scan.phases!.mark), '', fmt(r.references / (scan.phases!.mark / 1000)), '']));
  console.log(row([`sweep vs ${listing.name}`, s(listing.floor.ms), s(scan.phases!.sweep), ratio(listing.floor.ms, scan.phases!.sweep), fmt(r.stored / (scan.phases!.sweep / 1000)), '', '']));
  console.log(row(['scan vs both', s(floorAll), s(scan.ms), ratio(floorAll, scan.ms), fmt(r.stored / (scan.ms / 1000)), fmt(r.references / (scan.ms / 1000)), scan.maxRssMiB.toFixed(0)]));
  if (collect) {
    const c = collect.report!;
    console.log(row([`collect (${fmt(c.quarantined)} moved)`, '', s(collect.ms), '', fmt(c.stored / (collect.ms / 1000)), '', collect.maxRssMiB.toFixed(0)]));
    if (c.errors) console.log(`  collect errors: ${c.scan_errors.join('; ')}`);
  }
  console.log(row(['floor peak RSS', '', '', '', '', '', `${listing.floor.maxRssMiB.toFixed(0)} / ${marking.floor.maxRssMiB.toFixed(0)}`]));
}

const started = performance.now();
console.log(`djgc benchmark: ${fmt(objects)} objects, best of ${repeats} per measurement`);
const data = dataset(objects);
console.log(`data: ${fmt(data.objects)} objects (${fmt(data.orphaned)} orphaned), ${fmt(data.rows)} rows, ${fmt(data.references)} references`);

const cleanups: (() => Promise<void>)[] = [];
try {
  let postgres: Database | undefined;
  const postgresCleanup = (): Promise<void> => postgres!.drop();
  let mariadb: Database | undefined;
  if (which.has('file-pg') || which.has('s3-pg')) {
    const t = performance.now();
    postgres = await createPostgres(pgUrl, data);
    cleanups.push(postgresCleanup);
    console.log(`PostgreSQL database written in ${s(performance.now() - t)} s`);
  }
  if (which.has('file-mariadb')) {
    if (!mysqlUrl) console.log('file-mariadb: skipped, DJGC_TEST_MYSQL_URL is not set (run through `npm run bench`)');
    else {
      const t = performance.now();
      mariadb = await createMariadb(mysqlUrl, data);
      cleanups.push(() => mariadb!.drop());
      console.log(`MariaDB schema written in ${s(performance.now() - t)} s`);
    }
  }
  const pgDb = postgres ? databaseUrl(pgUrl, postgres.name) : '';

  if (which.has('file-pg') || (which.has('file-mariadb') && mariadb)) {
    const root = await mkdtemp(join(tmpdir(), 'djgc-bench-store-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const t = performance.now();
    writeFileStore(root, data.paths);
    console.log(`file store written in ${s(performance.now() - t)} s`);
    const store = { protocol: 'file' as const, location: root };
    const walk = await best({ kind: 'walk', root });
    if (postgres && which.has('file-pg')) {
      const copy = await best({ kind: 'copy', databaseUrl: pgDb });
      const scan = await best({ kind: 'djgc', mode: 'dry-run', backend: 'postgresql', databaseUrl: pgDb, store });
      print('file store + PostgreSQL', { name: 'walk', floor: walk }, { name: 'COPY', floor: copy }, scan, undefined);
    }
    if (mariadb) {
      const select = await best({ kind: 'select', serverUrl: mysqlUrl! });
      const scan = await best({ kind: 'djgc', mode: 'dry-run', backend: 'mysql', databaseUrl: mysqlUrl!, store });
      print('file store + MariaDB', { name: 'walk', floor: walk }, { name: 'SELECT', floor: select }, scan, undefined);
    }
    // Last: the collect moves the orphans away.
    if (postgres && which.has('file-pg')) {
      const collect = await runTask({ kind: 'djgc', mode: 'collect', backend: 'postgresql', databaseUrl: pgDb, store });
      console.log(`file store + PostgreSQL collect: ${s(collect.ms)} s, ${fmt(collect.report!.quarantined)} quarantined, ${fmt(collect.report!.stored / (collect.ms / 1000))} objects/s, peak RSS ${collect.maxRssMiB.toFixed(0)} MiB${collect.report!.errors ? `, ERRORS: ${collect.report!.scan_errors.join('; ')}` : ''}`);
    }
  }

  if (which.has('s3-pg')) {
    if (!awsEndpoint) console.log('\ns3-pg: skipped, DJGC_TEST_AWS_ENDPOINT is not set (run through `npm run bench`)');
    else {
      // The emulator sorts the whole bucket for every ListObjectsV2 page, so its listing slows down
      // with the square of the bucket's size: the S3 figures use a bucket of their own size.
      const s3Data = s3Objects === objects ? data : dataset(s3Objects);
      let s3Db = postgres;
      if (s3Data !== data) {
        // Every database on the server is read: the larger one goes first.
        if (postgres) {
          await postgres.drop();
          cleanups.splice(cleanups.indexOf(postgresCleanup), 1);
        }
        s3Db = await createPostgres(pgUrl, s3Data);
        const created = s3Db;
        cleanups.push(() => created.drop());
      }
      const s3DbUrl = databaseUrl(pgUrl, s3Db!.name);
      const client = s3Client(awsEndpoint);
      const bucket = `djgc-bench-${Date.now()}`;
      const t = performance.now();
      await uploadObjects(client, awsEndpoint, bucket, s3Data.paths);
      cleanups.push(() => dropBucket(client, bucket).catch(() => undefined));
      console.log(`\nS3 bucket of ${fmt(s3Data.objects)} objects written in ${s(performance.now() - t)} s`);
      const store = { protocol: 's3' as const, endpoint: awsEndpoint, bucket };
      const list = await best({ kind: 'list', endpoint: awsEndpoint, bucket });
      const copy = await best({ kind: 'copy', databaseUrl: s3DbUrl });
      const scan = await best({ kind: 'djgc', mode: 'dry-run', backend: 'postgresql', databaseUrl: s3DbUrl, store });
      print('S3 (fauxqs) + PostgreSQL', { name: 'ListObjectsV2', floor: list }, { name: 'COPY', floor: copy }, scan, undefined);
    }
  }
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup().catch((e: unknown) => console.error(`cleanup: ${String(e)}`));
}
console.log(`\nbenchmark done in ${s(performance.now() - started)} s`);
