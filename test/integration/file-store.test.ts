import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { normalizeStore } from '../../functions/config/datajoint.js';
import type { ObjectEntry } from '../../functions/engine/types.js';
import { FileStore, openStore } from '../../functions/stores/index.js';

let sandbox: string;
let root: string;
let store: FileStore;

beforeEach(() => {
  sandbox = mkdtempSync(join(tmpdir(), 'djgc-file-store-'));
  root = join(sandbox, 'root');
  mkdirSync(root);
  store = new FileStore(normalizeStore('main', { protocol: 'file', location: root }));
});

afterEach(() => {
  rmSync(sandbox, { recursive: true, force: true });
});

function put(relative: string, content = 'x', base = root): string {
  const path = join(base, relative);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  return path;
}

async function pages(prefix = '', startAfter?: string, target = store): Promise<ObjectEntry[][]> {
  const result: ObjectEntry[][] = [];
  for await (const page of target.list(prefix, startAfter === undefined ? {} : { startAfter })) result.push(page);
  return result;
}

async function paths(prefix = '', startAfter?: string): Promise<string[]> {
  return (await pages(prefix, startAfter)).flat().map((e) => e.path);
}

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('FileStore.list', () => {
  it('skips names that are not valid UTF-8, and lists a valid name holding U+FFFD beside them', async () => {
    put('d/a');
    put('d/\uFFFD.bin');
    put('d/z');
    // The byte 0xff never occurs in UTF-8: no reference can name this file.
    writeFileSync(Buffer.concat([Buffer.from(join(root, 'd/')), Buffer.from([0x62, 0xff, 0x2e, 0x62, 0x69, 0x6e])]), 'x');
    mkdirSync(Buffer.concat([Buffer.from(join(root, 'e')), Buffer.from([0xfe])]));
    writeFileSync(Buffer.concat([Buffer.from(join(root, 'e')), Buffer.from([0xfe]), Buffer.from('/inside')]), 'x');
    expect(await paths()).toEqual(['d/a', 'd/z', 'd/\uFFFD.bin']);
  });

  it('lists regular files in byte order of the full path, with size and mtime', async () => {
    const names = [
      'a/x',
      'a-b',
      'a b/c',
      'a=1/y',
      'a%2F/z',
      'é/1',
      '\u{1F600}.bin',
      '\uFF5E.bin',
      'a/y-z',
      'a/y/deep',
      'a/y0',
      '_hash/sch/lvauakv4jmvhnolrtwiraf6fsi',
      '_schema/sch/t/subject=m%2F1%20x/obj_ab.dat',
    ];
    for (const name of names) put(name, name);
    const when = new Date('2024-01-02T03:04:05Z');
    utimesSync(join(root, 'a-b'), when, when);

    const listed = (await pages()).flat();

    expect(listed.map((e) => e.path)).toEqual([...names].sort(byteOrder));
    const ab = listed.find((e) => e.path === 'a-b')!;
    expect(ab.size).toBe(3);
    expect(ab.lastModified.getTime()).toBe(when.getTime());
    expect(listed.find((e) => e.path === 'é/1')!.size).toBe(Buffer.byteLength('é/1'));
    expect(listed.indexOf(listed.find((e) => e.path === 'a-b')!)).toBeLessThan(listed.findIndex((e) => e.path === 'a/x'));
  });

  it('neither follows nor lists symbolic links, and ignores empty directories', async () => {
    put('real/file');
    const outside = join(sandbox, 'outside');
    put('secret', 'outside data', outside);
    symlinkSync(outside, join(root, 'linked-dir'));
    symlinkSync(join(root, 'real', 'file'), join(root, 'linked-file'));
    mkdirSync(join(root, 'empty', 'deeper'), { recursive: true });

    expect(await paths()).toEqual(['real/file']);
    expect(await paths('linked-dir/')).toEqual([]);
  });

  it('returns pages of at most 1000 over a tree of 2500 files', async () => {
    const expected: string[] = [];
    for (let i = 0; i < 2500; i++) {
      const name = `_hash/sch/${String(i % 7)}/${i.toString(36).padStart(4, '0')}`;
      expected.push(name);
      put(name, '');
    }
    expected.sort(byteOrder);

    const result = await pages();

    expect(result.map((p) => p.length)).toEqual([1000, 1000, 500]);
    expect(result.flat().map((e) => e.path)).toEqual(expected);

    const after = expected[1234]!;
    expect(await paths('', after)).toEqual(expected.slice(1235));
    expect(await paths('_hash/sch/3/', after)).toEqual(expected.slice(1235).filter((p) => p.startsWith('_hash/sch/3/')));
  });

  it('skips everything up to and including startAfter, also when startAfter names a directory or no entry', async () => {
    for (const name of ['a-b', 'a/x', 'a/y/z', 'b', 'c/d']) put(name);

    expect(await paths('', 'a-b')).toEqual(['a/x', 'a/y/z', 'b', 'c/d']);
    expect(await paths('', 'a/')).toEqual(['a/x', 'a/y/z', 'b', 'c/d']);
    expect(await paths('', 'a/x')).toEqual(['a/y/z', 'b', 'c/d']);
    expect(await paths('', 'a/y')).toEqual(['a/y/z', 'b', 'c/d']);
    expect(await paths('', 'a0')).toEqual(['b', 'c/d']);
    expect(await paths('', 'c/d')).toEqual([]);
    expect(await paths('', '')).toEqual(['a-b', 'a/x', 'a/y/z', 'b', 'c/d']);
  });

  it('treats a prefix without trailing slash as a name prefix, and one with a slash as a directory', async () => {
    for (const name of ['dir/ab', 'dir/abc', 'dir/abd/x', 'dir/b', 'dir-x', 'dir2/y', 'dirt']) put(name);

    expect(await paths('dir/ab')).toEqual(['dir/ab', 'dir/abc', 'dir/abd/x']);
    expect(await paths('dir/abd/')).toEqual(['dir/abd/x']);
    expect(await paths('dir/')).toEqual(['dir/ab', 'dir/abc', 'dir/abd/x', 'dir/b']);
    expect(await paths('dir')).toEqual(['dir-x', 'dir/ab', 'dir/abc', 'dir/abd/x', 'dir/b', 'dir2/y', 'dirt']);
    expect(await paths('dir/abc')).toEqual(['dir/abc']);
  });

  it('yields nothing for a missing prefix, a prefix through a file, or an empty root', async () => {
    expect(await pages()).toEqual([]);
    put('dir/file');

    expect(await pages('missing/')).toEqual([]);
    expect(await pages('missing/deeper/name')).toEqual([]);
    expect(await pages('dir/file/')).toEqual([]);
    expect(await pages('dir/zzz')).toEqual([]);
  });

  it('throws when the root is missing or not a directory, and for a prefix leaving the root', async () => {
    const missing = new FileStore(normalizeStore('gone', { protocol: 'file', location: join(sandbox, 'nope') }));
    await expect(pages('', undefined, missing)).rejects.toThrow(/Store root .*nope does not exist: check the store's "location"/);

    put('plain', 'x', sandbox);
    const notDir = new FileStore(normalizeStore('plain', { protocol: 'file', location: join(sandbox, 'plain') }));
    await expect(pages('', undefined, notDir)).rejects.toThrow(/is not a directory/);

    await expect(pages('../')).rejects.toThrow(/contains a "\." or "\.\." segment/);
    await expect(pages('/etc/')).rejects.toThrow(/it is absolute/);
  });
});

describe('FileStore.deleteBatch', () => {
  it('deletes files, counts missing ones as deleted and reports per-path failures without throwing', async () => {
    put('_hash/sch/aaaa');
    put('_hash/sch/bbbb');
    put('_hash/sch/keep');
    mkdirSync(join(root, '_hash/sch/folder'));
    const outsideFile = put('victim', 'precious', sandbox);
    put('secret', 'outside data', join(sandbox, 'outside'));
    symlinkSync(join(sandbox, 'outside'), join(root, 'link'));
    symlinkSync(outsideFile, join(root, 'file-link'));

    const outcome = await store.deleteBatch([
      '_hash/sch/aaaa',
      '_hash/sch/missing',
      'nowhere/at/all',
      '_hash/sch/folder',
      '../victim',
      '_hash/../../victim',
      '/etc/passwd',
      '',
      'a//b',
      'link/secret',
      'file-link',
      '_hash/sch/bbbb',
    ]);

    expect(outcome.deleted).toEqual(['_hash/sch/aaaa', '_hash/sch/missing', 'nowhere/at/all', '_hash/sch/bbbb']);
    expect(Object.fromEntries(outcome.failed.map((f) => [f.path, f.code]))).toEqual({
      '_hash/sch/folder': 'NotAnObject',
      '../victim': 'InvalidPath',
      '_hash/../../victim': 'InvalidPath',
      '/etc/passwd': 'InvalidPath',
      '': 'InvalidPath',
      'a//b': 'InvalidPath',
      'link/secret': 'NotInsideRoot',
      'file-link': 'NotAnObject',
    });
    expect(outcome.failed.find((f) => f.path === '_hash/sch/folder')!.message).toMatch(/it is a directory, not an object/);
    expect(outcome.failed.find((f) => f.path === '../victim')!.message).toMatch(/"\.\." segment/);

    expect(existsSync(join(root, '_hash/sch/aaaa'))).toBe(false);
    expect(existsSync(join(root, '_hash/sch/bbbb'))).toBe(false);
    expect(existsSync(join(root, '_hash/sch/keep'))).toBe(true);
    expect(statSync(join(root, '_hash/sch/folder')).isDirectory()).toBe(true);
    expect(statSync(join(root, '_hash/sch')).isDirectory()).toBe(true);
    expect(existsSync(outsideFile)).toBe(true);
    expect(existsSync(join(sandbox, 'outside', 'secret'))).toBe(true);
    expect(existsSync(join(root, 'file-link'))).toBe(true);
    expect(await paths()).toEqual(['_hash/sch/keep']);
  });

  it('refuses more than 1000 paths before deleting anything', async () => {
    put('x');
    const batch = Array.from({ length: 1001 }, (_, i) => (i === 0 ? 'x' : `y${i}`));

    await expect(store.deleteBatch(batch)).rejects.toThrow(/1001 paths; at most 1000/);
    expect(existsSync(join(root, 'x'))).toBe(true);
  });

  it('throws when the root is missing instead of reporting deletions', async () => {
    const missing = openStore(normalizeStore('gone', { protocol: 'file', location: join(sandbox, 'nope') }));

    await expect(missing.deleteBatch(['a'])).rejects.toThrow(/does not exist/);
  });
});
