/**
 * Quarantine, then purge, without services: the embedded PostgreSQL, a file store and a run
 * folder in temporary directories, and a clock that moves only when a test moves it.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runLocally } from '../../functions/engine/run/local.js';
import { restoreQuarantined } from '../../functions/engine/run/restore.js';
import { quarantinePath } from '../../functions/engine/phases/sections.js';
import type { Catalog, TransactionSnapshot, WriteHorizon } from '../../functions/engine/types.js';
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

const collect = (overrides: Parameters<EngineHarness['options']>[0] = {}) => ({ options: h.options({ mode: 'collect', removal: 'quarantine', ...overrides }) });

/**
 * The catalog, with the write transactions the server shows replaced by `open` (ids) and
 * `stillOpen`; `readsInFlight` says whose last re-check reads rows of open transactions (MySQL):
 * otherwise (PostgreSQL) the writers still open after each re-check are `stillOpen()`.
 */
function withTransactions(catalog: Catalog, open: string[], stillOpen: () => string[], readsInFlight = false): Catalog {
  return Object.assign(Object.create(catalog) as Catalog, {
    openWriteTransactions: async (): Promise<TransactionSnapshot> => ({ visible: true, ids: open }),
    stillOpen: async (): Promise<string[]> => stillOpen(),
    writeHorizon: async (): Promise<WriteHorizon | null> => (readsInFlight ? null : { since: async () => ({ writing: stillOpen(), committed: false }) }),
  });
}

describe('quarantine', () => {
  it('Given five orphans, When a collect runs, Then each is moved to the quarantine area of its run, nothing is deleted, and the report counts them', async () => {
    const report = await runLocally(h.local(), collect());
    expect(report.scan_errors).toEqual([]);
    expect(report).toMatchObject({ removal: 'quarantine', quarantined: seeded.orphans.length, deleted: 0, purged: 0 });
    const keys = await h.storeKeys();
    for (const orphan of seeded.orphans) {
      expect(keys).not.toContain(orphan);
      expect(keys).toContain(quarantinePath(report.run_id, orphan));
    }
    for (const live of [...seeded.referenced, ...seeded.young, ...seeded.userFiles]) expect(keys).toContain(live);
    // A scan afterwards finds no orphan: the quarantine area lies outside the sections.
    const scan = await runLocally(h.local(), { options: h.options({ mode: 'dry-run' }) });
    expect(scan.orphaned).toBe(0);
  });

  it('Given write transactions open at the re-check that do not end within the wait, When a collect runs, Then every candidate is kept at its path and counted as deferred', async () => {
    const local = { ...h.local(), catalog: withTransactions(h.local().catalog, ['tx-1'], () => ['tx-1']) };
    const report = await runLocally(local, collect({ transactionWaitSeconds: 0 }));
    expect(report).toMatchObject({ quarantined: 0, deleted: 0, deferred: seeded.orphans.length });
    expect(report.scan_errors.join('\n')).toMatch(/kept for the next run: every re-check ran while a write transaction that could have written a row it did not see was open or committed within 0 s \(still open: tx-1\)/);
    expect(await h.storeKeys()).toEqual(h.allSeeded());
  });

  it('Given a transaction open at the re-check that commits a row referencing a candidate, When it ends, Then the second re-check sees the row and the object stays', async () => {
    const [revived] = seeded.orphans.filter((p) => p.startsWith('_hash/'));
    let open = ['tx-1'];
    const catalog = withTransactions(h.local().catalog, ['tx-1'], () => {
      // The writer commits while djgc waits: its row references the candidate.
      if (open.length > 0) {
        void h.db.query(`INSERT INTO ${SCHEMA}.session VALUES (9, $1, $2, NULL)`, [
          JSON.stringify({ hash: revived!.split('/').pop(), path: revived, schema: SCHEMA, store: 'main', size: 1 }),
          JSON.stringify({ path: seeded.referenced.find((p) => p.endsWith('.npy')), store: 'main' }),
        ]);
        open = [];
        return ['tx-1'];
      }
      return [];
    }, true);
    const report = await runLocally({ ...h.local(), catalog }, collect());
    expect(report.saved_by_recheck).toBe(1);
    expect(report.quarantined).toBe(seeded.orphans.length - 1);
    expect(await h.storeKeys()).toContain(revived);
  });
});

describe('purge and restore', () => {
  it('Given quarantined objects, When a later collect runs before the retention has passed, Then nothing is purged; after it, unreferenced ones are purged and one referenced again is restored', async () => {
    const first = await runLocally(h.local(), collect({ retentionHours: 48 }));
    expect(first.quarantined).toBe(seeded.orphans.length);
    const [revived] = seeded.orphans.filter((p) => p.startsWith('_hash/'));
    await h.db.query(`INSERT INTO ${SCHEMA}.session VALUES (9, $1, $2, NULL)`, [
      JSON.stringify({ path: revived, store: 'main' }),
      JSON.stringify({ path: seeded.referenced.find((p) => p.endsWith('.npy')), store: 'main' }),
    ]);

    h.clock.advanceMinutes(24 * 60);
    const early = await runLocally(h.local(), collect({ retentionHours: 48 }));
    // The upload that was young at first is old by now: this run quarantines it.
    expect(early).toMatchObject({ purged: 0, restored: 0, quarantined: seeded.young.length });
    expect((await h.storeKeys()).filter((k) => k.startsWith('_djgc/'))).toHaveLength(seeded.orphans.length + seeded.young.length);

    h.clock.advanceMinutes(25 * 60);
    const late = await runLocally(h.local(), collect({ retentionHours: 48 }));
    expect(late.scan_errors).toEqual([]);
    expect(late).toMatchObject({ restored: 1, purged: seeded.orphans.length - 1 });
    const keys = await h.storeKeys();
    expect(keys).toContain(revived);
    // Quarantined a day later than the others, it is not due yet.
    expect(keys.filter((k) => k.startsWith('_djgc/'))).toEqual(seeded.young.map((p) => quarantinePath(early.run_id, p)));
    for (const gone of seeded.orphans.filter((p) => p !== revived)) expect(keys).not.toContain(gone);
  });

  it('Given a write transaction that was open when objects were quarantined, When the retention has passed but it is still open, Then the purge keeps them (deferred) until it ends', async () => {
    let stillOpen = ['tx-7'];
    const catalog = withTransactions(h.local().catalog, ['tx-7'], () => stillOpen, true);
    stillOpen = [];
    await runLocally({ ...h.local(), catalog }, collect({ retentionHours: 1 }));
    h.clock.advanceMinutes(120);
    stillOpen = ['tx-7'];
    const held = await runLocally({ ...h.local(), catalog }, collect({ retentionHours: 1 }));
    expect(held).toMatchObject({ purged: 0, deferred: seeded.orphans.length });
    stillOpen = [];
    const purged = await runLocally({ ...h.local(), catalog }, collect({ retentionHours: 1 }));
    expect(purged.purged).toBe(seeded.orphans.length);
  });

  it('Given a run’s quarantined objects, When restore is asked for the run, Then every one is back at its path', async () => {
    const report = await runLocally(h.local(), collect());
    const outcome = await restoreQuarantined(h.local(), report.run_id);
    expect(outcome.restored.sort()).toEqual(seeded.orphans);
    expect(outcome.kept).toEqual({});
    expect(await h.storeKeys()).toEqual(h.allSeeded());
  });
});
