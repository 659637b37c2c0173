import { describe, expect, it } from 'vitest';
import { toReference, toReferences } from '../../functions/catalog/reference.js';
import { MalformedMetadataError } from '../../functions/engine/types.js';

const WHERE = 'sch.tbl.col';

function malformed(value: unknown): MalformedMetadataError {
  try {
    toReferences(value, WHERE);
  } catch (error) {
    expect(error).toBeInstanceOf(MalformedMetadataError);
    expect((error as MalformedMetadataError).where).toBe(WHERE);
    return error as MalformedMetadataError;
  }
  throw new Error(`expected ${JSON.stringify(value)} to be rejected`);
}

const sorted = (value: unknown) =>
  toReferences(value, WHERE).sort((a, b) => `${a.store}|${a.path}`.localeCompare(`${b.store}|${b.path}`));

describe('toReferences', () => {
  const hashValue = {
    hash: 'mhmckyclcrjf5zaexdm2zxjwiu',
    path: '_hash/sch/mhmckyclcrjf5zaexdm2zxjwiu',
    schema: 'sch',
    store: 'main',
    size: 69,
  };
  const hashRef = { store: 'main', path: '_hash/sch/mhmckyclcrjf5zaexdm2zxjwiu' };

  it('reads store and path of an object', () => {
    expect(toReferences(hashValue, WHERE)).toEqual([hashRef]);
  });

  it('reads the typical DataJoint values as their one path', () => {
    const values = [
      { path: '_schema/sch/session/subject=m%2F1%20x/sess_idx=3/wave_siMNaXZy.npy', store: 'main', dtype: 'float32', shape: [2, 3] },
      { path: '_schema/sch/t/id=3/obj_zY50ZToX.dat', store: 'main', size: 8, ext: 'dat', is_dir: false, item_count: null, timestamp: '2026-01-02T03:04:05+00:00' },
      { path: 'user/sub/raw.bin', store: 'main', size: 7, is_dir: false, timestamp: '2026-01-02T03:04:05+00:00' },
    ];
    for (const value of values) expect(toReferences(value, WHERE)).toEqual([{ store: 'main', path: value.path }]);
  });

  it('parses a JSON string (MariaDB JSON as text)', () => {
    expect(toReferences(JSON.stringify(hashValue), WHERE)).toEqual([hashRef]);
  });

  it('parses a double-encoded JSON string once more', () => {
    expect(toReferences(JSON.stringify(JSON.stringify({ path: 'p/q', store: 'cold' })), WHERE)).toEqual([
      { store: 'cold', path: 'p/q' },
    ]);
  });

  it('rejects a third level of encoding', () => {
    const error = malformed(JSON.stringify(JSON.stringify(JSON.stringify({ path: 'p' }))));
    expect(error.detail).toMatch(/a string/);
  });

  it.each([
    [{ path: 'x' }],
    [{ path: 'x', store: null }],
    [{ path: 'x', store: '' }],
    ['{"path": "x", "store": ""}'],
  ])('reads a missing, null or empty store of %j as the default store (null)', (value) => {
    expect(toReferences(value, WHERE)).toEqual([{ store: null, path: 'x' }]);
  });

  it('is empty for SQL NULL and JSON null', () => {
    expect(toReferences(null, WHERE)).toEqual([]);
    expect(toReferences(undefined, WHERE)).toEqual([]);
    expect(toReferences('null', WHERE)).toEqual([]);
  });

  describe('paths that used to be accepted without protecting their object', () => {
    it.each([
      [{ path: '_hash/s//H', store: 'main' }, '_hash/s/H'],
      [{ path: '_hash/s/./H', store: 'main' }, '_hash/s/H'],
      [{ path: '_schema/s/t/id=1/obj_x/', store: 'main', is_dir: true, item_count: 3 }, '_schema/s/t/id=1/obj_x'],
      [{ kind: 'graph', data: { path: '_hash/s/H', store: 'main' } }, '_hash/s/H'],
      [{ kind: 'graph', data: [{ path: '_hash/s/H', store: 'main' }] }, '_hash/s/H'],
      [[{ path: '_hash/s/H', store: 'main' }], '_hash/s/H'],
      [{ path: '/_hash/s/H', store: 'main' }, '_hash/s/H'],
      [{ path: '_hash/x/../s/H', store: 'main' }, '_hash/s/H'],
    ])('%j yields %j', (value, path) => {
      expect(toReferences(value, WHERE)).toEqual([{ store: 'main', path }]);
      expect(toReferences(JSON.stringify(value), WHERE)).toEqual([{ store: 'main', path }]);
    });

    it('reads every path of an array of references, each with its store', () => {
      const value = {
        kind: 'graph',
        nodes: [
          { path: '_hash/s/A', store: 'main' },
          { path: '_hash/s/B', store: 'cold' },
          { path: '_hash/s/C' },
        ],
      };
      expect(sorted(value)).toEqual([
        { store: 'cold', path: '_hash/s/B' },
        { store: 'main', path: '_hash/s/A' },
        { store: null, path: '_hash/s/C' },
      ]);
    });
  });

  describe('store inheritance', () => {
    it('gives a nested path without a store the nearest enclosing store', () => {
      const value = {
        store: 'outer',
        path: '_hash/s/TOP',
        a: { path: '_hash/s/A' },
        b: { store: 'inner', c: { path: '_hash/s/C', store: null }, d: [{ path: '_hash/s/D', store: '' }] },
      };
      expect(sorted(value)).toEqual([
        { store: 'inner', path: '_hash/s/C' },
        { store: 'inner', path: '_hash/s/D' },
        { store: 'outer', path: '_hash/s/A' },
        { store: 'outer', path: '_hash/s/TOP' },
      ]);
    });

    it('reads a nested path as the default store when no enclosing object names one', () => {
      expect(toReferences({ data: { path: '_hash/s/H' } }, WHERE)).toEqual([{ store: null, path: '_hash/s/H' }]);
    });

    it('rejects a path that would inherit a store that is not a string', () => {
      const error = malformed({ store: 5, data: { path: '_hash/s/H' } });
      expect(error.detail).toMatch(/"store" that is a number/);
    });

    it('ignores an unusable store where no path needs it', () => {
      expect(toReferences({ path: 'x', meta: { store: 7 } }, WHERE)).toEqual([{ store: null, path: 'x' }]);
    });
  });

  describe('other strings', () => {
    it('reads a string with a / anywhere as a path in the enclosing store', () => {
      const value = { path: '_hash/s/H', store: 'main', files: ['_schema/s/t/a.dat', { name: '_schema/s/t//b.dat' }], thumbnail: '/_schema/s/t/c.png' };
      expect(sorted(value)).toEqual([
        { store: 'main', path: '_hash/s/H' },
        { store: 'main', path: '_schema/s/t/a.dat' },
        { store: 'main', path: '_schema/s/t/b.dat' },
        { store: 'main', path: '_schema/s/t/c.png' },
      ]);
    });

    it('reads a key with a / as a path too', () => {
      expect(sorted({ path: 'x', store: 'main', sizes: { '_schema/s/t/a.dat': 3 } })).toEqual([
        { store: 'main', path: '_schema/s/t/a.dat' },
        { store: 'main', path: 'x' },
      ]);
    });

    it('keeps a MIME type or date as a harmless extra path, and ignores strings without / or outside the store', () => {
      const value = { path: '_hash/s/H', store: 'main', mime: 'image/png', note: 'no slash here', up: '../../etc/passwd', root: '/', dots: './.' };
      expect(sorted(value)).toEqual([
        { store: 'main', path: '_hash/s/H' },
        { store: 'main', path: 'image/png' },
      ]);
    });

    it('de-duplicates', () => {
      const value = { path: '_hash/s/H', store: 'main', copy: '_hash/s//H', again: { path: '_hash/s/./H' }, list: ['_hash/s/H'] };
      expect(toReferences(value, WHERE)).toEqual([{ store: 'main', path: '_hash/s/H' }]);
    });

    it('does not read paths from a value without any "path" key', () => {
      expect(malformed({ files: ['_hash/s/H'] }).detail).toMatch(/no "path"/);
    });
  });

  it('walks a deeply nested value without overflowing the stack', () => {
    let value: unknown = { path: '_hash/s/DEEP' };
    for (let i = 0; i < 100_000; i += 1) value = [value];
    expect(toReferences(value, WHERE)).toEqual([{ store: null, path: '_hash/s/DEEP' }]);
  });

  it('names the column and the problem for invalid JSON, with an excerpt', () => {
    const error = malformed('{"path": "x"');
    expect(error.message).toBe(`${WHERE}: ${error.detail}`);
    expect(error.detail).toMatch(/not valid JSON/);
    expect(error.detail).toContain('{\\"path\\": \\"x\\"');
  });

  it('rejects an object without a path', () => {
    const error = malformed({ hash: 'x' });
    expect(error.detail).toMatch(/no "path"/);
    expect(error.detail).toContain('"hash":"x"');
  });

  it.each([[{ path: 5 }], [{ path: null }], [{ path: ['a'] }], [{ path: { nested: 'a' } }], [{ path: 'x', data: { path: 3 } }], [[{ path: false }]]])(
    'rejects a non-string path in %j',
    (value) => {
      expect(malformed(value).detail).toMatch(/"path" that is .* not a string/);
    },
  );

  it('rejects an empty path', () => {
    expect(malformed({ path: '' }).detail).toMatch(/empty "path"/);
    expect(malformed({ path: 'x', data: { path: '' } }).detail).toMatch(/empty "path"/);
  });

  it.each([['/'], ['.'], ['..'], ['a/../..'], ['../_hash/s/H'], ['//./'], ['a\0b']])('rejects the path %j, which names nothing inside the store', (path) => {
    expect(malformed({ path, store: 'main' }).detail).toMatch(/"path" that names nothing inside the store/);
    expect(malformed({ path: 'ok', nested: { path } }).detail).toMatch(/names nothing inside the store/);
  });

  it('rejects a store that is not a string', () => {
    expect(malformed({ path: 'x', store: 3 }).detail).toMatch(/"store" that is a number/);
    expect(malformed({ path: 'x', data: { path: 'y', store: ['main'] } }).detail).toMatch(/"store" that is an array/);
  });

  it.each([[5], ['5'], [true], ['[]'], [[]], [[1, 'a/b']], ['"just text"'], [Buffer.from('{"path":"x"}')]])(
    'rejects %j, which is not an object with a path',
    (value) => {
      expect(malformed(value).detail).toMatch(/not a JSON object|not valid JSON/);
    },
  );

  it('shortens long excerpts', () => {
    const error = malformed({ nopath: 'x'.repeat(500) });
    expect(error.detail.length).toBeLessThan(200);
    expect(error.detail).toContain('…');
  });
});

describe('toReference (the single-reference form)', () => {
  it('is the only reference, or null', () => {
    expect(toReference({ path: 'a//b', store: 'main' }, WHERE)).toEqual({ store: 'main', path: 'a/b' });
    expect(toReference(null, WHERE)).toBeNull();
  });

  it('refuses a value holding several references rather than drop one', () => {
    expect(() => toReference({ path: 'a', data: { path: 'b' } }, WHERE)).toThrow(/2 references/);
  });
});
