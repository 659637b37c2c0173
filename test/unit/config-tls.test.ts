import { describe, expect, it } from 'vitest';
import { databaseTls } from '../../functions/pipeline/database.js';

describe('DJGC_DB_TLS (the functions\' database TLS setting)', () => {
  it('requires TLS without checking the certificate when unset or true', () => {
    expect(databaseTls({})).toBe(true);
    expect(databaseTls({ DJGC_DB_TLS: '' })).toBe(true);
    expect(databaseTls({ DJGC_DB_TLS: 'TRUE' })).toBe(true);
  });

  it('checks the certificate with verify-full, and turns TLS off with false', () => {
    expect(databaseTls({ DJGC_DB_TLS: 'verify-full' })).toEqual({ rejectUnauthorized: true });
    expect(databaseTls({ DJGC_DB_TLS: ' false ' })).toBe(false);
  });

  it('refuses anything else, listing the values', () => {
    expect(() => databaseTls({ DJGC_DB_TLS: 'prefer' })).toThrow(
      "DJGC_DB_TLS is 'prefer': use true (TLS, certificate not checked; the default), verify-full (TLS, certificate checked) or false (no TLS).",
    );
  });
});
