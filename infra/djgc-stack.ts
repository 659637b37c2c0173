import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, Fn, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { acknowledge, acknowledgeScopedWildcards } from './nag.js';
import { resolveSettings, type DjgcRunOptions, type DjgcSettings } from './settings.js';

export type { DjgcDatabaseOverrides, DjgcLogLevel, DjgcMode, DjgcScope } from './settings.js';
export type { DataJointStoreConfig, DataJointStores } from './store-sections.js';

export interface DjgcStackProps extends StackProps, DjgcRunOptions {
  /**
   * Secrets Manager secret with `{engine|backend, host, port, username, password, dbname?}`
   * (the complete ARN, with its 6-character suffix). When absent the stack creates an
   * empty secret to be filled in after deployment.
   */
  readonly databaseSecretArn?: string;
  /** Customer managed KMS key of that secret, if it has one. */
  readonly databaseSecretKeyArn?: string;
  /** Place the scanner and worker (they reach the database) in this VPC. The reporter stays outside. */
  readonly vpc?: ec2.IVpc;
  /** The same by IDs, imported without lookups (for the CDK app); exclusive with `vpc`. */
  readonly vpcAttributes?: DjgcVpcAttributes;
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** Default: one security group with outbound access only; allow it on the database. */
  readonly securityGroups?: ec2.ISecurityGroup[];
  readonly reportBucketVersioned?: boolean;
  readonly logRetention?: logs.RetentionDays;
}

export interface DjgcVpcAttributes {
  readonly vpcId: string;
  /** Subnets with a route to the database and to S3, SQS and Secrets Manager (NAT or VPC endpoints). */
  readonly subnetIds: string[];
  /** Default: the stack creates one (outbound only). */
  readonly securityGroupIds?: string[];
}

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const HANDLERS = join(REPO_ROOT, 'functions', 'handlers');

const SCANNER_TIMEOUT = Duration.minutes(15);
const WORKER_TIMEOUT = Duration.minutes(15);
const REPORTER_TIMEOUT = Duration.minutes(5);
/** AWS guidance for SQS event sources: visibility timeout at least six times the function timeout. */
const VISIBILITY_FACTOR = 6;

const ESM_REQUIRE_BANNER =
  "import { createRequire as __djgcCreateRequire } from 'node:module'; const require = __djgcCreateRequire(import.meta.url);";

type FunctionName = 'Scanner' | 'Worker' | 'Reporter';

interface Role {
  readonly role: iam.Role;
  readonly fn: nodejs.NodejsFunction;
}

export class DjgcStack extends Stack {
  readonly settings: DjgcSettings;
  readonly reportBucket: s3.Bucket;
  readonly accessLogBucket: s3.Bucket;
  readonly workQueue: sqs.Queue;
  readonly workDeadLetterQueue: sqs.Queue;
  readonly resultsQueue: sqs.Queue;
  readonly resultsDeadLetterQueue: sqs.Queue;
  readonly topic: sns.Topic;
  readonly topicKey: kms.Key;
  readonly databaseSecret: secretsmanager.ISecret;
  readonly scanner: nodejs.NodejsFunction;
  readonly worker: nodejs.NodejsFunction;
  readonly reporter: nodejs.NodejsFunction;
  readonly databaseClientSecurityGroup: ec2.SecurityGroup | undefined;

  constructor(scope: Construct, id: string, props: DjgcStackProps) {
    super(scope, id, props);
    const settings = resolveSettings(props);
    this.settings = settings;

    if (settings.sections.length === 0) {
      Validations.of(this).addWarning(
        'djgc:NoStores',
        'No S3 store is configured: runs will fail until the stack is deployed with the DataJoint stores block (context "stores").',
      );
    }

    this.accessLogBucket = new s3.Bucket(this, 'AccessLogBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(Math.max(365, settings.reportRetentionDays)) }],
    });
    acknowledge(this.accessLogBucket, 'S1', 'This bucket receives the report bucket\'s server access logs; logging it into itself would loop.');

    this.reportBucket = new s3.Bucket(this, 'ReportBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: props.reportBucketVersioned ?? false,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'report-bucket/',
      lifecycleRules: [
        {
          id: 'expire-runs',
          prefix: 'runs/',
          expiration: Duration.days(settings.reportRetentionDays),
          ...(props.reportBucketVersioned ? { noncurrentVersionExpiration: Duration.days(7) } : {}),
        },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
    });

