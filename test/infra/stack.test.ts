import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it, vi } from 'vitest';
import { appConfig, type ContextKey } from '../../infra/app-context.js';
import type { DjgcStackProps } from '../../infra/djgc-stack.js';
import {
  arnText,
  asList,
  logicalId,
  makeStack,
  newApp,
  only,
  REPO_ROOT,
  reportBucketKeys,
  resourcesAllowing,
  roleStatements,
  SECRET_ARN,
  STORES,
  policyStatements,
  TEMPLATE_TEST_TIMEOUT,
  type Resources,
} from './template-helpers.js';

vi.setConfig({ testTimeout: TEMPLATE_TEST_TIMEOUT });

describe('report bucket', () => {
  it('is encrypted, private, TLS-only, logged, and expires runs/ after the retention and locks/ after 30 days', () => {
    const stack = makeStack({ reportRetentionDays: 30 });
    const { collector } = stack;
    const template = Template.fromStack(stack);
    const bucketId = logicalId(stack, collector.reportBucket);
    const logBucketId = logicalId(stack, collector.accessLogBucket);
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
    expect(report.LifecycleConfiguration.Rules).toContainEqual(
      expect.objectContaining({ Prefix: 'locks/', ExpirationInDays: 30, Status: 'Enabled' }),
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
  it('have their own dead-letter queues, SSE, TLS-only policies and visibility of six function timeouts (work queue: 20 min, past the worker limit, within the run timeout)', () => {
    const stack = makeStack();
    const { collector } = stack;
    const template = Template.fromStack(stack);
    const queues = template.findResources('AWS::SQS::Queue') as Resources;
    expect(Object.keys(queues)).toHaveLength(4);
    const q = (queue: { node: { defaultChild?: unknown } }) => queues[logicalId(stack, queue)]!.Properties;

    expect(q(collector.workQueue).RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(stack, collector.workDeadLetterQueue), 'Arn'] },
      maxReceiveCount: 3,
    });
    expect(q(collector.resultsQueue).RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(stack, collector.resultsDeadLetterQueue), 'Arn'] },
      maxReceiveCount: 5,
    });
    expect(q(collector.workDeadLetterQueue).MessageRetentionPeriod).toBe(14 * 24 * 3600);
    const [, worker] = only(template, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('sweeps') });
    const [, reporter] = only(template, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('report') });
    // A worker stops before its limit and re-queues its shard; a killed one's shard is back within the run timeout.
    expect(q(collector.workQueue).VisibilityTimeout).toBe(20 * 60);
    expect(q(collector.workQueue).VisibilityTimeout).toBeGreaterThan(worker.Timeout);
    const env = worker.Environment.Variables as Record<string, string>;
    expect(Number(env.DJGC_RUN_TIMEOUT_MINUTES) * 60).toBeGreaterThan(3 * q(collector.workQueue).VisibilityTimeout);
    // The scanner knows its /tmp (less a reserve) and file limit, to refuse a run whose mark cannot fit.
    const [, scanner] = only(template, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('plans a run') });
    const scannerEnv = scanner.Environment.Variables as Record<string, string>;
    expect(Number(scannerEnv.DJGC_SPILL_LIMIT_MIB)).toBe(scanner.EphemeralStorage.Size - 128);
    expect(Number(scannerEnv.DJGC_OPEN_FILES_LIMIT)).toBeLessThan(1024);
    expect(q(collector.resultsQueue).VisibilityTimeout).toBeGreaterThanOrEqual(6 * reporter.Timeout);

    for (const [id, queue] of Object.entries(queues)) {
      expect(queue.Properties.SqsManagedSseEnabled, id).toBe(true);
      const [, policy] = only(template, 'AWS::SQS::QueuePolicy', { Queues: [{ Ref: id }] });
      expect(policy.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });

  it('leave failed shards in the work dead-letter queue: nothing consumes it', () => {
    const stack = makeStack();
    const { collector } = stack;
    const template = Template.fromStack(stack);
    const dlqId = logicalId(stack, collector.workDeadLetterQueue);
    const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping') as Resources).map((m) => m.Properties);
    expect(mappings.map((m) => m.EventSourceArn['Fn::GetAtt'][0]).sort()).toEqual(
      [logicalId(stack, collector.workQueue), logicalId(stack, collector.resultsQueue)].sort(),
    );
    for (const fn of [collector.scanner, collector.worker, collector.reporter]) {
      const onDlq = roleStatements(stack, fn, template).filter((s) =>
        asList(s.Resource).some((r) => JSON.stringify(r).includes(dlqId)),
      );
      expect(onDlq).toEqual([]);
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
      database: { secretArn: SECRET_ARN, backend: 'postgresql', host: 'db.internal', port: 6543, databaseName: 'dj' },
    });
    const { collector } = stack;
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
        POWERTOOLS_METRICS_NAMESPACE: 'djgc',
        LOG_LEVEL: 'INFO',
        DJGC_REPORT_BUCKET: { Ref: logicalId(stack, collector.reportBucket) },
        DJGC_WORK_QUEUE_URL: { Ref: logicalId(stack, collector.workQueue) },
        DJGC_RESULTS_QUEUE_URL: { Ref: logicalId(stack, collector.resultsQueue) },
        DJGC_TOPIC_ARN: { Ref: logicalId(stack, collector.topic) },
        DJGC_DB_SECRET_ARN: SECRET_ARN,
        DJGC_DB_BACKEND: 'postgresql',
        DJGC_DB_HOST: 'db.internal',
        DJGC_DB_PORT: '6543',
        DJGC_DB_NAME: 'dj',
        DJGC_DB_TLS: 'true',
        DJGC_SCHEMAS: 'lab,imaging',
        DJGC_STORE: 'main',
        DJGC_MODE: 'collect',
        DJGC_GRACE_HOURS: '48',
        DJGC_RUN_TIMEOUT_MINUTES: '90',
        DJGC_COOLDOWN_MINUTES: '30',
        DJGC_FOREIGN_STORES: '{}',
        DJGC_IGNORED_SCHEMAS: '{}',
      });
      expect(JSON.parse(env.DJ_STORES as string)).toEqual(STORES);
    }
    const timeout = (f: { node: { defaultChild?: unknown } }) => functions[logicalId(stack, f)]!.Properties.Timeout;
    expect([timeout(collector.scanner), timeout(collector.worker), timeout(collector.reporter)]).toEqual([900, 900, 300]);
  });

  it('leave optional database settings unset and default to a dry run of everything', () => {
    const template = Template.fromStack(makeStack());
    for (const { Properties: fn } of Object.values(template.findResources('AWS::Lambda::Function') as Resources)) {
      const env = fn.Environment.Variables as Record<string, string>;
      expect(env).toMatchObject({ DJGC_MODE: 'dry-run', DJGC_GRACE_HOURS: '24', DJGC_SCHEMAS: '', DJGC_STORE: '' });
      for (const unset of ['DJGC_DB_BACKEND', 'DJGC_DB_HOST', 'DJGC_DB_PORT', 'DJGC_DB_NAME']) expect(env).not.toHaveProperty(unset);
    }
  });

  it('connect to the database over TLS by default, trusting the Lambda runtime\'s Amazon CA bundle', () => {
    const env = (stack: ReturnType<typeof makeStack>, fn: { node: { defaultChild?: unknown } }) =>
      (Template.fromStack(stack).findResources('AWS::Lambda::Function') as Resources)[logicalId(stack, fn)]!.Properties.Environment
        .Variables as Record<string, string>;
    const tls = makeStack();
    for (const fn of [tls.collector.scanner, tls.collector.worker]) {
      expect(env(tls, fn)).toMatchObject({ DJGC_DB_TLS: 'true', NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem' });
    }
    // The reporter never opens the database: no CA bundle to load at cold start.
    expect(env(tls, tls.collector.reporter)).not.toHaveProperty('NODE_EXTRA_CA_CERTS');

    const plain = makeStack({ database: { secretArn: SECRET_ARN, tls: false } });
    for (const fn of [plain.collector.scanner, plain.collector.worker, plain.collector.reporter]) {
      expect(env(plain, fn).DJGC_DB_TLS).toBe('false');
      expect(env(plain, fn)).not.toHaveProperty('NODE_EXTRA_CA_CERTS');
    }
  });

  it('size memory and /tmp of scanner and worker, with defaults', () => {
    const size = (stack: ReturnType<typeof makeStack>) => {
      const functions = Template.fromStack(stack).findResources('AWS::Lambda::Function') as Resources;
      const of = (f: { node: { defaultChild?: unknown } }) => functions[logicalId(stack, f)]!.Properties;
      return ['scanner', 'worker', 'reporter'].map((name) => {
        const p = of(stack.collector[name as 'scanner']);
        return [name, p.MemorySize, p.EphemeralStorage?.Size];
      });
    };
    expect(size(makeStack())).toEqual([
      ['scanner', 1024, 2048],
      ['worker', 1024, 1024],
      ['reporter', 512, 512],
    ]);
    expect(
      size(makeStack({ sizing: { scanner: { memoryMiB: 3008, ephemeralStorageMiB: 10240 }, worker: { memoryMiB: 2048, ephemeralStorageMiB: 4096 } } })),
    ).toEqual([
      ['scanner', 3008, 10240],
      ['worker', 2048, 4096],
      ['reporter', 512, 512],
    ]);
    expect(() => makeStack({ sizing: { scanner: { ephemeralStorageMiB: 20000 } } })).toThrow(
      /sizing\.scanner\.ephemeralStorageMiB must be an integer from 512 to 10240/,
    );
    expect(() => makeStack({ sizing: { worker: { memoryMiB: 64 } } })).toThrow(/sizing\.worker\.memoryMiB must be an integer from 128 to 10240/);
  });

  it('cap the worker with reserved concurrency and the event source maximum concurrency, one shard per invocation', () => {
    const stack = makeStack({ workerConcurrency: 7 });
    const template = Template.fromStack(stack);
    const [workerId, worker] = only(template, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('sweeps') });
    expect(worker.ReservedConcurrentExecutions).toBe(7);
    const [, mapping] = only(template, 'AWS::Lambda::EventSourceMapping', { FunctionName: { Ref: workerId } });
    expect(mapping).toMatchObject({
      EventSourceArn: { 'Fn::GetAtt': [logicalId(stack, stack.collector.workQueue), 'Arn'] },
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 7 },
    });
  });

  it('feed the reporter from the results queue only, reporting item failures', () => {
    const stack = makeStack();
    const template = Template.fromStack(stack);
    const [reporterId] = only(template, 'AWS::Lambda::Function', { Description: Match.stringLikeRegexp('report') });
    const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping') as Resources)
      .map((m) => m.Properties)
      .filter((m) => m.FunctionName.Ref === reporterId);
    expect(mappings.map((m) => m.EventSourceArn['Fn::GetAtt'][0])).toEqual([logicalId(stack, stack.collector.resultsQueue)]);
    expect(mappings[0]).toMatchObject({ FunctionResponseTypes: ['ReportBatchItemFailures'], ScalingConfig: { MaximumConcurrency: 2 } });
  });
});

