import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { appConfig, type ContextKey } from '../../infra/app-context.js';
import { DjgcStack, type DjgcStackProps } from '../../infra/djgc-stack.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CDK_CONTEXT = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')).context as Record<string, unknown>;

const STORES = {
  default: 'main',
  main: { protocol: 's3', bucket: 'lab-dj-store', location: 'proj/' },
  cold: { protocol: 's3', bucket: 'lab-cold', hash_prefix: 'h', schema_prefix: 's', endpoint: 's3.amazonaws.com' },
  alias: { protocol: 's3', bucket: 'lab-dj-store', location: 'proj' },
};
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:djgc/db-AbCdEf';

function newApp(): App {
  return new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
}

function makeStack(props: Partial<DjgcStackProps> = {}, app = newApp()): DjgcStack {
  return new DjgcStack(app, 'Djgc', { stores: STORES, databaseSecretArn: SECRET_ARN, ...props });
}

type Resources = Record<string, { Properties: Record<string, any> }>;

function only(template: Template, type: string, props: Record<string, unknown> = {}): [string, Record<string, any>] {
  const found = Object.entries(template.findResources(type, { Properties: Match.objectLike(props) }) as Resources);
  expect(found, `exactly one ${type} matching ${JSON.stringify(props)}`).toHaveLength(1);
  const [id, resource] = found[0]!;
  return [id, resource.Properties];
}

function logicalId(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as never);
}

function policyStatements(template: Template, roleId: string): any[] {
  const policies = template.findResources('AWS::IAM::Policy') as Resources;
  return Object.values(policies)
    .filter((p) => (p.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleId })))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as any[]);
}

const asList = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/** Render `{Fn::Join}` / `{Ref: AWS::Partition}` ARNs as plain text for comparison. */
function arnText(value: unknown): string {
  if (typeof value === 'string') return value;
  const o = value as Record<string, any>;
  if (o['Fn::Join']) return (o['Fn::Join'][1] as unknown[]).map(arnText).join(o['Fn::Join'][0]);
  if (o.Ref === 'AWS::Partition') return 'aws';
  if (o.Ref) return `{${o.Ref}}`;
  if (o['Fn::GetAtt']) return `{${o['Fn::GetAtt'].join('.')}}`;
  return JSON.stringify(value);
}

describe('report bucket', () => {
  it('is encrypted, private, TLS-only, logged, and expires runs/ after the retention', () => {
    const stack = makeStack({ reportRetentionDays: 30 });
    const template = Template.fromStack(stack);
    const bucketId = logicalId(stack, stack.reportBucket);
    const logBucketId = logicalId(stack, stack.accessLogBucket);
    const report = (template.findResources('AWS::S3::Bucket') as Resources)[bucketId]!.Properties;

    expect(report.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
    expect(report.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(report.LoggingConfiguration.DestinationBucketName).toEqual({ Ref: logBucketId });
    expect(report.LifecycleConfiguration.Rules).toContainEqual(
      expect.objectContaining({ Prefix: 'runs/', ExpirationInDays: 30, Status: 'Enabled' }),
    );

    const [, policy] = only(template, 'AWS::S3::BucketPolicy', { Bucket: { Ref: bucketId } });
    expect(policy.PolicyDocument.Statement).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Action: 's3:*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    );
    const logBucket = (template.findResources('AWS::S3::Bucket') as Resources)[logBucketId]!.Properties;
    expect(logBucket.PublicAccessBlockConfiguration.BlockPublicPolicy).toBe(true);
  });
});

describe('queues', () => {
  it('have their own dead-letter queues, SSE, TLS-only policies and visibility of six function timeouts', () => {
    const stack = makeStack();
    const template = Template.fromStack(stack);
    const queues = template.findResources('AWS::SQS::Queue') as Resources;
    expect(Object.keys(queues)).toHaveLength(4);
    const q = (queue: { node: { defaultChild?: unknown } }) => queues[logicalId(stack, queue)]!.Properties;

    expect(q(stack.workQueue).RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(stack, stack.workDeadLetterQueue), 'Arn'] },
      maxReceiveCount: 3,
    });
    expect(q(stack.resultsQueue).RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(stack, stack.resultsDeadLetterQueue), 'Arn'] },
      maxReceiveCount: 5,
    });
    const [, worker] = only(template, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('sweeps') });
    const [, reporter] = only(template, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('report') });
    expect(q(stack.workQueue).VisibilityTimeout).toBeGreaterThanOrEqual(6 * worker.Timeout);
    expect(q(stack.resultsQueue).VisibilityTimeout).toBeGreaterThanOrEqual(6 * reporter.Timeout);
    expect(q(stack.workDeadLetterQueue).VisibilityTimeout).toBeGreaterThanOrEqual(6 * reporter.Timeout);

    for (const [id, queue] of Object.entries(queues)) {
      expect(queue.Properties.SqsManagedSseEnabled, id).toBe(true);
      const [, policy] = only(template, 'AWS::SQS::QueuePolicy', { Queues: [{ Ref: id }] });
      expect(policy.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });
});

