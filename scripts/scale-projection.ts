/**
 * Projects a serverless run from measured unit costs to 100 M and 1 B objects: shards, Lambdas at
 * once, requests by kind, database time, wall time and dollars, for a dry run and for a collect.
 * Pure arithmetic: every unit cost is a constant below, with where it was measured; override any
 * with an environment variable of the same name (e.g. SEQ_SCAN_ROWS_PER_S=8000000).
 *
 *   node --import tsx scripts/scale-projection.ts
 *   OBJECTS=250000000 node --import tsx scripts/scale-projection.ts
 */

const env = (name: string, fallback: number): number => (process.env[name] !== undefined ? Number(process.env[name]) : fallback);

/** Measured (see docs/scale.md for the commands and the machine), or stated assumptions. */
const unit = {
  /** References per second one stream reads from PostgreSQL (scripts/recheck-cost.ts, "mark:"). */
  MARK_REFS_PER_S: env('MARK_REFS_PER_S', 87_600),
  /** Rows a re-check query reads per second of query time (scripts/recheck-cost.ts, shared mode). */
  SEQ_SCAN_ROWS_PER_S: env('SEQ_SCAN_ROWS_PER_S', 170_000),
  /** Re-check rounds per removal batch of 1000 (scripts/recheck-cost.ts: 20 to 28 rounds for 20 batches shared, 40 when each batch has its own). */
  ROUNDS_PER_BATCH: env('ROUNDS_PER_BATCH', 1.4),
  /** Objects one worker lists and decides per second (assumed: S3 ListObjectsV2 about 100 ms per page of 1000). */
  LIST_OBJECTS_PER_S: env('LIST_OBJECTS_PER_S', 10_000),
  /** Objects one worker quarantines per second (assumed: CopyObject at 16 at once, about 50 ms each, plus one DeleteObjects per 1000). */
  QUARANTINE_OBJECTS_PER_S: env('QUARANTINE_OBJECTS_PER_S', 300),
  /** References per shard (RunOptions.maxRefsPerShard). */
  REFS_PER_SHARD: env('REFS_PER_SHARD', 100_000),
  /** Workers at once (the stack's workerConcurrency; default 5, up to 1000). */
  WORKERS: env('WORKERS', 50),
  /** Worker and scanner memory in GB (the stack's sizing, default 1024 MiB). */
  LAMBDA_GB: env('LAMBDA_GB', 1),
};

/** The dataset. */
const N = env('OBJECTS', 0);
const sizes = N > 0 ? [N] : [1_000_000, 100_000_000, 1_000_000_000];
const REFS_PER_OBJECT = env('REFS_PER_OBJECT', 0.5);
const ORPHAN_FRACTION = env('ORPHAN_FRACTION', 0.1);

/** us-east-1 list prices, USD. */
const price = {
  lambdaGbS: 0.0000133334, // arm64
  lambdaRequest: 0.2 / 1e6,
  s3List: 0.005 / 1000,
  s3Put: 0.005 / 1000, // PUT, COPY, POST
  s3Get: 0.0004 / 1000,
  sqs: 0.4 / 1e6,
};

const LAMBDA_LIMIT_S = 15 * 60;
const LAMBDA_MAX_TMP_BYTES = 10_240 * 2 ** 20;
const SPILL_BYTES_PER_REF = 100;
const CHECKPOINT_PAGES = 10;

