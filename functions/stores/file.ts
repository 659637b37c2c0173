import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pLimit from 'p-limit';
import type { DeleteFailure, DeleteOutcome, ObjectEntry, ObjectStore, StoreSpec } from '../engine/types.js';
import { compareBytes } from './byte-order.js';

export const PAGE_SIZE = 1000;
export const MAX_DELETE_BATCH = 1000;
const STAT_CHUNK = 64;
const DELETE_CONCURRENCY = 32;

const utf8 = new TextDecoder('utf-8', { fatal: true });

interface WalkEntry {
  name: string;
  isDirectory: boolean;
}

/**
 * A `file` store: objects are the regular files under the root directory (`location`).
 *
 * Symbolic links are neither followed nor listed, and are never deleted: a link cannot be an
 * object DataJoint wrote, and following one could reach outside the root. Other non-regular
 * entries (sockets, FIFOs, devices) are ignored the same way. A name that is not valid UTF-8
 * cannot be named by any reference (references are JSON strings), so it is skipped too and is
 * never collected.
 */
export class FileStore implements ObjectStore {
  readonly root: string;
  readonly description: string;

  constructor(spec: StoreSpec) {
    if (spec.protocol !== 'file') {
      throw new Error(`Store "${spec.name}" has protocol "${spec.protocol}"; FileStore needs protocol "file".`);
    }
    if (!spec.location) {
      throw new Error(`Store "${spec.name}" has no location: set "location" to the store's root directory.`);
    }
    this.root = resolve(spec.location);
    this.description = pathToFileURL(this.root).href;
  }

  async *list(prefix: string, options: { startAfter?: string } = {}): AsyncIterable<ObjectEntry[]> {
    checkListPrefix(prefix, this.description);
    await this.requireRoot();
    const startRel = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    if (!(await this.isRealDirectory(startRel))) return;

    let page: ObjectEntry[] = [];
    for await (const entry of this.walk(startRel, prefix, options.startAfter)) {
      page.push(entry);
      if (page.length === PAGE_SIZE) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  }

  async deleteBatch(paths: string[]): Promise<DeleteOutcome> {
    if (paths.length > MAX_DELETE_BATCH) {
      throw new Error(`deleteBatch got ${paths.length} paths; at most ${MAX_DELETE_BATCH} may be deleted per call: split the batch.`);
    }
    await this.requireRoot();
    const unique = [...new Set(paths)];
    const directoryChecks = new Map<string, Promise<DirectoryState>>();
    const limit = pLimit(DELETE_CONCURRENCY);
    const results = await Promise.all(unique.map((path) => limit(() => this.deleteOne(path, directoryChecks))));

    const outcome: DeleteOutcome = { deleted: [], failed: [] };
    unique.forEach((path, i) => {
      const failure = results[i];
      if (failure) outcome.failed.push(failure);
      else outcome.deleted.push(path);
    });
    return outcome;
  }

  /** Resolves to a failure, or undefined when the file is gone (deleted now or already). */
  private async deleteOne(path: string, directoryChecks: Map<string, Promise<DirectoryState>>): Promise<DeleteFailure | undefined> {
    const invalid = invalidPathReason(path);
    if (invalid) return { path, code: 'InvalidPath', message: `Refused to delete "${path}": ${invalid}.` };

    const segments = path.split('/');
    for (let depth = 1; depth < segments.length; depth++) {
      const dir = segments.slice(0, depth).join('/');
      let check = directoryChecks.get(dir);
      if (!check) {
        check = this.directoryState(dir);
        directoryChecks.set(dir, check);
      }
      const state = await check;
      if (state === 'missing') return undefined;
      if (state === 'not-a-directory') {
        return {
          path,
          code: 'NotInsideRoot',
          message: `Refused to delete "${path}": "${dir}" is a symbolic link or not a directory, so the path may lead outside ${this.description}.`,
        };
      }
    }

    const absolute = join(this.root, path);
    let stats: Stats;
    try {
      stats = await lstat(absolute);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      return failureFrom(path, error);
    }
    if (!stats.isFile()) {
      const kind = stats.isDirectory() ? 'a directory' : stats.isSymbolicLink() ? 'a symbolic link' : 'not a regular file';
      return { path, code: 'NotAnObject', message: `Refused to delete "${path}": it is ${kind}, not an object; only regular files are deleted.` };
    }
    try {
      await unlink(absolute);
      return undefined;
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      return failureFrom(path, error);
    }
  }

  private async directoryState(rel: string): Promise<DirectoryState> {
    try {
      const stats = await lstat(join(this.root, rel));
      return stats.isDirectory() ? 'directory' : 'not-a-directory';
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
      throw error;
    }
  }

  private async requireRoot(): Promise<void> {
    let stats: Stats;
    try {
      stats = await stat(this.root);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') {
        throw new Error(`Store root ${this.root} does not exist: check the store's "location" (is the volume mounted?).`, { cause: error });
      }
      throw error;
    }
    if (!stats.isDirectory()) {
      throw new Error(`Store root ${this.root} is not a directory: set the store's "location" to a directory.`);
    }
  }

