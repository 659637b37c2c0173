import { createHash, randomBytes } from 'node:crypto';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Writes objects the way DataJoint 2.3 lays them out in a `file` store (spec §3, §4), and returns
 * the JSON metadata DataJoint would store in the row. Used by the demonstration and benchmarks.
 */
export class DataJointWriter {
  constructor(
    readonly storeRoot: string,
    readonly store = 'main',
    readonly subfolding: number[] | null = null,
  ) {}

  /** `<blob@>`/`<attach@>`/`<hash@>`: content-addressed, deduplicated per schema. */
  async hashObject(schema: string, content: Buffer | string, modified?: Date): Promise<Record<string, unknown>> {
    const bytes = Buffer.from(content);
    const hash = contentHash(bytes);
    const folds: string[] = [];
    let offset = 0;
    for (const width of this.subfolding ?? []) {
      folds.push(hash.slice(offset, offset + width));
      offset += width;
    }
    const path = ['_hash', schema, ...folds, hash].join('/');
    await this.put(path, bytes, modified);
    return { hash, path, schema, store: this.store, size: bytes.length };
  }

  /** `<npy@>`/`<object@>` single file: `_schema/{schema}/{table}/{pk=value/…}{field}_{token}{ext}`. */
  async schemaFile(
    schema: string,
    table: string,
    key: Record<string, string | number>,
    field: string,
    content: Buffer | string,
    ext: string,
    modified?: Date,
  ): Promise<Record<string, unknown>> {
    const bytes = Buffer.from(content);
    const path = `${schemaFolder(schema, table, key)}${field}_${token()}${ext}`;
    await this.put(path, bytes, modified);
    return { path, store: this.store, size: bytes.length, ext, is_dir: false, item_count: null, timestamp: new Date().toISOString() };
  }

  /** `<object@>` folder: files under `path/` plus the sidecar `path.manifest.json`. */
  async schemaFolder(
    schema: string,
    table: string,
    key: Record<string, string | number>,
    field: string,
    files: Record<string, Buffer | string>,
    modified?: Date,
  ): Promise<Record<string, unknown>> {
    const path = `${schemaFolder(schema, table, key)}${field}_${token()}`;
    let size = 0;
    for (const [name, content] of Object.entries(files)) {
      const bytes = Buffer.from(content);
      size += bytes.length;
      await this.put(`${path}/${name}`, bytes, modified);
    }
    const manifest = { files: Object.keys(files).map((name) => ({ path: name })), total_size: size, item_count: Object.keys(files).length };
    await this.put(`${path}.manifest.json`, Buffer.from(JSON.stringify(manifest)), modified);
    return { path, store: this.store, size, ext: null, is_dir: true, item_count: Object.keys(files).length, timestamp: new Date().toISOString() };
  }

  /** `<filepath@>`: a user-managed file anywhere in the store. */
  async userFile(path: string, content: Buffer | string, modified?: Date): Promise<Record<string, unknown>> {
    const bytes = Buffer.from(content);
    await this.put(path, bytes, modified);
    return { path, store: this.store, size: bytes.length, is_dir: false, timestamp: new Date().toISOString() };
  }

  async put(path: string, bytes: Buffer, modified?: Date): Promise<void> {
    const file = join(this.storeRoot, ...path.split('/'));
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, bytes);
    if (modified) await utimes(file, modified, modified);
  }
}

function schemaFolder(schema: string, table: string, key: Record<string, string | number>): string {
  const segments = Object.entries(key).map(([name, value]) => `${name}=${encodeURIComponent(String(value))}`);
  return `_schema/${[schema, table, ...segments].join('/')}/`;
}

const TOKEN_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function token(length = 8): string {
  return [...randomBytes(length)].map((b) => TOKEN_ALPHABET[b % 64]).join('');
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** Lowercase unpadded RFC 4648 base32 of the MD5, as DataJoint names hash objects. */
export function contentHash(bytes: Buffer): string {
  const digest = createHash('md5').update(bytes).digest();
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}
