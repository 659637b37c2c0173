import { describe, expect, it } from 'vitest';
import { CopyRows, type ReferenceRow } from '../../functions/catalog/postgres.js';

function rowsOf(...chunks: string[]): ReferenceRow[] {
  const rows: ReferenceRow[] = [];
  const reader = new CopyRows('s.t.c');
  for (const chunk of chunks) reader.push(Buffer.from(chunk, 'utf8'), (row) => rows.push(row));
  reader.end();
  return rows;
}

describe('COPY text rows of a reference column', () => {
  it('reads extracted paths, NULLs and raw jsonb values, across chunk boundaries', () => {
    expect(rowsOf('_hash/s/ab\tmain\t\\N\n\\N\t\\N\t{"path": "_hash/s/x", "n": 1}\n')).toEqual([
      { path: '_hash/s/ab', store: 'main', raw: null },
      { path: null, store: null, raw: { path: '_hash/s/x', n: 1 } },
    ]);
    const text = '_schema/s/t/é/f\t\\N\t\\N\n';
    const bytes = Buffer.from(text, 'utf8');
    const cut = bytes.indexOf(0xc3) + 1; // inside the two bytes of "é"
    const rows: ReferenceRow[] = [];
    const reader = new CopyRows('s.t.c');
    reader.push(bytes.subarray(0, cut), (row) => rows.push(row));
    reader.push(bytes.subarray(cut), (row) => rows.push(row));
    reader.end();
    expect(rows).toEqual([{ path: '_schema/s/t/é/f', store: null, raw: null }]);
  });

  it('decodes the escapes COPY writes', () => {
    expect(rowsOf('a\\tb\\\\c\\nd\\re\\bf\\fg\\vh\t\\N\t\\N\n')).toEqual([{ path: 'a\tb\\c\nd\re\bf\fg\vh', store: null, raw: null }]);
    // A backslash inside JSON text is doubled by COPY.
    expect(rowsOf('\\N\t\\N\t{"path": "a\\\\"b"}\n')[0]!.raw).toEqual({ path: 'a"b' });
  });

  it('fails closed on anything COPY TO does not write', () => {
    expect(() => rowsOf('a\tb\n')).toThrow(/three fields/);
    expect(() => rowsOf('a\tb\tc\td\n')).toThrow(/three fields/);
    expect(() => rowsOf('a\\x41\t\\N\t\\N\n')).toThrow(/unknown escape/);
    expect(() => rowsOf('a\\\t\\N\t\\N\n')).toThrow();
    expect(() => rowsOf('\\N\t\\N\tnot json\n')).toThrow(/not JSON/);
    expect(() => rowsOf('a\t\\N\t\\N')).toThrow(/middle of a row/);
  });
});
