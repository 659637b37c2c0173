import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Acknowledge one AwsSolutions finding on `scope` and everything below it. */
export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions-${id}`, reason });
}

/** Render an ARN the way cdk-nag names IAM5 findings: `Fn::GetAtt` → `<Id.Attr>`, `Ref` → `<Id>`. */
function flatten(node: unknown): string {
  if (typeof node === 'string') return node;
  if (typeof node === 'object' && node !== null) {
    const o = node as Record<string, unknown>;
    if (Array.isArray(o['Fn::Join'])) {
      const [delimiter, items] = o['Fn::Join'] as [string, unknown[]];
      return items.map(flatten).join(delimiter);
    }
    if (Array.isArray(o['Fn::GetAtt'])) {
      const [resource, attribute] = o['Fn::GetAtt'] as [unknown, unknown];
      return `<${flatten(resource)}.${flatten(attribute)}>`;
    }
    if ('Ref' in o) return `<${flatten(o.Ref)}>`;
  }
  return JSON.stringify(node);
}

/**
 * Acknowledge the IAM5 (wildcard) finding of each resource ARN that ends in a
 * pattern, on the role whose policy holds it. Each such ARN is already limited to
 * one prefix of one bucket (or a log group's streams).
 */
export function acknowledgeScopedWildcards(role: IConstruct, resources: string[], reason: string): void {
  const stack = Stack.of(role);
  for (const resource of resources) {
    const flat = flatten(stack.resolve(resource));
    if (flat.includes('*')) acknowledge(role, `IAM5[Resource::${flat}]`, reason);
  }
}
