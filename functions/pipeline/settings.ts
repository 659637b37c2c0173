import { loadDjConfig } from '../config/datajoint.js';
import { ConfigurationError } from '../engine/model/errors.js';
import { GRACE_DEFAULT_HOURS, GRACE_FLOOR_HOURS, RETENTION_DEFAULT_HOURS, type Removal, type RunMode } from '../engine/model/options.js';
import type { LifecycleSettings } from '../engine/run/ports.js';
import type { Declarations } from '../engine/model/plan.js';
import { loadDjgcConfig } from '../config/djgc.js';
import type { StoreSpec } from '../engine/types.js';
import type { PriceSettings } from '../engine/phases/cost.js';

/** A presigned link lasts at most 7 days: the longest SigV4 allows. */
export const MAX_REPORT_LINK_HOURS = 168;

/** What the three functions read from their environment (set by the CDK stack). */
export interface PipelineSettings {
  reportBucket: string;
  workQueueUrl: string;
  resultsQueueUrl: string;
  topicArn: string;
  database: {
    secretArn?: string;
    backend?: 'mysql' | 'postgresql';
    host?: string;
    port?: number;
    name?: string;
    /** Only for running against emulators without Secrets Manager: user and password given directly. */
    user?: string;
    password?: string;
  };
  stores: Record<string, StoreSpec>;
  defaultStore: string | null;
  defaults: { schemas: string[]; store?: string; mode: RunMode; graceHours: number; removal: Removal; retentionHours: number };
  lifecycle: LifecycleSettings;
  /** DJGC_FOREIGN_STORES, DJGC_IGNORED_SCHEMAS, DJGC_IGNORED_DATABASES (JSON objects name → reason). */
  declared: Declarations;
  /** DJGC_PRICES: storage and request prices for the reports' cost lines. */
  prices: PriceSettings;
  /** DJGC_REPORT_LINK_EXPIRY_HOURS: how long the notification's presigned links last (1 to 168, default 168). */
  reportLinkExpiryHours: number;
  /** How soon a failed shard message is delivered again. */
  retryDelaySeconds: number;
  /** Deliveries of a work message before it goes to the dead-letter queue (the queue's maxReceiveCount). */
  maxReceiveCount: number;
  /** What the scanner's function holds: its /tmp less a reserve, and the files it may hold open. */
  scannerLimits: { spillBytes?: number; openFiles?: number };
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new ConfigurationError(`environment variable ${name} is not set: the function was not deployed by the djgc stack, or its configuration was edited.`);
  return value;
}

function number(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new ConfigurationError(`environment variable ${name} must be a non-negative number, got '${text}'`);
  return value;
}

function removalOf(text: string | undefined): Removal {
  if (text === undefined || text === '' || text === 'quarantine') return 'quarantine';
  if (text === 'delete') return 'delete';
  throw new ConfigurationError(`DJGC_REMOVAL must be 'quarantine' or 'delete', got '${text}'`);
}

export function readSettings(env: NodeJS.ProcessEnv = process.env): PipelineSettings {
  const config = loadDjConfig({ env: { DJ_STORES: env.DJ_STORES ?? '{}', DJ_IGNORE_CONFIG_FILE: 'true' } });
  const djgc = loadDjgcConfig({ env, djConfig: { stores: config.stores, source: 'DJ_STORES' } });
  const backend = env.DJGC_DB_BACKEND;
  if (backend !== undefined && backend !== '' && backend !== 'mysql' && backend !== 'postgresql') {
    throw new ConfigurationError(`DJGC_DB_BACKEND must be 'mysql' or 'postgresql', got '${backend}'`);
  }
  const mode = env.DJGC_MODE || 'dry-run';
  if (mode !== 'dry-run' && mode !== 'collect') throw new ConfigurationError(`DJGC_MODE must be 'dry-run' or 'collect', got '${mode}'`);
  const port = env.DJGC_DB_PORT ? number(env, 'DJGC_DB_PORT', 0) : undefined;
  const linkHours = number(env, 'DJGC_REPORT_LINK_EXPIRY_HOURS', MAX_REPORT_LINK_HOURS);
  if (linkHours < 1 || linkHours > MAX_REPORT_LINK_HOURS) {
    throw new ConfigurationError(`DJGC_REPORT_LINK_EXPIRY_HOURS must be from 1 to ${MAX_REPORT_LINK_HOURS} (a presigned link lasts at most 7 days), got '${linkHours}'`);
  }
  return {
    reportBucket: required(env, 'DJGC_REPORT_BUCKET'),
    workQueueUrl: required(env, 'DJGC_WORK_QUEUE_URL'),
    resultsQueueUrl: required(env, 'DJGC_RESULTS_QUEUE_URL'),
    topicArn: required(env, 'DJGC_TOPIC_ARN'),
    database: {
      ...(env.DJGC_DB_SECRET_ARN ? { secretArn: env.DJGC_DB_SECRET_ARN } : {}),
      ...(backend ? { backend } : {}),
      ...(env.DJGC_DB_HOST ? { host: env.DJGC_DB_HOST } : {}),
      ...(port !== undefined ? { port } : {}),
      ...(env.DJGC_DB_NAME ? { name: env.DJGC_DB_NAME } : {}),
      ...(env.DJGC_DB_USER ? { user: env.DJGC_DB_USER } : {}),
      ...(env.DJGC_DB_PASSWORD !== undefined ? { password: env.DJGC_DB_PASSWORD } : {}),
    },
    stores: config.stores,
    defaultStore: config.defaultStore,
    defaults: {
      schemas: (env.DJGC_SCHEMAS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
      ...(env.DJGC_STORE ? { store: env.DJGC_STORE } : {}),
      mode,
      graceHours: number(env, 'DJGC_GRACE_HOURS', GRACE_DEFAULT_HOURS),
      removal: removalOf(env.DJGC_REMOVAL),
      retentionHours: number(env, 'DJGC_RETENTION_HOURS', RETENTION_DEFAULT_HOURS),
    },
    lifecycle: {
      runTimeoutMinutes: number(env, 'DJGC_RUN_TIMEOUT_MINUTES', 90),
      cooldownMinutes: number(env, 'DJGC_COOLDOWN_MINUTES', 0),
      graceFloorHours: number(env, 'DJGC_GRACE_FLOOR_HOURS', GRACE_FLOOR_HOURS),
    },
    declared: { foreignStores: djgc.foreignStores, ignoredSchemas: djgc.ignoredSchemas, ignoredDatabases: djgc.ignoredDatabases },
    prices: djgc.prices,
    reportLinkExpiryHours: linkHours,
    retryDelaySeconds: number(env, 'DJGC_RETRY_DELAY_SECONDS', 60),
    maxReceiveCount: number(env, 'DJGC_MAX_RECEIVE_COUNT', 3),
    scannerLimits: {
      ...(env.DJGC_SPILL_LIMIT_MIB ? { spillBytes: number(env, 'DJGC_SPILL_LIMIT_MIB', 0) * 2 ** 20 } : {}),
      ...(env.DJGC_OPEN_FILES_LIMIT ? { openFiles: number(env, 'DJGC_OPEN_FILES_LIMIT', 0) } : {}),
    },
  };
}
