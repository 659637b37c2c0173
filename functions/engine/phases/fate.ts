import type { ObjectEntry } from '../types.js';
import type { Section } from '../model/plan.js';
import { isCanonicalKey, isCovered, isTemporary, parseHashKey, parseSchemaKey, type Layout } from './sections.js';

/**
 * Where a key's fate is decided (DESIGN.md, invariant 1). A listed key becomes a candidate for
 * removal only if it is an object of a section (not a temporary upload or a stray name), belongs
 * to a schema in scope, no reference read at mark time covers it, and it is older than the grace
 * period. A candidate is removed only if the re-check right before its batch finds no reference
 * covering it either (`fateAtRemoval`).
 */
export type ListingFate =
  | { fate: 'not-an-object' }
  | { fate: 'outside-scope' }
  | { fate: 'referenced' | 'protected' | 'orphaned'; schema: string; table: string };

export interface ListingRules {
  section: Section;
  layout: Layout;
  /** Schemas whose objects the shard may remove. */
  schemas: readonly string[];
  /** Reference paths read at mark time. */
  references: ReadonlySet<string>;
  /** Objects modified after this instant (ms since the epoch) are protected by the grace period. */
  graceCutoffMs: number;
}

export function fateAtListing(entry: ObjectEntry, rules: ListingRules): ListingFate {
  // A key with empty or dot segments is no path a reference can name canonically: never an object.
  if (isTemporary(entry.path) || !isCanonicalKey(entry.path)) return { fate: 'not-an-object' };
  const key = rules.section === 'hash' ? parseHashKey(entry.path, rules.layout) : parseSchemaKey(entry.path, rules.layout);
  if (!key) return { fate: 'not-an-object' };
  if (!rules.schemas.includes(key.schema)) return { fate: 'outside-scope' };
  const owner = { schema: key.schema, table: 'table' in key ? key.table : '(hash)' };
  if (isCovered(entry.path, rules.section, rules.references)) return { fate: 'referenced', ...owner };
  if (entry.lastModified.getTime() > rules.graceCutoffMs) return { fate: 'protected', ...owner };
  return { fate: 'orphaned', ...owner };
}

/** At removal: `present` holds the reference paths the re-check found right before the batch. */
export function fateAtRemoval(path: string, section: Section, present: ReadonlySet<string>): 'saved' | 'remove' {
  return isCovered(path, section, present) ? 'saved' : 'remove';
}
