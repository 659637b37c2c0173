import { describe, expect, it } from 'vitest';
import { canonicalPath } from '../../functions/catalog/canonical-path.js';

describe('canonicalPath', () => {
  it.each([
    ['_hash/s/H', '_hash/s/H'],
    ['x', 'x'],
    ['_hash/s//H', '_hash/s/H'],
    ['_hash/s/./H', '_hash/s/H'],
    ['_schema/s/t/id=1/obj_x/', '_schema/s/t/id=1/obj_x'],
    ['/_hash/s/H', '_hash/s/H'],
    ['//_hash///s/H//', '_hash/s/H'],
    ['./_hash/s/H', '_hash/s/H'],
    ['_hash/s/H/.', '_hash/s/H'],
    ['_hash/other/../s/H', '_hash/s/H'],
    ['a/b/c/../../d', 'a/d'],
    ['a/b/..', 'a'],
    ['a/../b/../c', 'c'],
    ['.hidden/x', '.hidden/x'],
    ['a/...', 'a/...'],
    ['a/..b/c.', 'a/..b/c.'],
    [' ', ' '],
    ['é/\u{1F600}', 'é/\u{1F600}'],
    ['a\\b', 'a\\b'],
    ['a\\..\\b', 'a\\..\\b'],
  ])('%j is %j', (raw, canonical) => {
    expect(canonicalPath(raw)).toBe(canonical);
  });

  it.each([[''], ['/'], ['//'], ['.'], ['./'], ['/./.'], ['..'], ['../x'], ['/../x'], ['a/../..'], ['a/../../b'], ['a/..'], ['a\0b'], ['\0']])(
    '%j has no canonical form',
    (raw) => {
      expect(canonicalPath(raw)).toBeNull();
    },
  );

  it('is idempotent', () => {
    for (const raw of ['a//b/./c/../d/', '/x/y/', 'p']) {
      const once = canonicalPath(raw)!;
      expect(canonicalPath(once)).toBe(once);
    }
  });
});