describe('functions', () => {
  it('run nodejs22.x on arm64 with tracing, their own log groups and the environment the handlers read', () => {
    const stack = makeStack({
      scope: { schemas: ['lab', 'imaging'], store: 'main' },
      mode: 'collect',
      graceHours: 48,
      runTimeoutMinutes: 90,
      cooldownMinutes: 30,
      database: { backend: 'postgresql', host: 'db.internal', port: 6543, databaseName: 'dj' },
    });
    const template = Template.fromStack(stack);
    const functions = template.findResources('AWS::Lambda::Function') as Resources;
    expect(Object.keys(functions)).toHaveLength(3);
    const logGroups = template.findResources('AWS::Logs::LogGroup') as Resources;
    for (const [id, { Properties: fn }] of Object.entries(functions)) {
      expect(fn.Runtime, id).toBe('nodejs22.x');
      expect(fn.Architectures, id).toEqual(['arm64']);
      expect(fn.TracingConfig, id).toEqual({ Mode: 'Active' });
      const logGroupId = fn.LoggingConfig.LogGroup.Ref as string;
      expect(logGroups[logGroupId]?.Properties.RetentionInDays, id).toBe(90);
      const env = fn.Environment.Variables as Record<string, unknown>;
      expect(env).toMatchObject({
        POWERTOOLS_SERVICE_NAME: 'djgc',
        LOG_LEVEL: 'INFO',
        DJGC_REPORT_BUCKET: { Ref: logicalId(stack, stack.reportBucket) },
        DJGC_WORK_QUEUE_URL: { Ref: logicalId(stack, stack.workQueue) },
        DJGC_RESULTS_QUEUE_URL: { Ref: logicalId(stack, stack.resultsQueue) },
        DJGC_TOPIC_ARN: { Ref: logicalId(stack, stack.topic) },
        DJGC_DB_SECRET_ARN: SECRET_ARN,
        DJGC_DB_BACKEND: 'postgresql',
        DJGC_DB_HOST: 'db.internal',
        DJGC_DB_PORT: '6543',
        DJGC_DB_NAME: 'dj',
        DJGC_SCHEMAS: 'lab,imaging',
        DJGC_STORE: 'main',
        DJGC_MODE: 'collect',
        DJGC_GRACE_HOURS: '48',
        DJGC_RUN_TIMEOUT_MINUTES: '90',
        DJGC_COOLDOWN_MINUTES: '30',
      });
      expect(JSON.parse(env.DJ_STORES as string)).toEqual(STORES);
    }
    const timeout = (f: { node: { defaultChild?: unknown } }) => functions[logicalId(stack, f)]!.Properties.Timeout;
    expect([timeout(stack.scanner), timeout(stack.worker), timeout(stack.reporter)]).toEqual([900, 900, 300]);
  });

  it('leave optional database settings unset and default to a dry run of everything', () => {
    const template = Template.fromStack(makeStack());
    for (const { Properties: fn } of Object.values(template.findResources('AWS::Lambda::Function') as Resources)) {
      const env = fn.Environment.Variables as Record<string, string>;
      expect(env).toMatchObject({ DJGC_MODE: 'dry-run', DJGC_GRACE_HOURS: '24', DJGC_SCHEMAS: '', DJGC_STORE: '' });
      for (const unset of ['DJGC_DB_BACKEND', 'DJGC_DB_HOST', 'DJGC_DB_PORT', 'DJGC_DB_NAME']) expect(env).not.toHaveProperty(unset);
    }
  });

  it('cap the worker with reserved concurrency and the event source maximum concurrency, one shard per invocation', () => {
    const stack = makeStack({ workerConcurrency: 7 });
    const template = Template.fromStack(stack);
    const [workerId, worker] = only(template, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('sweeps') });
    expect(worker.ReservedConcurrentExecutions).toBe(7);
    const [, mapping] = only(template, 'AWS::Lambda::EventSourceMapping', { FunctionName: { Ref: workerId } });
    expect(mapping).toMatchObject({
      EventSourceArn: { 'Fn::GetAtt': [logicalId(stack, stack.workQueue), 'Arn'] },
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 7 },
    });
  });

  it('feed the reporter from the results queue and the work dead-letter queue, reporting item failures', () => {
    const stack = makeStack();
    const template = Template.fromStack(stack);
    const [reporterId] = only(template, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('report') });
    const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping') as Resources)
      .map((m) => m.Properties)
      .filter((m) => m.FunctionName.Ref === reporterId);
    expect(mappings.map((m) => m.EventSourceArn['Fn::GetAtt'][0]).sort()).toEqual(
      [logicalId(stack, stack.resultsQueue), logicalId(stack, stack.workDeadLetterQueue)].sort(),
    );
    for (const m of mappings) {
      expect(m.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
      expect(m.ScalingConfig.MaximumConcurrency).toBeGreaterThanOrEqual(2);
    }
  });
});

