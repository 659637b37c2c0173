import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Annotations, Duration, RemovalPolicy, Size, Stack, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
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
import { Construct } from 'constructs';
import { addAlarms } from './alarms.js';
import { addDashboard } from './dashboard.js';
import { acknowledge, acknowledgeScopedWildcards } from './nag.js';
import { LOCK_EXPIRATION_DAYS, RUN_FOLDER_ACCESS, type RunFolderRole } from './run-folder-access.js';
import { RUN_METRICS_NAMESPACE } from './run-metrics.js';
import { DjgcSettingsError, resolveSettings, type DjgcFunctionSizing, type DjgcOptions, type DjgcSettings } from './settings.js';
import { grantStoreAccess } from './store-access.js';
import { deployedStores } from './store-sections.js';

export interface DjgcCollectorProps extends DjgcOptions {
  /** Place the scanner and worker (they reach the database) in this VPC. The reporter stays outside. */
  readonly vpc?: ec2.IVpc;
  /** Subnets with a route to the database and to S3, SQS and Secrets Manager. Default: the VPC's private subnets. */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** Default: one security group with outbound access only; allow it on the database. */
  readonly securityGroups?: ec2.ISecurityGroup[];
  readonly reportBucketVersioned?: boolean;
  /** Retention of the three functions' log groups. Default three months. */
  readonly logRetention?: logs.RetentionDays;
}

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const HANDLERS = join(REPO_ROOT, 'functions', 'handlers');

const SCANNER_TIMEOUT = Duration.minutes(15);
/** Deliveries of a shard message; the worker records the shard as failed on the last one. */
const WORK_MAX_RECEIVE_COUNT = 3;
const WORKER_TIMEOUT = Duration.minutes(15);
const REPORTER_TIMEOUT = Duration.minutes(5);
/** AWS guidance for SQS event sources: visibility timeout at least six times the function timeout. */
const VISIBILITY_FACTOR = 6;
/**
 * Work messages: longer than the worker's limit (a worker stops before it and re-queues the rest
 * of its shard), yet short enough that a killed worker's shard comes back well within the run
 * timeout: maxReceiveCount deliveries take at most WORK_MAX_RECEIVE_COUNT × 20 min = 60 min.
 */
export const WORK_VISIBILITY = Duration.minutes(20);
/** /tmp the scanner keeps for itself (its bundle's temporary files, the SDK), not for the mark's spill. */
export const SCANNER_TMP_RESERVE_MIB = 128;
/** Lambda allows 1024 open file descriptors; sockets, the database pool and the runtime take some. */
export const SCANNER_OPEN_FILES = 800;

/** The scanner refuses, with the numbers, a run whose mark would not fit the function as sized. */
function scannerLimits(ephemeralStorageMiB: number): Record<string, string> {
  return { DJGC_SPILL_LIMIT_MIB: String(ephemeralStorageMiB - SCANNER_TMP_RESERVE_MIB), DJGC_OPEN_FILES_LIMIT: String(SCANNER_OPEN_FILES) };
}

/** The longest a shard message can take over all its deliveries before it is failed or dead-lettered. */
export const WORK_REDELIVERY_MINUTES = WORK_MAX_RECEIVE_COUNT * WORK_VISIBILITY.toMinutes();

/**
 * Since nodejs20.x, Lambda no longer loads Amazon's CA certificates (which sign RDS
 * server certificates) by default; the runtime ships them in this file, and pointing
 * NODE_EXTRA_CA_CERTS at it restores the earlier behaviour (AWS Lambda Developer Guide,
 * "Building Lambda functions with Node.js", https://docs.aws.amazon.com/lambda/latest/dg/lambda-nodejs.html).
 */
const LAMBDA_CA_BUNDLE = '/var/runtime/ca-cert.pem';

const ESM_REQUIRE_BANNER =
  "import { createRequire as __djgcCreateRequire } from 'node:module'; const require = __djgcCreateRequire(import.meta.url);";

type FunctionName = 'Scanner' | 'Worker' | 'Reporter';

interface Handler {
  readonly role: iam.Role;
  readonly fn: nodejs.NodejsFunction;
}

interface Placement {
  readonly vpc: ec2.IVpc;
  readonly vpcSubnets?: ec2.SubnetSelection;
  readonly securityGroups: ec2.ISecurityGroup[];
}