describe('schedules', () => {
  it('start the scanner nightly through EventBridge Scheduler with a role that may invoke only it', () => {
    const stack = makeStack({ scope: { schemas: ['lab'] }, mode: 'collect', graceHours: 36, scheduleTimezone: 'Europe/Berlin' });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Events::Rule', 0);
    const scannerId = logicalId(stack, stack.collector.scanner);
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
    const reporterId = logicalId(stack, stack.collector.reporter);
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
      Target: { Arn: { 'Fn::GetAtt': [logicalId(stack, stack.collector.scanner), 'Arn'] } },
    });
    expect(schedule.State).toBe('DISABLED');
    expect(() => makeStack({ schedule: '0 3 * * *' })).toThrow(/not an EventBridge Scheduler expression/);
    expect(() => makeStack({ schedule: 'rate(often)' })).toThrow(/not a rate EventBridge Scheduler accepts/);
  });
});

describe('notifications', () => {
  it('go to a KMS-encrypted, TLS-only topic with one e-mail subscription per address', () => {
    const stack = makeStack({ alarms: { emails: ['ops@lab.org', 'pi@lab.org'] } });
    const { collector } = stack;
    const template = Template.fromStack(stack);
    const [topicId, topic] = only(template, 'AWS::SNS::Topic');
    expect(topic.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [logicalId(stack, collector.topicKey), 'Arn'] });
    const subscriptions = Object.values(template.findResources('AWS::SNS::Subscription') as Resources).map((s) => s.Properties);
    expect(subscriptions.map((s) => [s.Protocol, s.Endpoint, s.TopicArn.Ref]).sort()).toEqual([
      ['email', 'ops@lab.org', topicId],
      ['email', 'pi@lab.org', topicId],
    ]);
    const [, topicPolicy] = only(template, 'AWS::SNS::TopicPolicy');
    expect(topicPolicy.PolicyDocument.Statement).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
  });

  it('let CloudWatch alarms of this account publish: topic policy and key statement carry aws:SourceAccount', () => {
    const stack = makeStack();
    const template = Template.fromStack(stack);
    const [topicId] = only(template, 'AWS::SNS::Topic');
    const [, topicPolicy] = only(template, 'AWS::SNS::TopicPolicy');
    expect(topicPolicy.PolicyDocument.Statement).toContainEqual({
      Sid: 'AllowCloudWatchAlarmsToPublish',
      Effect: 'Allow',
      Principal: { Service: 'cloudwatch.amazonaws.com' },
      Action: 'sns:Publish',
      Resource: { Ref: topicId },
      Condition: {
        StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
        ArnLike: { 'aws:SourceArn': expect.anything() },
      },
    });
    const keyPolicy = (template.findResources('AWS::KMS::Key') as Resources)[logicalId(stack, stack.collector.topicKey)]!.Properties
      .KeyPolicy;
    const forCloudWatch = (keyPolicy.Statement as any[]).filter((s) => JSON.stringify(s.Principal).includes('cloudwatch.amazonaws.com'));
    expect(forCloudWatch).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
      }),
    ]);
  });
});

