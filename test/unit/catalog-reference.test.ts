import { describe, expect, it } from 'vitest';
import { toReference } from '../../functions/catalog/reference.js';
import { MalformedMetadataError } from '../../functions/engine/types.js';

const WHERE = 'sch.tbl.col';

function malformed(value: unknown): MalformedMetadataError {
  try {
    toReference(value, WHERE);
  } catch (error) {
    expect(error).toBeInstanceOf(MalformedMetadataError);
    return error as MalformedMetadataError;
  }
  throw new Error(`expected ${JSON.stringify(value)} to be rejected`);
}

describe('toReference', () => {
  const hashValue = {
    hash: 'mhmckyclcrjf5zaexdm2zxjwiu',
    path: '_hash/sch/mhmckyclcrjf5zaexdm2zxjwiu',
    schema: 'sch',
    store: 'main',
    size: 69,
  };

  it('reads store and path of an object', () => {
    expect(toReference(hashValue, WHERE)).toEqual({ store: 'main', path: '_hash/sch/mhmckyclcrjf5zaexdm2zxjwiu' });
  });

  it('parses a JSON string (MariaDB JSON as text)', () => {
    expect(toReference(JSON.stringify(hashValue), WHERE)).toEqual({
      store: 'main',
      path: '_hash/sch/mhmckyclcrjf5zaexdm2zxjwiu',
    });
  });

  it('parses a double-encoded JSON string once more', () => {
    expect(toReference(JSON.stringify(JSON.stringify({ path: 'p/q', store: 'cold' })), WHERE)).toEqual({
      store: 'cold',
      path: 'p/q',
    });
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
    expect(toReference(value, WHERE)).toEqual({ store: null, path: 'x' });
  });

  it('is null for SQL NULL and JSON null', () => {
    expect(toReference(null, WHERE)).toBeNull();
    expect(toReference(undefined, WHERE)).toBeNull();
    expect(toReference('null', WHERE)).toBeNull();
  });

  it('names the column and the problem for invalid JSON, with an excerpt', () => {
    const error = malformed('{"path": "x"');
    expect(error.where).toBe(WHERE);
    expect(error.message).toBe(`${WHERE}: ${error.detail}`);
    expect(error.detail).toMatch(/not valid JSON/);
    expect(error.detail).toContain('{\\"path\\": \\"x\\"');
  });

  it('rejects an object without a path', () => {
    const error = malformed({ hash: 'x' });
    expect(error.detail).toMatch(/no "path"/);
    expect(error.detail).toContain('"hash":"x"');
  });

  it.each([[{ path: 5 }], [{ path: null }], [{ path: ['a'] }], [{ path: { nested: 'a' } }]])(
    'rejects a non-string path in %j',
    (value) => {
      expect(malformed(value).detail).toMatch(/"path" that is .* not a string/);
    },
  );

  it('rejects an empty path', () => {
    expect(malformed({ path: '' }).detail).toMatch(/empty "path"/);
  });

  it('rejects a store that is not a string', () => {
    expect(malformed({ path: 'x', store: 3 }).detail).toMatch(/"store" that is a number/);
  });

  it.each([[5], ['5'], [true], [[{ path: 'x' }]], ['[]'], ['"just text"'], [Buffer.from('{"path":"x"}')]])(
    'rejects %j, which is not an object',
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