/**
 * The whole serverless collector: schedule, scanner, worker and reporter functions,
 * queues, report bucket, notification topic, alarms and dashboard. Place it in any
 * stack; `DjgcStack` is one such stack, configured from CDK context.
 */
export class DjgcCollector extends Construct {
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
  readonly alarms: cloudwatch.Alarm[];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: DjgcCollectorProps) {
    super(scope, id);
    const settings = resolveSettings(props);
    this.settings = settings;

    if (settings.layout.sections.length === 0) {
      Validations.of(this).addWarning(
        'djgc:NoStores',
        'No S3 store is configured: runs will fail until the collector is given the DataJoint stores block (prop "stores", context "stores").',
      );
    }
    if (settings.alarms.noMissedRunAlarm) {
      Annotations.of(this).addInfo(`No missed-run alarm: ${settings.alarms.noMissedRunAlarm}.`);
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
        {
          id: 'expire-locks',
          prefix: 'locks/',
          expiration: Duration.days(LOCK_EXPIRATION_DAYS),
          ...(props.reportBucketVersioned ? { noncurrentVersionExpiration: Duration.days(7) } : {}),
        },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
    });

    // Nothing consumes the work dead-letter queue: a failed shard waits there (and alarms) until redriven.
    this.workDeadLetterQueue = this.queue('WorkDeadLetterQueue', REPORTER_TIMEOUT, Duration.days(14));
    this.workQueue = this.queue('WorkQueue', WORKER_TIMEOUT, Duration.days(4), { queue: this.workDeadLetterQueue, maxReceiveCount: WORK_MAX_RECEIVE_COUNT }, WORK_VISIBILITY);
    this.resultsDeadLetterQueue = this.queue('ResultsDeadLetterQueue', REPORTER_TIMEOUT, Duration.days(14));
    this.resultsQueue = this.queue('ResultsQueue', REPORTER_TIMEOUT, Duration.days(4), {
      queue: this.resultsDeadLetterQueue,
      maxReceiveCount: 5,
    });

    this.topicKey = new kms.Key(this, 'TopicKey', {
      description: 'Encrypts the djgc notification topic',
      enableKeyRotation: true,
    });
    this.topic = new sns.Topic(this, 'Topic', { displayName: 'djgc', masterKey: this.topicKey, enforceSSL: true });
    this.allowAlarmsToPublish();
    for (const email of settings.alarms.emails) this.topic.addSubscription(new EmailSubscription(email));

    this.databaseSecret = this.importOrCreateSecret(props.database?.secret, settings.database.secretArn);

    this.databaseClientSecurityGroup =
      props.vpc && !props.securityGroups
        ? new ec2.SecurityGroup(this, 'DatabaseClientSecurityGroup', {
            vpc: props.vpc,
            description: 'djgc scanner and worker: allow this group on the database port',
            allowAllOutbound: true,
          })
        : undefined;
    const placement = this.placement(props);
    const logRetention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
    const scanner = this.handler('Scanner', {
      description: 'djgc: plans a run, marks references and enqueues one message per shard',
      timeout: SCANNER_TIMEOUT,
      size: settings.sizing.scanner,
      environment: { ...this.functionEnvironment(settings, true), ...scannerLimits(settings.sizing.scanner.ephemeralStorageMiB) },
      logRetention,
      placement,
    });
    const worker = this.handler('Worker', {
      description: 'djgc: sweeps one shard (list, diff, re-check, quarantine or delete, restore, purge)',
      timeout: WORKER_TIMEOUT,
      size: settings.sizing.worker,
      environment: this.functionEnvironment(settings, true),
      logRetention,
      placement,
      reservedConcurrentExecutions: settings.workerConcurrency,
    });
    const reporter = this.handler('Reporter', {
      description: 'djgc: writes the report of a run and notifies',
      timeout: REPORTER_TIMEOUT,
      size: { memoryMiB: 512, ephemeralStorageMiB: 512 },
      environment: this.functionEnvironment(settings, false),
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

    this.grantPermissions({ scanner, worker, reporter }, settings);
    this.schedules(settings);
    this.alarms = addAlarms(
      this,
      {
        topic: this.topic,
        workDeadLetterQueue: this.workDeadLetterQueue,
        resultsDeadLetterQueue: this.resultsDeadLetterQueue,
        scanner: this.scanner,
        worker: this.worker,
        reporter: this.reporter,
      },
      settings,
    );
    this.dashboard = addDashboard(
      this,
      {
        queues: {
          work: this.workQueue,
          'work dead-letter': this.workDeadLetterQueue,
          results: this.resultsQueue,
          'results dead-letter': this.resultsDeadLetterQueue,
        },
        functions: { scanner: this.scanner, worker: this.worker, reporter: this.reporter },
        alarms: this.alarms,
      },
      settings,
    );
  }

  /**
   * A topic policy replaces SNS's default policy, so CloudWatch alarms may publish only
   * if it says so; the topic's key must let them encrypt too. Both only for this account.
   */
  private allowAlarmsToPublish(): void {
    const { account, region, partition } = Stack.of(this);
    const cloudwatchPrincipal = new iam.ServicePrincipal('cloudwatch.amazonaws.com');
    const thisAccount = { StringEquals: { 'aws:SourceAccount': account } };
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [cloudwatchPrincipal],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: { ...thisAccount, ArnLike: { 'aws:SourceArn': `arn:${partition}:cloudwatch:${region}:${account}:alarm:*` } },
      }),
    );
    this.topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [cloudwatchPrincipal],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: thisAccount,
      }),
    );
  }

  private placement(props: DjgcCollectorProps): Placement | undefined {
    if (!props.vpc) {
      if (props.vpcSubnets || props.securityGroups) {
        throw new DjgcSettingsError('vpcSubnets and securityGroups need vpc as well: give the VPC the functions run in.');
      }
      return undefined;
    }
    return {
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: props.securityGroups ?? [this.databaseClientSecurityGroup!],
    };
  }

  private queue(id: string, consumerTimeout: Duration, retention: Duration, deadLetterQueue?: sqs.DeadLetterQueue, visibility?: Duration): sqs.Queue {
    return new sqs.Queue(this, id, {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: visibility ?? Duration.seconds(consumerTimeout.toSeconds() * VISIBILITY_FACTOR),
      retentionPeriod: retention,
      deadLetterQueue,
    });
  }

  private importOrCreateSecret(secret: secretsmanager.ISecret | undefined, arn: string | undefined): secretsmanager.ISecret {
    if (secret) return secret;
    if (arn === undefined) {
      Validations.of(this).addWarning(
        'djgc:PlaceholderDatabaseSecret',
        'No database secret given: the collector creates a secret "DatabaseSecret" with a generated password; fill in engine, host and port (and create the database user) before the first run.',
      );
      const created = new secretsmanager.Secret(this, 'DatabaseSecret', {
        description: 'djgc database connection: fill in engine (mysql|postgresql), host, port and dbname',
        generateSecretString: {
          secretStringTemplate: JSON.stringify({ engine: '', host: '', port: '', username: 'djgc', dbname: '' }),
          generateStringKey: 'password',
          excludePunctuation: true,
        },
      });
      acknowledge(created, 'SMG4', 'The database user and its password are managed by the database administrator; rotation is set up with the database, not by this stack.');
      return created;
    }
    return /-[A-Za-z0-9]{6}$/.test(arn)
      ? secretsmanager.Secret.fromSecretCompleteArn(this, 'DatabaseSecret', arn)
      : secretsmanager.Secret.fromSecretPartialArn(this, 'DatabaseSecret', arn);
  }

  /** What the handlers read; `database` for the two that connect to the database. */
  private functionEnvironment(settings: DjgcSettings, database: boolean): Record<string, string> {
    const foreign = new Set(Object.keys(settings.foreignStores));
    const env: Record<string, string> = {
      POWERTOOLS_SERVICE_NAME: settings.serviceName,
      POWERTOOLS_METRICS_NAMESPACE: RUN_METRICS_NAMESPACE,
      LOG_LEVEL: settings.logLevel,
      NODE_OPTIONS: '--enable-source-maps',
      DJGC_REPORT_BUCKET: this.reportBucket.bucketName,
      DJGC_WORK_QUEUE_URL: this.workQueue.queueUrl,
      DJGC_RESULTS_QUEUE_URL: this.resultsQueue.queueUrl,
      DJGC_TOPIC_ARN: this.topic.topicArn,
      DJGC_DB_SECRET_ARN: this.databaseSecret.secretArn,
      DJ_STORES: JSON.stringify(deployedStores(settings.stores, foreign)),
      DJGC_FOREIGN_STORES: JSON.stringify(settings.foreignStores),
      DJGC_IGNORED_SCHEMAS: JSON.stringify(settings.ignoredSchemas),
      DJGC_SCHEMAS: settings.schemas.join(','),
      DJGC_STORE: settings.store ?? '',
      DJGC_MODE: settings.mode,
      DJGC_GRACE_HOURS: String(settings.graceHours),
      DJGC_GRACE_FLOOR_HOURS: String(settings.graceFloorHours),
      DJGC_REMOVAL: settings.removal,
      DJGC_RETENTION_HOURS: String(settings.retentionHours),
      DJGC_MAX_RECEIVE_COUNT: String(WORK_MAX_RECEIVE_COUNT),
      DJGC_RUN_TIMEOUT_MINUTES: String(settings.runTimeoutMinutes),
      DJGC_COOLDOWN_MINUTES: String(settings.cooldownMinutes),
      DJGC_REPORT_LINK_EXPIRY_HOURS: String(settings.reportLinkExpiryHours),
      DJGC_PRICES: JSON.stringify(settings.prices),
      DJGC_DB_TLS: String(settings.database.tls),
    };
    const db = settings.database;
    if (db.backend) env.DJGC_DB_BACKEND = db.backend;
    if (db.host !== undefined) env.DJGC_DB_HOST = db.host;
    if (db.port !== undefined) env.DJGC_DB_PORT = String(db.port);
    if (db.databaseName !== undefined) env.DJGC_DB_NAME = db.databaseName;
    if (database && db.tls) env.NODE_EXTRA_CA_CERTS = LAMBDA_CA_BUNDLE;
    return env;
  }

  private handler(
    name: FunctionName,
    options: {
      description: string;
      timeout: Duration;
      size: DjgcFunctionSizing;
      environment: Record<string, string>;
      logRetention: logs.RetentionDays;
      placement?: Placement;
      reservedConcurrentExecutions?: number;
    },
  ): Handler {
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
    acknowledge(
      role,
      'IAM5[Resource::*]',
      'X-Ray PutTraceSegments/PutTelemetryRecords and the EC2 network-interface actions of a VPC function support no resource-level permissions Lambda can work with.',
    );
    if (options.placement) {
      // What AWSLambdaVPCAccessExecutionRole grants, without its logs:* on every log group.
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DescribeSubnets',
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          resources: ['*'],
        }),
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
      memorySize: options.size.memoryMiB,
      ephemeralStorageSize: Size.mebibytes(options.size.ephemeralStorageMiB),
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

  private grantPermissions(handlers: Record<RunFolderRole, Handler>, settings: DjgcSettings): void {
    const bucket = this.reportBucket;
    const reason = 'Objects of one run-folder path pattern in the collector\'s own report bucket.';
    for (const [roleName, target] of Object.entries(handlers) as [RunFolderRole, Handler][]) {
      const access = RUN_FOLDER_ACCESS[roleName];
      target.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }));
      const reads = access.reads.map((p) => bucket.arnForObjects(p));
      const writes = access.writes.map((p) => bucket.arnForObjects(p));
      target.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: reads }));
      target.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: writes }));
      if (access.deletes?.length) {
        target.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:DeleteObject'], resources: access.deletes.map((p) => bucket.arnForObjects(p)) }));
      }
      acknowledgeScopedWildcards(target.role, [...reads, ...writes], reason);
    }
    const { scanner, worker, reporter } = handlers;

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

    const { secretKeyArn } = settings.database;
    for (const target of [scanner, worker]) {
      this.databaseSecret.grantRead(target.fn);
      if (secretKeyArn) {
        target.role.addToPrincipalPolicy(
          new iam.PolicyStatement({
            actions: ['kms:Decrypt'],
            resources: [secretKeyArn],
            conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` } },
          }),
        );
      }
    }

    // Deletion is always granted (a run started by hand may collect), but only inside the sections
    // and quarantine folders. The scanner reads the database, never a store.
    grantStoreAccess(worker.role, settings.layout, Stack.of(this).partition);
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
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'EventBridge Scheduler invokes one djgc function',
    });
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] }));
    return role;
  }
}
