/**
 * What a MySQL/MariaDB account may read, from the lines of SHOW GRANTS. A table the account
 * has no privilege on is missing from information_schema, so its references would be missed
 * without a word: only a global SELECT, or SELECT on every database by its name, will do.
 */

export type GrantObject =
  | { kind: 'global' }
  | { kind: 'database'; pattern: string }
  | { kind: 'table' }
  | { kind: 'other' };

export interface GrantLine {
  revoke: boolean;
  /** Privilege names, upper case; `ALL` for ALL [PRIVILEGES]; column-level privileges left out. */
  privileges: string[];
  object: GrantObject;
}

/** The databases MySQL and MariaDB keep for themselves: never DataJoint schemas. */
export const SYSTEM_DATABASES: ReadonlySet<string> = new Set(['mysql', 'sys', 'information_schema', 'performance_schema']);

/**
 * Index of ` keyword ` in `text` at or after `from`, outside quotes and parentheses, or -1.
 * Names may hold anything inside backticks or quotes (`ON`, commas, parentheses).
 */
function topLevelIndex(text: string, keyword: string, from = 0): number {
  const upper = text.toUpperCase();
  const needle = ` ${keyword} `;
  let depth = 0;
  for (let i = from; i < text.length; i += 1) {
    const ch = text[i]!;
    if (ch === '`' || ch === "'" || ch === '"') {
      i = closingQuote(text, i);
      continue;
    }
    if (ch === '(') depth += 1;
    else if (ch === ')') depth -= 1;
    else if (depth === 0 && upper.startsWith(needle, i)) return i;
  }
  return -1;
}

/** Index of the quote closing the one at `start` (a doubled quote, or a backslash in '…' and "…", escapes). */
function closingQuote(text: string, start: number): number {
  const quote = text[start]!;
  for (let i = start + 1; i < text.length; i += 1) {
    if (quote !== '`' && text[i] === '\\') i += 1;
    else if (text[i] === quote) {
      if (text[i + 1] === quote) i += 1;
      else return i;
    }
  }
  return text.length;
}

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i]!;
    if (ch === '`' || ch === "'" || ch === '"') i = closingQuote(text, i);
    else if (ch === '(') depth += 1;
    else if (ch === ')') depth -= 1;
    else if (ch === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((part) => part.trim()).filter((part) => part !== '');
}

/** One name of `db.table`: `*`, a backtick-quoted name, or a bare word; and where it ends. */
function readName(text: string, start: number): { name: string; star: boolean; end: number } {
  if (text[start] === '*') return { name: '*', star: true, end: start + 1 };
  if (text[start] === '`') {
    const end = closingQuote(text, start);
    return { name: text.slice(start + 1, end).replace(/``/g, '`'), star: false, end: end + 1 };
  }
  const match = /^[^.\s]+/.exec(text.slice(start));
  const name = match?.[0] ?? '';
  return { name, star: false, end: start + name.length };
}

function parseObject(text: string): GrantObject {
  const trimmed = text.trim();
  if (/^(FUNCTION|PROCEDURE|PACKAGE)\b/i.test(trimmed)) return { kind: 'other' };
  const target = trimmed.replace(/^TABLE\s+/i, '');
  const db = readName(target, 0);
  if (target[db.end] !== '.') return { kind: 'other' };
  const table = readName(target, db.end + 1);
  if (table.end !== target.length || db.name === '') return { kind: 'other' };
  if (db.star) return table.star ? { kind: 'global' } : { kind: 'other' };
  return table.star ? { kind: 'database', pattern: db.name } : { kind: 'table' };
}

function parsePrivileges(text: string): string[] {
  return splitTopLevel(text)
    .filter((privilege) => !privilege.includes('('))
    .map((privilege) => privilege.toUpperCase().replace(/\s+/g, ' '))
    .map((privilege) => (privilege === 'ALL PRIVILEGES' ? 'ALL' : privilege));
}

/** A GRANT or REVOKE of privileges on an object; null for anything else (role grants, SET DEFAULT ROLE). */
export function parseGrantLine(line: string): GrantLine | null {
  const match = /^\s*(GRANT|REVOKE)\s+/i.exec(line);
  if (!match) return null;
  const revoke = match[1]!.toUpperCase() === 'REVOKE';
  const body = line.slice(match[0].length);
  const on = topLevelIndex(` ${body}`, 'ON');
  if (on < 0) return null;
  const rest = ` ${body}`.slice(on + ' ON '.length);
  const to = topLevelIndex(` ${rest}`, revoke ? 'FROM' : 'TO');
  if (to < 0) return null;
  return {
    revoke,
    privileges: parsePrivileges(` ${body}`.slice(0, on)),
    object: parseObject(` ${rest}`.slice(0, to)),
  };
}

/** A role granted to the account (`GRANT \`role\` TO …`, no ON). */
export function isRoleGrant(line: string): boolean {
  return /^\s*GRANT\s/i.test(line) && topLevelIndex(` ${line.replace(/^\s*GRANT\s+/i, '')}`, 'ON') < 0;
}

/** The name a database-level pattern spells when its wildcards are read as plain characters. */
function unescapePattern(pattern: string): string {
  return pattern.replace(/\\(.)/g, '$1');
}