describe('IAM', () => {
  const sections = [
    'arn:aws:s3:::lab-cold/h/*',
    'arn:aws:s3:::lab-cold/s/*',
    'arn:aws:s3:::lab-dj-store/proj/_hash/*',
    'arn:aws:s3:::lab-dj-store/proj/_schema/*',
  ];
  const quarantines = ['arn:aws:s3:::lab-cold/_djgc/quarantine/*', 'arn:aws:s3:::lab-dj-store/proj/_djgc/quarantine/*'];
  const storeAreas = [...sections, ...quarantines].sort();

  it('lets only the worker touch the stores: read, move, restore, delete inside the sections and quarantine folders', () => {
    const stack = makeStack();
    const { collector } = stack;
    const template = Template.fromStack(stack);
    const worker = roleStatements(stack, collector.worker, template);
    const inStores = (arns: string[]) => arns.filter((arn) => arn.startsWith('arn:aws:s3:::lab-'));
    for (const action of [
      's3:GetObject',
      's3:PutObject',
      's3:DeleteObject',
      's3:AbortMultipartUpload',
      's3:ListMultipartUploadParts',
      's3:GetObjectTagging',
      's3:PutObjectTagging',
    ]) {
      expect(inStores(resourcesAllowing(worker, action)), action).toEqual(storeAreas);
    }
    expect(inStores(resourcesAllowing(worker, 's3:GetBucketVersioning'))).toEqual(['arn:aws:s3:::lab-cold', 'arn:aws:s3:::lab-dj-store']);
    const storeActions = new Set(
      worker.filter((s) => asList(s.Resource).some((r) => arnText(r).startsWith('arn:aws:s3:::lab-'))).flatMap((s) => asList(s.Action)),
    );
    expect([...storeActions].sort()).toEqual(
      [
        's3:AbortMultipartUpload',
        's3:DeleteObject',
        's3:GetBucketVersioning',
        's3:GetObject',
        's3:GetObjectTagging',
        's3:ListBucket',
        's3:ListMultipartUploadParts',
        's3:PutObject',
        's3:PutObjectTagging',
      ].sort(),
    );

    for (const fn of [collector.scanner, collector.reporter]) {
      const onStores = roleStatements(stack, fn, template).filter((s) =>
        asList(s.Resource).some((r) => arnText(r).includes('lab-')),
      );
      expect(onStores).toEqual([]);
    }
  });

  it('lists the store buckets only under the sections and quarantine folders, and only the worker', () => {
    const stack = makeStack();
    const template = Template.fromStack(stack);
    const lists = roleStatements(stack, stack.collector.worker, template).filter(
      (s) => s.Action === 's3:ListBucket' && arnText(s.Resource).startsWith('arn:aws:s3:::lab-'),
    );
    expect(Object.fromEntries(lists.map((s) => [arnText(s.Resource), s.Condition]))).toEqual({
      'arn:aws:s3:::lab-dj-store': { StringLike: { 's3:prefix': ['proj/_hash/*', 'proj/_schema/*', 'proj/_djgc/quarantine/*'] } },
      'arn:aws:s3:::lab-cold': { StringLike: { 's3:prefix': ['h/*', 's/*', '_djgc/quarantine/*'] } },
    });
  });

  it('scopes every role\'s writes in the report bucket to the run-folder paths it writes, and lets none delete there', () => {
    const stack = makeStack();
    const { collector } = stack;
    const template = Template.fromStack(stack);
    const reporterWrites = [
      'history.html',
      'index/*',
      'latest.json',
      'locks/*',
      'runs/*/failed/*',
      'runs/*/notified',
      'runs/*/progress.json',
      'runs/*/report.html',
      'runs/*/report.json',
      'runs/*/report.txt',
      'runs/*/settled/*',
    ];
    const expected = {
      scanner: {
        writes: [...reporterWrites, 'runs/*/approved.json', 'runs/*/plan.json', 'runs/*/refs/*'].sort(),
        reads: ['index/*', 'locks/*', 'runs/*'],
      },
      worker: {
        writes: [
          'runs/*/batches/*',
          'runs/*/failed/*',
          'runs/*/listing/*',
          'runs/*/orphans/*',
          'runs/*/purged/*',
          'runs/*/quarantined/*',
          'runs/*/restored/*',
          'runs/*/shards/*',
        ],
        reads: ['runs/*'],
      },
      reporter: { writes: reporterWrites, reads: ['index/*', 'locks/*', 'runs/*'] },
    };
    for (const [name, access] of Object.entries(expected)) {
      const statements = roleStatements(stack, collector[name as 'scanner'], template);
      expect(reportBucketKeys(stack, statements, 's3:PutObject'), `${name} writes`).toEqual(access.writes);
      expect(reportBucketKeys(stack, statements, 's3:GetObject'), `${name} reads`).toEqual(access.reads);
      expect(reportBucketKeys(stack, statements, 's3:DeleteObject'), `${name} deletes`).toEqual(name === 'scanner' ? ['locks/guard'] : []);
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
      for (const arn of asList(s.Resource).map(arnText)) expect(arn).not.toMatch(/^arn:aws:s3:::[^/]*\*|^arn:aws:s3:::[^/]+\/\*$|\}\/\*$/);
    }
  });

  it('lets the scanner and worker read the database secret and the reporter not', () => {
    const stack = makeStack();
    const { collector } = stack;
    const template = Template.fromStack(stack);
    const readers = (fn: { role?: unknown }) =>
      roleStatements(stack, fn, template).filter((s) => asList(s.Action).includes('secretsmanager:GetSecretValue'));
    expect(readers(collector.scanner).map((s) => s.Resource)).toEqual([SECRET_ARN]);
    expect(readers(collector.worker).map((s) => s.Resource)).toEqual([SECRET_ARN]);
    expect(readers(collector.reporter)).toEqual([]);
  });
});

