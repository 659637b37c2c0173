import { constants, lstatSync, readdirSync, type Dirent, type Stats } from 'node:fs';
import { copyFile, link, lstat, mkdir, readdir, rmdir, stat, unlink, utimes } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pLimit from 'p-limit';
import type { DeleteFailure, DeleteOutcome, Move, MoveFailure, MoveOptions, MoveOutcome, ObjectEntry, ObjectStore, StoreSpec } from '../engine/types.js';
import { compareBytes } from './byte-order.js';
import { planMoves } from './moves.js';

export const PAGE_SIZE = 1000;
export const MAX_DELETE_BATCH = 1000;
const DEFAULT_CONCURRENCY = 32;
/** `link` errors meaning the filesystem cannot hard-link here (another device, or no hard links at all). */
const LINK_UNSUPPORTED = new Set(['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK']);

export interface FileStoreOptions {
  /** Files deleted or moved at once (default 32). */
  concurrency?: number;
  /**
   * Move by hard link + unlink (default true): atomic, never overwrites, keeps the inode. When false,
   * or where the filesystem refuses the link, a move is an exclusive copy (mtime kept) + unlink.
   */
  hardLinks?: boolean;
}

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
  private readonly concurrency: number;
  private readonly hardLinks: boolean;

  constructor(spec: StoreSpec, options: FileStoreOptions = {}) {
    if (spec.protocol !== 'file') {
      throw new Error(`Store "${spec.name}" has protocol "${spec.protocol}"; FileStore needs protocol "file".`);
    }
    if (!spec.location) {
      throw new Error(`Store "${spec.name}" has no location: set "location" to the store's root directory.`);
    }
    this.root = resolve(spec.location);
    this.description = pathToFileURL(this.root).href;
    this.concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) {
      throw new Error(`FileStore concurrency is ${this.concurrency}: use an integer of at least 1.`);
    }
    this.hardLinks = options.hardLinks ?? true;
  }

  async *list(prefix: string, options: { startAfter?: string } = {}): AsyncIterable<ObjectEntry[]> {
    checkListPrefix(prefix, this.description);
    await this.requireRoot();
    const startRel = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    if (!(await this.isRealDirectory(startRel))) return;

    yield* this.walk(startRel, prefix, options.startAfter);
  }

  async deleteBatch(paths: string[]): Promise<DeleteOutcome> {
    if (paths.length > MAX_DELETE_BATCH) {
      throw new Error(`deleteBatch got ${paths.length} paths; at most ${MAX_DELETE_BATCH} may be deleted per call: split the batch.`);
    }
    await this.requireRoot();
    const unique = [...new Set(paths)];
    const directoryChecks = new Map<string, Promise<DirectoryState>>();
    const limit = pLimit(this.concurrency);
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

    const parents = await this.parentsState(path, directoryChecks);
    if (parents === 'missing') return undefined;
    if (parents !== 'directory') {
      return { path, code: 'NotInsideRoot', message: `Refused to delete "${path}": ${this.notInsideRoot(parents.blocked)}.` };
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
      return { path, code: 'NotAnObject', message: `Refused to delete "${path}": it is ${describeKind(stats)}, not an object; only regular files are deleted.` };
    }
    try {
      await unlink(absolute);
      return undefined;
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      return failureFrom(path, error);
    }
  }

  /**
   * Move files inside the root without ever overwriting: a hard link to the destination, then the
   * source unlinked (the same inode, so bytes and mtime stay). Where the filesystem cannot link,
   * an exclusive copy with the source's mtime, then the unlink. Destination folders are created;
   * neither side may pass through a symbolic link or a non-directory.
   */
  async moveBatch(moves: Move[], options: MoveOptions = {}): Promise<MoveOutcome> {
    const plan = planMoves(moves, invalidPathReason);
    await this.requireRoot();
    // A rename takes the source away at once: the last look comes before any of them.
    const keep = options.lastLook && plan.moves.length > 0 ? await options.lastLook(plan.moves) : new Set<string>();
    const kept = plan.moves.filter((m) => keep.has(m.from));
    plan.moves = plan.moves.filter((m) => !keep.has(m.from));
    const sourceChecks = new Map<string, Promise<DirectoryState>>();
    const destinationDirs = new Map<string, Promise<DirectoryState>>();
    const limit = pLimit(this.concurrency);
    const results = await Promise.all(
      plan.moves.map((move) =>
        limit(() =>
          this.moveOne(move, sourceChecks, destinationDirs).catch(
            (error: unknown): MoveFailure => ({ ...move, code: errorCode(error) ?? 'Error', message: `Could not move "${move.from}" to "${move.to}": ${messageOf(error)}` }),
          ),
        ),
      ),
    );

    const outcome: MoveOutcome = { moved: [], missing: [], failed: [], ...(options.lastLook ? { kept } : {}) };
    plan.moves.forEach((move, i) => {
      const result = results[i]!;
      if (result === 'moved') outcome.moved.push(move);
      else if (result === 'missing') outcome.missing.push(move);
      else outcome.failed.push(result);
    });
    outcome.failed.push(...plan.refused);
    return outcome;
  }

  private async moveOne(
    move: Move,
    sourceChecks: Map<string, Promise<DirectoryState>>,
    destinationDirs: Map<string, Promise<DirectoryState>>,
  ): Promise<'moved' | 'missing' | MoveFailure> {
    const fail = (code: string, why: string): MoveFailure => ({ ...move, code, message: `Could not move "${move.from}" to "${move.to}": ${why}.` });

    const sourceParents = await this.parentsState(move.from, sourceChecks);
    if (sourceParents === 'missing') return 'missing';
    if (sourceParents !== 'directory') return fail('NotInsideRoot', this.notInsideRoot(sourceParents.blocked));

    const from = join(this.root, move.from);
    let source: Stats;
    try {
      source = await lstat(from);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return 'missing';
      return fail(errorCode(error) ?? 'Error', messageOf(error));
    }
    if (!source.isFile()) return fail('NotAnObject', `the source is ${describeKind(source)}; only regular files are moved`);

    const destinationParents = await this.ensureParents(move.to, destinationDirs);
    if (destinationParents !== 'directory') return fail('NotInsideRoot', this.notInsideRoot(destinationParents.blocked));

    const to = join(this.root, move.to);
    const placed = this.hardLinks ? await this.placeByLink(from, to, source) : await placeByCopy(from, to, source);
    if (placed !== 'placed') return placed === 'missing' ? 'missing' : fail(placed.code, placed.message);

    try {
      await unlink(from);
    } catch (error) {
      // ENOENT: someone removed the source meanwhile; the object now lives at the destination only.
      if (errorCode(error) === 'ENOENT') return 'moved';
      const rollback = await removeQuietly(to);
      return fail(errorCode(error) ?? 'Error', `the source could not be removed (${messageOf(error)}); ${rollback ? 'the destination was removed again' : `the object is now at both paths`}`);
    }
    return 'moved';
  }

  private async placeByLink(from: string, to: string, source: Stats): Promise<Placement> {
    try {
      await link(from, to);
      return 'placed';
    } catch (error) {
      const code = errorCode(error);
      if (code === 'EEXIST') return existsFailure();
      if (code !== undefined && LINK_UNSUPPORTED.has(code)) return placeByCopy(from, to, source);
      if (code === 'ENOENT' && !(await exists(from))) return 'missing';
      return { code: code ?? 'Error', message: messageOf(error) };
    }
  }

  async stat(path: string): Promise<ObjectEntry | null> {
    const invalid = invalidPathReason(path);
    if (invalid) throw new Error(`Cannot stat "${path}" in ${this.description}: ${invalid}.`);
    await this.requireRoot();
    if ((await this.parentsState(path, new Map())) !== 'directory') return null;
    try {
      const stats = await lstat(join(this.root, path));
      return stats.isFile() ? { path, size: stats.size, lastModified: stats.mtime } : null;
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return null;
      throw error;
    }
  }

  /**
   * Remove the folders that `paths` (objects deleted or moved away) leave empty: from each one's
   * parent upwards, stopping at the first folder that is not empty, is gone, is in `keep` or above
   * one, or is the root. Folders reached through a symbolic link are left alone. Returns how many were removed.
   */
  async pruneEmptyFolders(paths: string[], keep: string[]): Promise<number> {
    for (const path of paths) {
      const invalid = invalidPathReason(path);
      if (invalid) throw new Error(`Cannot prune folders above "${path}" in ${this.description}: ${invalid}.`);
    }
    await this.requireRoot();
    const kept = keep.map((k) => k.replace(/^\/+|\/+$/g, '')).filter((k) => k !== '');
    const isKept = (dir: string) => kept.some((k) => k === dir || k.startsWith(`${dir}/`));
    const starts = [...new Set(paths.map(parentOf))].filter((dir) => dir !== '');
    starts.sort((a, b) => depthOf(b) - depthOf(a));

    let removed = 0;
    for (const start of starts) {
      if (isKept(start) || !(await this.isRealDirectory(`${start}/`))) continue;
      for (let dir = start; dir !== '' && !isKept(dir); dir = parentOf(dir)) {
        if (!(await removeIfEmpty(join(this.root, dir)))) break;
        removed++;
      }
    }
    return removed;
  }

  async versioning(): Promise<'unversioned'> {
    return 'unversioned';
  }

  /** Whether every folder above `path` is a real directory; `blocked` names the first that is a link or a file. */
  private async parentsState(path: string, checks: Map<string, Promise<DirectoryState>>): Promise<'directory' | 'missing' | { blocked: string }> {
    const segments = path.split('/');
    for (let depth = 1; depth < segments.length; depth++) {
      const dir = segments.slice(0, depth).join('/');
      let check = checks.get(dir);
      if (!check) {
        check = this.directoryState(dir);
        checks.set(dir, check);
      }
      const state = await check;
      if (state === 'missing') return 'missing';
      if (state === 'not-a-directory') return { blocked: dir };
    }
    return 'directory';
  }

  /** Create the folders above `path` one level at a time, never through a link or a file. */
  private async ensureParents(path: string, ensured: Map<string, Promise<DirectoryState>>): Promise<'directory' | { blocked: string }> {
    const segments = path.split('/');
    for (let depth = 1; depth < segments.length; depth++) {
      const dir = segments.slice(0, depth).join('/');
      let check = ensured.get(dir);
      if (!check) {
        check = this.ensureDirectory(dir);
        ensured.set(dir, check);
      }
      if ((await check) !== 'directory') return { blocked: dir };
    }
    return 'directory';
  }

  private async ensureDirectory(rel: string): Promise<DirectoryState> {
    const state = await this.directoryState(rel);
    if (state !== 'missing') return state;
    try {
      await mkdir(join(this.root, rel));
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw error;
    }
    return this.directoryState(rel);
  }

  private notInsideRoot(dir: string): string {
    return `"${dir}" is a symbolic link or not a directory, so the path may lead outside ${this.description}`;
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

  /**
   * The walk in byte order of the paths, synchronous within a page: directories are read and
   * files lstat'ed with the blocking calls, a page at a time, so the event loop gets a turn per
   * page and not a promise per file. Errors other than an entry vanishing meanwhile are thrown.
   */
  private *walk(startRel: string, prefix: string, startAfter: string | undefined): Generator<ObjectEntry[]> {
    const first = this.readDirectory(startRel);
    if (!first) return;
    const stack: Frame[] = [{ dirRel: startRel, entries: first, next: 0 }];
    let page: ObjectEntry[] = [];
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      if (frame.next === frame.entries.length) {
        stack.pop();
        continue;
      }
      const entry = frame.entries[frame.next++]!;
      const rel = frame.dirRel + entry.name;
      if (entry.isDirectory) {
        const dir = rel + '/';
        if (!dir.startsWith(prefix) && !prefix.startsWith(dir)) continue;
        if (startAfter !== undefined && compareBytes(dir, startAfter) <= 0 && !startAfter.startsWith(dir)) continue;
        const entries = this.readDirectory(dir);
        if (entries) stack.push({ dirRel: dir, entries, next: 0 });
        continue;
      }
      if (!rel.startsWith(prefix)) continue;
      if (startAfter !== undefined && compareBytes(rel, startAfter) <= 0) continue;
      const stats = lstatSync(this.root + '/' + rel, { throwIfNoEntry: false });
      if (!stats?.isFile()) continue;
      page.push({ path: rel, size: stats.size, lastModified: stats.mtime });
      if (page.length === PAGE_SIZE) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  }

  /** One directory's entries, sorted in byte order of the paths they lead to; undefined if it vanished. */
  private readDirectory(dirRel: string): WalkEntry[] | undefined {
    const absolute = join(this.root, dirRel);
    let named: Dirent[];
    try {
      named = readdirSync(absolute, { withFileTypes: true });
    } catch (error) {
      if (dirRel !== '' && errorCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    const entries: (WalkEntry & { key: string })[] = [];
    const add = (name: string, dirent: Dirent | Dirent<Buffer>): void => {
      const isDirectory = dirent.isDirectory();
      if (!isDirectory && !dirent.isFile()) return;
      entries.push({ name, isDirectory, key: isDirectory ? name + '/' : name });
    };
    // Names read as UTF-8 (the cheaper call); a name that is not valid UTF-8 reads with U+FFFD in
    // it, and only then is the folder read again as bytes, to skip exactly the names that are not.
    if (!named.some((dirent) => dirent.name.includes('\uFFFD'))) {
      for (const dirent of named) add(dirent.name, dirent);
    } else {
      let dirents: Dirent<Buffer>[];
      try {
        dirents = readdirSync(absolute, { withFileTypes: true, encoding: 'buffer' });
      } catch (error) {
        if (dirRel !== '' && errorCode(error) === 'ENOENT') return undefined;
        throw error;
      }
      for (const dirent of dirents) {
        let name: string;
        try {
          name = utf8.decode(dirent.name);
        } catch {
          continue;
        }
        add(name, dirent);
      }
    }
    entries.sort((a, b) => compareBytes(a.key, b.key));
    return entries;
  }
}

interface Frame {
  dirRel: string;
  entries: WalkEntry[];
  next: number;
}

type DirectoryState = 'directory' | 'missing' | 'not-a-directory';
type Placement = 'placed' | 'missing' | { code: string; message: string };

/** Copy `from` to a new file `to` (never over an existing one), with the source's mtime. */
async function placeByCopy(from: string, to: string, source: Stats): Promise<Placement> {
  try {
    await copyFile(from, to, constants.COPYFILE_EXCL);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'EEXIST') return existsFailure();
    await removeQuietly(to);
    if (code === 'ENOENT' && !(await exists(from))) return 'missing';
    return { code: code ?? 'Error', message: `copying failed: ${messageOf(error)}` };
  }
  try {
    await utimes(to, source.atime, source.mtime);
    const after = await lstat(from);
    if (after.size !== source.size || after.mtimeMs !== source.mtimeMs) {
      await removeQuietly(to);
      return { code: 'SourceChanged', message: 'the source was written to while it was copied; the copy was removed and the source left as it is' };
    }
  } catch (error) {
    await removeQuietly(to);
    return { code: errorCode(error) ?? 'Error', message: `the copy could not be finished (${messageOf(error)}); it was removed` };
  }
  return 'placed';
}

function existsFailure(): { code: string; message: string } {
  return { code: 'Exists', message: 'the destination exists and is never overwritten; both were left as they are' };
}

/** rmdir: true when removed, false when the folder is not empty or already gone. */
async function removeIfEmpty(dir: string): Promise<boolean> {
  try {
    await rmdir(dir);
    return true;
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw new Error(`Could not remove the empty folder ${dir}: ${messageOf(error)}`, { cause: error });
  }
}

async function removeQuietly(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (error) {
    return errorCode(error) === 'ENOENT';
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

function depthOf(path: string): number {
  return path.split('/').length;
}

function describeKind(stats: Stats): string {
  return stats.isDirectory() ? 'a directory' : stats.isSymbolicLink() ? 'a symbolic link' : 'not a regular file';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

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
