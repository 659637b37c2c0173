import { createReadStream, createWriteStream } from 'node:fs';
import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { once } from 'node:events';

/**
 * Where a run keeps its plan, mark output, shard results and report (DESIGN.md "Run folder").
 * Paths are relative, `/`-separated, e.g. `runs/<runId>/plan.json`.
 */
export interface RunFolder {
  readonly description: string;
  writeText(path: string, body: string): Promise<void>;
  /** null when the file does not exist. */
  readText(path: string): Promise<string | null>;
  writeLines(path: string, lines: AsyncIterable<string> | Iterable<string>): Promise<void>;
  /** Throws `MissingRunFileError` when the file does not exist: a missing list is never read as an empty one. */
  readLines(path: string): AsyncIterable<string>;
}

export class MissingRunFileError extends Error {
  override readonly name = 'MissingRunFileError';
  constructor(readonly path: string, where: string) {
    super(`${path} is missing from the run folder ${where}`);
  }
}

export class LocalRunFolder implements RunFolder {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  get description(): string {
    return this.root;
  }

  private file(path: string): string {
    const full = resolve(this.root, ...path.split('/'));
    if (!full.startsWith(this.root + sep)) throw new Error(`run folder path escapes ${this.root}: ${path}`);
    return full;
  }

  async writeText(path: string, body: string): Promise<void> {
    const file = this.file(path);
    await mkdir(dirname(file), { recursive: true });
    // Write then rename so a reader never sees half a file.
    const temp = `${file}.${process.pid}.tmp`;
    await writeFile(temp, body);
    await rename(temp, file);
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
    const temp = `${file}.${process.pid}.tmp`;
    await writeLinesTo(temp, lines);
    await rename(temp, file);
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
}

export async function writeLinesTo(file: string, lines: AsyncIterable<string> | Iterable<string>): Promise<void> {
  const out = createWriteStream(file);
  let failure: unknown;
  out.on('error', (error) => {
    failure ??= error;
  });
  try {
    for await (const line of lines) {
      if (failure) throw failure;
      // `once` also rejects when the stream errors while we wait.
      if (!out.write(`${line}\n`)) await once(out, 'drain');
    }
    if (failure) throw failure;
    out.end();
    await once(out, 'finish');
  } finally {
    if (!out.writableFinished) out.destroy();
  }
}

export async function* readLinesFrom(file: string): AsyncIterable<string> {
  yield* linesOf(createReadStream(file, { encoding: 'utf8' }));
}

/**
 * The non-empty lines of a stream. Pulled chunk by chunk, so a slow consumer holds the reading
 * back (readline's iterator would buffer every line of a large file ahead of its consumer).
 */
export async function* linesOf(source: AsyncIterable<string | Buffer>): AsyncIterable<string> {
  const decoder = new TextDecoder('utf-8');
  let rest = '';
  for await (const chunk of source) {
    const text = rest + (typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
    const lines = text.split('\n');
    rest = lines.pop()!;
    for (const line of lines) if (line.length > 0) yield line;
  }
  rest += decoder.decode();
  if (rest.length > 0) yield rest;
}

export function runPath(runId: string, ...parts: string[]): string {
  return ['runs', runId, ...parts].join('/');
}
