import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgliteCatalog } from '../../functions/catalog/pglite.js';

let db: PGlite;
let catalog: PgliteCatalog;

beforeAll(async () => {
  db = new PGlite();
  await db.exec(`
    CREATE SCHEMA lab;
    CREATE TABLE lab.session (id integer PRIMARY KEY, data jsonb);
    COMMENT ON COLUMN lab.session.data IS ':<blob@main>:';
  `);
  catalog = new PgliteCatalog(db);
});

afterAll(async () => {
  await catalog?.close();
  await db?.close();
});

describe('PgliteCatalog safety primitives', () => {
  it('Given the embedded database, When a snapshot is taken, Then it is visible and empty even with a write open on its one connection', async () => {
    await db.query('BEGIN');
    try {
      await db.query(`INSERT INTO lab.session VALUES (1, '{"path": "a"}')`);
      const snapshot = await catalog.openWriteTransactions();
      expect(snapshot).toEqual({ visible: true, ids: [] });
      expect(await catalog.stillOpen(snapshot)).toEqual([]);
    } finally {
      await db.query('ROLLBACK');
    }
  });

  it('Given its owner, When checking readability, Then there is no problem', async () => {
    expect(await catalog.checkReadable({ ignoredSchemas: [] })).toEqual({ problems: [] });
  });
});