describe('schedules', () => {
  it('start the scanner nightly through EventBridge Scheduler with a role that may invoke only it', () => {
    const stack = makeStack({ scope: { schemas: ['lab'] }, mode: 'collect', graceHours: 36, scheduleTimezone: 'Europe/Berlin' });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Events::Rule', 0);
    const scannerId = logicalId(stack, stack.scanner);
    const [, schedule] = only(template, 'AWS::Scheduler::Schedule', { Target: { Arn: { 'Fn::GetAtt': [scannerId, 'Arn'] } } });
    expect(schedule).toMatchObject({
      ScheduleExpression: 'cron(0 3 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
    });
    expect(JSON.parse(schedule.Target.Input)).toEqual({ source: 'schedule', mode: 'collect', graceHours: 36, schemas: ['lab'] });

    const roleId = schedule.Target.RoleArn['Fn::GetAtt'][0] as string;
    const role = (template.findResources('AWS::IAM::Role') as Resources)[roleId]!.Properties;
    expect(role.AssumeRolePolicyDocument.Statement).toEqual([
      expect.objectContaining({ Principal: { Service: 'scheduler.amazonaws.com' }, Action: 'sts:AssumeRole' }),
    ]);
    expect(policyStatements(template, roleId)).toEqual([
      { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: { 'Fn::GetAtt': [scannerId, 'Arn'] } },
    ]);
  });

  it('finalize overdue runs every 15 minutes through the reporter', () => {
    const stack = makeStack();
    const template = Template.fromStack(stack);
    const reporterId = logicalId(stack, stack.reporter);
    const [, schedule] = only(template, 'AWS::Scheduler::Schedule', { Target: { Arn: { 'Fn::GetAtt': [reporterId, 'Arn'] } } });
    expect(schedule.ScheduleExpression).toBe('rate(15 minutes)');
    expect(JSON.parse(schedule.Target.Input)).toEqual({ action: 'finalize-overdue' });
    expect(policyStatements(template, schedule.Target.RoleArn['Fn::GetAtt'][0])).toEqual([
      { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: { 'Fn::GetAtt': [reporterId, 'Arn'] } },
    ]);
  });

  it('can be deployed disabled, and rejects what is not a Scheduler expression', () => {
    const stack = makeStack({ schedule: false });
    const [, schedule] = only(Template.fromStack(stack), 'AWS::Scheduler::Schedule', {
      Target: { Arn: { 'Fn::GetAtt': [logicalId(stack, stack.scanner), 'Arn'] } },
    });
    expect(schedule.State).toBe('DISABLED');
    expect(() => makeStack({ schedule: '0 3 * * *' })).toThrow(/not an EventBridge Scheduler expression/);
  });
});

