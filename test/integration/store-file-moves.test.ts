import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { normalizeStore } from '../../functions/config/datajoint.js';
import { FileStore } from '../../functions/stores/index.js';

let sandbox: string;
let root: string;
let store: FileStore;

beforeEach(() => {
  sandbox = mkdtempSync(join(tmpdir(), 'djgc-file-moves-'));
  root = join(sandbox, 'root');
  mkdirSync(root);
  store = new FileStore(normalizeStore('main', { protocol: 'file', location: root }));
});

afterEach(() => {
  rmSync(sandbox, { recursive: true, force: true });
});

const old = new Date('2023-05-06T07:08:09Z');

function put(relative: string, content = relative, base = root): string {
  const path = join(base, relative);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  utimesSync(path, old, old);
  return path;
}

const read = (relative: string) => readFileSync(join(root, relative), 'utf8');
const quarantine = (path: string) => `_djgc/quarantine/run-1/${path}`;

describe.each([
  ['hard links', true],
  ['copies (filesystems without hard links)', false],
])('FileStore.moveBatch by %s', (_label, hardLinks) => {
  beforeEach(() => {
    store = new FileStore(normalizeStore('main', { protocol: 'file', location: root }), { hardLinks });
  });

  it('Given objects, when moved to quarantine, then bytes and mtime are kept, parents created and the sources gone', async () => {
    const paths = ['_hash/sch/lvauakv4jmvhnolrtwiraf6fsi', '_schema/sch/t/id=3/obj_aB.dat', '_schema/sch/t/id=3/a b=é%2F.npy'];
    for (const path of paths) put(path);
    const inode = statSync(join(root, paths[0]!)).ino;

    const outcome = await store.moveBatch(paths.map((from) => ({ from, to: quarantine(from) })));

    expect(outcome).toEqual({ moved: paths.map((from) => ({ from, to: quarantine(from) })), missing: [], failed: [] });
    for (const path of paths) {
      expect(existsSync(join(root, path))).toBe(false);
      expect(read(quarantine(path))).toBe(path);
      expect(statSync(join(root, quarantine(path))).mtime.getTime()).toBe(old.getTime());
    }
    if (hardLinks) expect(statSync(join(root, quarantine(paths[0]!))).ino).toBe(inode);
  });

  it('Given a destination that exists, when moving onto it, then the move fails with Exists and both files stay', async () => {
    put('_hash/sch/aaaa', 'live');
    put(quarantine('_hash/sch/aaaa'), 'earlier');

    const outcome = await store.moveBatch([{ from: '_hash/sch/aaaa', to: quarantine('_hash/sch/aaaa') }]);

    expect(outcome.moved).toEqual([]);
    expect(outcome.failed).toEqual([
      { from: '_hash/sch/aaaa', to: quarantine('_hash/sch/aaaa'), code: 'Exists', message: expect.stringMatching(/destination exists and is never overwritten/) },
    ]);
    expect(read('_hash/sch/aaaa')).toBe('live');
    expect(read(quarantine('_hash/sch/aaaa'))).toBe('earlier');
  });

  it('Given a source that does not exist, when moved, then it is reported missing and nothing is created', async () => {
    const moves = [
      { from: '_hash/sch/gone', to: quarantine('_hash/sch/gone') },
      { from: 'no/such/folder/x', to: quarantine('no/such/folder/x') },
    ];

    const outcome = await store.moveBatch(moves);

    expect(outcome).toEqual({ moved: [], missing: moves, failed: [] });
    expect(existsSync(join(root, quarantine('_hash/sch/gone')))).toBe(false);
  });
});

describe('FileStore.moveBatch refusals', () => {
  it('Given a symbolic link among the parents of the source or the destination, when moving, then the move is refused and nothing outside the root changes', async () => {
    const outside = join(sandbox, 'outside');
    put('secret', 'outside data', outside);
    symlinkSync(outside, join(root, 'linked'));
    put('_hash/sch/aaaa');
    mkdirSync(join(root, '_djgc'));
    symlinkSync(outside, join(root, '_djgc', 'quarantine'));

    const outcome = await store.moveBatch([
      { from: 'linked/secret', to: quarantine('linked/secret') },
      { from: '_hash/sch/aaaa', to: '_djgc/quarantine/run-1/_hash/sch/aaaa' },
    ]);

    expect(outcome.moved).toEqual([]);
    expect(outcome.failed.map((f) => [f.from, f.code])).toEqual([
      ['linked/secret', 'NotInsideRoot'],
      ['_hash/sch/aaaa', 'NotInsideRoot'],
    ]);
    expect(outcome.failed[1]!.message).toMatch(/"_djgc\/quarantine" is a symbolic link or not a directory/);
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('outside data');
    expect(existsSync(join(outside, 'run-1'))).toBe(false);
    expect(read('_hash/sch/aaaa')).toBe('_hash/sch/aaaa');
  });

  it('Given a directory, a symbolic link or an invalid path as source, when moving, then each is refused', async () => {
    mkdirSync(join(root, '_schema/sch/t/id=3/obj_aB'), { recursive: true });
    put('_schema/sch/t/id=3/obj_aB/0');
    symlinkSync(join(root, '_schema/sch/t/id=3/obj_aB/0'), join(root, 'file-link'));

    const outcome = await store.moveBatch([
      { from: '_schema/sch/t/id=3/obj_aB', to: quarantine('_schema/sch/t/id=3/obj_aB') },
      { from: 'file-link', to: quarantine('file-link') },
      { from: '../victim', to: 'x' },
      { from: 'a', to: '_djgc/../../escape' },
      { from: 'a//b', to: 'x' },
      { from: 'same', to: 'same' },
    ]);

    expect(outcome.moved).toEqual([]);
    expect(outcome.failed.map((f) => f.code)).toEqual(['NotAnObject', 'NotAnObject', 'InvalidPath', 'InvalidPath', 'InvalidPath', 'InvalidPath']);
    expect(outcome.failed[0]!.message).toMatch(/the source is a directory; only regular files are moved/);
    expect(statSync(join(root, '_schema/sch/t/id=3/obj_aB')).isDirectory()).toBe(true);
    expect(lstatSync(join(root, 'file-link')).isSymbolicLink()).toBe(true);
    expect(existsSync(join(root, '_djgc'))).toBe(false);
  });

  it('Given two moves onto one destination, when moved in one batch, then only the first is carried out', async () => {
    put('a', 'first');
    put('b', 'second');

    const outcome = await store.moveBatch([
      { from: 'a', to: 'q/x' },
      { from: 'b', to: 'q/x' },
      { from: 'a', to: 'q/x' },
    ]);

    expect(outcome.moved).toEqual([{ from: 'a', to: 'q/x' }]);
    expect(outcome.failed.map((f) => [f.from, f.code])).toEqual([['b', 'Conflict']]);
    expect(read('q/x')).toBe('first');
    expect(read('b')).toBe('second');
  });

  it('Given more than 1000 moves, when moved, then the call throws before moving anything', async () => {
    put('x');
    const moves = Array.from({ length: 1001 }, (_, i) => ({ from: i === 0 ? 'x' : `y${i}`, to: `q/${i}` }));

    await expect(store.moveBatch(moves)).rejects.toThrow(/1001 moves; at most 1000/);
    expect(existsSync(join(root, 'x'))).toBe(true);
  });

  it('Given a missing root, when moving, then the call throws', async () => {
    const missing = new FileStore(normalizeStore('gone', { protocol: 'file', location: join(sandbox, 'nope') }));

    await expect(missing.moveBatch([{ from: 'a', to: 'b' }])).rejects.toThrow(/does not exist/);
  });
});

