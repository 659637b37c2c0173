import { access, link, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { MissingRunFileError, type FolderStorage } from '../engine/run/run-folder.js';
import { readLinesFrom, writeLinesTo } from '../engine/model/lines.js';

/** Run files in a local directory. Every write goes to a temporary file first, so a reader never sees half a file. */
export class LocalFolderStorage implements FolderStorage {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  get description(): string {
    return this.root;
  }

  async writeText(path: string, body: string, options: { ifAbsent?: boolean } = {}): Promise<boolean> {
    const file = this.file(path);
    await mkdir(dirname(file), { recursive: true });
    const temp = temporaryName(file);
    await writeFile(temp, body);
    if (!options.ifAbsent) {
      await rename(temp, file);
      return true;
    }
    try {
      // link() fails when the name is taken: of two writers, exactly one wins.
      await link(temp, file);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    } finally {
      await rm(temp, { force: true });
    }
  }

  async readText(path: string): Promise<string | null> {
    try {
      return await readFile(this.file(path), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async writeLines(path: string, lines: AsyncIterable<string> | Iterable<string>): Promise<void> {
    const file = this.file(path);
    await mkdir(dirname(file), { recursive: true });
    const temp = temporaryName(file);
    try {
      await writeLinesTo(temp, lines);
      await rename(temp, file);
    } finally {
      await rm(temp, { force: true });
    }
  }

  async *readLines(path: string): AsyncIterable<string> {
    const file = this.file(path);
    try {
      await access(file);
    } catch {
      throw new MissingRunFileError(path, this.root);
    }
    yield* readLinesFrom(file);
  }

  async list(prefix: string): Promise<string[]> {
    const dir = this.file(prefix.slice(0, prefix.lastIndexOf('/') + 1) || '.');
    let entries;
    try {
      entries = await readdir(dir, { recursive: true, withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return entries
      .filter((e) => e.isFile() && !e.name.endsWith('.tmp'))
      .map((e) => relative(this.root, join(e.parentPath, e.name)).split(sep).join('/'))
      .filter((path) => path.startsWith(prefix))
      .sort();
  }

  async remove(path: string): Promise<void> {
    await rm(this.file(path), { force: true });
  }

  private file(path: string): string {
    const full = resolve(this.root, ...path.split('/'));
    if (full !== this.root && !full.startsWith(this.root + sep)) throw new Error(`run folder path escapes ${this.root}: ${path}`);
    return full;
  }
}

let writes = 0;
const temporaryName = (file: string): string => `${file}.${process.pid}.${++writes}.tmp`;
