import { randomBytes } from 'node:crypto';

/** A unique identifier: `prefix` (letters, digits, `_`) plus a random suffix, at most 63 bytes. */
export function uniqueName(prefix: string): string {
  if (!/^[a-z][a-z0-9_]*$/.test(prefix) || prefix.length > 40) {
    throw new Error(
      `invalid name prefix ${JSON.stringify(prefix)}: use up to 40 lowercase letters, digits and _ starting with a letter`,
    );
  }
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}
