import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import { MissingRunFileError, type FolderStorage } from '../engine/run/run-folder.js';
import { linesOf, writeLinesTo } from '../engine/model/lines.js';

function isMissing(error: unknown): boolean {
  const name = (error as { name?: string }).name;
  return name === 'NoSuchKey' || name === 'NotFound';
}

/** Run files in the report bucket. */
export class S3FolderStorage implements FolderStorage {
  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
  ) {}

  get description(): string {
    return `s3://${this.bucket}`;
  }

  async writeText(path: string, body: string, options: { ifAbsent?: boolean } = {}): Promise<boolean> {
    // The read first answers without a race on stores that ignore If-None-Match (emulators); S3 enforces the condition.
    if (options.ifAbsent && (await this.readText(path)) !== null) return false;
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: path,
          Body: body,
          ContentType: path.endsWith('.html') ? 'text/html; charset=utf-8' : path.endsWith('.json') ? 'application/json' : 'text/plain; charset=utf-8',
          ...(options.ifAbsent ? { IfNoneMatch: '*' } : {}),
        }),
      );
      return true;
    } catch (error) {
      if (options.ifAbsent && (error as { name?: string }).name === 'PreconditionFailed') return false;
      throw error;
    }
  }

  async readText(path: string): Promise<string | null> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: path }));
      return (await response.Body?.transformToString('utf-8')) ?? '';
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  /** Lines go to a temporary file first, so any size uploads with a known length and memory stays flat. */
  async writeLines(path: string, lines: AsyncIterable<string> | Iterable<string>): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'djgc-lines-'));
    try {
      const file = join(dir, 'lines');
      await writeLinesTo(file, lines);
      const { size } = await stat(file);
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: path, Body: createReadStream(file), ContentLength: size, ContentType: 'application/x-ndjson' }));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async *readLines(path: string): AsyncIterable<string> {
    let body: Readable;
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: path }));
      body = response.Body as Readable;
    } catch (error) {
      if (isMissing(error)) throw new MissingRunFileError(path, this.description);
      throw error;
    }
    try {
      yield* linesOf(body);
    } finally {
      body.destroy();
    }
  }

  async remove(path: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: path }));
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: prefix })) {
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
    }
    return keys;
  }
}
