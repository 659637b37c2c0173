import { openCatalog } from '../catalog/index.js';
import { openStore } from '../stores/index.js';
import type { EngineDependencies } from '../engine/start-run.js';
import type { Catalog } from '../engine/types.js';
import { awsClients, type AwsClients } from './clients.js';
import { databaseConnection } from './database.js';
import { readSettings, type PipelineSettings } from './settings.js';
import { S3RunFolder } from './s3-run-folder.js';

/** Built once per cold start and shared by the invocations of one function. */
export interface PipelineContext {
  settings: PipelineSettings;
  clients: AwsClients;
  folder: S3RunFolder;
  /** The catalog, opened on first use and kept open across invocations. */
  catalog: () => Promise<Catalog>;
  now: () => Date;
}

export function pipelineContext(env: NodeJS.ProcessEnv = process.env): PipelineContext {
  const settings = readSettings(env);
  const clients = awsClients(env);
  let catalog: Promise<Catalog> | undefined;
  return {
    settings,
    clients,
    folder: new S3RunFolder(clients.s3, settings.reportBucket),
    catalog: () => {
      catalog ??= databaseConnection(settings.database, clients.secrets).then(openCatalog);
      catalog.catch(() => {
        catalog = undefined;
      });
      return catalog;
    },
    now: () => new Date(),
  };
}

export async function engineDependencies(ctx: PipelineContext): Promise<EngineDependencies> {
  return { catalog: await ctx.catalog(), stores: ctx.settings.stores, defaultStore: ctx.settings.defaultStore, openStore, folder: ctx.folder };
}