describe('FileStore.stat', () => {
  it('Given a file, a folder, a link and nothing, when stat-ed, then only the regular file has an entry', async () => {
    put('_hash/sch/aaaa', 'hello');
    mkdirSync(join(root, 'folder'));
    symlinkSync(join(root, '_hash'), join(root, 'link'));

    expect(await store.stat('_hash/sch/aaaa')).toEqual({ path: '_hash/sch/aaaa', size: 5, lastModified: old });
    expect(await store.stat('folder')).toBeNull();
    expect(await store.stat('link/sch/aaaa')).toBeNull();
    expect(await store.stat('_hash/sch/missing')).toBeNull();
    expect(await store.stat('_hash/sch/aaaa/below-a-file')).toBeNull();
    await expect(store.stat('../etc/passwd')).rejects.toThrow(/"\.\." segment/);
    await expect(store.stat('')).rejects.toThrow(/empty/);
  });
});

describe('FileStore.pruneEmptyFolders', () => {
  it('Given folders emptied by moves, when pruned, then empty pk folders go up to but not including the kept ones, and non-empty ones and the root stay', async () => {
    put('_schema/sch/t/id=1/obj_a.dat');
    put('_schema/sch/t/id=2/sub=x/obj_b.dat');
    put('_schema/sch/t/id=3/obj_c.dat');
    put('_schema/sch/t/id=3/obj_keep.dat');
    put('_hash/sch/ab/cd/abcdhash');
    const moved = ['_schema/sch/t/id=1/obj_a.dat', '_schema/sch/t/id=2/sub=x/obj_b.dat', '_schema/sch/t/id=3/obj_c.dat', '_hash/sch/ab/cd/abcdhash'];
    await store.moveBatch(moved.map((from) => ({ from, to: quarantine(from) })));

    const removed = await store.pruneEmptyFolders(moved, ['_schema', '_hash/', 'elsewhere/deep']);

    expect(removed).toBe(6);
    expect(existsSync(join(root, '_schema/sch/t/id=1'))).toBe(false);
    expect(existsSync(join(root, '_schema/sch/t/id=2'))).toBe(false);
    expect(read('_schema/sch/t/id=3/obj_keep.dat')).toBe('_schema/sch/t/id=3/obj_keep.dat');
    expect(statSync(join(root, '_schema')).isDirectory()).toBe(true);
    expect(existsSync(join(root, '_schema/sch'))).toBe(true);
    expect(statSync(join(root, '_hash')).isDirectory()).toBe(true);
    expect(existsSync(join(root, '_hash/sch'))).toBe(false);
    expect(existsSync(root)).toBe(true);
  });

  it('Given no keep folders, when everything under a section is emptied, then pruning stops at the root', async () => {
    put('a/b/c');
    await store.deleteBatch(['a/b/c']);

    expect(await store.pruneEmptyFolders(['a/b/c', 'top-level-file'], [])).toBe(2);
    expect(statSync(root).isDirectory()).toBe(true);
    expect(await store.pruneEmptyFolders(['a/b/c'], [])).toBe(0);
  });

  it('Given a folder reached through a symbolic link, when pruned, then nothing outside the root is removed', async () => {
    const outside = join(sandbox, 'outside');
    mkdirSync(join(outside, 'empty'), { recursive: true });
    symlinkSync(outside, join(root, 'linked'));

    expect(await store.pruneEmptyFolders(['linked/empty/x'], [])).toBe(0);
    expect(statSync(join(outside, 'empty')).isDirectory()).toBe(true);
    await expect(store.pruneEmptyFolders(['../x'], [])).rejects.toThrow(/"\.\." segment/);
  });
});

describe('FileStore.versioning', () => {
  it('Given a file store, then it is unversioned', async () => {
    expect(await store.versioning()).toBe('unversioned');
  });
});