  /** True when every component of `rel` (a `dir/` path relative to the root, or "") is a real directory, not a link. */
  private async isRealDirectory(rel: string): Promise<boolean> {
    const segments = rel.split('/').filter((s) => s !== '');
    for (let depth = 1; depth <= segments.length; depth++) {
      if ((await this.directoryState(segments.slice(0, depth).join('/'))) !== 'directory') return false;
    }
    return true;
  }

  private async *walk(dirRel: string, prefix: string, startAfter: string | undefined): AsyncGenerator<ObjectEntry> {
    const entries = await this.readDirectory(dirRel);
    if (!entries) return;

    let files: string[] = [];
    for (const entry of entries) {
      const rel = dirRel + entry.name;
      if (entry.isDirectory) {
        const dir = rel + '/';
        if (!dir.startsWith(prefix) && !prefix.startsWith(dir)) continue;
        if (startAfter !== undefined && compareBytes(dir, startAfter) <= 0 && !startAfter.startsWith(dir)) continue;
        yield* this.statFiles(files);
        files = [];
        yield* this.walk(dir, prefix, startAfter);
      } else {
        if (!rel.startsWith(prefix)) continue;
        if (startAfter !== undefined && compareBytes(rel, startAfter) <= 0) continue;
        files.push(rel);
        if (files.length === STAT_CHUNK) {
          yield* this.statFiles(files);
          files = [];
        }
      }
    }
    yield* this.statFiles(files);
  }

  /** One directory's entries, sorted in byte order of the paths they lead to; undefined if it vanished. */
  private async readDirectory(dirRel: string): Promise<WalkEntry[] | undefined> {
    let dirents: Dirent<Buffer>[];
    try {
      dirents = await readdir(join(this.root, dirRel), { withFileTypes: true, encoding: 'buffer' });
    } catch (error) {
      if (dirRel !== '' && errorCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    const entries: (WalkEntry & { key: string })[] = [];
    for (const dirent of dirents) {
      const isDirectory = dirent.isDirectory();
      if (!isDirectory && !dirent.isFile()) continue;
      let name: string;
      try {
        name = utf8.decode(dirent.name);
      } catch {
        continue;
      }
      entries.push({ name, isDirectory, key: isDirectory ? name + '/' : name });
    }
    entries.sort((a, b) => compareBytes(a.key, b.key));
    return entries;
  }

  private async *statFiles(rels: string[]): AsyncGenerator<ObjectEntry> {
    if (rels.length === 0) return;
    const stats = await Promise.all(
      rels.map(async (rel) => {
        try {
          return await lstat(join(this.root, rel));
        } catch (error) {
          if (errorCode(error) === 'ENOENT') return undefined;
          throw error;
        }
      }),
    );
    for (let i = 0; i < rels.length; i++) {
      const s = stats[i];
      if (s?.isFile()) yield { path: rels[i]!, size: s.size, lastModified: s.mtime };
    }
  }
}

type DirectoryState = 'directory' | 'missing' | 'not-a-directory';

function checkListPrefix(prefix: string, where: string): void {
  if (prefix === '') return;
  const reason = prefix.startsWith('/')
    ? 'it is absolute'
    : prefix.includes('\0')
      ? 'it contains a NUL character'
      : prefix.split('/').some((s) => s === '..' || s === '.')
        ? 'it contains a "." or ".." segment'
        : undefined;
  if (reason) {
    throw new Error(`Cannot list "${prefix}" in ${where}: ${reason}; a prefix is relative to the store root, with "/" separators.`);
  }
}

function invalidPathReason(path: unknown): string | undefined {
  if (typeof path !== 'string' || path === '') return 'the path is empty';
  if (path.startsWith('/')) return 'the path is absolute; paths are relative to the store root';
  if (path.includes('\0')) return 'the path contains a NUL character';
  const segments = path.split('/');
  if (segments.some((s) => s === '..')) return 'the path contains a ".." segment and could lead outside the store root';
  if (segments.some((s) => s === '.' || s === '')) return 'the path contains an empty or "." segment';
  return undefined;
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

function failureFrom(path: string, error: unknown): DeleteFailure {
  return {
    path,
    code: errorCode(error) ?? 'Error',
    message: `Could not delete "${path}": ${error instanceof Error ? error.message : String(error)}`,
  };
}
