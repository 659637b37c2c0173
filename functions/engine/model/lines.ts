import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';

/** Write one line per item to a local file, with backpressure; any stream error is thrown. */
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
