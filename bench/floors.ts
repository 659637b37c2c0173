/**
 * The floors: the least any program must do to read what djgc reads, each as bare as it gets.
 * A djgc phase is compared with its floor measured on the same data in the same run.
 */
import { lstatSync, readdirSync } from 'node:fs';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import mysql from 'mysql2';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { COLUMNS, SCHEMA, TABLE } from './data.js';

export interface FloorResult {
  /** Objects listed, or rows read. */
  items: number;
  bytes: number;
  /** The newest modification time seen (ms since the epoch), where the floor reads times. */
  newest?: number;
}

/** A minimal walk: readdir with file types, lstat of every file (size and mtime read), no sorting. */
export function bareWalk(root: string): FloorResult {
  let items = 0;
  let bytes = 0;
  let newest = 0;
  const pending = [root];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) pending.push(path);
      else if (entry.isFile()) {
        const stats = lstatSync(path);
        items++;
        bytes += stats.size;
        newest = Math.max(newest, stats.mtimeMs);
      }
    }
  }
  return { items, bytes, newest };
}

/** A bare ListObjectsV2 loop: one request after the other, every key's size read. */
export async function bareList(client: S3Client, bucket: string): Promise<FloorResult> {
  let items = 0;
  let bytes = 0;
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000, ContinuationToken: token }));
    for (const object of page.Contents ?? []) {
      items++;
      bytes += object.Size ?? 0;
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return { items, bytes };
}

/** `COPY … TO STDOUT` of the storage columns as stored, the bytes counted and the rows counted. */
export async function bareCopy(databaseUrl: string): Promise<FloorResult> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const stream = client.query(copyTo(`COPY ${SCHEMA}.${TABLE} (${COLUMNS.map((c) => c.name).join(', ')}) TO STDOUT`));
    let items = 0;
    let bytes = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) items++;
    }
    return { items, bytes };
  } finally {
    await client.end();
  }
}

/** The MariaDB equivalent: a plain streamed SELECT of the storage columns with mysql2. */
export async function bareSelect(serverUrl: string): Promise<FloorResult> {
  const connection = mysql.createConnection({ uri: serverUrl });
  try {
    let items = 0;
    let bytes = 0;
    const rows = connection.query(`SELECT ${COLUMNS.map((c) => c.name).join(', ')} FROM ${SCHEMA}.${TABLE}`).stream({ highWaterMark: 1000 });
    for await (const row of rows as AsyncIterable<Record<string, string | null>>) {
      items++;
      for (const c of COLUMNS) bytes += row[c.name]?.length ?? 0;
    }
    return { items, bytes };
  } finally {
    await connection.promise().end();
  }
}