function project(objects: number) {
  const refs = objects * REFS_PER_OBJECT;
  const orphans = objects * ORPHAN_FRACTION;
  const shards = Math.max(1, Math.ceil(refs / unit.REFS_PER_SHARD));
  const objectsPerShard = objects / shards;
  const lambdas = Math.min(shards, unit.WORKERS);
  const batches = Math.ceil(orphans / 1000);

  // Mark: one scanner streams every reference once.
  const markS = refs / unit.MARK_REFS_PER_S;
  const spillBytes = refs * SPILL_BYTES_PER_REF;
  // Sweep: each shard lists its range; the listing checkpoints every CHECKPOINT_PAGES pages.
  const listPerShardS = objectsPerShard / unit.LIST_OBJECTS_PER_S;
  const invocationsPerShard = Math.max(1, Math.ceil(listPerShardS / (LAMBDA_LIMIT_S - 60)));
  const sweepWallS = Math.ceil(shards / lambdas) * listPerShardS;
  // Re-check (collect): each round reads every storage column's whole table, about one row per reference.
  const rounds = batches * unit.ROUNDS_PER_BATCH;
  const rowsRead = rounds * refs;
  const recheckDbS = rowsRead / unit.SEQ_SCAN_ROWS_PER_S;
  const quarantineS = orphans / unit.QUARANTINE_OBJECTS_PER_S / lambdas;

  const requests = {
    list: Math.ceil(objects / 1000),
    // Run folder: refs, listing, orphans, shard result, settled marker, progress, checkpoints and parts.
    put: shards * 6 + (2 * objects) / 1000 / CHECKPOINT_PAGES,
    get: shards * 6,
    sqs: shards * (2 + invocationsPerShard),
  };
  const collect = { copy: orphans, put: 2 * batches, delete: batches };

  const dryGbS = (markS + shards * invocationsPerShard * 2 + shards * listPerShardS) * unit.LAMBDA_GB;
  const collectGbS = dryGbS + (orphans / unit.QUARANTINE_OBJECTS_PER_S + recheckDbS) * unit.LAMBDA_GB;
  const dryUsd =
    dryGbS * price.lambdaGbS +
    (1 + shards * invocationsPerShard * 2) * price.lambdaRequest +
    requests.list * price.s3List +
    requests.put * price.s3Put +
    requests.get * price.s3Get +
    requests.sqs * price.sqs;
  const collectUsd = dryUsd + (collectGbS - dryGbS) * price.lambdaGbS + (collect.copy + collect.put) * price.s3Put;

  return {
    objects,
    refs,
    orphans,
    shards,
    objectsPerShard,
    lambdas,
    markS,
    markFits: markS <= LAMBDA_LIMIT_S,
    spillBytes,
    spillFits: spillBytes <= LAMBDA_MAX_TMP_BYTES,
    invocationsPerShard,
    sweepWallS,
    rounds,
    rowsRead,
    recheckDbS,
    recheckPerMark: recheckDbS / (refs / unit.SEQ_SCAN_ROWS_PER_S),
    quarantineS,
    requests,
    collect,
    dryWallS: markS + sweepWallS,
    collectWallS: markS + sweepWallS + Math.max(recheckDbS, quarantineS),
    dryUsd,
    collectUsd,
  };
}

const n = (x: number): string => (x >= 1e9 ? `${(x / 1e9).toFixed(2)} G` : x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e4 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(x < 10 ? 2 : 0));
const t = (s: number): string => (s >= 7200 ? `${(s / 3600).toFixed(1)} h` : s >= 120 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(1)} s`);

console.log('unit costs:', JSON.stringify(unit));
console.log(`dataset: ${REFS_PER_OBJECT} references per object, ${ORPHAN_FRACTION * 100} % orphans; prices: us-east-1 list, Lambda arm64`);
for (const objects of sizes) {
  const p = project(objects);
  console.log(`\n${n(objects)} objects, ${n(p.refs)} references, ${n(p.orphans)} orphans`);
  console.log(`  shards ${n(p.shards)} (${n(p.objectsPerShard)} objects each), Lambdas at once ${p.lambdas}, invocations per shard ${p.invocationsPerShard}`);
  console.log(`  mark (one scanner): ${t(p.markS)} ${p.markFits ? 'fits' : 'DOES NOT FIT'} the 15 min limit; spill ${n(p.spillBytes)}B ${p.spillFits ? 'fits' : 'DOES NOT FIT'} 10 GiB of /tmp`);
  console.log(`  requests: LIST ${n(p.requests.list)}, run-folder PUT ${n(p.requests.put)} GET ${n(p.requests.get)}, SQS ${n(p.requests.sqs)}; collect adds COPY ${n(p.collect.copy)}, PUT ${n(p.collect.put)}, DeleteObjects ${n(p.collect.delete)}`);
  console.log(`  re-check (collect): ${n(p.rounds)} rounds, ${n(p.rowsRead)} rows read, ${t(p.recheckDbS)} of database time = ${p.recheckPerMark.toFixed(0)} × one full read of the references`);
  console.log(`  wall: dry run ${t(p.dryWallS)}, collect ${t(p.collectWallS)}; USD: dry run ${p.dryUsd.toFixed(2)}, collect ${p.collectUsd.toFixed(2)}`);
}
