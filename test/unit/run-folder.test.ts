import { describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MissingRunFileError } from '../../functions/engine/run/run-folder.js';
import { linesOf } from '../../functions/engine/model/lines.js';
import { LocalFolderStorage } from '../../functions/pipeline/local-folder-storage.js';

async function* chunks(...parts: (string | Buffer)[]): AsyncIterable<string | Buffer> {
  yield* parts;
}

async function collect(source: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of source) out.push(line);
  return out;
}

describe('run folder lines', () => {
  it('joins lines and characters split across chunks', async () => {
    const snowman = Buffer.from('☃');
    expect(await collect(linesOf(chunks(Buffer.from('"a"\n"b'), Buffer.from('c"\n"'), snowman.subarray(0, 1), snowman.subarray(1), Buffer.from('"'))))).toEqual([
      '"a"',
      '"bc"',
      '"☃"',
    ]);
    expect(await collect(linesOf(chunks('x\n\n', 'y\n')))).toEqual(['x', 'y']);
  });

  it('writes and reads back lines, and never reads a missing list as empty', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'djgc-folder-'));
    try {
      const folder = new LocalFolderStorage(dir);
      await folder.writeLines('runs/r/refs/a.jsonl', ['"p/1"', '"p/2"']);
      expect(await collect(folder.readLines('runs/r/refs/a.jsonl'))).toEqual(['"p/1"', '"p/2"']);
      await folder.writeLines('runs/r/refs/empty.jsonl', []);
      expect(await collect(folder.readLines('runs/r/refs/empty.jsonl'))).toEqual([]);
      await expect(collect(folder.readLines('runs/r/refs/missing.jsonl'))).rejects.toBeInstanceOf(MissingRunFileError);
      await expect(folder.writeText('../escape', 'x')).rejects.toThrow(/escapes/);
      expect(await folder.writeText('runs/r/once', 'first', { ifAbsent: true })).toBe(true);
      expect(await folder.writeText('runs/r/once', 'second', { ifAbsent: true })).toBe(false);
      expect(await folder.readText('runs/r/once')).toBe('first');
      expect(await folder.list('runs/r/refs/')).toEqual(['runs/r/refs/a.jsonl', 'runs/r/refs/empty.jsonl']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