describe('notifications', () => {
  it('go to a KMS-encrypted, TLS-only topic with one e-mail subscription per address, and every alarm publishes there', () => {
    const stack = makeStack({ notificationEmails: ['ops@lab.org', 'pi@lab.org'] });
    const template = Template.fromStack(stack);
    const [topicId, topic] = only(template, 'AWS::SNS::Topic');
    expect(topic.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [logicalId(stack, stack.topicKey), 'Arn'] });
    const subscriptions = Object.values(template.findResources('AWS::SNS::Subscription') as Resources).map((s) => s.Properties);
    expect(subscriptions.map((s) => [s.Protocol, s.Endpoint, s.TopicArn.Ref]).sort()).toEqual([
      ['email', 'ops@lab.org', topicId],
      ['email', 'pi@lab.org', topicId],
    ]);
    const [, topicPolicy] = only(template, 'AWS::SNS::TopicPolicy');
    expect(topicPolicy.PolicyDocument.Statement).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
    const keyPolicy = (template.findResources('AWS::KMS::Key') as Resources)[logicalId(stack, stack.topicKey)]!.Properties.KeyPolicy;
    expect(keyPolicy.Statement).toContainEqual(expect.objectContaining({ Principal: { Service: 'cloudwatch.amazonaws.com' } }));

    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm') as Resources).map((a) => a.Properties);
    for (const alarm of alarms) {
      expect(alarm.AlarmActions).toEqual([{ Ref: topicId }]);
      expect(alarm).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    }
    const watched = alarms.map((a) => `${a.Namespace}:${a.MetricName}:${a.Dimensions[0].Value.Ref ?? a.Dimensions[0].Value['Fn::GetAtt'][0]}`);
    expect(watched.sort()).toEqual(
      [
        `AWS/SQS:ApproximateNumberOfMessagesVisible:${logicalId(stack, stack.workDeadLetterQueue)}`,
        `AWS/SQS:ApproximateNumberOfMessagesVisible:${logicalId(stack, stack.resultsDeadLetterQueue)}`,
        `AWS/Lambda:Errors:${logicalId(stack, stack.scanner)}`,
        `AWS/Lambda:Errors:${logicalId(stack, stack.worker)}`,
        `AWS/Lambda:Errors:${logicalId(stack, stack.reporter)}`,
        `AWS/Lambda:Throttles:${logicalId(stack, stack.worker)}`,
      ].sort(),
    );
  });
});

describe('IAM', () => {
  const sections = [
    'arn:aws:s3:::lab-cold/h/*',
    'arn:aws:s3:::lab-cold/s/*',
    'arn:aws:s3:::lab-dj-store/proj/_hash/*',
    'arn:aws:s3:::lab-dj-store/proj/_schema/*',
  ];

  function roleStatements(stack: DjgcStack, fn: { role?: unknown }, template: Template): any[] {
    const roleId = stack.getLogicalId((fn.role as { node: { defaultChild: never } }).node.defaultChild);
    return policyStatements(template, roleId);
  }

  it('lets only the worker delete, and only inside the hash and schema sections of the configured buckets', () => {
    const stack = makeStack();
    const template = Template.fromStack(stack);
    const worker = roleStatements(stack, stack.worker, template);
    const deletions = worker.filter((s) => asList(s.Action).includes('s3:DeleteObject'));
    expect(deletions.flatMap((s) => asList(s.Resource).map(arnText)).sort()).toEqual(sections);

    for (const fn of [stack.scanner, stack.reporter]) {
      const storeDeletes = roleStatements(stack, fn, template)
        .filter((s) => asList(s.Action).includes('s3:DeleteObject'))
        .flatMap((s) => asList(s.Resource).map(arnText))
        .filter((arn) => arn.includes('lab-'));
      expect(storeDeletes).toEqual([]);
    }
  });

  it('lists the store buckets only under the sections', () => {
    const stack = makeStack();
    const template = Template.fromStack(stack);
    for (const fn of [stack.scanner, stack.worker]) {
      const lists = roleStatements(stack, fn, template).filter(
        (s) => s.Action === 's3:ListBucket' && arnText(s.Resource).startsWith('arn:aws:s3:::lab-'),
      );
      expect(Object.fromEntries(lists.map((s) => [arnText(s.Resource), s.Condition]))).toEqual({
        'arn:aws:s3:::lab-dj-store': { StringLike: { 's3:prefix': ['proj/_hash/*', 'proj/_schema/*'] } },
        'arn:aws:s3:::lab-cold': { StringLike: { 's3:prefix': ['h/*', 's/*'] } },
      });
    }
  });

  it('grants no s3 wildcard action and no s3 action on every resource, to any role', () => {
    const template = Template.fromStack(makeStack());
    const statements = Object.values(template.findResources('AWS::IAM::Policy') as Resources).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as any[],
    );
    const s3Statements = statements.filter((s) => asList(s.Action).some((a: string) => a.startsWith('s3:')));
    expect(s3Statements.length).toBeGreaterThan(0);
    for (const s of s3Statements) {
      expect(asList(s.Action)).not.toContain('s3:*');
      expect(asList(s.Resource)).not.toContain('*');
      for (const arn of asList(s.Resource).map(arnText)) expect(arn).not.toMatch(/^arn:aws:s3:::[^/]*\*|^arn:aws:s3:::[^/]+\/\*$/);
    }
  });

  it('lets the scanner and worker read the database secret and the reporter not', () => {
    const stack = makeStack();
    const template = Template.fromStack(stack);
    const readers = (fn: { role?: unknown }) =>
      roleStatements(stack, fn, template).filter((s) => asList(s.Action).includes('secretsmanager:GetSecretValue'));
    expect(readers(stack.scanner).map((s) => s.Resource)).toEqual([SECRET_ARN]);
    expect(readers(stack.worker).map((s) => s.Resource)).toEqual([SECRET_ARN]);
    expect(readers(stack.reporter)).toEqual([]);
  });
});