describe('VPC placement', () => {
  it('puts the scanner and worker in the given VPC and leaves the reporter outside', () => {
    const app = newApp();
    const network = new Stack(app, 'Network');
    const vpc = new ec2.Vpc(network, 'Vpc', { maxAzs: 2, natGateways: 1 });
    const stack = makeStack({ vpc }, app);
    const { collector } = stack;
    const template = Template.fromStack(stack);
    const sg = logicalId(stack, collector.databaseClientSecurityGroup!);
    const fn = (f: { node: { defaultChild?: unknown } }) =>
      (template.findResources('AWS::Lambda::Function') as Resources)[logicalId(stack, f)]!.Properties;
    for (const inside of [collector.scanner, collector.worker]) {
      expect(fn(inside).VpcConfig.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [sg, 'GroupId'] }]);
      expect(fn(inside).VpcConfig.SubnetIds).toHaveLength(2);
    }
    expect(fn(collector.reporter).VpcConfig).toBeUndefined();
  });

  it('grants the network-interface actions a VPC function needs instead of a managed policy with logs:* on *', () => {
    const stack = makeStack({ vpcAttributes: { vpcId: 'vpc-0abc1234', subnetIds: ['subnet-0abc1234'] } });
    const { collector } = stack;
    const template = Template.fromStack(stack);
    for (const role of Object.values(template.findResources('AWS::IAM::Role') as Resources)) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
    const statements = Object.values(template.findResources('AWS::IAM::Policy') as Resources).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as any[],
    );
    for (const s of statements) {
      const logs = asList(s.Action).filter((a: string) => a.startsWith('logs:'));
      if (logs.length) expect(asList(s.Resource), JSON.stringify(s)).not.toContain('*');
      expect(asList(s.Action)).not.toContain('logs:*');
    }
    const eni = [
      'ec2:AssignPrivateIpAddresses',
      'ec2:CreateNetworkInterface',
      'ec2:DeleteNetworkInterface',
      'ec2:DescribeNetworkInterfaces',
      'ec2:DescribeSubnets',
      'ec2:UnassignPrivateIpAddresses',
    ];
    const functions = template.findResources('AWS::Lambda::Function') as Resources;
    for (const [fn, inVpc] of [
      [collector.scanner, true],
      [collector.worker, true],
      [collector.reporter, false],
    ] as const) {
      const ec2Actions = roleStatements(stack, fn, template)
        .filter((s) => asList(s.Action).some((a: string) => a.startsWith('ec2:')))
        .flatMap((s) => {
          expect(s.Resource).toBe('*');
          return asList(s.Action).filter((a: string) => a.startsWith('ec2:'));
        });
      expect(ec2Actions.sort()).toEqual(inVpc ? eni : []);
      // Lambda checks the network-interface permissions when it creates the function.
      const policyId = stack.getLogicalId((fn.role as iam.Role).node.findChild('DefaultPolicy').node.defaultChild as never);
      if (inVpc) expect(functions[logicalId(stack, fn)]!.DependsOn).toContain(policyId);
    }
  });

  it('imports a VPC by IDs without lookups', () => {
    const stack = makeStack({
      vpcAttributes: { vpcId: 'vpc-0abc1234', subnetIds: ['subnet-0abc1234', 'subnet-0def5678'], securityGroupIds: ['sg-0abc1234'] },
    });
    const template = Template.fromStack(stack);
    const vpcConfig = (template.findResources('AWS::Lambda::Function') as Resources)[logicalId(stack, stack.collector.worker)]!.Properties
      .VpcConfig;
    expect(vpcConfig).toEqual({ SubnetIds: ['subnet-0abc1234', 'subnet-0def5678'], SecurityGroupIds: ['sg-0abc1234'] });
    expect(stack.collector.databaseClientSecurityGroup).toBeUndefined();
    expect(() => makeStack({ vpcAttributes: { vpcId: 'vpc-1', subnetIds: ['subnet-0abc1234'] } })).toThrow(/not a VPC ID/);
  });
});