    this.workDeadLetterQueue = this.queue('WorkDeadLetterQueue', REPORTER_TIMEOUT, Duration.days(14));
    this.workQueue = this.queue('WorkQueue', WORKER_TIMEOUT, Duration.days(4), { queue: this.workDeadLetterQueue, maxReceiveCount: 3 });
    this.resultsDeadLetterQueue = this.queue('ResultsDeadLetterQueue', REPORTER_TIMEOUT, Duration.days(14));
    this.resultsQueue = this.queue('ResultsQueue', REPORTER_TIMEOUT, Duration.days(4), {
      queue: this.resultsDeadLetterQueue,
      maxReceiveCount: 5,
    });

    const topicKey = (this.topicKey = new kms.Key(this, 'TopicKey', {
      description: 'Encrypts the djgc notification topic',
      enableKeyRotation: true,
    }));
    // CloudWatch alarms can only publish to an encrypted topic whose key lets them.
    topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.topic = new sns.Topic(this, 'Topic', { displayName: 'djgc', masterKey: topicKey, enforceSSL: true });
    for (const email of settings.notificationEmails) this.topic.addSubscription(new EmailSubscription(email));

    this.databaseSecret = this.importOrCreateSecret(props.databaseSecretArn);

    const network = this.network(props);
    this.databaseClientSecurityGroup =
      network && !network.securityGroups
        ? new ec2.SecurityGroup(this, 'DatabaseClientSecurityGroup', {
            vpc: network.vpc,
            description: 'djgc scanner and worker: allow this group on the database port',
            allowAllOutbound: true,
          })
        : undefined;
    const placement = network
      ? {
          vpc: network.vpc,
          vpcSubnets: network.vpcSubnets,
          securityGroups: network.securityGroups ?? (this.databaseClientSecurityGroup ? [this.databaseClientSecurityGroup] : []),
        }
      : undefined;

    const environment = this.functionEnvironment(settings);
    const logRetention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
    const scanner = this.handler('Scanner', {
      description: 'djgc: plans a run, marks references and enqueues one message per shard',
      timeout: SCANNER_TIMEOUT,
      memorySize: 1024,
      environment,
      logRetention,
      placement,
    });
    const worker = this.handler('Worker', {
      description: 'djgc: sweeps one shard (list, diff, re-check, delete)',
      timeout: WORKER_TIMEOUT,
      memorySize: 1024,
      environment,
      logRetention,
      placement,
      reservedConcurrentExecutions: settings.workerConcurrency,
    });
    const reporter = this.handler('Reporter', {
      description: 'djgc: writes the report of a run and notifies',
      timeout: REPORTER_TIMEOUT,
      memorySize: 512,
      environment,
      logRetention,
    });
    this.scanner = scanner.fn;
    this.worker = worker.fn;
    this.reporter = reporter.fn;

    // A failed scanner is reported by its alarm; retrying it blindly could start a second run.
    this.scanner.configureAsyncInvoke({ retryAttempts: 0 });
    this.reporter.configureAsyncInvoke({ retryAttempts: 0 });

    this.worker.addEventSource(
      new SqsEventSource(this.workQueue, {
        batchSize: 1,
        reportBatchItemFailures: true,
        maxConcurrency: settings.workerConcurrency,
      }),
    );
    this.reporter.addEventSource(
      new SqsEventSource(this.resultsQueue, { batchSize: 10, reportBatchItemFailures: true, maxConcurrency: 2 }),
    );
    // A shard message in the work DLQ is a failed shard: the reporter marks its run partial.
    this.reporter.addEventSource(
      new SqsEventSource(this.workDeadLetterQueue, { batchSize: 10, reportBatchItemFailures: true, maxConcurrency: 2 }),
    );

    this.grantPermissions(scanner, worker, reporter, settings, props.databaseSecretKeyArn);
    this.schedules(settings);
    this.alarms();

