/**
 * What the re-checks before removal cost the database, measured on a real PostgreSQL: the same
 * orphan list removed twice, once with a re-check of its own per batch (as before) and once with
 * rounds shared by the batches in flight (as the worker now does). Prints rounds, queries and the
 * rows the server read (pg_stat_user_tables), and the rows per query.
 *
 *   node --import tsx scripts/recheck-cost.ts            # 20 000 orphans, 100 000 rows
 *   RECHECK_ORPHANS=50000 RECHECK_ROWS=200000 node --import tsx scripts/recheck-cost.ts
 */
import { mkdtemp, mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { openCatalog } from '../functions/catalog/index.js';
import { normalizeStore } from '../functions/config/datajoint.js';
import { openStore, physicalRoot } from '../functions/stores/index.js';
import { RunFolder } from '../functions/engine/run/run-folder.js';
import { LocalFolderStorage } from '../functions/pipeline/local-folder-storage.js';
import { scopeOf } from '../functions/engine/phases/scope.js';
import { newResult } from '../functions/engine/phases/sweep.js';
import { makeRecheck, sharedRecheck, type RecheckCost } from '../functions/engine/phases/recheck.js';
import { removeOrphans } from '../functions/engine/phases/removal.js';
import { contentHash } from '../functions/demo/datajoint-writer.js';
import type { ShardPlan } from '../functions/engine/model/plan.js';
import type { Orphan } from '../functions/engine/model/results.js';

const pgUrl = process.env.DJGC_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ORPHANS = Number(process.env.RECHECK_ORPHANS ?? 20_000);
const ROWS = Number(process.env.RECHECK_ROWS ?? 100_000);
const OLD = new Date(Date.now() - 7 * 86_400_000);

const hashPath = (s: string): string => {
  const h = contentHash(Buffer.from(s));
  return `_hash/cost/${h.slice(0, 2)}/${h.slice(2, 4)}/${h}`;
};

async function main(): Promise<void> {
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  const name = `djgc_recheck_${process.pid}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(pgUrl);
  url.pathname = `/${name}`;
  const db = new pg.Client({ connectionString: url.toString() });
  await db.connect();
  const work = await mkdtemp(join(tmpdir(), 'djgc-recheck-cost-'));
  try {
    await db.query('CREATE SCHEMA cost');
    await db.query('CREATE TABLE cost.recording (id integer PRIMARY KEY, h jsonb, n jsonb)');
    await db.query(`COMMENT ON COLUMN cost.recording.h IS ':<blob@main>:'`);
    await db.query(`COMMENT ON COLUMN cost.recording.n IS ':<npy@main>:'`);
    await db.query(
      `INSERT INTO cost.recording SELECT i, jsonb_build_object('path', '_hash/cost/live/' || i, 'store', 'main'),
              jsonb_build_object('path', '_schema/cost/recording/id=' || i || '/n.npy', 'store', 'main') FROM generate_series(1, $1) i`,
      [ROWS],
    );
    await db.query('ANALYZE cost.recording');
    console.log(`re-check cost: ${ORPHANS} orphans in batches of 1000, 1 table of ${ROWS} rows with 2 storage columns (PostgreSQL)`);
    await markRate(url);
    console.log(['mode', 'rounds', 'queries', 'rows read', 'query s', 'seconds'].map((c) => c.padStart(14)).join(''));
    for (const mode of ['per-batch', 'shared'] as const) {
      const m = await measure(mode, work, url);
      console.log([mode, m.rounds, m.queries, m.rowsRead, (m.queryMs / 1000).toFixed(1), m.seconds.toFixed(1)].map((c) => String(c).padStart(14)).join(''));
      console.log(`${''.padStart(14)}  ${Math.round(m.rowsRead / (m.queryMs / 1000))} rows read per second of query time (unit cost for scripts/scale-projection.ts)`);
    }
  } finally {
    await db.end();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
    await rm(work, { recursive: true, force: true });
  }
}

function connect(url: URL) {
  return openCatalog(
    {
      backend: 'postgresql',
      host: url.hostname,
      port: Number(url.port || 5432),
      user: decodeURIComponent(url.username || 'postgres'),
      ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
      database: url.pathname.slice(1),
    },
    // Only this database: other databases of a shared server come and go.
    { ignoredDatabases: ['*'] },
  );
}

/** The mark's unit cost: references streamed per second from one column. */
async function markRate(url: URL): Promise<void> {
  const catalog = await connect(url);
  try {
    const [column] = await catalog.discover();
    const started = performance.now();
    let n = 0;
    for await (const _ of catalog.references(column!)) n++;
    const seconds = (performance.now() - started) / 1000;
    console.log(`mark: ${n} references of one column streamed in ${seconds.toFixed(2)} s = ${Math.round(n / seconds)} references/s`);
  } finally {
    await catalog.close();
  }
}

async function measure(mode: 'per-batch' | 'shared', work: string, url: URL) {
  const storeRoot = join(work, mode, 'store');
  const orphans: Orphan[] = [];
  for (let i = 0; i < ORPHANS; i++) {
    const path = hashPath(`${mode} orphan ${i}`);
    orphans.push({ path, size: 8, lastModified: OLD.toISOString(), schema: 'cost', table: 'recording' });
  }
  for (let i = 0; i < orphans.length; i += 200) {
    await Promise.all(
      orphans.slice(i, i + 200).map(async (o) => {
        const file = join(storeRoot, o.path);
        await mkdir(dirname(file), { recursive: true });
        await writeFile(file, 'payload!');
        await utimes(file, OLD, OLD);
      }),
    );
  }
  const spec = normalizeStore('main', { protocol: 'file', location: storeRoot });
  const scope = scopeOf({ stores: { main: spec }, defaultStore: 'main', rootOf: physicalRoot }, { legacyRootLayout: false });
  const root = scope.roots[0]!.root;
  const folder = new RunFolder(new LocalFolderStorage(join(work, mode, 'runs')));
  const shard: ShardPlan = { id: 'main~cost~hash~0', root, store: 'main', section: 'hash', schemas: ['cost'], listPrefix: '_hash/cost/' };
  const runId = `cost-${mode}`;
  await folder.writeOrphans(runId, shard.id, orphans.map((o) => JSON.stringify(o)));

  const opened = await connect(url);
  let queryMs = 0;
  // The same catalog, with the time of each re-check query added up.
  const catalog = Object.assign(Object.create(opened) as typeof opened, {
    findReferences: async (...args: Parameters<typeof opened.findReferences>) => {
      const t = performance.now();
      try {
        return await opened.findReferences(...args);
      } finally {
        queryMs += performance.now() - t;
      }
    },
  });
  const before = await scans(url);
  const cost: RecheckCost = { rounds: 0, queries: 0 };
  const own = makeRecheck(catalog, scope, root, new Set(), cost);
  const result = newResult(shard);
  const started = performance.now();
  await removeOrphans(
    {
      runId,
      folder,
      store: openStore(spec),
      shard,
      removal: 'quarantine',
      keepFolders: ['_hash', '_schema', '_hash/cost'],
      recheck: mode === 'shared' ? sharedRecheck(own) : own,
      transactions: {
        open: () => catalog.openWriteTransactions(),
        stillOpen: (s) => catalog.stillOpen(s),
        horizon: () => catalog.writeHorizon(),
        pause: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      },
      transactionWaitSeconds: 300,
      runClosed: async () => undefined,
      concurrency: mode === 'shared' ? 4 : 2,
      observe: () => undefined,
      now: () => new Date(),
    },
    result,
  );
  const seconds = (performance.now() - started) / 1000;
  await opened.close();
  const after = await settledScans(url, before);
  if (result.totals.quarantined !== ORPHANS) throw new Error(`expected ${ORPHANS} quarantined, got ${result.totals.quarantined}: ${result.errors.join('; ')}`);
  return { rounds: cost.rounds, queries: cost.queries, rowsRead: after.rows - before.rows, queryMs, seconds };
}

/** Sequential scans of the table and the rows they read, as the server counts them. */
async function scans(url: URL): Promise<{ scans: number; rows: number }> {
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const { rows } = await client.query<{ seq_scan: string; seq_tup_read: string }>(
      `SELECT seq_scan, seq_tup_read FROM pg_stat_user_tables WHERE schemaname = 'cost' AND relname = 'recording'`,
    );
    return { scans: Number(rows[0]?.seq_scan ?? 0), rows: Number(rows[0]?.seq_tup_read ?? 0) };
  } finally {
    await client.end();
  }
}

/** The counts once the closed connections' statistics have reached the server (they arrive when a backend exits). */
async function settledScans(url: URL, before: { scans: number; rows: number }): Promise<{ scans: number; rows: number }> {
  let last = await scans(url);
  for (let i = 0; i < 50; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const now = await scans(url);
    if (now.scans > before.scans && now.scans === last.scans) return now;
    last = now;
  }
  return last;
}

await main();