describe('cdk-nag AwsSolutions', () => {
  it.each([
    ['defaults', {}],
    [
      'full configuration in a VPC',
      {
        alarms: { emails: ['ops@lab.org'] },
        mode: 'collect',
        vpcAttributes: { vpcId: 'vpc-0abc1234', subnetIds: ['subnet-0abc1234'] },
        foreignStores: { other: 'the other lab' },
        stores: { ...STORES, other: { protocol: 'file', location: '/mnt/other' } },
      },
    ],
    ['placeholder secret, no stores', { stores: {}, database: undefined }],
  ] as const)('reports no unacknowledged finding (%s)', (_name, props) => {
    const stack = makeStack(props as Partial<DjgcStackProps>);
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
  });

  it('still flags what is not acknowledged', () => {
    const stack = makeStack();
    stack.collector.worker.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:*'], resources: ['*'] }));
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.violations.map((v) => v.ruleName)).toContain('AwsSolutions-IAM5[Action::s3:*]');
  });
});

describe('settings', () => {
  const invalid: [string, Partial<DjgcStackProps>, RegExp][] = [
    ['a file store', { stores: { main: { protocol: 'file', location: '/data' } } }, /stores\.main uses protocol "file".*declare it in foreignStores/],
    ['credentials in a store', { stores: { main: { protocol: 's3', bucket: 'abc', access_key: 'AKIA' } } }, /stores\.main\.access_key is set/],
    ['a missing bucket', { stores: { main: { protocol: 's3' } } }, /stores\.main\.bucket must be an S3 bucket name/],
    ['a non-AWS endpoint', { stores: { main: { protocol: 's3', bucket: 'abc', endpoint: 'minio.lab:9000' } } }, /not an Amazon S3 endpoint/],
    ['a wildcard prefix', { stores: { main: { protocol: 's3', bucket: 'abc', hash_prefix: '_h*' } } }, /hash_prefix "_h\*" contains/],
    ['an unknown default', { stores: { default: 'x', main: { protocol: 's3', bucket: 'abc' } } }, /stores\.default is "x"/],
    ['an unknown filepath_default', { stores: { filepath_default: 'x', main: { protocol: 's3', bucket: 'abc' } } }, /stores\.filepath_default is "x"/],
    ['a section inside the quarantine folder', { stores: { main: { protocol: 's3', bucket: 'abc', hash_prefix: '_djgc/quarantine/h' } } }, /overlap/],
    ['an unknown scope store', { scope: { store: 'nope' } }, /scope\.store is "nope"/],
    ['one worker', { workerConcurrency: 1 }, /workerConcurrency must be an integer from 2/],
    ['no grace', { graceHours: 0 }, /graceHours must be a number of at least graceFloorHours \(24\)/],
    ['a grace floor below one hour', { graceHours: 24, graceFloorHours: 0 }, /graceFloorHours must be a number of at least 1/],
    ['a bad mode', { mode: 'delete' as never }, /mode must be "dry-run" or "collect"/],
    ['a bad e-mail', { alarms: { emails: ['ops'] } }, /alarms\.emails contains "ops", which is not an e-mail address/],
    ['a bad secret ARN', { database: { secretArn: 'djgc/db' } }, /database\.secretArn "djgc\/db" is not a Secrets Manager secret ARN/],
    ['a host without backend', { database: { secretArn: SECRET_ARN, host: 'db' } }, /only together with database\.backend/],
    ['a bad TLS flag', { database: { secretArn: SECRET_ARN, tls: 'yes' as never } }, /database\.tls must be true or false/],
    ['a foreign store without reason', { foreignStores: { cold: '' } }, /foreignStores\.cold needs a reason/],
    ['ignored schemas as a list', { ignoredSchemas: ['scratch'] as never }, /ignoredSchemas must map each schema to the reason/],
    ['a foreign scope store', { scope: { store: 'cold' }, foreignStores: { cold: 'archive of the other lab' } }, /which foreignStores declares foreign/],
    ['an ignored scope schema', { scope: { schemas: ['scratch'] }, ignoredSchemas: { scratch: 'tmp' } }, /scope\.schemas names "scratch", which ignoredSchemas leaves alone/],
    ['an orphan fraction above 100', { alarms: { orphanFractionPercent: 150 } }, /alarms\.orphanFractionPercent must be a percentage/],
    ['a missed-run window beyond a week', { alarms: { missedRunHours: 200 } }, /alarms\.missedRunHours must be an integer from 1 to 168/],
    ['a bad service name', { serviceName: 'dj gc' }, /serviceName must be 1 to 64/],
    ['subnets without a VPC', { vpcSubnets: { subnets: [] } }, /vpcSubnets and securityGroups need vpc/],
  ];
  it.each(invalid)('rejects %s with a message naming it', (_name, props, message) => {
    expect(() => makeStack(props)).toThrow(message);
  });

  it('reads the app context, strings from -c as well as JSON from cdk.json', () => {
    const context: Partial<Record<ContextKey, unknown>> = {
      stores: JSON.stringify(STORES),
      foreignStores: '{"other":"the other lab"}',
      ignoredSchemas: { scratch: 'temporary' },
      databaseSecretArn: SECRET_ARN,
      databaseBackend: 'mysql',
      databasePort: '3307',
      databaseTls: 'false',
      schedule: 'off',
      schemas: 'lab, imaging',
      store: 'main',
      mode: 'collect',
      graceHours: '48',
      notificationEmails: ['ops@lab.org'],
      orphanFractionPercent: '30',
      missedRunHours: 36,
      scannerEphemeralStorageMiB: '4096',
      workerMemoryMiB: 2048,
      workerConcurrency: 3,
      logRetentionDays: '30',
      serviceName: 'djgc-lab',
      vpcId: 'vpc-0abc1234',
      subnetIds: 'subnet-0abc1234,subnet-0def5678',
    };
    const { stackName, props } = appConfig((key) => context[key], {});
    expect(stackName).toBe('Djgc');
    expect(props).toMatchObject({
      stores: STORES,
      foreignStores: { other: 'the other lab' },
      ignoredSchemas: { scratch: 'temporary' },
      database: { secretArn: SECRET_ARN, backend: 'mysql', port: 3307, tls: false },
      schedule: false,
      scope: { schemas: ['lab', 'imaging'], store: 'main' },
      mode: 'collect',
      graceHours: 48,
      alarms: { emails: ['ops@lab.org'], orphanFractionPercent: 30, missedRunHours: 36 },
      sizing: { scanner: { ephemeralStorageMiB: 4096 }, worker: { memoryMiB: 2048 } },
      workerConcurrency: 3,
      logRetention: 30,
      serviceName: 'djgc-lab',
      vpcAttributes: { vpcId: 'vpc-0abc1234', subnetIds: ['subnet-0abc1234', 'subnet-0def5678'] },
    });
    expect(props.sizing?.scanner).not.toHaveProperty('memoryMiB');
    const empty = appConfig(() => undefined, {}).props;
    expect([empty.database, empty.alarms, empty.sizing, empty.scope]).toEqual([undefined, undefined, undefined, undefined]);
    expect(appConfig(() => undefined, { DJ_STORES: JSON.stringify(STORES) }).props.stores).toEqual(STORES);
    expect(() => appConfig((key) => (key === 'stores' ? '{main:' : undefined), {})).toThrow(/context stores is not valid JSON/);
    expect(() => appConfig((key) => (key === 'foreignStores' ? '{x' : undefined), {})).toThrow(/context foreignStores is not valid JSON/);
    expect(() => appConfig((key) => (key === 'graceHours' ? 'a day' : undefined), {})).toThrow(/context graceHours must be a number/);
  });
});

describe('cdk synth', () => {
  // A real synth bundles the three handlers with esbuild: generous timeouts, for a loaded machine.
  it('bundles the three handlers with esbuild (no Docker) and passes cdk-nag in the app', async () => {
    const out = mkdtempSync(join(tmpdir(), 'djgc-synth-'));
    try {
      await promisify(execFile)(
        'npx',
        ['cdk', 'synth', '--quiet', '--no-notices', '-o', out, '-c', `stores=${JSON.stringify(STORES)}`, '-c', `databaseSecretArn=${SECRET_ARN}`],
        { cwd: REPO_ROOT, env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true' }, timeout: 300_000 },
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
  }, 320_000);
});
