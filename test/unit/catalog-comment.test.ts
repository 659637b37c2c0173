import { describe, expect, it } from 'vitest';
import { parseStorageComment } from '../../functions/catalog/comment.js';

describe('parseStorageComment', () => {
  it.each([
    [':<blob@main>:hash-addressed, serialized python object', { codec: 'blob', store: 'main' }],
    [':<attach@main>:', { codec: 'attach', store: 'main' }],
    [':<object@cold>:folder', { codec: 'object', store: 'cold' }],
    [':<filepath@main>:user file', { codec: 'filepath', store: 'main' }],
    [':<graph@main>:custom codec chaining to <blob@>', { codec: 'graph', store: 'main' }],
    [':< npy @ main >:spaces around both parts', { codec: 'npy', store: 'main' }],
    [':<hash@a@b>:split once at the first @', { codec: 'hash', store: 'a@b' }],
  ])('reads the codec and store of %j', (comment, expected) => {
    expect(parseStorageComment(comment)).toEqual(expected);
  });

  it('reads <blob@> as the default store ""', () => {
    expect(parseStorageComment(':<blob@>:')).toEqual({ codec: 'blob', store: '' });
    expect(parseStorageComment(':<blob@ >:')).toEqual({ codec: 'blob', store: '' });
  });

  it('reads the legacy form without angle brackets as the same codec', () => {
    expect(parseStorageComment(':blob@main:migrated')).toEqual({ codec: 'blob', store: 'main' });
    expect(parseStorageComment(':blob@:')).toEqual({ codec: 'blob', store: '' });
  });

  it('keeps a multi-line comment text and still finds the declaration', () => {
    expect(parseStorageComment(':<npy@main>:first line\nsecond line\n')).toEqual({ codec: 'npy', store: 'main' });
  });

  it.each([
    [':<blob>:in-table blob: no store object'],
    [':<attach>:'],
    [':int32:'],
    [':varchar(32):text'],
    ['plain text comment'],
    ['<blob@main> without the colon prefix'],
    [''],
    [':<blob@main>'],
    [":enum('a@b'):"],
  ])('is null for %j (no object reference)', (comment) => {
    expect(parseStorageComment(comment)).toBeNull();
  });

  it('is null for a NULL comment', () => {
    expect(parseStorageComment(null)).toBeNull();
  });
});
