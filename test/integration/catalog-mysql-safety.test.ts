import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantProblems, matchesPattern, parseGrantLine, summarizeGrants } from '../../functions/catalog/mysql-grants.js';
import { MysqlCatalog } from '../../functions/catalog/mysql.js';
import type { StorageColumn } from '../../functions/engine/types.js';
import { dropMysqlDatabases, testConnection, withMysqlServer } from '../support/mysql.js';
import { uniqueName } from '../support/names.js';

// Everything runs while this file holds the server-wide test lock: readability looks at every
// database on the server. Assertions still look only at this file's databases and users.

const BASE = uniqueName('djgc_safe');
const A = `${BASE}_a`;
const B = `${BASE}_b`;
const PASSWORD = 'reader-pw';
const q = (name: string): string => `\`${name.replaceAll('`', '``')}\``;

let url: string;
let admin: mysql.Connection;
let catalog: MysqlCatalog;
let releaseServer: () => void = () => undefined;
let serverHeld: Promise<void> | undefined;
const users: string[] = [];
const roles: string[] = [];

async function setUp(): Promise<void> {
  admin = await testConnection(url);
  for (const db of [A, B]) {
    await admin.query(`CREATE DATABASE ${q(db)}`);
    await admin.query(
      `CREATE TABLE ${q(db)}.session (id int PRIMARY KEY, data longtext COLLATE utf8mb4_bin COMMENT ':<blob@main>:') ENGINE=InnoDB`,
    );
    await admin.query(`INSERT INTO ${q(db)}.session VALUES (1, '{"path": "_hash/x/1", "store": "main"}')`);
  }
  await admin.query(
    // Big enough that a stream of it outlasts the socket's buffers (the server is still sending).
    `INSERT INTO ${q(A)}.session SELECT seq + 1, JSON_OBJECT('path', CONCAT('_hash/x/', seq + 1), 'pad', REPEAT('x', 300)) FROM mysql.seq_1_to_20000`,
  );
  catalog = new MysqlCatalog(url, { batchSize: 10 });
}

async function tearDown(): Promise<void> {
  await catalog?.close();
  for (const user of users) await admin.query(`DROP USER IF EXISTS ${q(user)}@'%'`);
  for (const role of roles) await admin.query(`DROP ROLE IF EXISTS ${q(role)}`);
  await admin?.end();
  await dropMysqlDatabases(url, [A, B]);
}

beforeAll(async () => {
  await new Promise<void>((ready, fail) => {
    serverHeld = withMysqlServer(async (serverUrl) => {
      url = serverUrl;
      try {
        await setUp();
        ready();
        await new Promise<void>((release) => {
          releaseServer = release;
        });
      } finally {
        await tearDown();
      }
    });
    serverHeld.catch(fail);
  });
}, 900_000);

afterAll(async () => {
  releaseServer();
  await serverHeld;
});

/** A new user with the given grants (each `… TO` is completed with the user), and a catalog connected as it. */
async function userWith(grants: string[]): Promise<{ user: string; catalog: MysqlCatalog }> {
  const user = uniqueName('djgc_u');
  users.push(user);
  await admin.query(`CREATE USER ${q(user)}@'%' IDENTIFIED BY '${PASSWORD}'`);
  for (const grant of grants) await admin.query(`${grant} ${q(user)}@'%'`);
  const target = new URL(url);
  target.username = user;
  target.password = PASSWORD;
  const userCatalog = new MysqlCatalog(target.toString());
  return { user, catalog: userCatalog };
}

async function threadId(connection: mysql.Connection): Promise<number> {
  const [[row]] = await connection.query<mysql.RowDataPacket[]>('SELECT CONNECTION_ID() AS id');
  return Number(row!.id);
}

const ofThread = (ids: readonly string[], thread: number): string[] => ids.filter((id) => id.startsWith(`${thread}@`));

