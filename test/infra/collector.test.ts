import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it, vi } from 'vitest';
import { DjgcCollector, DjgcStack } from '../../infra/index.js';
import { storeNames } from '../../infra/store-sections.js';
import { arnText, asList, makeStack, newApp, REPO_ROOT, roleStatements, SECRET_ARN, STORES, type Resources, TEMPLATE_TEST_TIMEOUT } from './template-helpers.js';

vi.setConfig({ testTimeout: TEMPLATE_TEST_TIMEOUT });

describe('DjgcCollector', () => {
  it('can be placed in another app\'s stack alongside other resources, even twice', () => {
    const app = newApp();
    const stack = new Stack(app, 'LabPipeline');
    new s3.Bucket(stack, 'RawData', { enforceSSL: true });
    new sqs.Queue(stack, 'Ingest');
    const secret = new secretsmanager.Secret(stack, 'PipelineDatabase');
    const imaging = new DjgcCollector(stack, 'ImagingGc', { stores: STORES, database: { secret }, serviceName: 'djgc-imaging' });
    const ephys = new DjgcCollector(stack, 'EphysGc', {
      stores: { main: { protocol: 's3', bucket: 'lab-ephys' } },
      database: { secretArn: SECRET_ARN },
      serviceName: 'djgc-ephys',
      schedule: 'rate(12 hours)',
    });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Lambda::Function', 6);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 2);
    template.resourceCountIs('AWS::SQS::Queue', 9);
    template.resourceCountIs('AWS::S3::Bucket', 5);
    expect(Object.keys(template.findResources('AWS::SecretsManager::Secret'))).toHaveLength(1);
    // The given secret is the one the functions read.
    const readers = roleStatements(stack, imaging.scanner, template).filter((s) => asList(s.Action).includes('secretsmanager:GetSecretValue'));
    expect(readers.map((s) => s.Resource)).toEqual([{ Ref: stack.getLogicalId(secret.node.defaultChild as never) }]);
    expect(ephys.settings.alarms.missedRunMinutes).toBe(24 * 60);
    for (const collector of [imaging, ephys]) {
      const report = new AwsSolutionsChecks().validateScope(collector);
      expect(report.violations.map((v) => v.ruleName)).toEqual([]);
    }
  });

  it('keeps the logical IDs a stack had before the collector was a construct of its own', () => {
    const stack = makeStack();
    const ids = Object.keys(Template.fromStack(stack).toJSON().Resources as Resources);
    for (const id of [
      'ReportBucket577F0FCD',
      'AccessLogBucketDA470295',
      'WorkQueue94013F35',
      'WorkDeadLetterQueue12144CB6',
      'ResultsQueue7CAAE423',
      'ResultsDeadLetterQueue694BA492',
      'TopicBFC7AF6E',
      'TopicKeyB2E0C9CB',
      'Scanner1EAEC57B',
      'Worker11F36D0F',
      'Reporter08098DAC',
      'ScannerLogs860F0257',
      'WorkerLogsC1193B08',
      'ReporterLogs8D5B1623',
      'RunSchedule',
      'WorkerSqsEventSourceDjgcWorkQueue4305D873A27F9160',
      'WorkDeadLetterAlarm9FD01079',
    ]) {
      expect(ids, id).toContain(id);
    }
  });

  it('is exported with the stack from infra/', () => {
    expect(makeStack().collector).toBeInstanceOf(DjgcCollector);
    expect(DjgcStack).toBeTypeOf('function');
    expect(readFileSync(join(REPO_ROOT, 'infra', 'app.ts'), 'utf8')).toContain('DjgcStack');
  });
});

