import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { expect } from 'vitest';
import { DjgcStack, type DjgcStackProps } from '../../infra/djgc-stack.js';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CDK_CONTEXT = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')).context as Record<string, unknown>;

export const STORES = {
  default: 'main',
  main: { protocol: 's3', bucket: 'lab-dj-store', location: 'proj/' },
  cold: { protocol: 's3', bucket: 'lab-cold', hash_prefix: 'h', schema_prefix: 's', endpoint: 's3.amazonaws.com' },
  alias: { protocol: 's3', bucket: 'lab-dj-store', location: 'proj' },
};
export const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:djgc/db-AbCdEf';

/**
 * Synthesizing a template takes well under a second on an idle machine and much longer
 * on a shared, loaded one: template tests get a timeout that only a hang reaches.
 */
export const TEMPLATE_TEST_TIMEOUT = 300_000;

/** An app that skips bundling: templates only, no esbuild run. */
export function newApp(): App {
  return new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
}

export function makeStack(props: Partial<DjgcStackProps> = {}, app = newApp()): DjgcStack {
  return new DjgcStack(app, 'Djgc', { stores: STORES, database: { secretArn: SECRET_ARN }, ...props });
}

export type Resources = Record<string, { Properties: Record<string, any>; DependsOn?: string[] }>;

export function only(template: Template, type: string, props: Record<string, unknown> = {}): [string, Record<string, any>] {
  const found = Object.entries(template.findResources(type, { Properties: Match.objectLike(props) }) as Resources);
  expect(found, `exactly one ${type} matching ${JSON.stringify(props)}`).toHaveLength(1);
  const [id, resource] = found[0]!;
  return [id, resource.Properties];
}

export function logicalId(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as never);
}

export function policyStatements(template: Template, roleId: string): any[] {
  const policies = template.findResources('AWS::IAM::Policy') as Resources;
  return Object.values(policies)
    .filter((p) => (p.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleId })))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as any[]);
}

/** The statements of the role a function runs as. */
export function roleStatements(stack: Stack, fn: { role?: unknown }, template: Template): any[] {
  const roleId = stack.getLogicalId((fn.role as { node: { defaultChild: never } }).node.defaultChild);
  return policyStatements(template, roleId);
}

export const asList = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/** Render `{Fn::Join}` / `{Ref: AWS::Partition}` ARNs as plain text for comparison. */
export function arnText(value: unknown): string {
  if (typeof value === 'string') return value;
  const o = value as Record<string, any>;
  if (o['Fn::Join']) return (o['Fn::Join'][1] as unknown[]).map(arnText).join(o['Fn::Join'][0]);
  if (o.Ref === 'AWS::Partition') return 'aws';
  if (o.Ref) return `{${o.Ref}}`;
  if (o['Fn::GetAtt']) return `{${o['Fn::GetAtt'].join('.')}}`;
  return JSON.stringify(value);
}

/** Resources of the statements that allow `action`, as text. */
export function resourcesAllowing(statements: any[], action: string): string[] {
  return statements
    .filter((s) => s.Effect === 'Allow' && asList(s.Action).includes(action))
    .flatMap((s) => asList(s.Resource).map(arnText))
    .sort();
}

/** The key patterns a role may `action` in the report bucket. */
export function reportBucketKeys(stack: DjgcStack, statements: any[], action: string): string[] {
  const prefix = `{${logicalId(stack, stack.collector.reportBucket)}.Arn}/`;
  return resourcesAllowing(statements, action)
    .filter((arn) => arn.startsWith(prefix))
    .map((arn) => arn.slice(prefix.length))
    .sort();
}

/** Concatenate the literal parts of a dashboard body (its tokens become empty strings). */
export function literalText(value: unknown): string {
  if (typeof value === 'string') return value;
  const o = value as Record<string, any>;
  if (o['Fn::Join']) return (o['Fn::Join'][1] as unknown[]).map(literalText).join(o['Fn::Join'][0]);
  return '';
}