    new CfnOutput(this, 'ReportBucketName', { value: this.reportBucket.bucketName, description: 'Reports: runs/<runId>/report.{json,txt,html} and latest.json' });
    new CfnOutput(this, 'TopicArn', { value: this.topic.topicArn, description: 'Notifications of finished runs and alarms' });
    new CfnOutput(this, 'ScannerFunctionName', { value: this.scanner.functionName, description: 'Invoke this function to start a run by hand' });
    if (this.databaseSecret instanceof secretsmanager.Secret) {
      new CfnOutput(this, 'DatabaseSecretArn', { value: this.databaseSecret.secretArn, description: 'Fill in the database connection before the first run' });
    }
    if (this.databaseClientSecurityGroup) {
      new CfnOutput(this, 'DatabaseClientSecurityGroupId', {
        value: this.databaseClientSecurityGroup.securityGroupId,
        description: 'Allow this security group on the database port',
      });
    }
  }

  private network(
    props: DjgcStackProps,
  ): { vpc: ec2.IVpc; vpcSubnets?: ec2.SubnetSelection; securityGroups?: ec2.ISecurityGroup[] } | undefined {
    const attrs = props.vpcAttributes;
    if (!attrs) return props.vpc ? { vpc: props.vpc, vpcSubnets: props.vpcSubnets, securityGroups: props.securityGroups } : undefined;
    if (props.vpc) throw new Error('Give either vpc or vpcAttributes, not both.');
    if (!/^vpc-([0-9a-f]{8}|[0-9a-f]{17})$/.test(attrs.vpcId)) {
      throw new Error(`vpcId ${JSON.stringify(attrs.vpcId)} is not a VPC ID (vpc-…).`);
    }
    if (!attrs.subnetIds.length || attrs.subnetIds.some((id) => !/^subnet-([0-9a-f]{8}|[0-9a-f]{17})$/.test(id))) {
      throw new Error(
        `subnetIds must list the private subnets (subnet-…) the functions run in, got ${JSON.stringify(attrs.subnetIds)}.`,
      );
    }
    const sgIds = attrs.securityGroupIds ?? [];
    if (sgIds.some((id) => !/^sg-([0-9a-f]{8}|[0-9a-f]{17})$/.test(id))) {
      throw new Error(`securityGroupIds must be security group IDs (sg-…), got ${JSON.stringify(sgIds)}.`);
    }
    const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId: attrs.vpcId,
      availabilityZones: Fn.getAzs(),
    });
    Validations.of(vpc).acknowledge({
      id: '@aws-cdk/aws-ec2:vpcAttributeIsListTokenavailabilityZones',
      reason: 'The functions are placed by explicit subnet IDs; the VPC\'s zones are never listed.',
    });
    const subnets = attrs.subnetIds.map((id, i) => {
      const subnet = ec2.Subnet.fromSubnetId(this, `Subnet${i}`, id);
      Validations.of(subnet).acknowledge({
        id: '@aws-cdk/aws-ec2:noSubnetRouteTableId',
        reason: 'Nothing in the stack reads the route table of an imported subnet.',
      });
      return subnet;
    });
    return {
      vpc,
      vpcSubnets: { subnets },
      securityGroups: sgIds.length
        ? sgIds.map((id, i) => ec2.SecurityGroup.fromSecurityGroupId(this, `SecurityGroup${i}`, id, { mutable: false }))
        : undefined,
    };
  }

  private queue(id: string, consumerTimeout: Duration, retention: Duration, deadLetterQueue?: sqs.DeadLetterQueue): sqs.Queue {
    return new sqs.Queue(this, id, {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(consumerTimeout.toSeconds() * VISIBILITY_FACTOR),
      retentionPeriod: retention,
      deadLetterQueue,
    });
  }

  private importOrCreateSecret(arn: string | undefined): secretsmanager.ISecret {
    if (arn === undefined) {
      Validations.of(this).addWarning(
        'djgc:PlaceholderDatabaseSecret',
        'No databaseSecretArn given: the stack creates a secret "DatabaseSecret" with a generated password; fill in engine, host and port (and create the database user) before the first run.',
      );
      const secret = new secretsmanager.Secret(this, 'DatabaseSecret', {
        description: 'djgc database connection: fill in engine (mysql|postgresql), host, port and dbname',
        generateSecretString: {
          secretStringTemplate: JSON.stringify({ engine: '', host: '', port: '', username: 'djgc', dbname: '' }),
          generateStringKey: 'password',
          excludePunctuation: true,
        },
      });
      acknowledge(secret, 'SMG4', 'The database user and its password are managed by the database administrator; rotation is set up with the database, not by this stack.');
      return secret;
    }
    if (!/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/.test(arn)) {
      throw new Error(
        `databaseSecretArn ${JSON.stringify(arn)} is not a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<suffix>): copy the full ARN from the Secrets Manager console.`,
      );
    }
    return /-[A-Za-z0-9]{6}$/.test(arn)
      ? secretsmanager.Secret.fromSecretCompleteArn(this, 'DatabaseSecret', arn)
      : secretsmanager.Secret.fromSecretPartialArn(this, 'DatabaseSecret', arn);
  }

  private functionEnvironment(settings: DjgcSettings): Record<string, string> {
    const env: Record<string, string> = {
      POWERTOOLS_SERVICE_NAME: 'djgc',
      LOG_LEVEL: settings.logLevel,
      NODE_OPTIONS: '--enable-source-maps',
      DJGC_REPORT_BUCKET: this.reportBucket.bucketName,
      DJGC_WORK_QUEUE_URL: this.workQueue.queueUrl,
      DJGC_RESULTS_QUEUE_URL: this.resultsQueue.queueUrl,
      DJGC_TOPIC_ARN: this.topic.topicArn,
      DJGC_DB_SECRET_ARN: this.databaseSecret.secretArn,
      DJ_STORES: JSON.stringify(settings.stores),
      DJGC_SCHEMAS: settings.schemas.join(','),
      DJGC_STORE: settings.store ?? '',
      DJGC_MODE: settings.mode,
      DJGC_GRACE_HOURS: String(settings.graceHours),
      DJGC_RUN_TIMEOUT_MINUTES: String(settings.runTimeoutMinutes),
      DJGC_COOLDOWN_MINUTES: String(settings.cooldownMinutes),
    };
    const db = settings.database;
    if (db) {
      env.DJGC_DB_BACKEND = db.backend;
      if (db.host !== undefined) env.DJGC_DB_HOST = db.host;
      if (db.port !== undefined) env.DJGC_DB_PORT = String(db.port);
      if (db.databaseName !== undefined) env.DJGC_DB_NAME = db.databaseName;
    }
    return env;
  }

  private handler(
    name: FunctionName,
    options: {
      description: string;
      timeout: Duration;
      memorySize: number;
      environment: Record<string, string>;
      logRetention: logs.RetentionDays;
      placement?: { vpc: ec2.IVpc; vpcSubnets?: ec2.SubnetSelection; securityGroups: ec2.ISecurityGroup[] };
      reservedConcurrentExecutions?: number;
    },
  ): Role {
    const logGroup = new logs.LogGroup(this, `${name}Logs`, {
      retention: options.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const role = new iam.Role(this, `${name}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `djgc ${name.toLowerCase()} function`,
    });
    const logResources = [logGroup.logGroupArn];
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: logResources }),
    );
    acknowledgeScopedWildcards(role, logResources, 'Log streams of this function\'s own log group; their names are chosen by Lambda.');
    acknowledge(role, 'IAM5[Resource::*]', 'X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions.');
    if (options.placement) {
      role.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole'));
      acknowledge(
        role,
        'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        'The network-interface permissions Lambda needs to run in a VPC; AWS maintains this policy for exactly that.',
      );
    }
    const fn = new nodejs.NodejsFunction(this, name, {
      entry: join(HANDLERS, `${name.toLowerCase()}.ts`),
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      description: options.description,
      timeout: options.timeout,
      memorySize: options.memorySize,
      environment: options.environment,
      role,
      logGroup,
      tracing: lambda.Tracing.ACTIVE,
      reservedConcurrentExecutions: options.reservedConcurrentExecutions,
      ...(options.placement ?? {}),
      bundling: {
        forceDockerBundling: false,
        format: nodejs.OutputFormat.ESM,
        banner: ESM_REQUIRE_BANNER,
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        target: 'node22',
        // Bundle the AWS SDK too, so the pinned client versions are the ones that run.
        externalModules: ['pg-native'],
      },
    });
    acknowledge(fn, 'L1', 'The functions target nodejs22.x, the runtime the engine is built and tested for.');
    return { role, fn };
  }

  private grantPermissions(scanner: Role, worker: Role, reporter: Role, settings: DjgcSettings, secretKeyArn: string | undefined): void {
    const bucket = this.reportBucket;
    const reportReason = 'Objects under one prefix of the stack\'s own report bucket.';
    const reportAccess = (target: Role, prefixes: string[], deletable: string[]): void => {
      target.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }),
      );
      const objects = prefixes.map((p) => bucket.arnForObjects(p));
      target.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject'], resources: objects }));
      acknowledgeScopedWildcards(target.role, objects, reportReason);
      if (deletable.length) {
        const del = deletable.map((p) => bucket.arnForObjects(p));
        target.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:DeleteObject'], resources: del }));
        acknowledgeScopedWildcards(target.role, del, reportReason);
      }
    };
    reportAccess(scanner, ['runs/*', 'locks/*', 'latest.json'], ['locks/*']);
    reportAccess(worker, ['runs/*'], []);
    reportAccess(reporter, ['runs/*', 'locks/*', 'latest.json'], ['locks/*']);

    this.workQueue.grantSendMessages(scanner.fn);
    this.resultsQueue.grantSendMessages(worker.fn);
    // Spelled out: grantPublish would add kms:GenerateDataKey* for the topic key. The scanner
    // publishes too: a run with nothing to sweep is reported by the scanner itself.
    for (const publisher of [scanner, reporter]) {
      publisher.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [this.topic.topicArn] }));
      publisher.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [this.topicKey.keyArn] }),
      );
    }

    for (const target of [scanner, worker]) {
      this.databaseSecret.grantRead(target.fn);
      if (secretKeyArn) {
        target.role.addToPrincipalPolicy(
          new iam.PolicyStatement({
            actions: ['kms:Decrypt'],
            resources: [secretKeyArn],
            conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${this.region}.amazonaws.com` } },
          }),
        );
      }
    }

    const sectionReason =
      'Limited to the hash and schema sections of a configured DataJoint store: the only keys the collector lists or deletes.';
    const byBucket = new Map<string, string[]>();
    for (const section of settings.sections) {
      byBucket.set(section.bucket, [...(byBucket.get(section.bucket) ?? []), section.prefix]);
    }
    for (const [storeBucket, prefixes] of byBucket) {
      const bucketArn = `arn:${this.partition}:s3:::${storeBucket}`;
      const list = new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucketArn],
        conditions: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}/*`) } },
      });
      scanner.role.addToPrincipalPolicy(list);
      worker.role.addToPrincipalPolicy(list);
      // Deletion is always granted (a run started by hand may collect), but only inside the sections.
      const objects = prefixes.map((p) => `${bucketArn}/${p}/*`);
      worker.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:DeleteObject'], resources: objects }));
      acknowledgeScopedWildcards(worker.role, objects, sectionReason);
    }
  }

  private schedules(settings: DjgcSettings): void {
    const nightly = this.scheduleRole('ScannerScheduleRole', this.scanner);
    new scheduler.CfnSchedule(this, 'RunSchedule', {
      description: 'djgc: scheduled garbage collection run',
      scheduleExpression: settings.scheduleExpression,
      scheduleExpressionTimezone: settings.scheduleTimezone,
      state: settings.scheduleEnabled ? 'ENABLED' : 'DISABLED',
      flexibleTimeWindow: { mode: 'OFF' },
      target: {
        arn: this.scanner.functionArn,
        roleArn: nightly.roleArn,
        input: JSON.stringify({
          source: 'schedule',
          mode: settings.mode,
          graceHours: settings.graceHours,
          ...(settings.schemas.length ? { schemas: settings.schemas } : {}),
          ...(settings.store !== undefined ? { store: settings.store } : {}),
        }),
        retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 3600 },
      },
    });
    const finalize = this.scheduleRole('ReporterScheduleRole', this.reporter);
    new scheduler.CfnSchedule(this, 'FinalizeOverdueSchedule', {
      description: 'djgc: report runs that passed their timeout',
      scheduleExpression: 'rate(15 minutes)',
      state: 'ENABLED',
      flexibleTimeWindow: { mode: 'OFF' },
      target: {
        arn: this.reporter.functionArn,
        roleArn: finalize.roleArn,
        input: JSON.stringify({ action: 'finalize-overdue' }),
        retryPolicy: { maximumRetryAttempts: 0, maximumEventAgeInSeconds: 900 },
      },
    });
  }

  private scheduleRole(id: string, fn: lambda.IFunction): iam.Role {
    const role = new iam.Role(this, id, {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
      description: 'EventBridge Scheduler invokes one djgc function',
    });
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] }));
    return role;
  }

  private alarms(): void {
    const action = new SnsAction(this.topic);
    const alarm = (id: string, metric: cloudwatch.IMetric, description: string): void => {
      new cloudwatch.Alarm(this, id, {
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      }).addAlarmAction(action);
    };
    const period = Duration.minutes(5);
    alarm(
      'WorkDeadLetterAlarm',
      this.workDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
      'A shard failed three times and was dead-lettered (its run is reported as partial).',
    );
    alarm(
      'ResultsDeadLetterAlarm',
      this.resultsDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
      'A shard result could not be processed by the reporter.',
    );
    for (const [name, fn] of [
      ['Scanner', this.scanner],
      ['Worker', this.worker],
      ['Reporter', this.reporter],
    ] as const) {
      alarm(`${name}ErrorsAlarm`, fn.metricErrors({ period, statistic: 'Sum' }), `The djgc ${name.toLowerCase()} function failed.`);
    }
    alarm(
      'WorkerThrottlesAlarm',
      this.worker.metricThrottles({ period, statistic: 'Sum' }),
      'Worker invocations were throttled: shards wait, and may be dead-lettered.',
    );
  }
}
