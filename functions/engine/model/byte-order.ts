/**
 * Compare two strings in the byte order of their UTF-8 encodings (the order S3 lists keys in).
 * JavaScript's `<` compares UTF-16 code units, which differs for characters outside the BMP
 * (surrogates 0xD800–0xDFFF sort below 0xE000–0xFFFF in UTF-16 but above them in UTF-8).
 */
export function compareBytes(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca !== cb) return codePointRank(ca) - codePointRank(cb);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}