describe('foreign stores and ignored schemas', () => {
  const stores = {
    ...STORES,
    partner: { protocol: 's3', bucket: 'partner-lab', endpoint: 'https://minio.partner.org:9000', access_key: 'AKIA', secret_key: 'shh' },
    archive: { protocol: 'file', location: '/mnt/archive' },
    shared: { protocol: 's3', bucket: 'shared-bucket' },
  };
  const foreignStores = { partner: 'the partner lab\'s MinIO', archive: 'tape archive, never collected', shared: 'owned by the core facility' };

  it('accepts stores the deployment cannot or must not collect when declared foreign, and grants nothing on them', () => {
    const stack = makeStack({ stores, foreignStores, ignoredSchemas: { scratch: 'temporary tables', legacy_v1: 'read by nobody' } });
    const template = Template.fromStack(stack);
    const statements = Object.values(template.findResources('AWS::IAM::Policy') as Resources).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as any[],
    );
    const resources = statements.flatMap((s) => asList(s.Resource).map(arnText));
    expect(resources.filter((r) => /partner-lab|shared-bucket|archive/.test(r))).toEqual([]);
    expect([...new Set(stack.collector.settings.layout.sections.map((s) => s.bucket))].sort()).toEqual(['lab-cold', 'lab-dj-store']);

    for (const { Properties: fn } of Object.values(template.findResources('AWS::Lambda::Function') as Resources)) {
      const env = fn.Environment.Variables as Record<string, string>;
      expect(JSON.parse(env.DJGC_FOREIGN_STORES!)).toEqual(foreignStores);
      expect(JSON.parse(env.DJGC_IGNORED_SCHEMAS!)).toEqual({ scratch: 'temporary tables', legacy_v1: 'read by nobody' });
      const deployed = JSON.parse(env.DJ_STORES!);
      // A foreign store is never opened: its credentials are not deployed.
      expect(deployed.partner).toEqual({ protocol: 's3', bucket: 'partner-lab', endpoint: 'https://minio.partner.org:9000' });
      expect(deployed.archive).toEqual(stores.archive);
      expect(deployed.main).toEqual(stores.main);
    }
  });

  it('still refuses such a store when it is not declared foreign', () => {
    const { partner: _partner, ...declared } = foreignStores;
    expect(() => makeStack({ stores, foreignStores: declared })).toThrow(/stores\.partner\.access_key is set.*foreignStores/);
  });

  it('accepts DataJoint\'s filepath_default key: it names a store, it is not one', () => {
    const withFilepath = { ...STORES, filepath_default: 'cold' };
    expect(storeNames(withFilepath)).not.toContain('filepath_default');
    const stack = makeStack({ stores: withFilepath });
    expect(stack.collector.settings.layout.sections).toHaveLength(4);
    const env = (Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function') as Resources)[0]!.Properties.Environment
      .Variables as Record<string, string>).DJ_STORES!;
    expect(JSON.parse(env).filepath_default).toBe('cold');
  });
});

describe('report links and prices', () => {
  it('hands the link expiry and the prices to every function, and refuses an expiry past 7 days or a negative price', () => {
    const app = newApp();
    const stack = new Stack(app, 'Priced');
    const gc = new DjgcCollector(stack, 'Gc', {
      stores: STORES,
      database: { secretArn: SECRET_ARN },
      reportLinkExpiryHours: 24,
      prices: { storage: { main: 0.0125 }, requests: { list: 0.0054 } },
    });
    const template = Template.fromStack(stack);
    const functions = template.findResources('AWS::Lambda::Function', {
      Properties: { Environment: { Variables: { DJGC_REPORT_BUCKET: {} } } },
    }) as Resources;
    const variables = Object.values(functions).map((f) => (f.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables);
    expect(variables).toHaveLength(3);
    for (const v of variables) {
      expect(v.DJGC_REPORT_LINK_EXPIRY_HOURS).toBe('24');
      expect(JSON.parse(v.DJGC_PRICES as string)).toEqual({ storage: { main: 0.0125 }, requests: { list: 0.0054 } });
    }
    expect(gc.settings.reportLinkExpiryHours).toBe(24);
    const other = new Stack(newApp(), 'Bad');
    expect(() => new DjgcCollector(other, 'A', { stores: STORES, database: { secretArn: SECRET_ARN }, reportLinkExpiryHours: 169 })).toThrow(/reportLinkExpiryHours .*168.*7 days/);
    expect(() => new DjgcCollector(other, 'B', { stores: STORES, database: { secretArn: SECRET_ARN }, prices: { storage: { main: -1 } } })).toThrow(/prices\.storage\.main must be a non-negative number/);
    expect(() => new DjgcCollector(other, 'C', { stores: STORES, database: { secretArn: SECRET_ARN }, prices: { requests: { lists: 1 } as never } })).toThrow(/prices\.requests\.lists is not a request class/);
  });
});
