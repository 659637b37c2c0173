/**
 * The `djgc` command as a user runs it: a child process started in a project folder holding a
 * datajoint.json, against the DataJoint fixture loaded into a real PostgreSQL and a copy of its
 * store (a directory, or a bucket on fauxqs behind a proxy that denies deletes).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { awsEndpoint } from '../support/env.js';
import { createTestDatabase, loadPostgresFixture, type TestDatabase } from '../support/postgres.js';
import { copyStore, FIXTURE_DIR, fixture, loadGroundTruth } from '../support/fixture.js';
import { filesBelow } from '../support/engine.js';
import { createBucket, emptyAndDeleteBucket, listAllKeys, uploadDirectory, type TestBucket } from '../support/s3.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(REPO_ROOT, 'functions', 'cli.ts');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/**
 * Each case starts several djgc processes; on a loaded 2-core machine one takes tens of seconds to
 * start. A case that outlived a short limit would go on in the background and change the store
 * under the next one, so the limit is generous.
 */
const SLOW = 300_000;
const truth = loadGroundTruth('postgres');
const allPaths = truth.objects.map((o) => o.path).sort();
const orphanPaths = truth.objects.filter((o) => o.status === 'orphaned').map((o) => o.path).sort();
const keptPaths = truth.objects.filter((o) => o.status !== 'orphaned').map((o) => o.path).sort();

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The user's environment without any DataJoint or AWS setting that would override the project's datajoint.json. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(DJ_|AWS_|XDG_STATE_HOME$|DJGC_STATE_DIR$)/.test(key)) env[key] = value;
  }
  // Run folders go to the per-user state folder: here, one inside the test's temporary root.
  env.XDG_STATE_HOME = join(root, 'state');
  return env;
}

function run(program: string, args: string[], cwd: string, timeoutMs: number, extraEnv: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { cwd, env: { ...cleanEnv(), ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const djgcCommand = (args: string[]): string[] => [process.execPath, '--import', TSX, CLI, ...args];

function djgc(cwd: string, args: string[], timeoutMs = SLOW, extraEnv: NodeJS.ProcessEnv = {}): Promise<Result> {
  const [node, ...rest] = djgcCommand(args);
  return run(node!, rest, cwd, timeoutMs, extraEnv);
}

const shellQuote = (word: string): string => `'${word.replaceAll("'", "'\\''")}'`;

/**
 * Run djgc on a pseudo-terminal (util-linux `script`), as in an interactive shell, so that progress
 * bars are drawn. `stdout` holds everything the terminal received.
 */
function djgcOnTerminal(cwd: string, args: string[], timeoutMs = SLOW): Promise<Result> {
  const command = `stty cols 100 rows 40; exec ${djgcCommand(args).map(shellQuote).join(' ')}`;
  return run('script', ['--quiet', '--return', '--command', command, '/dev/null'], cwd, timeoutMs);
}

/**
 * The text a terminal received, line by line: a cursor move to another line or column starts a
 * new line, other control sequences are dropped. Good enough to read the order of what was drawn.
 */
function terminalLines(raw: string): string[] {
  return raw
    .replace(/\x1b\[[0-9;]*[ABEFGH]/g, '\n')
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .split(/\r?\n|\r/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/** Objects DataJoint never wrote and no row references: `count` files with 26-character base32 names in the hash section. */
async function addHashOrphans(count: number): Promise<string[]> {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = [...randomBytes(26)].map((byte) => alphabet[byte & 31]).join('');
    paths.push(`_hash/djgc_fixture/${name}`);
  }
  await Promise.all(paths.map((path, i) => writeFile(join(store, path), `orphan ${i}`)));
  return paths;
}

/** The counts of one block of the text report ("Hash-addressed storage", "Schema-addressed storage", "Totals"). */
function block(report: string, title: string): { referenced: number; stored: number; orphaned: number } {
  const match = new RegExp(`^${title}:\\n  Referenced: +(\\d+)\\n  Stored: +(\\d+)\\n  Orphaned: +(\\d+)`, 'm').exec(report);
  if (!match) throw new Error(`no "${title}" block in the report:\n${report}`);
  return { referenced: Number(match[1]), stored: Number(match[2]), orphaned: Number(match[3]) };
}

let root: string;
let db: TestDatabase;
/** A DataJoint project folder: datajoint.json naming the test database and a file store `store/`. */
let project: string;
let store: string;
/** A folder with neither datajoint.json nor a parent holding one. */
let bare: string;

function databaseBlock(): Record<string, unknown> {
  const url = new URL(db.url);
  return {
    backend: 'postgresql',
    host: url.hostname,
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username || 'postgres'),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    name: db.name,
  };
}

async function writeProject(dir: string, stores: Record<string, unknown>): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'datajoint.json'), `${JSON.stringify({ database: databaseBlock(), stores }, null, 2)}\n`);
  // The test server holds the other tests' databases too; this project reads only its own.
  await writeFile(join(dir, 'djgc.json'), `${JSON.stringify({ ignored_databases: { '*': "the other tests' databases" } })}\n`);
}

async function resetStore(): Promise<void> {
  await rm(store, { recursive: true, force: true });
  await copyStore('postgres', store);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'djgc-cli-'));
  // A repository marker stops the upward search for datajoint.json at the temporary root.
  await mkdir(join(root, '.git'));
  db = await createTestDatabase('djgc_cli');
  await loadPostgresFixture(db.url, fixture.postgresSql);
  project = join(root, 'project');
  store = join(project, 'store');
  await writeProject(project, { default: 'main', main: { protocol: 'file', location: store } });
  await copyStore('postgres', store);
  bare = join(root, 'bare');
  await mkdir(bare);
});