/** Whether `name` matches a database-level pattern (`%` any run, `_` any one character). */
export function matchesPattern(pattern: string, name: string): boolean {
  let regex = '';
  for (let i = 0; i < pattern.length; i += 1) {
    const ch = pattern[i]!;
    if (ch === '\\' && i + 1 < pattern.length) regex += escapeRegex(pattern[++i]!);
    else if (ch === '%') regex += '.*';
    else if (ch === '_') regex += '.';
    else regex += escapeRegex(ch);
  }
  return new RegExp(`^${regex}$`, 's').test(name);
}

function escapeRegex(ch: string): string {
  return ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const readsAll = (privileges: readonly string[]): boolean => privileges.includes('SELECT') || privileges.includes('ALL');

export interface DatabaseGrant {
  pattern: string;
  select: boolean;
}

export interface Grants {
  globalSelect: boolean;
  showDatabases: boolean;
  /** Every database-level grant, with or without SELECT. */
  databases: readonly DatabaseGrant[];
  /** Databases with SELECT revoked from a global grant (MySQL 8 partial revokes). */
  revoked: ReadonlySet<string>;
  /** The account has roles granted (whether or not one is active). */
  hasRoles: boolean;
}

/** What the lines of SHOW GRANTS (for the account and its active roles) allow, taken together. */
export function summarizeGrants(lines: readonly string[]): Grants {
  let globalSelect = false;
  let showDatabases = false;
  let hasRoles = false;
  const databases: DatabaseGrant[] = [];
  const revoked = new Set<string>();
  for (const line of lines) {
    if (isRoleGrant(line)) hasRoles = true;
    const grant = parseGrantLine(line);
    if (!grant) continue;
    const { object, privileges } = grant;
    if (grant.revoke) {
      if (object.kind === 'database' && readsAll(privileges)) revoked.add(unescapePattern(object.pattern));
    } else if (object.kind === 'global') {
      globalSelect ||= readsAll(privileges);
      showDatabases ||= privileges.includes('ALL') || privileges.includes('SHOW DATABASES');
    } else if (object.kind === 'database') {
      databases.push({ pattern: object.pattern, select: readsAll(privileges) });
    }
  }
  return { globalSelect, showDatabases, databases, revoked, hasRoles };
}

/**
 * Why database `name` may not be readable through database-level grants, or null when it is:
 * a grant with SELECT must name it (read literally, so `lab_one` names `lab_one` although `_`
 * is a wildcard), and every other grant matching it must include SELECT too, since the most
 * specific matching grant is the one that counts. A grant matching it only as a wildcard
 * pattern is not trusted: MySQL's partial_revokes reads wildcards literally.
 */
function databaseGap(grants: Grants, name: string, quote: (name: string) => string): string | null {
  if (grants.revoked.has(name)) return 'SELECT on it is revoked';
  const matching = grants.databases.filter((g) => unescapePattern(g.pattern) === name || matchesPattern(g.pattern, name));
  const withoutSelect = matching.find((g) => !g.select);
  if (withoutSelect) return `the grant on ${quote(withoutSelect.pattern)}.* matches it without SELECT and may be the one that counts`;
  if (matching.some((g) => g.select && unescapePattern(g.pattern) === name)) return null;
  const wildcard = matching.find((g) => g.select);
  if (wildcard) return `only the wildcard grant on ${quote(wildcard.pattern)}.* matches it, and wildcards are not always read as such`;
  return 'it has no SELECT grant on it, and tables without one are invisible to it';
}

/** `'user'@'host'` from CURRENT_USER()'s `user@host`. */
export function accountName(currentUser: string): string {
  const at = currentUser.lastIndexOf('@');
  const quote = (part: string): string => `'${part.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return at < 0 ? quote(currentUser) : `${quote(currentUser.slice(0, at))}@${quote(currentUser.slice(at + 1))}`;
}

/**
 * Problems keeping `account` from reading every database: none with a global SELECT (unless
 * partly revoked); otherwise every database on the server must be listable (SHOW DATABASES)
 * and each one outside `ignored` readable through its database-level grants (`databaseGap`).
 */
export function grantProblems(
  grants: Grants,
  context: { account: string; databases: readonly string[]; ignored: ReadonlySet<string>; quote: (name: string) => string; roleActive: boolean },
): string[] {
  const { account, ignored, quote } = context;
  const wanted = context.databases.filter((name) => !SYSTEM_DATABASES.has(name) && !ignored.has(name));
  if (grants.globalSelect) {
    return wanted
      .filter((name) => grants.revoked.has(name))
      .map((name) => `database ${quote(name)} cannot be read by MySQL user ${account}: SELECT on it is revoked from the global grant, so its tables are invisible to it: GRANT SELECT ON ${quote(name)}.* TO ${account}, or declare it ignored.`);
  }
  const roleHint =
    grants.hasRoles && !context.roleActive
      ? ` (its granted roles are not active when it logs in: SET DEFAULT ROLE <role> FOR ${account} makes one count)`
      : '';
  if (!grants.showDatabases) {
    return [
      `MySQL user ${account} has no global SELECT privilege${roleHint} and no SHOW DATABASES privilege, so databases and tables it cannot read are invisible to it, with the references in them: GRANT SELECT ON *.* TO ${account}.`,
    ];
  }
  const problems: string[] = [];
  for (const name of wanted) {
    const gap = databaseGap(grants, name, quote);
    if (gap === null) continue;
    problems.push(
      `database ${quote(name)} cannot be read by MySQL user ${account}${roleHint}: ${gap}: GRANT SELECT ON ${quote(name)}.* TO ${account} (or GRANT SELECT ON *.* TO ${account}), or declare it ignored.`,
    );
  }
  return problems;
}