describe('VPC placement', () => {
  it('puts the scanner and worker in the given VPC and leaves the reporter outside', () => {
    const app = newApp();
    const network = new Stack(app, 'Network');
    const vpc = new ec2.Vpc(network, 'Vpc', { maxAzs: 2, natGateways: 1 });
    const stack = makeStack({ vpc }, app);
    const template = Template.fromStack(stack);
    const sg = logicalId(stack, stack.databaseClientSecurityGroup!);
    const fn = (f: { node: { defaultChild?: unknown } }) =>
      (template.findResources('AWS::Lambda::Function') as Resources)[logicalId(stack, f)]!.Properties;
    for (const inside of [stack.scanner, stack.worker]) {
      expect(fn(inside).VpcConfig.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [sg, 'GroupId'] }]);
      expect(fn(inside).VpcConfig.SubnetIds).toHaveLength(2);
    }
    expect(fn(stack.reporter).VpcConfig).toBeUndefined();
  });

  it('imports a VPC by IDs without lookups', () => {
    const stack = makeStack({
      vpcAttributes: { vpcId: 'vpc-0abc1234', subnetIds: ['subnet-0abc1234', 'subnet-0def5678'], securityGroupIds: ['sg-0abc1234'] },
    });
    const template = Template.fromStack(stack);
    const vpcConfig = (template.findResources('AWS::Lambda::Function') as Resources)[logicalId(stack, stack.worker)]!.Properties.VpcConfig;
    expect(vpcConfig).toEqual({ SubnetIds: ['subnet-0abc1234', 'subnet-0def5678'], SecurityGroupIds: ['sg-0abc1234'] });
    expect(stack.databaseClientSecurityGroup).toBeUndefined();
    expect(() => makeStack({ vpcAttributes: { vpcId: 'vpc-1', subnetIds: ['subnet-0abc1234'] } })).toThrow(/not a VPC ID/);
  });
});

describe('cdk-nag AwsSolutions', () => {
  it.each([
    ['defaults', {}],
    ['full configuration in a VPC', { notificationEmails: ['ops@lab.org'], mode: 'collect', vpcAttributes: { vpcId: 'vpc-0abc1234', subnetIds: ['subnet-0abc1234'] } }],
    ['placeholder secret, no stores', { stores: {}, databaseSecretArn: undefined }],
  ] as const)('reports no unacknowledged finding (%s)', (_name, props) => {
    const stack = makeStack(props as Partial<DjgcStackProps>);
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
  });

  it('still flags what is not acknowledged', () => {
    const stack = makeStack();
    stack.worker.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:*'], resources: ['*'] }));
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.violations.map((v) => v.ruleName)).toContain('AwsSolutions-IAM5[Action::s3:*]');
  });
});

