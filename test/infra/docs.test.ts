import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { CONTEXT_KEYS, CONTEXT_MAPPING, appConfig, type ContextKey } from '../../infra/app-context.js';
import { REPO_ROOT } from './template-helpers.js';

const DEPLOY = readFileSync(join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');

/** The rows of the first table under `heading`, as cells without backticks. */
function table(heading: string): string[][] {
  const start = DEPLOY.indexOf(`\n${heading}\n`);
  expect(start, heading).toBeGreaterThan(-1);
  const rows: string[][] = [];
  let inTable = false;
  for (const line of DEPLOY.slice(start + heading.length + 2).split('\n')) {
    if (line.startsWith('#')) break;
    if (!line.startsWith('|')) {
      if (inTable) break;
      continue;
    }
    inTable = true;
    const cells = line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim().replace(/`/g, ''));
    if (cells[0] === '---' || cells[0] === 'key' || cells[0] === 'prop') continue;
    rows.push(cells);
  }
  return rows;
}

/** Property names and type texts of every `Djgc*` interface in infra/, with what it extends. */
function interfaces(): Map<string, { members: Map<string, string>; extends: string[] }> {
  const found = new Map<string, { members: Map<string, string>; extends: string[] }>();
  for (const file of ['settings.ts', 'djgc-collector.ts', 'djgc-stack.ts']) {
    const source = ts.createSourceFile(file, readFileSync(join(REPO_ROOT, 'infra', file), 'utf8'), ts.ScriptTarget.Latest, true);
    source.forEachChild((node) => {
      if (!ts.isInterfaceDeclaration(node) || !node.name.text.startsWith('Djgc')) return;
      const members = new Map<string, string>();
      for (const m of node.members) {
        if (ts.isPropertySignature(m) && m.type) members.set(m.name.getText(source), m.type.getText(source));
      }
      const bases = (node.heritageClauses ?? []).flatMap((h) => h.types.map((t) => t.expression.getText(source)));
      found.set(node.name.text, { members, extends: bases });
    });
  }
  return found;
}

function membersOf(name: string, all: ReturnType<typeof interfaces>): Map<string, string> {
  const entry = all.get(name);
  if (!entry) return new Map();
  return new Map([...entry.extends.flatMap((base) => [...membersOf(base, all)]), ...entry.members]);
}

/** Every prop path of the stack, down through nested `Djgc*` interfaces. */
function propPaths(): string[] {
  const all = interfaces();
  const paths: string[] = [];
  const walk = (name: string, prefix: string): void => {
    for (const [member, type] of membersOf(name, all)) {
      const nested = /\b(Djgc\w+)\b/.exec(type)?.[1];
      if (nested && all.has(nested) && !type.startsWith('Record<')) walk(nested, `${prefix}${member}.`);
      else paths.push(`${prefix}${member}`);
    }
  };
  walk('DjgcStackProps', '');
  return paths.sort();
}

describe('docs/deploy.md', () => {
  it('documents every prop of the collector and stack, by the names in the code', () => {
    const documented = table('### Props').map((row) => row[0]!);
    expect(documented.sort()).toEqual(propPaths());
  });

  it('documents every context key as the prop it sets, as the app maps it', () => {
    const rows = table('### Context keys');
    expect(Object.fromEntries(rows.map((row) => [row[0], row[1]]))).toEqual(CONTEXT_MAPPING);
    const paths = propPaths();
    for (const key of CONTEXT_KEYS) {
      if (key === 'stackName') continue;
      expect(paths, key).toContain(CONTEXT_MAPPING[key]);
    }
  });

  it('maps each context key to the prop it names', () => {
    const sample: Partial<Record<ContextKey, string>> = {
      stores: '{"main":{"protocol":"s3","bucket":"abc"}}',
      foreignStores: '{"x":"why"}',
      ignoredSchemas: '{"y":"why"}',
      databaseBackend: 'mysql',
      databaseTls: 'false',
      reportBucketVersioned: 'true',
      logRetentionDays: '30',
      vpcId: 'vpc-0abc1234',
      subnetIds: 'subnet-0abc1234',
      securityGroupIds: 'sg-0abc1234',
      notificationEmails: 'ops@lab.org',
      schemas: 'lab',
      removal: 'delete',
      storagePrices: '{"main":0.0125}',
      requestPrices: '{"list":0.0054}',
    };
    const numbers = new Set(['databasePort', 'graceHours', 'graceFloorHours', 'retentionHours', 'orphanFractionPercent', 'missedRunHours', 'workerConcurrency', 'reportRetentionDays', 'runTimeoutMinutes', 'cooldownMinutes', 'reportLinkExpiryHours']);
    const value = (key: ContextKey): string => sample[key] ?? (numbers.has(key) || /MiB$/.test(key) ? '7' : `value-of-${key}`);
    const { props } = appConfig(value, {});
    for (const key of CONTEXT_KEYS) {
      if (key === 'stackName') continue;
      const got = CONTEXT_MAPPING[key].split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], props);
      expect(got, `${key} → ${CONTEXT_MAPPING[key]}`).toBeDefined();
    }
  });
});