describe('MysqlCatalog.openWriteTransactions and stillOpen', () => {
  for (const end of ['COMMIT', 'ROLLBACK']) {
    it(`Given another connection inserted a row in an open transaction, When a snapshot is taken, Then it holds that transaction until ${end}`, async () => {
      const writer = await testConnection(url);
      try {
        const thread = await threadId(writer);
        await writer.query('START TRANSACTION');
        await writer.query(`INSERT INTO ${q(B)}.session VALUES (?, NULL)`, [end === 'COMMIT' ? 10 : 11]);
        const snapshot = await catalog.openWriteTransactions();
        expect(snapshot.visible).toBe(true);
        const mine = ofThread(snapshot.ids, thread);
        expect(mine).toHaveLength(1);
        expect(await catalog.stillOpen(snapshot)).toContain(mine[0]);
        await writer.query(end);
        // information_schema shows InnoDB's transactions as of at most 100 ms ago.
        await new Promise((resolve) => setTimeout(resolve, 150));
        expect(await catalog.stillOpen(snapshot)).not.toContain(mine[0]);
      } finally {
        await writer.end();
      }
    });
  }

  it('Given a transaction that has only read, When a snapshot is taken, Then it is not in it', async () => {
    const reader = await testConnection(url);
    try {
      const thread = await threadId(reader);
      await reader.query('START TRANSACTION');
      await reader.query(`SELECT * FROM ${q(B)}.session`);
      expect(ofThread((await catalog.openWriteTransactions()).ids, thread)).toEqual([]);
      await reader.query('ROLLBACK');
    } finally {
      await reader.end();
    }
  });

  it('Given a transaction that read first and then wrote, When it writes after the snapshot, Then its id is still the same', async () => {
    const writer = await testConnection(url);
    try {
      const thread = await threadId(writer);
      await writer.query('START TRANSACTION');
      await writer.query(`SELECT * FROM ${q(B)}.session FOR UPDATE`);
      const snapshot = await catalog.openWriteTransactions();
      const mine = ofThread(snapshot.ids, thread);
      expect(mine).toHaveLength(1);
      await writer.query(`INSERT INTO ${q(B)}.session VALUES (12, NULL)`);
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(await catalog.stillOpen(snapshot)).toEqual(mine);
      await writer.query('ROLLBACK');
    } finally {
      await writer.end();
    }
  });

  it("Given the catalog is streaming a column, When a snapshot is taken, Then the catalog's own connections are not in it", async () => {
    const column: StorageColumn = { schema: A, table: 'session', column: 'data', codec: 'blob', store: 'main' };
    const rows = catalog.references(column)[Symbol.asyncIterator]();
    try {
      expect((await rows.next()).done).toBe(false);
      const [streams] = await admin.query<mysql.RowDataPacket[]>(
        `SELECT ID AS id FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND INFO LIKE ?`,
        [`%${q(A).replaceAll('_', '\\_')}.%`],
      );
      expect(streams.length).toBe(1);
      const { ids } = await catalog.openWriteTransactions();
      expect(ofThread(ids, Number(streams[0]!.id))).toEqual([]);
    } finally {
      await rows.return?.(undefined);
    }
  });

  it('Given a user without the PROCESS privilege, When it takes a snapshot, Then it is not visible and the reason names PROCESS', async () => {
    const { user, catalog: reader } = await userWith([`GRANT SELECT ON *.* TO`]);
    try {
      const snapshot = await reader.openWriteTransactions();
      expect(snapshot.visible).toBe(false);
      expect(snapshot.ids).toEqual([]);
      expect(snapshot.reason).toContain(`GRANT PROCESS ON *.* TO '${user}'@'%'`);
      expect(await reader.stillOpen(snapshot)).toEqual([]);
    } finally {
      await reader.close();
    }
  });
});

describe('MysqlCatalog.checkReadable', () => {
  const ours = (problems: string[]): string[] => problems.filter((p) => p.includes(BASE));

  it('Given a user with a global SELECT, When checking, Then there is no problem', async () => {
    const { catalog: reader } = await userWith(['GRANT SELECT ON *.* TO']);
    try {
      expect((await reader.checkReadable({ ignoredSchemas: [] })).problems).toEqual([]);
    } finally {
      await reader.close();
    }
  });

  it('Given ALL PRIVILEGES on *.*, When checking, Then there is no problem', async () => {
    expect((await catalog.checkReadable({ ignoredSchemas: [] })).problems).toEqual([]);
  });

  it('Given a user with SELECT on one of two DataJoint databases only, When checking, Then the other is a problem naming it', async () => {
    const { user, catalog: reader } = await userWith([`GRANT SHOW DATABASES ON *.* TO`, `GRANT SELECT ON ${q(A)}.* TO`]);
    try {
      const problems = ours((await reader.checkReadable({ ignoredSchemas: [] })).problems);
      expect(problems).toEqual([
        `database ${q(B)} cannot be read by MySQL user '${user}'@'%': it has no SELECT grant on it, and tables without one are invisible to it: GRANT SELECT ON ${q(B)}.* TO '${user}'@'%' (or GRANT SELECT ON *.* TO '${user}'@'%'), or declare it ignored.`,
      ]);
      expect(ours((await reader.checkReadable({ ignoredSchemas: [B] })).problems)).toEqual([]);
    } finally {
      await reader.close();
    }
  });

  it('Given database grants but no SHOW DATABASES, When checking, Then the problem asks for a global SELECT', async () => {
    const { user, catalog: reader } = await userWith([`GRANT SELECT ON ${q(A)}.* TO`, `GRANT SELECT ON ${q(B)}.* TO`]);
    try {
      const { problems } = await reader.checkReadable({ ignoredSchemas: [] });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain(`GRANT SELECT ON *.* TO '${user}'@'%'`);
    } finally {
      await reader.close();
    }
  });

  it('Given a wildcard grant that matches a database, When checking, Then it is not trusted', async () => {
    const pattern = `${BASE.replaceAll('_', '\\_')}\\_%`;
    const { catalog: reader } = await userWith([`GRANT SHOW DATABASES ON *.* TO`, `GRANT SELECT ON \`${pattern}\`.* TO`]);
    try {
      const problems = ours((await reader.checkReadable({ ignoredSchemas: [] })).problems);
      expect(problems).toHaveLength(2);
      for (const problem of problems) expect(problem).toContain('only the wildcard grant');
    } finally {
      await reader.close();
    }
  });

  it('Given a global SELECT through the default role (held through another role), When checking, Then there is no problem', async () => {
    const outer = uniqueName('djgc_role');
    const inner = uniqueName('djgc_role');
    roles.push(outer, inner);
    await admin.query(`CREATE ROLE ${q(inner)}`);
    await admin.query(`CREATE ROLE ${q(outer)}`);
    await admin.query(`GRANT SELECT ON *.* TO ${q(inner)}`);
    await admin.query(`GRANT ${q(inner)} TO ${q(outer)}`);
    const { user, catalog: reader } = await userWith([`GRANT ${q(outer)} TO`]);
    try {
      const before = await reader.checkReadable({ ignoredSchemas: [] });
      expect(before.problems).toHaveLength(1);
      expect(before.problems[0]).toContain('SET DEFAULT ROLE');
      await admin.query(`SET DEFAULT ROLE ${q(outer)} FOR ${q(user)}@'%'`);
      const again = new MysqlCatalog(`${new URL(url).protocol}//${user}:${PASSWORD}@${new URL(url).host}`);
      try {
        expect((await again.checkReadable({ ignoredSchemas: [] })).problems).toEqual([]);
      } finally {
        await again.close();
      }
    } finally {
      await reader.close();
    }
  });
});

