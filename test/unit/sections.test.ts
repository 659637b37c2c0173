import { describe, expect, it } from 'vitest';
import { coveringCandidates, isCovered, parseHashKey, parseSchemaKey, sectionOf, type Layout } from '../../functions/engine/phases/sections.js';

const layout: Layout = { hashPrefix: '_hash', schemaPrefix: '_schema', legacyRootLayout: false };
const legacy: Layout = { ...layout, legacyRootLayout: true };
const HASH = 'lvauakv4jmvhnolrtwiraf6fsi';

describe('hash section', () => {
  it('accepts flat and subfolded hash objects', () => {
    expect(parseHashKey(`_hash/lab/${HASH}`, layout)).toEqual({ schema: 'lab', hash: HASH });
    expect(parseHashKey(`_hash/lab/lv/au/${HASH}`, layout)).toEqual({ schema: 'lab', hash: HASH });
  });

  it('rejects names that are not hash objects', () => {
    expect(parseHashKey(`_hash/lab/${HASH}.saving`, layout)).toBeNull();
    expect(parseHashKey('_hash/lab/README', layout)).toBeNull();
    expect(parseHashKey(`_hash/lab/${HASH.toUpperCase()}`, layout)).toBeNull();
    expect(parseHashKey(`_hash/lab/xx/au/${HASH}`, layout)).toBeNull();
    expect(parseHashKey(`_hash/${HASH}`, layout)).toBeNull();
    expect(parseHashKey(`_schema/lab/${HASH}`, layout)).toBeNull();
  });
});

describe('schema section', () => {
  it('finds schema and table, also behind partition folders', () => {
    expect(parseSchemaKey('_schema/lab/session/id=1/n_abc.npy', layout)).toEqual({ schema: 'lab', table: 'session' });
    expect(parseSchemaKey('_schema/subject=m1/date=2026-01-01/lab/__rec/id=1/o_x.bin', layout)).toEqual({ schema: 'lab', table: '__rec' });
    expect(parseSchemaKey('_schema/lab/session/o_updated.bin', layout)).toEqual({ schema: 'lab', table: 'session' });
  });

  it('treats files above table level as nobody’s objects', () => {
    expect(parseSchemaKey('_schema/lab/stray.txt', layout)).toBeNull();
    expect(parseSchemaKey('_schema/lab', layout)).toBeNull();
    expect(parseSchemaKey('raw/lab/session/f.dat', layout)).toBeNull();
  });

  it('reads the root-level layout of releases ≤ 2.3.0 only when asked', () => {
    expect(parseSchemaKey('lab/session/id=1/o_x.bin', legacy)).toEqual({ schema: 'lab', table: 'session' });
    expect(parseSchemaKey(`_hash/lab/${HASH}`, legacy)).toBeNull();
    expect(sectionOf('lab/session/id=1/o_x.bin', layout)).toBeNull();
    expect(sectionOf('lab/session/id=1/o_x.bin', legacy)).toBe('schema');
  });
});

describe('coverage', () => {
  const refs = new Set(['_schema/lab/t/id=1/d_folder', '_schema/lab/t/id=1/o_file.bin', `_hash/lab/${HASH}`]);

  it('covers a file, a folder’s files and its manifest sidecar', () => {
    expect(isCovered('_schema/lab/t/id=1/o_file.bin', 'schema', refs)).toBe(true);
    expect(isCovered('_schema/lab/t/id=1/d_folder/0', 'schema', refs)).toBe(true);
    expect(isCovered('_schema/lab/t/id=1/d_folder/sub/1', 'schema', refs)).toBe(true);
    expect(isCovered('_schema/lab/t/id=1/d_folder.manifest.json', 'schema', refs)).toBe(true);
  });

  it('does not cover siblings that merely share a name prefix', () => {
    expect(isCovered('_schema/lab/t/id=1/d_folder2/0', 'schema', refs)).toBe(false);
    expect(isCovered('_schema/lab/t/id=1/o_file.bin.manifest.json', 'schema', refs)).toBe(true);
    expect(isCovered('_schema/lab/t/id=1/o_file.binx', 'schema', refs)).toBe(false);
    expect(isCovered('_schema/lab/t/id=1/d_folder-other.manifest.json', 'schema', refs)).toBe(false);
  });

  it('matches hash objects exactly', () => {
    expect(isCovered(`_hash/lab/${HASH}`, 'hash', refs)).toBe(true);
    expect(isCovered(`_hash/lab/lv/au/${HASH}`, 'hash', refs)).toBe(false);
  });

  it('lists every reference that could cover a path', () => {
    expect(coveringCandidates('a/b/c.manifest.json')).toEqual(['a/b/c.manifest.json', 'a', 'a/b', 'a/b/c']);
  });
});
