/**
 * The benchmark's generated data: a store of `objects` objects (60 % hash objects with
 * `subfolding: [2, 2]`, 40 % schema files), 10 % of them orphaned, and the references to the
 * rest in one DataJoint table of 0.4 × `objects` rows with three storage columns (two hash
 * columns, one schema column; 1.2 references per object, some objects referenced twice), in
 * PostgreSQL (written with COPY FROM), MariaDB, a file store and an S3 bucket (fauxqs).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import mysql from 'mysql2/promise';
import pLimit from 'p-limit';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { contentHash } from '../functions/demo/datajoint-writer.js';

export const SCHEMA = 'bench';
export const TABLE = 'recording';
/** The storage columns and their comments (DataJoint's `:<codec@store>:` form). */
export const COLUMNS = [
  { name: 'h', comment: ':<blob@main>:' },
  { name: 'a', comment: ':<attach@main>:' },
  { name: 'n', comment: ':<npy@main>:' },
] as const;

export interface Dataset {
  objects: number;
  /** Every object's path, in generation order. */
  paths: string[];
  orphaned: number;
  rows: number;
  references: number;
  /** Row r's metadata values, one per column in `COLUMNS` order. */
  row(r: number): [string, string, string];
}

const hashPath = (i: number): string => {
  const h = contentHash(Buffer.from(`object ${i}`));
  return `_hash/${SCHEMA}/${h.slice(0, 2)}/${h.slice(2, 4)}/${h}`;
};
const schemaPath = (i: number): string => `_schema/${SCHEMA}/${TABLE}/session=${Math.floor(i / 1000)}/id=${i}/n_${i.toString(36).padStart(8, '0')}.npy`;

export function dataset(objects: number): Dataset {
  const paths: string[] = [];
  const hashes: string[] = [];
  const files: string[] = [];
  let orphaned = 0;
  for (let i = 0; i < objects; i++) {
    const path = i % 5 < 3 ? hashPath(i) : schemaPath(i);
    paths.push(path);
    if (i % 10 === 9) orphaned++;
    else (path.startsWith('_hash/') ? hashes : files).push(path);
  }
  const rows = Math.ceil(objects * 0.4);
  const hashValue = (path: string): string => JSON.stringify({ hash: path.slice(-26), path, schema: SCHEMA, store: 'main', size: 8 });
  const fileValue = (path: string): string => JSON.stringify({ path, store: 'main', dtype: 'float32', shape: [2] });
  return {
    objects,
    paths,
    orphaned,
    rows,
    references: rows * 3,
    row: (r) => [hashValue(hashes[r % hashes.length]!), hashValue(hashes[(r + rows) % hashes.length]!), fileValue(files[r % files.length]!)],
  };
}

/** Text-format COPY escaping of one value. */
const copyText = (value: string): string => value.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');

export interface Database {
  /** PostgreSQL database name (MariaDB: the schema name). */
  name: string;
  drop(): Promise<void>;
}

export async function createPostgres(serverUrl: string, data: Dataset): Promise<Database> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  const name = `djgc_bench_${process.pid}_${Date.now()}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const client = new pg.Client({ connectionString: databaseUrl(serverUrl, name) });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${SCHEMA}`);
    await client.query(`CREATE TABLE ${SCHEMA}.${TABLE} (id integer PRIMARY KEY, ${COLUMNS.map((c) => `${c.name} jsonb`).join(', ')})`);
    for (const c of COLUMNS) await client.query(`COMMENT ON COLUMN ${SCHEMA}.${TABLE}.${c.name} IS '${c.comment}'`);
    const lines = function* (): Generator<string> {
      let chunk = '';
      for (let r = 0; r < data.rows; r++) {
        chunk += `${r}\t${data.row(r).map(copyText).join('\t')}\n`;
        if (chunk.length > 1 << 16) {
          yield chunk;
          chunk = '';
        }
      }
      if (chunk) yield chunk;
    };
    await pipeline(Readable.from(lines()), client.query(copyFrom(`COPY ${SCHEMA}.${TABLE} FROM STDIN`)));
    await client.query(`ANALYZE ${SCHEMA}.${TABLE}`);
  } finally {
    await client.end();
  }
  return {
    name,
    drop: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function createMariadb(serverUrl: string, data: Dataset): Promise<Database> {
  const connection = await mysql.createConnection({ uri: serverUrl });
  const name = `${SCHEMA}`;
  await connection.query(`DROP DATABASE IF EXISTS ${name}`);
  await connection.query(`CREATE DATABASE ${name}`);
  const json = (c: (typeof COLUMNS)[number]): string =>
    `${c.name} longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL COMMENT '${c.comment}' CHECK (json_valid(${c.name}))`;
  await connection.query(`CREATE TABLE ${name}.${TABLE} (id int NOT NULL PRIMARY KEY, ${COLUMNS.map(json).join(', ')}) ENGINE=InnoDB`);
  for (let start = 0; start < data.rows; start += 2000) {
    const values: (string | number)[][] = [];
    for (let r = start; r < Math.min(data.rows, start + 2000); r++) values.push([r, ...data.row(r)]);
    await connection.query(`INSERT INTO ${name}.${TABLE} VALUES ?`, [values]);
  }
  return {
    name,
    drop: async () => {
      await connection.query(`DROP DATABASE IF EXISTS ${name}`);
      await connection.end();
    },
  };
}

/** The objects as files of 8 bytes (written with the blocking calls: the fastest way to make many small files). */
export function writeFileStore(root: string, paths: string[]): void {
  const made = new Set<string>();
  for (const p of paths) {
    const file = join(root, p);
    const folder = file.slice(0, file.lastIndexOf('/'));
    if (!made.has(folder)) {
      mkdirSync(folder, { recursive: true });
      made.add(folder);
    }
    writeFileSync(file, 'payload!');
  }
}

export function s3Client(endpoint: string): S3Client {
  return new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
}

/**
 * The objects as 8-byte uploads. Plain unsigned HTTP PUTs over kept-alive connections (the
 * emulator does not check signatures): the SDK's signing and checksums would make writing the
 * data take longer than everything measured.
 */
export async function uploadObjects(client: S3Client, endpoint: string, bucket: string, paths: string[]): Promise<void> {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const base = new URL(endpoint);
  const put = (key: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const path = `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
      const request = http.request(
        { agent, host: base.hostname, port: base.port, method: 'PUT', path, headers: { 'content-type': 'application/octet-stream', 'content-length': 8 } },
        (response) => {
          response.resume();
          response.on('end', () => (response.statusCode === 200 ? resolve() : reject(new Error(`PUT ${key}: HTTP ${response.statusCode}`))));
        },
      );
      request.on('error', reject);
      request.end('payload!');
    });
  const limit = pLimit(32);
  try {
    await Promise.all(paths.map((p) => limit(() => put(p))));
  } finally {
    agent.destroy();
  }
}

export async function dropBucket(client: S3Client, bucket: string): Promise<void> {
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length) await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
    token = page.NextContinuationToken;
  } while (token);
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}