afterAll(async () => {
  await db?.drop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('djgc help', { timeout: SLOW }, () => {
  it('explains the commands and their options', async () => {
    const [top, scan, collect] = await Promise.all([djgc(bare, ['--help']), djgc(bare, ['scan', '--help']), djgc(bare, ['collect', '--help'])]);
    for (const r of [top, scan, collect]) {
      expect(r.code).toBe(0);
      for (const option of ['--confirm', '--grace', '--schema']) expect(r.stdout).toContain(option);
    }
    expect(top.stdout).toMatch(/^\s+scan\b/m);
    expect(top.stdout).toMatch(/^\s+collect\b/m);
    expect(top.stdout).toMatch(/^\s+demo\b/m);
    expect(scan.stdout).toContain('deletes nothing');
    expect(scan.stdout).toMatch(/--grace <duration>.*\n?.*default: 24h/);
    expect(collect.stdout).toMatch(/--confirm +really delete/);
    expect(collect.stdout).toContain('dry run unless --confirm');
  });
});

describe('djgc on a file store', { timeout: SLOW }, () => {
  it('scan prints the report of the orphans and deletes nothing', async () => {
    const r = await djgc(project, ['scan', '--grace', '0']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('dry run: nothing deleted');
    expect(block(r.stdout, 'Hash-addressed storage')).toEqual({ referenced: 12, stored: 14, orphaned: 2 });
    expect(block(r.stdout, 'Schema-addressed storage')).toEqual({ referenced: 24, stored: 73, orphaned: 25 });
    expect(block(r.stdout, 'Totals')).toEqual({ referenced: 36, stored: 87, orphaned: orphanPaths.length });
    expect(r.stdout).toContain('Errors: none');
    expect(r.stdout).toMatch(/Full report: .*\/state\/djgc\/runs\/[^/]+\/report\.json/);
    expect(await filesBelow(store)).toEqual(allPaths);
  });

  it('scan --json prints the report as JSON', async () => {
    const r = await djgc(project, ['scan', '--grace', '0', '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({
      hash_orphaned: 2,
      hash_orphaned_bytes: 68,
      schema_paths_orphaned: 25,
      orphaned: 27,
      deleted: 0,
      errors: 0,
      dry_run: true,
    });
    expect(await filesBelow(store)).toEqual(allPaths);
    // Every key of DataJoint 2.3.2's collect() on the same fixture, with its value.
    const datajoint = (JSON.parse(readFileSync(join(FIXTURE_DIR, 'ground-truth-postgres.json'), 'utf8')) as { datajoint_gc_dry_run: Record<string, unknown> }).datajoint_gc_dry_run;
    for (const [key, value] of Object.entries(datajoint)) expect(report[key], key).toEqual(value);
  });

  it('collect without --confirm deletes nothing and says how to delete', async () => {
    const r = await djgc(project, ['collect', '--grace', '0']);
    expect(r.code).toBe(0);
    expect(block(r.stdout, 'Totals').orphaned).toBe(27);
    expect(r.stdout).toMatch(/This was a dry run\. To remove exactly these 27 objects after review \(each re-checked first\): djgc collect --approve \S+ --confirm/);
    expect(await filesBelow(store)).toEqual(allPaths);
  });

  it('collect --approve deletes exactly what a reviewed dry run listed, and only with --confirm', async () => {
    try {
      const dry = JSON.parse((await djgc(project, ['scan', '--grace', '0', '--json'])).stdout) as { run_id: string };
      const unconfirmed = await djgc(project, ['collect', '--approve', dry.run_id]);
      expect(unconfirmed.code).toBe(2);
      expect(unconfirmed.stderr).toContain('add --confirm');
      expect(await filesBelow(store)).toEqual(allPaths);

      const approved = await djgc(project, ['collect', '--approve', dry.run_id, '--confirm', '--grace', '0', '--grace-floor', '0', '--removal', 'delete', '--json']);
      expect(approved.code).toBe(0);
      expect(JSON.parse(approved.stdout)).toMatchObject({ approved_run: dry.run_id, deleted: 27, errors: 0, requests: { list: 0 } });
      expect(await filesBelow(store)).toEqual(keptPaths);

      const again = await djgc(project, ['collect', '--approve', dry.run_id, '--confirm']);
      expect(again.code).toBe(2);
      expect(again.stderr).toContain('was already approved');
      const collected = JSON.parse(approved.stdout) as { run_id: string };
      const notDry = await djgc(project, ['collect', '--approve', collected.run_id, '--confirm']);
      expect(notDry.code).toBe(2);
      expect(notDry.stderr).toMatch(/is itself an approval run|not a dry run/);

      const unknown = await djgc(project, ['collect', '--approve', 'no-such-run', '--confirm']);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain("run 'no-such-run' has no plan");
    } finally {
      await resetStore();
    }
  });

  it('collect --confirm --verbose deletes exactly the orphans, naming each, and a scan then finds none', async () => {
    try {
      const r = await djgc(project, ['collect', '--grace', '0', '--grace-floor', '0', '--removal', 'delete', '--confirm', '--verbose']);
      expect(r.code).toBe(0);
      const named = [...r.stderr.matchAll(/^deleted (.+)$/gm)].map((m) => m[1]!).sort();
      expect(named, `${r.stdout}\n${r.stderr}`).toEqual(orphanPaths);
      expect(r.stdout).toMatch(/^ {2}Deleted: 27 \(/m);
      expect(r.stdout).toContain('Errors: none');
      expect(await filesBelow(store)).toEqual(keptPaths);

      const after = await djgc(project, ['scan', '--grace', '0']);
      expect(after.code).toBe(0);
      expect(block(after.stdout, 'Totals')).toEqual({ referenced: 36, stored: 60, orphaned: 0 });
    } finally {
      await resetStore();
    }
  });

  it('on a terminal, draws the bars, names every deleted object, and leaves the bars complete above the report', async () => {
    try {
      const extra = await addHashOrphans(3000);
      const r = await djgcOnTerminal(project, ['collect', '--grace', '0', '--grace-floor', '0', '--removal', 'delete', '--max-orphan-fraction', '1', '--confirm', '--verbose']);
      expect(r.code).toBe(0);
      const lines = terminalLines(r.stdout);
      const named = new Set(lines.flatMap((line) => /^deleted (\S+)$/.exec(line)?.[1] ?? []));
      expect([...named].sort()).toEqual([...orphanPaths, ...extra].sort());
      const heading = lines.indexOf('Object storage garbage collection (collect)');
      expect(heading).toBeGreaterThan(2);
      expect(lines[heading - 3]).toMatch(/^reading +█+ (\d+)\/\1 columns, [\d,]+ references$/);
      expect(lines[heading - 2]).toMatch(/^listing +█+ 3\/3 shards, 3,087 objects, 3,027 orphans$/);
      expect(lines[heading - 1]).toMatch(/^deleting +█+ 3,027\/3,027 objects$/);
      expect(lines.slice(heading).join('\n')).toMatch(/^Deleted: 3,027 \(/m);
      expect(await filesBelow(store)).toEqual(keptPaths);
    } finally {
      await resetStore();
    }
  });

  it('rejects bad options and missing configuration with exit status 2, deleting nothing', async () => {
    const [schema, grace, noConfig, noStore, floor] = await Promise.all([
      djgc(project, ['scan', '-s', 'nosuchschema']),
      djgc(project, ['scan', '--grace', 'soon']),
      djgc(bare, ['scan']),
      djgc(project, ['collect', '--grace', '0', '--grace-floor', '0', '--confirm', '--store', 'nope']),
      djgc(project, ['collect', '--grace', '1h', '--confirm']),
    ]);
    expect(floor.code).toBe(2);
    expect(floor.stderr).toContain('a grace period of 1 h is below the floor of 24 h');
    expect(floor.stderr).toContain('--grace-floor');
    expect(schema.code).toBe(2);
    expect(schema.stderr).toContain("schema 'nosuchschema'");
    expect(schema.stderr).toContain('djgc_fixture');

    expect(grace.code).toBe(2);
    expect(grace.stderr).toContain("'soon' is not a duration");

    expect(noConfig.code).toBe(2);
    expect(noConfig.stderr).toContain('no database configured');
    expect(noConfig.stderr).toContain('djgc demo');

    expect(noStore.code).toBe(2);
    expect(noStore.stderr).toContain("store 'nope' is not configured");
    expect(noStore.stderr).toContain('Configured stores: main');

    for (const r of [schema, grace, noConfig, noStore]) expect(r.stdout).not.toContain('Deleted:');
    expect(await filesBelow(store)).toEqual(allPaths);
  });

  it('prints each error of a bad option, command or configuration exactly once, on stderr, and nothing on stdout', async () => {
    const badConfig = join(root, 'bad-config');
    await writeProject(badConfig, { default: 'main', main: { protocol: 'file', location: store, subfolder: [2, 2] } });
    const cases: [string, string[], string][] = [
      [badConfig, ['scan'], 'store "main": unknown key "subfolder"'],
      [project, ['scan', '--bogus'], "unknown option '--bogus'"],
      [project, ['sacn'], "'sacn' is not a djgc command: did you mean 'scan'?"],
      [project, ['scan', '--grace', 'soon'], "'soon' is not a duration"],
      // A schema given without --schema must not widen a collect to every schema.
      [project, ['collect', 'djgc_fixture', '--grace', '0', '--grace-floor', '0', '--removal', 'delete', '--confirm'], "too many arguments for 'collect'"],
      [project, ['collect', '--approve', 'some-run'], 'add --confirm to go ahead'],
    ];
    const results = await Promise.all(cases.map(([cwd, args]) => djgc(cwd, args)));
    results.forEach((r, i) => {
      const [, args, message] = cases[i]!;
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.split(message).length - 1, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr.match(/error/gi)?.length ?? 0, r.stderr).toBeLessThanOrEqual(1);
      expect(r.stdout).toBe('');
    });
    expect(await filesBelow(store)).toEqual(allPaths);
  });

  it('fails closed on a malformed metadata value: exit 1, the column named, nothing deleted', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query(`INSERT INTO djgc_fixture.note (note_id, shared) VALUES (99, '{"hash": "x"}')`);
      const r = await djgc(project, ['collect', '--grace', '0', '--grace-floor', '0', '--removal', 'delete', '--confirm']);
      expect(r.code).toBe(1);
      // Once on stderr as it happens (the report on stdout lists it with the rest), the column named once in it.
      expect(r.stderr.match(/no "path"/g), r.stderr).toHaveLength(1);
      expect(r.stderr).toContain('error: cannot read references of djgc_fixture.note.shared: stored metadata has no "path"');
      expect(r.stdout).toMatch(/^ {2}Deleted: 0 /m);
      expect(await filesBelow(store)).toEqual(allPaths);
    } finally {
      await client.query('DELETE FROM djgc_fixture.note WHERE note_id = 99');
      await client.end();
      await resetStore();
    }
  });
});

/**
 * A proxy in front of fauxqs that forwards every request unchanged except DeleteObjects, which it
 * refuses the way S3 does when a bucket policy denies s3:DeleteObject.
 */
async function denyDeletesProxy(target: string): Promise<{ endpoint: string; denied: () => number; close: () => Promise<void> }> {
  const upstream = new URL(target);
  let denied = 0;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    if (req.method === 'POST' && url.searchParams.has('delete')) {
      denied++;
      req.resume();
      const body =
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message>' +
        '<RequestId>DENYDELETES</RequestId><HostId>proxy</HostId></Error>';
      res.writeHead(403, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), 'x-amz-request-id': 'DENYDELETES' });
      res.end(body);
      return;
    }
    const forward = request(
      { hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', (error) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: ${error.message}`);
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `127.0.0.1:${port}`,
    denied: () => denied,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('djgc on S3 without delete permission', { timeout: SLOW }, () => {
  let bucket: TestBucket;
  let proxy: Awaited<ReturnType<typeof denyDeletesProxy>>;
  let s3Project: string;

  beforeAll(async () => {
    bucket = await createBucket('djgc-cli');
    await uploadDirectory(bucket.client, bucket.bucket, join(FIXTURE_DIR, 'store-postgres'), 'dj/');
    proxy = await denyDeletesProxy(awsEndpoint());
    s3Project = join(root, 's3-project');
    await writeProject(s3Project, {
      default: 'main',
      main: { protocol: 's3', endpoint: proxy.endpoint, secure: false, bucket: bucket.bucket, location: 'dj', access_key: 'test', secret_key: 'test' },
    });
  });

  afterAll(async () => {
    await proxy?.close();
    if (bucket) await emptyAndDeleteBucket(bucket.client, bucket.bucket);
  });

  it('collect --confirm exits 1, says the credentials lack s3:DeleteObject, and every object stays', async () => {
    const r = await djgc(s3Project, ['collect', '--grace', '0', '--grace-floor', '0', '--removal', 'delete', '--confirm']);
    expect(proxy.denied()).toBeGreaterThan(0);
    expect(r.code).toBe(1);
    expect(block(r.stdout, 'Totals').orphaned).toBe(27);
    expect(r.stdout).toMatch(/^ {2}Deleted: 0 /m);
    expect(r.stderr).toContain(`the credentials lack s3:DeleteObject on bucket "${bucket.bucket}"`);
    const keys = (await listAllKeys(bucket.client, bucket.bucket)).map((k) => k.replace(/^dj\//, '')).sort();
    expect(keys).toEqual(allPaths);
  });
});

describe('djgc report', { timeout: SLOW }, () => {
  let runDir: string;
  let runId: string;
  let bucket: TestBucket | undefined;
  beforeAll(async () => {
    await resetStore();
    runDir = join(root, 'report-runs');
    const scan = await djgc(project, ['scan', '--grace', '0', '--json', '--run-dir', runDir], SLOW);
    expect(scan.code).toBe(0);
    runId = (JSON.parse(scan.stdout) as { run_id: string }).run_id;
  }, SLOW);

  afterAll(async () => {
    if (bucket) await emptyAndDeleteBucket(bucket.client, bucket.bucket);
  });

  it('prints the latest report of a local run folder as text, JSON or HTML, and refuses an unknown run with exit status 2', async () => {
    const [text, json, html, byId, missing, both] = await Promise.all([
      djgc(bare, ['report', '--run-dir', runDir], SLOW),
      djgc(bare, ['report', '--latest', '--json', '--run-dir', runDir], SLOW),
      djgc(bare, ['report', '--html', '--run-dir', runDir], SLOW),
      djgc(bare, ['report', runId, '--run-dir', runDir], SLOW),
      djgc(bare, ['report', '2020-01-01T00-00-00-000Z-000000', '--run-dir', runDir], SLOW),
      djgc(bare, ['report', runId, '--latest', '--run-dir', runDir], SLOW),
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toBe(readFileSync(join(runDir, 'runs', runId, 'report.txt'), 'utf8'));
    expect(block(text.stdout, 'Totals')).toEqual({ referenced: 36, stored: 87, orphaned: orphanPaths.length });
    expect(text.stdout).toMatch(/^Cost \(USD; storage per month at the configured prices\):\n  Orphaned bytes:  \$0\.00\/month/m);
    expect(text.stderr).toContain(`Report of run ${runId} in ${runDir}`);
    expect(JSON.parse(json.stdout)).toMatchObject({ run_id: runId, orphaned: orphanPaths.length, cost: { currency: 'USD', orphaned_per_month: 0 } });
    expect(html.stdout).toMatch(/^<!doctype html>/);
    expect(html.stdout).toContain(`Run <code>${runId}</code>`);
    expect(byId.stdout).toBe(text.stdout);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/run '2020-01-01T00-00-00-000Z-000000' has no report in .*: it is still running, was never reported, or the id is wrong/);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give a run id or --latest, not both');
    const empty = await djgc(bare, ['report', '--run-dir', join(root, 'no-runs-here')], SLOW);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/no finished run in .* yet \(latest\.json is missing\)/);
  }, 4 * SLOW);

  it('prints a report from a report bucket, reached at the endpoint of AWS_ENDPOINT_URL', async () => {
    bucket = await createBucket('djgc-cli-reports');
    await uploadDirectory(bucket.client, bucket.bucket, runDir);
    const aws = { AWS_ENDPOINT_URL: awsEndpoint(), AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' };
    const [text, json, html, missing] = await Promise.all([
      djgc(bare, ['report', '--bucket', bucket.bucket], SLOW, aws),
      djgc(bare, ['report', runId, '--bucket', bucket.bucket, '--json'], SLOW, aws),
      djgc(bare, ['report', '--latest', '--bucket', bucket.bucket, '--html'], SLOW, aws),
      djgc(bare, ['report', 'nope', '--bucket', bucket.bucket], SLOW, aws),
    ]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toBe(readFileSync(join(runDir, 'runs', runId, 'report.txt'), 'utf8'));
    expect(text.stderr).toContain(`Report of run ${runId} in s3://${bucket.bucket}`);
    expect(JSON.parse(json.stdout)).toMatchObject({ run_id: runId, orphaned: orphanPaths.length });
    expect(html.stdout).toBe(readFileSync(join(runDir, 'runs', runId, 'report.html'), 'utf8'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`run 'nope' has no report in s3://${bucket.bucket}`);
  }, 4 * SLOW);
});

describe('djgc demo', { timeout: SLOW }, () => {
  it('scans, collects and scans again on the embedded database, leaving user files alone', async () => {
    const dir = join(bare, 'demo');
    const r = await djgc(bare, ['demo', '--dir', dir]);
    expect(r.code).toBe(0);
    const [intro, scan, collect, again, purge] = r.stdout.split(/^== .+ ==$/m);
    expect(intro).toContain('Demonstration database');
    expect(scan).toContain('dry run: nothing deleted');
    expect(block(scan!, 'Totals').orphaned).toBe(16);
    expect(collect).toMatch(/^ {2}Quarantined: 16 \(/m);
    expect(collect).toMatch(/^ {2}Deleted: 0 \(/m);
    expect(purge).toMatch(/^ {2}Deleted: 16 \(.*16 purged from quarantine\)/m);
    expect(block(again!, 'Totals').orphaned).toBe(0);
    expect(again).toMatch(/^ {2}Orphaned: {3}0 /m);
    const userFiles = await readdir(join(dir, 'store', 'acquisition'));
    expect(userFiles.length).toBeGreaterThan(0);
    expect(existsSync(join(dir, 'reports', 'latest.json'))).toBe(true);
  }, 240_000);
});
