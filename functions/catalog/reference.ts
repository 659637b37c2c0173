import { MalformedMetadataError, type Reference } from '../engine/types.js';
import { canonicalPath } from './canonical-path.js';

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

function parseJson(text: string, where: string, raw: unknown): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new MalformedMetadataError(where, `stored metadata is not valid JSON: ${excerpt(raw)}`);
  }
}

/** The store a path inherits: a name, null (the default store), or a `store` value that is no name. */
type StoreContext = string | null | { invalid: unknown };

/** Walks one decoded value, collecting its references; throws for anything that fails to name one. */
class ReferenceWalk {
  private readonly found = new Map<string, Reference>();
  private sawPath = false;

  constructor(
    private readonly where: string,
    private readonly raw: unknown,
  ) {}

  run(decoded: object): Reference[] {
    const pending: Array<{ value: unknown; store: StoreContext }> = [{ value: decoded, store: null }];
    // A loop, not recursion: a deeply nested hostile value must not overflow the stack.
    for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
      const { value, store } = item;
      if (typeof value === 'string') this.pathString(value, store);
      else if (Array.isArray(value)) for (const child of value) pending.push({ value: child, store });
      else if (typeof value === 'object' && value !== null) {
        const object = value as Record<string, unknown>;
        const own = this.storeOf(object, store);
        if (Object.hasOwn(object, 'path')) this.pathKey(object.path, own);
        for (const [key, child] of Object.entries(object)) {
          this.pathString(key, own);
          if (key !== 'path') pending.push({ value: child, store: own });
        }
      }
    }
    if (!this.sawPath) {
      const problem = Array.isArray(decoded) ? 'is an array, not a JSON object with a "path"' : 'has no "path"';
      throw this.malformed(problem);
    }
    return [...this.found.values()];
  }

  private storeOf(object: Record<string, unknown>, inherited: StoreContext): StoreContext {
    const { store } = object;
    if (store === undefined || store === null || store === '') return inherited;
    return typeof store === 'string' ? store : { invalid: store };
  }

  /** The value of a `path` key: it must name a path inside the store. */
  private pathKey(path: unknown, store: StoreContext): void {
    this.sawPath = true;
    if (typeof path !== 'string') {
      throw this.malformed(`has a "path" that is ${describe(path)}, not a string`);
    }
    if (path === '') throw this.malformed('has an empty "path"');
    const canonical = canonicalPath(path);
    if (canonical === null) {
      throw this.malformed(`has a "path" that names nothing inside the store (${JSON.stringify(path)} resolves to no file under the root)`);
    }
    this.add(store, canonical);
  }

  /** Any other string (a value or a key): a path when it has a `/` and stays inside the store. */
  private pathString(text: string, store: StoreContext): void {
    if (!text.includes('/')) return;
    const canonical = canonicalPath(text);
    if (canonical !== null) this.add(store, canonical);
  }

  private add(store: StoreContext, path: string): void {
    if (store !== null && typeof store !== 'string') {
      throw this.malformed(`has a "store" that is ${describe(store.invalid)}, not a string`);
    }
    this.found.set(JSON.stringify([store, path]), { store, path });
  }

  private malformed(problem: string): MalformedMetadataError {
    return new MalformedMetadataError(this.where, `stored metadata ${problem}: ${excerpt(this.raw)}`);
  }
}

/**
 * The references a stored metadata value holds (spec §2), canonical and without
 * duplicates; none for SQL NULL or JSON null. A string is parsed as JSON first (once more
 * if it decodes to another string). Then every object anywhere with a `path` key yields
 * its canonical path, and every other string (value or key) holding a `/` that stays
 * inside the store yields one too. A missing, null or "" `store` inherits the nearest
 * enclosing object's store, else null (the default store).
 * Throws `MalformedMetadataError` for invalid JSON, a top level that is not an object or
 * array, no `path` key anywhere, a `path` that is not a string naming a path inside the
 * store, or a path whose store is not a string. `where` names the column, e.g. `schema.table.column`.
 */
export function toReferences(value: unknown, where: string): Reference[] {
  let decoded = value;
  for (let level = 0; typeof decoded === 'string' && level < 2; level += 1) {
    decoded = parseJson(decoded, where, value);
  }
  if (decoded === null || decoded === undefined) return [];
  if (typeof decoded !== 'object' || Buffer.isBuffer(decoded)) {
    throw new MalformedMetadataError(
      where,
      `stored metadata is ${describe(decoded)}, not a JSON object with a "path": ${excerpt(value)}`,
    );
  }
  return new ReferenceWalk(where, value).run(decoded);
}

/**
 * @deprecated A value may hold several references: use `toReferences`. The only
 * reference in `value`, null for none; throws when it holds several.
 */
export function toReference(value: unknown, where: string): Reference | null {
  const references = toReferences(value, where);
  if (references.length > 1) {
    throw new Error(`${where}: stored metadata holds ${references.length} references; read it with toReferences`);
  }
  return references[0] ?? null;
}