describe('SHOW GRANTS lines', () => {
  it('are parsed with quoted names, column privileges, roles and revokes', () => {
    expect(parseGrantLine("GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` IDENTIFIED VIA unix_socket WITH GRANT OPTION")).toEqual({
      revoke: false,
      privileges: ['ALL'],
      object: { kind: 'global' },
    });
    expect(parseGrantLine('GRANT SELECT, SHOW VIEW ON `a``b ON c`.* TO `u`@`%`')).toEqual({
      revoke: false,
      privileges: ['SELECT', 'SHOW VIEW'],
      object: { kind: 'database', pattern: 'a`b ON c' },
    });
    expect(parseGrantLine('GRANT SELECT (`a`, `b ON x`), INSERT ON `db`.`t` TO `u`@`%`')).toEqual({
      revoke: false,
      privileges: ['INSERT'],
      object: { kind: 'table' },
    });
    expect(parseGrantLine('GRANT EXECUTE ON PROCEDURE `db`.`p` TO `u`@`%`')?.object).toEqual({ kind: 'other' });
    expect(parseGrantLine('GRANT `role` TO `u`@`%`')).toBeNull();
    expect(parseGrantLine('SET DEFAULT ROLE `role` FOR `u`@`%`')).toBeNull();
    expect(parseGrantLine('REVOKE SELECT ON `db`.* FROM `u`@`%`')).toEqual({
      revoke: true,
      privileges: ['SELECT'],
      object: { kind: 'database', pattern: 'db' },
    });
  });

  it('trust a database grant that names the database, unless another matching grant lacks SELECT', () => {
    const context = { account: "'u'@'%'", ignored: new Set<string>(), quote: (n: string) => `\`${n}\``, roleActive: false };
    const lines = ['GRANT SHOW DATABASES ON *.* TO `u`@`%`', 'GRANT SELECT ON `lab_one`.* TO `u`@`%`', 'GRANT SELECT ON `lab\\_%`.* TO `u`@`%`'];
    const problems = grantProblems(summarizeGrants(lines), { ...context, databases: ['lab_one', 'lab_two', 'mysql'] });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^database `lab_two` .*only the wildcard grant on `lab\\_%`/);
    const overridden = [...lines, 'GRANT INSERT ON `lab\\_one`.* TO `u`@`%`'];
    expect(grantProblems(summarizeGrants(overridden), { ...context, databases: ['lab_one'] })[0]).toMatch(
      /grant on `lab\\_one`\.\* matches it without SELECT/,
    );
  });

  it('give a global SELECT only for *.*, and exact databases apart from wildcard ones', () => {
    const grants = summarizeGrants([
      'GRANT USAGE ON *.* TO `u`@`%`',
      'GRANT SELECT ON `lab\\_one`.* TO `u`@`%`',
      'GRANT SELECT ON `lab\\_%`.* TO `u`@`%`',
      'GRANT SELECT ON `x`.`t` TO `u`@`%`',
    ]);
    expect(grants.globalSelect).toBe(false);
    expect(grants.databases).toEqual([
      { pattern: 'lab\\_one', select: true },
      { pattern: 'lab\\_%', select: true },
    ]);
    expect(matchesPattern('lab\\_%', 'lab_two')).toBe(true);
    expect(matchesPattern('lab\\_%', 'labxtwo')).toBe(false);
    expect(summarizeGrants(['GRANT SELECT, PROCESS ON *.* TO `u`@`%`']).globalSelect).toBe(true);
  });
});
