/** The storage part of a column comment: `:<codec@store>:…` (spec §1). */
export interface StorageDeclaration {
  codec: string;
  /** "" means the default store. */
  store: string;
}

const COMMENT = /^:([^:]+):(.*)$/s;
const BRACKETED = /^<(.+)>$/s;
const LEGACY = /^([A-Za-z_][A-Za-z0-9_]*)@(.*)$/s;

/**
 * The codec and store a column comment declares, or null when the column holds no
 * object references (no type prefix, an in-table codec such as `<blob>`, or a plain
 * SQL type such as `:int32:`).
 */
export function parseStorageComment(comment: string | null): StorageDeclaration | null {
  if (comment === null) return null;
  const declared = COMMENT.exec(comment)?.[1];
  if (declared === undefined) return null;
  const inner = BRACKETED.exec(declared)?.[1];
  if (inner !== undefined) {
    const at = inner.indexOf('@');
    if (at < 0) return null;
    return { codec: inner.slice(0, at).trim(), store: inner.slice(at + 1).trim() };
  }
  const legacy = LEGACY.exec(declared.trim());
  if (legacy) return { codec: legacy[1]!, store: legacy[2]!.trim() };
  return null;
}
