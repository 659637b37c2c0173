import { openCatalog } from '../catalog/index.js';
import { openStore, physicalRoot } from '../stores/index.js';
import type { EngineDependencies } from '../engine/run/ports.js';
import type { ReporterDependencies } from '../engine/run/reporter.js';
import { RunFolder } from '../engine/run/run-folder.js';
import type { Catalog } from '../engine/types.js';
import { awsClients, type AwsClients } from './clients.js';
import { databaseConnection } from './database.js';
import { readSettings, type PipelineSettings } from './settings.js';
import { S3FolderStorage } from './s3-folder-storage.js';
import { SqsWorkQueue } from './sqs-queue.js';
import { SnsNotifier } from './sns-notifier.js';
import { MetricsNotifier } from './run-metrics.js';
import { ReportLinker } from './report-links.js';

/** Built once per cold start and shared by the invocations of one function. */
export interface PipelineContext {
  settings: PipelineSettings;
  clients: AwsClients;
  folder: RunFolder;
  /** The catalog, opened on first use and kept open across invocations. */
  catalog: () => Promise<Catalog>;
  now: () => Date;
  /** The functions' region (AWS_REGION), for console links. */
  region: string;
}

export function pipelineContext(env: NodeJS.ProcessEnv = process.env): PipelineContext {
  const settings = readSettings(env);
  const clients = awsClients(env);
  let catalog: Promise<Catalog> | undefined;
  return {
    settings,
    clients,
    folder: new RunFolder(new S3FolderStorage(clients.s3, settings.reportBucket)),
    catalog: () => {
      catalog ??= databaseConnection(settings.database, clients.secrets).then((connection) =>
        openCatalog(connection, { ignoredDatabases: Object.keys(settings.declared.ignoredDatabases) }),
      );
      catalog.catch(() => {
        catalog = undefined;
      });
      return catalog;
    },
    now: () => new Date(),
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
  };
}

/** The reporter's roles wired to AWS: the S3 run folder and the SNS notifier (no database). */
export function reporterDependencies(ctx: PipelineContext): ReporterDependencies & Pick<EngineDependencies, 'declared'> {
  return {
    folder: ctx.folder,
    notifier: new MetricsNotifier(
      new SnsNotifier(
        ctx.clients.sns,
        ctx.settings.topicArn,
        ctx.folder,
        new ReportLinker(ctx.clients.s3, ctx.settings.reportBucket, ctx.folder, ctx.settings.reportLinkExpiryHours, ctx.region, ctx.now),
      ),
    ),
    lifecycle: ctx.settings.lifecycle,
    prices: ctx.settings.prices,
    declared: ctx.settings.declared,
    now: ctx.now,
  };
}

/** The scanner's and worker's roles wired to AWS: the database, the stores, the S3 run folder, SQS and SNS. */
export async function engineDependencies(ctx: PipelineContext): Promise<EngineDependencies> {
  return {
    ...reporterDependencies(ctx),
    catalog: await ctx.catalog(),
    stores: ctx.settings.stores,
    defaultStore: ctx.settings.defaultStore,
    openStore,
    rootOf: physicalRoot,
    queue: new SqsWorkQueue(ctx.clients.sqs, ctx.settings.workQueueUrl, ctx.settings.resultsQueueUrl),
    scannerLimits: ctx.settings.scannerLimits,
  };
}
