import { describe, expect, it } from 'vitest';
import { groupsFor, referenceInShard, schemasInScope, shardsOf, StoreScope } from '../../functions/engine/phases/scope.js';
import { compareBytes } from '../../functions/engine/model/byte-order.js';
import type { Group } from '../../functions/engine/model/plan.js';
import { physicalRoot } from '../../functions/stores/index.js';
import type { StorageColumn, StoreSpec } from '../../functions/engine/types.js';

const spec = (location: string, extra: Partial<StoreSpec> = {}): StoreSpec => ({
  name: 'x',
  protocol: 'file',
  location,
  hashPrefix: '_hash',
  schemaPrefix: '_schema',
  subfolding: null,
  partitionPattern: null,
  filepathPrefix: null,
  ...extra,
});
const column = (schema: string, store = 'main'): StorageColumn => ({ schema, table: 't', column: 'c', codec: 'blob', store });

describe('store scope', () => {
  it('merges store names that point at the same physical root', () => {
    const scope = new StoreScope({ main: spec('/data/dj'), alias: spec('/data/dj/'), cold: spec('/cold') }, 'main', undefined, false, physicalRoot);
    expect(scope.roots).toHaveLength(2);
    expect(scope.roots[0]!.aliases).toEqual(['main', 'alias']);
    expect(scope.rootsOf('alias', column('a'))).toEqual(scope.rootsOf('main', column('a')));
  });

  it('reads a missing store as the default store and the declared one', () => {
    const scope = new StoreScope({ main: spec('/data/dj'), cold: spec('/cold') }, 'main', undefined, false, physicalRoot);
    expect(scope.rootsOf(null, column('a', 'cold')).sort()).toEqual([scope.rootsOf('main', column('a'))[0], scope.rootsOf('cold', column('a'))[0]].sort());
  });

  it('refuses references to a store it does not know', () => {
    const scope = new StoreScope({ main: spec('/data/dj') }, 'main', undefined, false, physicalRoot);
    expect(() => scope.rootsOf('archive', column('a'))).toThrow(/store 'archive', which is not configured/);
  });

  it('names the configured stores when asked for an unknown one', () => {
    expect(() => new StoreScope({ main: spec('/data/dj') }, 'main', 'nope', false, physicalRoot)).toThrow(/store 'nope' is not configured\. Configured stores: main/);
  });

  it('walks the whole schema section of a partitioned store', () => {
    const scope = new StoreScope({ main: spec('/d', { partitionPattern: '{subject}' }) }, 'main', undefined, false, physicalRoot);
    const groups = groupsFor(scope, ['a', 'b']);
    expect(groups.map((g) => g.listPrefix)).toEqual(['_hash/a/', '_hash/b/', '_schema/']);
    expect(groups[2]!.schemas).toEqual(['a', 'b']);
  });
});

describe('schemas in scope', () => {
  it('defaults to every schema with storage columns', () => {
    expect(schemasInScope([column('b'), column('a'), column('b')], [])).toEqual(['a', 'b']);
  });

  it('refuses a schema the server does not have', () => {
    expect(() => schemasInScope([column('a')], ['a', 'typo'])).toThrow(/schema 'typo' has no storage columns/);
  });
});

describe('sharding', () => {
  const group: Group = { key: 'main~schema~lab', root: 'r', store: 'main', section: 'schema', schemas: ['lab'], listPrefix: '_schema/lab/' };

  it('keeps a small group in one shard', () => {
    expect(shardsOf(group, 10, ['a'], 100)).toEqual([expect.objectContaining({ id: 'main~schema~lab~0' })]);
  });

  it('splits a large group into contiguous key ranges', () => {
    const sample = Array.from({ length: 1000 }, (_, i) => `_schema/lab/t/id=${String(i).padStart(4, '0')}/o`);
    const shards = shardsOf(group, 1000, sample, 250);
    expect(shards).toHaveLength(4);
    expect(shards[0]!.after).toBeUndefined();
    expect(shards[3]!.upTo).toBeUndefined();
    for (let i = 1; i < shards.length; i++) expect(shards[i]!.after).toBe(shards[i - 1]!.upTo);
  });

  it('gives a folder reference to every shard its files can fall into', () => {
    const shard = { after: '_schema/lab/t/id=1/d_x/5', upTo: '_schema/lab/t/id=2' };
    expect(referenceInShard('_schema/lab/t/id=1/d_x', shard)).toBe(true);
    expect(referenceInShard('_schema/lab/t/id=1/d_w', shard)).toBe(false);
    expect(referenceInShard('_schema/lab/t/id=3', shard)).toBe(false);
  });

  it('orders keys as UTF-8 bytes, like S3', () => {
    expect(compareBytes('a-b', 'a/x')).toBeLessThan(0);
    expect(compareBytes('\u{1F600}', '\uFFFD')).toBeGreaterThan(0);
    expect(compareBytes('abc', 'abc')).toBe(0);
    expect(compareBytes('ab', 'abc')).toBeLessThan(0);
  });
});
