/**
 * `raw` as a file store resolves it relative to its root (DataJoint joins
 * `Path(location) / path`): empty and `.` segments dropped (so leading, trailing and
 * doubled `/` go), `..` resolved lexically. Null when nothing is left or `..` climbs
 * above the root: such a string names nothing inside the store.
 */
export function canonicalPath(raw: string): string | null {
  // NUL cannot be in a file name, so null; a backslash is an ordinary character in S3 keys and POSIX names, so kept.
  if (raw.includes('\0')) return null;
  const segments: string[] = [];
  for (const segment of raw.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment !== '..') segments.push(segment);
    else if (segments.pop() === undefined) return null;
  }
  return segments.length > 0 ? segments.join('/') : null;
}
