/**
 * A small evaluator of resource policies as IAM evaluates them within one account: an
 * explicit Deny that matches wins, else an Allow that matches, else the request is
 * implicitly denied. It knows the condition operators the stack uses and refuses
 * anything else rather than guess.
 */

export interface PolicyRequest {
  /** The calling service principal, e.g. `cloudwatch.amazonaws.com`. */
  readonly service: string;
  readonly action: string;
  readonly resource: string;
  /** Request context keys, e.g. `aws:SourceAccount`, `aws:SecureTransport` ("true" / "false"). */
  readonly context: Record<string, string>;
}

export type Decision = 'allow' | 'explicit-deny' | 'implicit-deny';

/** CloudFormation values to text, with `refs` for `Ref` and `Fn::GetAtt` (`Id.Attr`). */
export function resolveValue(value: unknown, refs: Record<string, string>): string {
  if (typeof value === 'string') return value;
  const o = value as Record<string, any>;
  if (o['Fn::Join']) return (o['Fn::Join'][1] as unknown[]).map((v) => resolveValue(v, refs)).join(o['Fn::Join'][0]);
  const key = o.Ref ?? (o['Fn::GetAtt'] ? (o['Fn::GetAtt'] as string[]).join('.') : undefined);
  if (typeof key === 'string' && key in refs) return refs[key]!;
  throw new Error(`cannot resolve ${JSON.stringify(value)}: give it in refs`);
}

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : [v]);

function glob(pattern: string, value: string, caseInsensitive = false): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, caseInsensitive ? 'i' : '');
  return re.test(value);
}

function principalMatches(principal: unknown, service: string): boolean {
  if (principal === '*') return true;
  const p = principal as Record<string, unknown>;
  for (const key of Object.keys(p)) if (!['AWS', 'Service'].includes(key)) throw new Error(`principal type ${key} not supported`);
  if (p.AWS !== undefined && list(p.AWS).includes('*')) return true;
  return p.Service !== undefined && list(p.Service).includes(service);
}

const OPERATORS: Record<string, (actual: string | undefined, expected: string) => boolean> = {
  StringEquals: (a, e) => a === e,
  StringNotEquals: (a, e) => a !== undefined && a !== e,
  StringLike: (a, e) => a !== undefined && glob(e, a),
  ArnEquals: (a, e) => a === e,
  ArnLike: (a, e) => a !== undefined && glob(e, a),
  Bool: (a, e) => a === e,
};

function conditionsHold(conditions: Record<string, Record<string, unknown>> | undefined, context: Record<string, string>, refs: Record<string, string>): boolean {
  for (const [operator, keys] of Object.entries(conditions ?? {})) {
    const test = OPERATORS[operator];
    if (!test) throw new Error(`condition operator ${operator} not supported`);
    for (const [key, expected] of Object.entries(keys)) {
      const values = list(expected).map((v) => resolveValue(v, refs));
      // Several values of one key: any may match (StringNotEquals: none may).
      const holds =
        operator === 'StringNotEquals' ? values.every((v) => test(context[key], v)) : values.some((v) => test(context[key], v));
      if (!holds) return false;
    }
  }
  return true;
}

export function evaluate(statements: any[], request: PolicyRequest, refs: Record<string, string>): Decision {
  let allowed = false;
  for (const s of statements) {
    for (const unsupported of ['NotPrincipal', 'NotAction', 'NotResource']) {
      if (unsupported in s) throw new Error(`${unsupported} not supported`);
    }
    const matches =
      principalMatches(s.Principal, request.service) &&
      list(s.Action).some((a) => glob(String(a), request.action, true)) &&
      list(s.Resource).some((r) => glob(resolveValue(r, refs), request.resource)) &&
      conditionsHold(s.Condition, request.context, refs);
    if (!matches) continue;
    if (s.Effect === 'Deny') return 'explicit-deny';
    if (s.Effect === 'Allow') allowed = true;
  }
  return allowed ? 'allow' : 'implicit-deny';
}
