/**
 * What a collect leaves behind on a file store besides the objects it removed: the primary-key
 * folders it emptied are pruned (as DataJoint's own collector does), never the store root, a
 * section root or a schema's folder in a section; and the report counts the calls it really made.
 * The embedded PostgreSQL, a file store and a run folder in temporary directories; the clock
 * moves only when a test moves it.
 */
import { readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runLocally } from '../../functions/engine/run/local.js';
import { QUARANTINE_ROOT } from '../../functions/engine/phases/sections.js';
import { EngineHarness, SCHEMA, type Seeded } from '../support/engine-harness.js';

let h: EngineHarness;
let seeded: Seeded;

beforeAll(async () => {
  h = await EngineHarness.create();
}, 120_000);
afterAll(async () => h?.close());
beforeEach(async () => {
  seeded = await h.reset();
});

/** Every folder below the store root (the root itself not included), as `/`-separated relative paths, sorted. */
async function folders(): Promise<string[]> {
  const entries = await readdir(h.storeRoot, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => relative(h.storeRoot, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort();
}

/** The folder each object lies in, and every folder above it up to the root. */
function foldersOf(paths: string[]): string[] {
  const all = new Set<string>();
  for (const path of paths) {
    const parts = path.split('/');
    for (let depth = 1; depth < parts.length; depth++) all.add(parts.slice(0, depth).join('/'));
  }
  return [...all].sort();
}

const outsideQuarantine = (list: string[]): string[] => list.filter((f) => f !== QUARANTINE_ROOT && !f.startsWith(`${QUARANTINE_ROOT}/`));

const collect = (removal: 'delete' | 'quarantine', overrides: Parameters<EngineHarness['options']>[0] = {}) => ({
  options: h.options({ mode: 'collect', removal, ...overrides }),
});

describe('folders a collect leaves on a file store', () => {
  for (const removal of ['delete', 'quarantine'] as const) {
    it(`Given a deleted session whose objects filled its primary-key folder, When a collect (${removal}) removes them, Then that folder is gone and every folder still holding an object stays`, async () => {
      const emptied = `_schema/${SCHEMA}/session/session_id=3`;
      expect(await folders()).toContain(emptied);

      const report = await runLocally(h.local(), collect(removal));

      expect(report.scan_errors).toEqual([]);
      expect(report[removal === 'delete' ? 'deleted' : 'quarantined']).toBe(seeded.orphans.length);
      const survivors = [...seeded.referenced, ...seeded.young, ...seeded.userFiles];
      expect(outsideQuarantine(await h.storeKeys())).toEqual(survivors.sort());
      // Exactly the folders that still hold an object: session 3's folder and its movie folder are gone.
      expect(outsideQuarantine(await folders())).toEqual(foldersOf(survivors));
      expect(await folders()).not.toContain(emptied);
      expect(await folders()).toContain(`_schema/${SCHEMA}/session/session_id=1`);
    });
  }

  it('Given every row deleted, When a collect removes every object of the schema, Then the section roots and the schema folders in them remain, empty, while the table and key folders are gone', async () => {
    await h.db.query(`DELETE FROM ${SCHEMA}.session`);
    // Two days on, the object uploaded "ten minutes ago" is past the grace period too.
    h.clock.advanceMinutes(2 * 24 * 60);

    const report = await runLocally(h.local(), collect('delete', { maxOrphanFraction: 1 }));

    expect(report.scan_errors).toEqual([]);
    expect(report.deleted).toBe(seeded.orphans.length + seeded.referenced.length + seeded.young.length);
    expect(await h.storeKeys()).toEqual(seeded.userFiles);
    expect(await folders()).toEqual(['_hash', `_hash/${SCHEMA}`, '_schema', `_schema/${SCHEMA}`, ...foldersOf(seeded.userFiles)].sort());
  });
});

describe('request counts in the report', () => {
  it('Given two shards of one removal batch each, When a collect deletes, Then the report counts two re-checks and one delete call per batch', async () => {
    const report = await runLocally(h.local(), collect('delete'));

    expect(report.deleted).toBe(seeded.orphans.length);
    const swept = report.shards.filter((s) => s.kind !== 'purge');
    expect(swept).toHaveLength(2);
    // Each batch: re-check, wait for open write transactions, re-check again, then one delete call.
    expect(report.requests).toMatchObject({ delete: 2, recheck: 4 });
  });

  it('Given a quarantine, When a later collect purges it, Then moves count as removal calls, and the purge adds its re-check and delete call', async () => {
    const first = await runLocally(h.local(), collect('quarantine'));
    expect(first.quarantined).toBe(seeded.orphans.length);
    // A quarantined batch is re-checked once more right after its move (what was referenced meanwhile goes back).
    expect(first.requests).toMatchObject({ delete: 2, recheck: 6 });

    h.clock.advanceMinutes(8 * 24 * 60);
    const second = await runLocally(h.local(), collect('quarantine', { maxOrphanFraction: 1 }));

    expect(second.purged).toBe(seeded.orphans.length);
    // Eight days on, the young object is an orphan too: its batch is re-checked twice, moved in one
    // call and re-checked after; the purge of the five quarantined objects is one batch: one re-check, one delete call.
    expect(second.quarantined).toBe(seeded.young.length);
    expect(second.requests).toMatchObject({ delete: 2, recheck: 4 });
  });

  it('Given nothing to remove, When a collect runs, Then it counts no re-check and no removal call', async () => {
    await runLocally(h.local(), collect('delete'));
    const again = await runLocally(h.local(), collect('delete'));

    expect(again.orphaned).toBe(0);
    expect(again.requests).toMatchObject({ delete: 0, recheck: 0 });
  });
});