describe('settings', () => {
  const invalid: [string, Partial<DjgcStackProps>, RegExp][] = [
    ['a file store', { stores: { main: { protocol: 'file', location: '/data' } } }, /stores\.main uses protocol "file"/],
    ['credentials in a store', { stores: { main: { protocol: 's3', bucket: 'abc', access_key: 'AKIA' } } }, /stores\.main\.access_key is set/],
    ['a missing bucket', { stores: { main: { protocol: 's3' } } }, /stores\.main\.bucket must be an S3 bucket name/],
    ['a non-AWS endpoint', { stores: { main: { protocol: 's3', bucket: 'abc', endpoint: 'minio.lab:9000' } } }, /not an Amazon S3 endpoint/],
    ['a wildcard prefix', { stores: { main: { protocol: 's3', bucket: 'abc', hash_prefix: '_h*' } } }, /hash_prefix "_h\*" contains/],
    ['an unknown default', { stores: { default: 'x', main: { protocol: 's3', bucket: 'abc' } } }, /stores\.default is "x"/],
    ['an unknown scope store', { scope: { store: 'nope' } }, /scope\.store is "nope"/],
    ['one worker', { workerConcurrency: 1 }, /workerConcurrency must be an integer from 2/],
    ['no grace', { graceHours: 0 }, /graceHours must be a number of at least 1/],
    ['a bad mode', { mode: 'delete' as never }, /mode must be "dry-run" or "collect"/],
    ['a bad e-mail', { notificationEmails: ['ops'] }, /not an e-mail address/],
    ['a bad secret ARN', { databaseSecretArn: 'djgc/db' }, /not a Secrets Manager secret ARN/],
  ];
  it.each(invalid)('rejects %s with a message naming it', (_name, props, message) => {
    expect(() => makeStack(props)).toThrow(message);
  });

  it('reads the app context, strings from -c as well as JSON from cdk.json', () => {
    const context: Partial<Record<ContextKey, unknown>> = {
      stores: JSON.stringify(STORES),
      databaseSecretArn: SECRET_ARN,
      databaseBackend: 'mysql',
      databasePort: '3307',
      schedule: 'off',
      schemas: 'lab, imaging',
      store: 'main',
      mode: 'collect',
      graceHours: '48',
      notificationEmails: ['ops@lab.org'],
      workerConcurrency: 3,
      logRetentionDays: '30',
      vpcId: 'vpc-0abc1234',
      subnetIds: 'subnet-0abc1234,subnet-0def5678',
    };
    const { stackName, props } = appConfig((key) => context[key], {});
    expect(stackName).toBe('Djgc');
    expect(props).toMatchObject({
      stores: STORES,
      databaseSecretArn: SECRET_ARN,
      database: { backend: 'mysql', port: 3307 },
      schedule: false,
      scope: { schemas: ['lab', 'imaging'], store: 'main' },
      mode: 'collect',
      graceHours: 48,
      notificationEmails: ['ops@lab.org'],
      workerConcurrency: 3,
      logRetention: 30,
      vpcAttributes: { vpcId: 'vpc-0abc1234', subnetIds: ['subnet-0abc1234', 'subnet-0def5678'] },
    });
    expect(appConfig(() => undefined, { DJ_STORES: JSON.stringify(STORES) }).props.stores).toEqual(STORES);
    expect(() => appConfig((key) => (key === 'stores' ? '{main:' : undefined), {})).toThrow(/context stores is not valid JSON/);
    expect(() => appConfig((key) => (key === 'graceHours' ? 'a day' : undefined), {})).toThrow(/context graceHours must be a number/);
  });
});

describe('cdk synth', () => {
  it('bundles the three handlers with esbuild (no Docker) and passes cdk-nag in the app', async () => {
    const out = mkdtempSync(join(tmpdir(), 'djgc-synth-'));
    try {
      await promisify(execFile)(
        'npx',
        ['cdk', 'synth', '--quiet', '--no-notices', '-o', out, '-c', `stores=${JSON.stringify(STORES)}`, '-c', `databaseSecretArn=${SECRET_ARN}`],
        { cwd: REPO_ROOT, env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true' }, timeout: 120_000 },
      );
      const assets = readdirSync(out).filter((d) => d.startsWith('asset.') && statSync(join(out, d)).isDirectory());
      const bundles = assets.filter((d) => existsSync(join(out, d, 'index.mjs')));
      expect(bundles).toHaveLength(3);
      for (const dir of bundles) {
        expect(readFileSync(join(out, dir, 'index.mjs'), 'utf8')).toMatch(/^import \{ createRequire as (\w+) \} from 'node:module'; const require = \1\(import\.meta\.url\);/);
      }
      const template = JSON.parse(readFileSync(join(out, 'Djgc.template.json'), 'utf8'));
      expect(Object.values(template.Resources as Resources).filter((r: any) => r.Type === 'AWS::Lambda::Function')).toHaveLength(3);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);
});
