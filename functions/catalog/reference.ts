import { MalformedMetadataError, type Reference } from '../engine/types.js';

const EXCERPT_LENGTH = 80;

function excerpt(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value);
  else if (Buffer.isBuffer(value)) text = `<${value.length} bytes of binary data>`;
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > EXCERPT_LENGTH ? `${text.slice(0, EXCERPT_LENGTH)}…` : text;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (Buffer.isBuffer(value)) return 'binary data';
  if (value === null) return 'null';
  return `a ${typeof value}`;
}

function fromObject(value: Record<string, unknown>, where: string, raw: unknown): Reference {
  const { path, store } = value;
  if (typeof path !== 'string') {
    const problem = path === undefined ? 'has no "path"' : `has a "path" that is ${describe(path)}, not a string`;
    throw new MalformedMetadataError(where, `stored metadata ${problem}: ${excerpt(raw)}`);
  }
  if (path === '') throw new MalformedMetadataError(where, `stored metadata has an empty "path": ${excerpt(raw)}`);
  if (store !== undefined && store !== null && typeof store !== 'string') {
    throw new MalformedMetadataError(
      where,
      `stored metadata has a "store" that is ${describe(store)}, not a string: ${excerpt(raw)}`,
    );
  }
  return { store: store === undefined || store === null || store === '' ? null : store, path };
}

function parseJson(text: string, where: string, raw: unknown): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new MalformedMetadataError(where, `stored metadata is not valid JSON: ${excerpt(raw)}`);
  }
}

/**
 * The reference a stored metadata value holds (spec §2): null for SQL NULL or JSON null;
 * `{store, path}` for an object with a non-empty string `path`. A string is parsed as
 * JSON first (once more if it decodes to another string). Anything else throws
 * `MalformedMetadataError`: such a value references something unknown.
 * `where` names the column, e.g. `schema.table.column`.
 */
export function toReference(value: unknown, where: string): Reference | null {
  let decoded = value;
  for (let level = 0; typeof decoded === 'string' && level < 2; level += 1) {
    decoded = parseJson(decoded, where, value);
  }
  if (decoded === null || decoded === undefined) return null;
  if (typeof decoded !== 'object' || Array.isArray(decoded) || Buffer.isBuffer(decoded)) {
    throw new MalformedMetadataError(
      where,
      `stored metadata is ${describe(decoded)}, not a JSON object with a "path": ${excerpt(value)}`,
    );
  }
  return fromObject(decoded as Record<string, unknown>, where, value);
}
